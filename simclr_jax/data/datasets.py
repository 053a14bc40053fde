"""Datasets by name: where the images and labels of one split come from.

`get_dataset(name, split, data_dir=...)` returns a `Split`: the examples of one split
plus what the pipeline needs to know about them (`num_examples`, `num_classes`,
`image_shape`). `load_splits(config)` returns the (train, eval) pair that a config
names. Names:

  * ``fashion_mnist``: the IDX files of Debian's ``dataset-fashion-mnist`` package
    (``/usr/share/datasets/fashion-mnist``, or ``data_dir``; gzipped or plain), with
    TFDS as the fallback when that directory holds no IDX files.
  * ``synthetic``: small deterministic images of coloured shapes, for tests and
    benchmarks (options: ``num_train``, ``num_test``, ``image_size``,
    ``num_classes``, ``channels``, ``encoding`` = None | "png" | "jpeg", ``seed``).
  * ``image_folder``: ``data_dir/<split>/<label>/*.png|jpg``; labels are the sorted
    class folder names of all splits, so they agree between splits.
  * anything else, or ``tfds:<name>``: a TFDS image-classification dataset, read from
    ``data_dir`` (TFDS's default when empty); nothing is downloaded. Splits up to
    `MAX_IN_MEMORY_BYTES` on disk are loaded into memory (decoded arrays when TFDS
    gives a fixed image shape, encoded bytes otherwise); larger ones (imagenet2012's
    train split) are streamed, see `Split.stream`.

A split name may end in a slice of whole examples, ``train[:1000]`` or
``test[500:600]``, for every source (TFDS slices are handed to TFDS).

Everything that can be wrong with the data raises a `DataError` (a ValueError) naming
the file or setting and what to do: `DatasetNotFoundError` (also a FileNotFoundError)
when there is nothing to read, `CorruptDataError` when a file is truncated or
malformed. Encoded images are checked when the pipeline decodes them.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import re
import struct
import zlib
from typing import Any, Callable

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = 10
FASHION_MNIST_CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Splits whose files take more than this are streamed rather than loaded into memory.
MAX_IN_MEMORY_BYTES = 8 * 2**30
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class DataError(ValueError):
  """The data cannot be used as configured; the message says which file and what to do."""


class DatasetNotFoundError(DataError, FileNotFoundError):
  """The dataset (directory, file or prepared TFDS data) does not exist."""


class CorruptDataError(DataError):
  """A data file exists but is truncated or malformed."""


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a dataset, as the input pipeline reads it.

  Exactly one of `images`, `encoded`, `paths` or `stream` holds the examples:
    images: uint8 [num_examples, H, W, C], decoded in memory;
    encoded: object [num_examples] of PNG/JPEG bytes in memory;
    paths: object [num_examples] of image file paths, read when a batch needs them;
    stream: for splits too large for memory, ``stream(seed, epoch, shard_index,
      num_shards, shuffle)`` -> a `tf.data.Dataset` of ``{"data": encoded bytes,
      "label": int32}`` holding one shard of the split, in an order fixed by
      (seed, epoch) when `shuffle`, in storage order otherwise.
  `labels` (int32 [num_examples], -1 for unlabelled examples) is known up front for
  every kind but `stream`. `image_shape` is (H, W, C) with None where images differ.
  `class_names[label]` names a class where the source says.
  """

  dataset: str
  split: str
  num_examples: int
  num_classes: int
  image_shape: tuple[int | None, int | None, int | None]
  labels: np.ndarray | None = None
  images: np.ndarray | None = None
  encoded: np.ndarray | None = None
  paths: np.ndarray | None = None
  stream: Callable[..., Any] | None = None
  location: str = ""  # where the data was read from, for messages
  class_names: tuple[str, ...] | None = None

  @property
  def kind(self) -> str:
    """"images", "encoded", "paths" or "stream": how the pipeline reads examples."""
    for kind in ("images", "encoded", "paths", "stream"):
      if getattr(self, kind) is not None:
        return kind
    raise DataError(f"split {self.split!r} of {self.dataset!r} holds no examples.")

  @property
  def random_access(self) -> bool:
    """True when any example can be read by index (every kind but `stream`)."""
    return self.kind != "stream"

  def read_example(self, index: int) -> tuple[np.ndarray, int]:
    """Example `index` as (uint8 [H, W, C] image, label), for tools and inspection.

    The input pipeline does not use this: it reads whole batches in tf.data.
    """
    if not self.random_access:
      raise DataError(f"{self.describe()} is streamed; read it with its `stream`.")
    if self.kind == "images":
      return self.images[index], int(self.labels[index])
    import tensorflow as tf  # decoding is TF's job everywhere else too
    data = self.encoded[index] if self.kind == "encoded" else tf.io.read_file(
        self.paths[index])
    try:
      image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as e:
      name = self.paths[index] if self.kind == "paths" else f"example {index}"
      raise CorruptDataError(f"{self.describe()}: {name} cannot be decoded "
                             f"({e.message.splitlines()[0]}); replace or delete it.") from None
    return image.numpy(), int(self.labels[index])

  def describe(self) -> str:
    """A short name for messages: dataset, split and location."""
    where = f" at {self.location}" if self.location else ""
    return f"split {self.split!r} of dataset {self.dataset!r}{where}"


# ------------------------------------------------------------------------- helpers


def _parse_split(split: str) -> tuple[str, slice]:
  """"train[10:20]" -> ("train", slice(10, 20)); a plain name selects everything."""
  m = re.fullmatch(r"\s*([\w+-]+)\s*(?:\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\])?\s*", split)
  if not m:
    raise DataError(
        f"split {split!r} is not understood; use a name such as 'train' or 'test', "
        "optionally sliced by example, e.g. 'train[:1000]'.")
  name, start, stop = m.groups()
  return name, slice(int(start) if start else None, int(stop) if stop else None)


def check_labels(labels: np.ndarray, num_classes: int, where: str, *,
                 allow_unlabeled: bool = False) -> np.ndarray:
  """Labels as int32, after checking they lie in [0, num_classes) (or are -1 if allowed)."""
  labels = np.asarray(labels)
  if labels.ndim != 1:
    raise CorruptDataError(f"{where}: labels must be a vector, got shape {labels.shape}.")
  ok = (labels >= 0) & (labels < num_classes)
  if allow_unlabeled:
    ok |= labels == -1
  if not ok.all():
    i = int(np.argmin(ok))
    raise DataError(
        f"{where}: label {int(labels[i])} of example {i} is outside [0, {num_classes}) "
        f"({int((~ok).sum())} such labels); fix the labels or the number of classes "
        "of the dataset.")
  return labels.astype(np.int32)


def _slice_split(split: Split, sl: slice) -> Split:
  """The examples `sl` of an in-memory split, with `num_examples` to match."""
  if sl == slice(None, None):
    return split
  subset = select_examples(split, sl)
  if subset.num_examples == 0:
    raise DataError(f"{split.describe()}: the slice [{sl.start}:{sl.stop}] selects no "
                    "example; choose a slice inside the split.")
  return subset


def select_examples(split: Split, index) -> Split:
  """The examples `index` (a slice or an index array) of a random-access split."""
  if not split.random_access:
    raise DataError(f"{split.describe()} is streamed; a subset of its examples cannot "
                    "be selected by index.")
  fields = {}
  for key in ("labels", "images", "encoded", "paths"):
    value = getattr(split, key)
    fields[key] = None if value is None else value[index]
  return dataclasses.replace(split, num_examples=len(fields["labels"]), **fields)


def label_subset(labels: np.ndarray, fraction: float, num_classes: int,
                 seed: int) -> np.ndarray:
  """Sorted indices of a class-balanced, seeded subset: round(fraction x n / classes)
  examples of every class (all of a class that has fewer), for semi-supervised runs."""
  if not 0 < fraction <= 1:
    raise DataError(f"finetune_fraction={fraction} must be in (0, 1]; use e.g. 0.01 or "
                    "0.1 (the paper's 1% and 10%) or 1.0.")
  if fraction == 1:
    return np.flatnonzero(labels >= 0)
  per_class = max(1, round(fraction * int(np.sum(labels >= 0)) / num_classes))
  rng = np.random.default_rng(seed)
  picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class]
           for c in range(num_classes)]
  return np.sort(np.concatenate(picks))


# ------------------------------------------------------------------ Fashion-MNIST


def read_idx(path: str) -> np.ndarray:
  """A uint8 IDX file (gzipped or plain) as a numpy array, after validating its header.

  The header is two zero bytes, the type code 0x08 (unsigned byte), the number of
  dimensions, then each dimension as a big-endian uint32; the file must hold exactly
  their product of bytes after it.
  """
  try:
    with open(path, "rb") as f:
      raw = f.read()
    if path.endswith(".gz"):
      raw = gzip.decompress(raw)
  except FileNotFoundError:
    raise DatasetNotFoundError(f"IDX file {path} does not exist.") from None
  except (OSError, EOFError, zlib.error) as e:
    raise CorruptDataError(
        f"{path}: cannot be decompressed ({e}); the file is truncated or corrupt. "
        "Reinstall it (apt-get install --reinstall dataset-fashion-mnist) or point "
        "--config.data_dir at a good copy.") from None
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
    raise CorruptDataError(
        f"{path}: not an unsigned-byte IDX file (magic bytes {raw[:4].hex() or 'missing'}, "
        "expected 0000 08 followed by the number of dimensions); the file is corrupt or "
        "of another kind. Reinstall it or point --config.data_dir at a good copy.")
  ndim = raw[3]
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise CorruptDataError(f"{path}: truncated inside its header ({len(raw)} bytes); "
                           "reinstall it or point --config.data_dir at a good copy.")
  dims = struct.unpack(f">{ndim}I", raw[4:header])
  expected = header + int(np.prod(dims, dtype=np.int64))
  if len(raw) != expected:
    raise CorruptDataError(
        f"{path}: {len(raw)} bytes but its header (dimensions {dims}) says {expected}; "
        "the file is truncated or corrupt. Reinstall it (apt-get install --reinstall "
        "dataset-fashion-mnist) or point --config.data_dir at a good copy.")
  return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find_idx(directory: str, prefix: str, kind: str) -> str | None:
  """The IDX file of `prefix` (train/t10k) and `kind` (images/labels) in `directory`."""
  ndim = 3 if kind == "images" else 1
  for sep in ("-", "."):
    for suffix in ("", ".gz"):
      path = os.path.join(directory, f"{prefix}-{kind}{sep}idx{ndim}-ubyte{suffix}")
      if os.path.isfile(path):
        return path
  return None


def _fashion_mnist(split: str, data_dir: str | None = None) -> Split:
  """Fashion-MNIST from IDX files, falling back to a prepared TFDS copy."""
  directory = data_dir or FASHION_MNIST_DIR
  name, sl = _parse_split(split)
  prefixes = {"train": "train", "test": "t10k"}
  if name not in prefixes:
    raise DataError(f"fashion_mnist has splits 'train' and 'test', not {name!r}; set "
                    "--config.train_split / --config.eval_split accordingly.")
  has_idx = os.path.isdir(directory) and any(
      "idx" in f and "ubyte" in f for f in os.listdir(directory))
  if not has_idx:
    return _fashion_mnist_from_tfds(split, directory, data_dir)
  image_path = _find_idx(directory, prefixes[name], "images")
  label_path = _find_idx(directory, prefixes[name], "labels")
  for kind, path in (("images", image_path), ("labels", label_path)):
    if path is None:
      raise DatasetNotFoundError(
          f"{directory} has IDX files but not {prefixes[name]}-{kind}-idx"
          f"{3 if kind == 'images' else 1}-ubyte(.gz); reinstall the package "
          "(apt-get install --reinstall dataset-fashion-mnist) or copy the missing file.")
  images = read_idx(image_path)
  labels = read_idx(label_path)
  if images.ndim != 3 or images.shape[1:] != (28, 28):
    raise CorruptDataError(f"{image_path}: expected images of 28x28 pixels, got dimensions "
                           f"{images.shape}; this is not Fashion-MNIST.")
  if labels.ndim != 1 or len(labels) != len(images):
    raise CorruptDataError(
        f"{label_path}: {labels.shape} labels for the {len(images)} images of "
        f"{image_path}; the two files must come from the same split and release.")
  labels = check_labels(labels, FASHION_MNIST_CLASSES, label_path)
  out = Split(dataset="fashion_mnist", split=name, num_examples=len(images),
              num_classes=FASHION_MNIST_CLASSES, image_shape=(28, 28, 1),
              labels=labels, images=images[..., np.newaxis], location=directory,
              class_names=FASHION_MNIST_CLASS_NAMES)
  return _slice_split(out, sl)


def _fashion_mnist_from_tfds(split: str, directory: str, data_dir: str | None) -> Split:
  """The TFDS fallback of Fashion-MNIST, or the error that says how to get the data."""
  try:
    return _tfds("fashion_mnist", split, data_dir=data_dir)
  except DatasetNotFoundError:
    where = (f"the directory {directory} does not exist" if not os.path.isdir(directory)
             else f"the directory {directory} holds no IDX files")
    raise DatasetNotFoundError(
        f"Fashion-MNIST not found: {where}, and TFDS has no prepared fashion_mnist "
        f"under {data_dir or 'its default data_dir'}. Install the IDX files with "
        "`apt-get install dataset-fashion-mnist`, or set --config.data_dir to a "
        "directory that holds them.") from None


# -------------------------------------------------------------------- synthetic

_SHAPES = ("disk", "square", "triangle", "ring", "cross", "diamond")


def _shape_mask(shape: str, yy: np.ndarray, xx: np.ndarray, radius: float) -> np.ndarray:
  """Boolean mask of a shape of half-size `radius` centred at the origin of (yy, xx)."""
  r = np.hypot(yy, xx)
  if shape == "disk":
    return r <= radius
  if shape == "square":
    return (np.abs(yy) <= radius * 0.8) & (np.abs(xx) <= radius * 0.8)
  if shape == "triangle":
    return (yy <= radius * 0.7) & (yy >= 2 * np.abs(xx) - radius)
  if shape == "ring":
    return (r <= radius) & (r >= radius * 0.55)
  if shape == "cross":
    return (((np.abs(yy) <= radius * 0.3) & (np.abs(xx) <= radius))
            | ((np.abs(xx) <= radius * 0.3) & (np.abs(yy) <= radius)))
  return np.abs(yy) + np.abs(xx) <= radius  # diamond


def synthetic_images(num_examples: int, *, image_size: int = 32, num_classes: int = 4,
                     channels: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Deterministic images of coloured shapes (class = shape) on noisy dark backgrounds.

  Returns uint8 [num_examples, image_size, image_size, channels] and int32 labels
  (cycling through the classes). Colour, size and position vary per image, so the
  classes are learnable only from shape.
  """
  if not 1 <= num_classes <= len(_SHAPES):
    raise DataError(f"synthetic num_classes={num_classes}; choose 1 to {len(_SHAPES)}.")
  rng = np.random.default_rng(seed)
  labels = (np.arange(num_examples) % num_classes).astype(np.int32)
  coords = np.arange(image_size, dtype=np.float32)
  images = np.empty((num_examples, image_size, image_size, 3), np.uint8)
  for i, label in enumerate(labels):
    background = rng.uniform(0, 80, size=3)
    noise = rng.normal(0, 12, size=(image_size, image_size, 3))
    radius = rng.uniform(0.22, 0.38) * image_size
    cy, cx = rng.uniform(radius, image_size - radius, size=2)
    colour = rng.uniform(120, 255, size=3)
    mask = _shape_mask(_SHAPES[label], coords[:, None] - cy, coords[None, :] - cx, radius)
    image = np.where(mask[..., None], colour, background) + noise
    images[i] = np.clip(image, 0, 255).astype(np.uint8)
  if channels == 1:
    images = np.round(images @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
  elif channels != 3:
    raise DataError(f"synthetic channels={channels}; choose 1 or 3.")
  return images, labels


def encode_images(images: np.ndarray, encoding: str) -> np.ndarray:
  """uint8 [N, H, W, C] -> object [N] of PNG or JPEG bytes (PIL, quality 95)."""
  from PIL import Image  # only the encoded sources need PIL
  fmt = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}.get(encoding)
  if fmt is None:
    raise DataError(f"encoding={encoding!r}; choose 'png' or 'jpeg'.")
  out = np.empty(len(images), dtype=object)
  for i, image in enumerate(images):
    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    out[i] = buf.getvalue()
  return out


def _synthetic(split: str, *, num_train: int = 1024, num_test: int = 256,
               image_size: int = 32, num_classes: int = 4, channels: int = 3,
               encoding: str | None = None, seed: int = 0,
               data_dir: str | None = None) -> Split:
  """The synthetic dataset: `num_train` / `num_test` images; the splits differ by seed."""
  del data_dir  # nothing to read
  name, sl = _parse_split(split)
  sizes = {"train": num_train, "test": num_test, "validation": num_test}
  if name not in sizes:
    raise DataError(f"synthetic has splits {sorted(sizes)}, not {name!r}.")
  n = sizes[name]
  split_id = sorted(sizes).index(name)
  images, labels = synthetic_images(n, image_size=image_size, num_classes=num_classes,
                                    channels=channels, seed=seed * 1000 + split_id)
  kwargs = {"images": images} if encoding is None else {
      "encoded": encode_images(images, encoding)}
  out = Split(dataset="synthetic", split=name, num_examples=n, num_classes=num_classes,
              image_shape=(image_size, image_size, channels if encoding is None else 3),
              labels=labels, location="generated", class_names=_SHAPES[:num_classes],
              **kwargs)
  return _slice_split(out, sl)


# ----------------------------------------------------------------- image folder


def _image_folder(split: str, data_dir: str | None = None) -> Split:
  """``data_dir/<split>/<label>/*.png|jpg``: file paths, read and decoded by the pipeline."""
  if not data_dir:
    raise DataError("dataset 'image_folder' reads data_dir/<split>/<label>/*.png|jpg; set "
                    "--config.data_dir to the folder's root.")
  name, sl = _parse_split(split)
  split_dir = os.path.join(data_dir, name)
  if not os.path.isdir(split_dir):
    raise DatasetNotFoundError(
        f"image folder split directory {split_dir} does not exist; set --config.data_dir "
        f"to a root holding <split>/<label>/*.png|jpg, or choose an existing split.")
  # Classes come from every split, so a class missing from one split cannot shift
  # the labels of the others.
  classes = sorted({
      c for s in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, s))
      for c in os.listdir(os.path.join(data_dir, s))
      if os.path.isdir(os.path.join(data_dir, s, c))})
  paths, labels = [], []
  for label, cls in enumerate(classes):
    class_dir = os.path.join(split_dir, cls)
    if not os.path.isdir(class_dir):
      continue
    for f in sorted(os.listdir(class_dir)):
      if f.lower().endswith(IMAGE_SUFFIXES):
        paths.append(os.path.join(class_dir, f))
        labels.append(label)
  if not paths:
    raise DatasetNotFoundError(
        f"{split_dir} holds no images: expected {split_dir}/<label>/*.png|jpg|jpeg.")
  out = Split(dataset="image_folder", split=name, num_examples=len(paths),
              num_classes=len(classes), image_shape=(None, None, 3),
              labels=check_labels(np.array(labels), len(classes), split_dir),
              paths=np.array(paths, dtype=object), location=split_dir,
              class_names=tuple(classes))
  return _slice_split(out, sl)


# ------------------------------------------------------------------------- TFDS


def _tfds_builder(name: str, data_dir: str | None):
  """The TFDS builder of `name` (a seam that tests replace with a fake builder)."""
  import tensorflow_datasets as tfds
  try:
    return tfds.builder(name, data_dir=data_dir or None)
  except Exception as e:  # TFDS raises its own DatasetNotFoundError and others.
    # TFDS's message goes on to list every dataset it knows; its first line suffices.
    first_line = (str(e).splitlines() or [""])[0]
    raise DatasetNotFoundError(
        f"TFDS has no dataset {name!r} ({type(e).__name__}: {first_line}); check "
        "--config.dataset (fashion_mnist, synthetic, image_folder or a TFDS name).") from None


def _tfds(name: str, split: str, *, data_dir: str | None = None,
          in_memory: bool | None = None) -> Split:
  """A TFDS image-classification split, in memory when it fits and streamed otherwise.

  Nothing is downloaded: the data must have been prepared under `data_dir` before
  (`tfds build NAME --data_dir=DIR`, or the manual download for imagenet2012).
  """
  import tensorflow as tf
  import tensorflow_datasets as tfds

  builder = _tfds_builder(name, data_dir)
  location = getattr(builder, "data_dir", data_dir or "")
  if not builder.is_prepared():
    raise DatasetNotFoundError(
        f"TFDS dataset {name!r} is not prepared under {location}. Prepare it where it "
        f"can be downloaded (`tfds build {name} --data_dir=DIR`; imagenet2012 needs its "
        "manual download) and set --config.data_dir=DIR.")
  info = builder.info
  if not info.supervised_keys:
    raise DataError(f"TFDS dataset {name!r} has no (image, label) supervised keys; it is "
                    "not an image-classification dataset.")
  image_key, label_key = info.supervised_keys[:2]
  num_classes = int(info.features[label_key].num_classes)
  image_shape = tuple(info.features[image_key].shape)
  try:
    split_info = info.splits[split]
  except (KeyError, ValueError) as e:
    raise DataError(f"TFDS dataset {name!r} has no split {split!r} ({e}); its splits are "
                    f"{sorted(info.splits.keys())}.") from None
  num_examples = int(split_info.num_examples)
  num_bytes = int(getattr(split_info, "num_bytes", 0) or 0)
  if in_memory is None:
    in_memory = num_bytes <= MAX_IN_MEMORY_BYTES
  fixed_shape = None not in image_shape
  # STL-10's unlabelled split carries label -1 by design.
  allow_unlabeled = "unlabelled" in split or "unlabeled" in split
  names = getattr(info.features[label_key], "names", None)
  base = dict(dataset=name, split=split, num_examples=num_examples,
              num_classes=num_classes, image_shape=image_shape, location=location,
              class_names=tuple(names) if names else None)

  if in_memory:
    decoders = None if fixed_shape else {image_key: tfds.decode.SkipDecoding()}
    ds = builder.as_dataset(split=split, batch_size=-1, as_supervised=True,
                            decoders=decoders)
    images, labels = tfds.as_numpy(ds)
    labels = check_labels(labels, num_classes, f"TFDS {name}/{split} under {location}",
                          allow_unlabeled=allow_unlabeled)
    if fixed_shape:
      return Split(labels=labels, images=np.asarray(images, np.uint8), **base)
    return Split(labels=labels, encoded=np.asarray(list(images), dtype=object), **base)

  def stream(seed: int, epoch: int, shard_index: int, num_shards: int,
             shuffle: bool = True) -> tf.data.Dataset:
    """One shard of the split, file order and record order seeded by (seed, epoch)."""
    read_config = tfds.ReadConfig(
        shuffle_seed=int(seed) * 100003 + int(epoch) if shuffle else None,
        input_context=(tf.distribute.InputContext(num_input_pipelines=num_shards,
                                                  input_pipeline_id=shard_index)
                       if num_shards > 1 else None))
    ds = builder.as_dataset(split=split, shuffle_files=shuffle, as_supervised=True,
                            read_config=read_config,
                            decoders={image_key: tfds.decode.SkipDecoding()})
    if shuffle:
      ds = ds.shuffle(16384, seed=int(seed) * 100003 + int(epoch),
                      reshuffle_each_iteration=False)
    return ds.map(lambda image, label: {"data": image, "label": tf.cast(label, tf.int32)})

  return Split(stream=stream, **base)


# --------------------------------------------------------------------- registry

_LOADERS: dict[str, Callable[..., Split]] = {
    "fashion_mnist": _fashion_mnist,
    "synthetic": _synthetic,
    "image_folder": _image_folder,
}


def get_dataset(name: str, split: str, *, data_dir: str | None = None,
                **options) -> Split:
  """The `split` of dataset `name` (see the module docstring for names and options)."""
  if name.startswith("tfds:"):
    return _tfds(name[len("tfds:"):], split, data_dir=data_dir, **options)
  loader = _LOADERS.get(name)
  if loader is None:
    return _tfds(name, split, data_dir=data_dir, **options)
  return loader(split, data_dir=data_dir, **options)


def default_eval_split(name: str, data_dir: str | None = None) -> str:
  """"test" where the dataset has one, "validation" otherwise (imagenet2012)."""
  if name in _LOADERS:
    return "test"
  tfds_name = name[len("tfds:"):] if name.startswith("tfds:") else name
  builder = _tfds_builder(tfds_name, data_dir)
  return "test" if "test" in builder.info.splits else "validation"


def load_splits(config) -> tuple[Split, Split]:
  """The (train, eval) splits that `config` names.

  Reads config.dataset, config.data_dir and, when present, config.train_split
  (default "train"), config.eval_split (default: `default_eval_split`) and
  config.dataset_options (keyword options of the loader, e.g. synthetic sizes).
  """
  name = config.dataset
  data_dir = config.get("data_dir", "") or None
  options = dict(config.get("dataset_options", None) or {})
  train = get_dataset(name, config.get("train_split", "train"), data_dir=data_dir,
                      **options)
  eval_split = config.get("eval_split", "") or default_eval_split(name, data_dir)
  return train, get_dataset(name, eval_split, data_dir=data_dir, **options)
