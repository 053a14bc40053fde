"""Input pipelines: global, sharded batches for pretraining and evaluation.

Three iterators, each yielding dicts of global `jax.Array`s sharded over the mesh's
batch axis (`simclr_jax.parallel.batch_sharding`), built with
`jax.make_array_from_process_local_data`: every process computes only the rows of the
global batch that its devices hold.

  * `pretrain_batches(config, mesh, start_step=0)`: infinite;
    ``{"views": float32 [B, 2, S, S, 3], "labels": int32 [B]}``, two independent
    `augment.pretrain_view`s of each image.
  * `finetune_batches(config, mesh, start_step=0)`: infinite;
    ``{"images": float32 [B, S, S, 3], "labels": int32 [B]}`` with
    `augment.finetune_view` (crop + flip), for linear evaluation and fine-tuning.
  * `eval_batches(config, mesh)`: finite, every example of the split exactly once;
    ``{"images": float32 [B, S, S, 3], "labels": int32 [B], "mask": bool [B],
    "index": int32 [B]}`` with `augment.eval_view`; the last batch is padded with
    zero images of label 0, index -1 and mask False.
B is the global batch size (`config.batch_size` unless given), S `config.image_size`.

Determinism. For sources with random access (everything but streamed TFDS splits)
the example order is the concatenation of per-epoch permutations seeded by
(config.seed, epoch), global batch k holds stream positions [kB, (k + 1)B), and the
augmentation of each view is seeded by (config.seed, purpose, k, position in the
global batch, view). A batch is thus a function of (config, k) alone: the same on 1 or
8 devices and on any number of processes, and an iterator started at step k computes
batch k directly, without replaying earlier steps. Streamed splits (TFDS splits over
`datasets.MAX_IN_MEMORY_BYTES`, e.g. imagenet2012 train) give each process one
shard of the files, shuffled by (seed, epoch); they are deterministic for a fixed
number of processes, drop each epoch's remainder, and resume at step k by skipping
(reading, not decoding) the earlier records of k's epoch.

Everything between the stored data and the per-process numpy batch runs as TF ops
inside tf.data (example order via `tf.random.experimental.index_shuffle`, reads by
`tf.gather` from the in-memory arrays or `tf.io.read_file`), never as Python called
back from tf.data threads: that would serialise on the GIL and can deadlock when an
iterator is torn down.
"""

from __future__ import annotations

import itertools
import re
from typing import Callable, Iterator

import jax
import numpy as np
import tensorflow as tf

from simclr_jax import parallel
from simclr_jax.data import augment
from simclr_jax.data import datasets

# Distinct random streams for each use of the same (seed, step, position).
ORDER_PURPOSE = 0
PRETRAIN_PURPOSE = 1
FINETUNE_PURPOSE = 2

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_START = b"\xff\xd8\xff"
_CORRUPT_MARK = "Corrupt or truncated image file"


# ------------------------------------------------------------------ order & seeds


def _epoch_seed(seed, epoch) -> tf.Tensor:
  """Shape-[2] int64 seed of epoch `epoch`'s example order."""
  base = tf.stack([tf.cast(seed, tf.int64), tf.constant(ORDER_PURPOSE, tf.int64)])
  return tf.random.experimental.stateless_fold_in(base, tf.cast(epoch, tf.int64))


def _example_index(seed, position, num_examples: int) -> tf.Tensor:
  """Example index (int64) at global stream position `position` (TF, any shape)."""
  position = tf.cast(position, tf.int64)
  epoch, offset = position // num_examples, position % num_examples
  return tf.random.experimental.index_shuffle(
      offset, _epoch_seed(seed, epoch), tf.constant(num_examples - 1, tf.int64))


def example_order(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The permutation of [0, num_examples) that epoch `epoch` visits, seeded by (seed, epoch)."""
  return tf.random.experimental.index_shuffle(
      tf.range(num_examples, dtype=tf.int64), _epoch_seed(seed, epoch),
      tf.constant(num_examples - 1, tf.int64)).numpy()


def example_indices(seed: int, num_examples: int, positions) -> np.ndarray:
  """Example indices at global stream positions (step * batch_size + row), as numpy.

  The same function of (seed, position) that the training iterators use: position
  t is example `example_order(seed, t // n, n)[t % n]`.
  """
  positions = np.asarray(positions, np.int64)
  epochs, offsets = np.divmod(positions, num_examples)
  out = np.empty_like(positions)
  for epoch in np.unique(epochs):
    sel = epochs == epoch
    out[sel] = tf.random.experimental.index_shuffle(
        tf.constant(offsets[sel]), _epoch_seed(seed, int(epoch)),
        tf.constant(num_examples - 1, tf.int64)).numpy()
  return out


def augmentation_seed(seed, purpose, step, position, view) -> tf.Tensor:
  """Shape-[2] int64 seed of one view: a hash of (seed, purpose, step, position, view)."""
  s = tf.stack([tf.cast(seed, tf.int64), tf.cast(purpose, tf.int64)])
  for data in (step, position, view):
    s = tf.random.experimental.stateless_fold_in(s, tf.cast(data, tf.int64))
  return s


def process_rows(mesh: jax.sharding.Mesh, global_batch_size: int) -> tuple[int, int]:
  """The rows [start, stop) of a global batch that this process's devices hold."""
  sharding = parallel.batch_sharding(mesh)
  slices = sharding.addressable_devices_indices_map((global_batch_size,)).values()
  spans = sorted((s[0].start or 0, global_batch_size if s[0].stop is None else s[0].stop)
                 for s in slices)
  if any(prev[1] != nxt[0] for prev, nxt in zip(spans, spans[1:])):
    raise ValueError(
        f"the devices of process {jax.process_index()} hold rows {spans} of the global "
        "batch, not one contiguous block; build the mesh with "
        "simclr_jax.parallel.make_mesh so each process's devices are adjacent.")
  return spans[0][0], spans[-1][1]


# ----------------------------------------------------------------------- decoding


def _check_encoded(data: tf.Tensor, name: tf.Tensor) -> tf.Operation:
  """An assertion that `data` is a whole PNG or JPEG file; its message names `name`.

  Decoders report truncation without saying which file it was; this check does, and
  catches the common damage (a cut-off file, another format) before decoding.
  """
  n = tf.strings.length(data)
  is_png = tf.strings.substr(data, 0, 8) == _PNG_SIGNATURE
  png_ok = is_png & (tf.strings.substr(data, tf.maximum(n - 12, 0), 12) == _PNG_END)
  is_jpeg = tf.strings.substr(data, 0, 3) == _JPEG_START
  # The end-of-image marker may be followed by a little padding.
  tail = tf.io.decode_raw(tf.strings.substr(data, tf.maximum(n - 64, 0), 64), tf.uint8)
  has_eoi = tf.reduce_any((tail[:-1] == 0xFF) & (tail[1:] == 0xD9))
  return tf.debugging.Assert(
      png_ok | (is_jpeg & has_eoi),
      [f"{_CORRUPT_MARK} (not a complete PNG or JPEG):", name, "- replace or delete it."])


def _decode(data: tf.Tensor, index: tf.Tensor, split: datasets.Split) -> tf.Tensor:
  """uint8 [H, W, C] image of one example, whatever kind of source it comes from."""
  kind = split.kind
  if kind == "images":
    return data
  if kind == "paths":
    name = data
    data = tf.io.read_file(data)
  else:
    name = tf.strings.format("{} example {}", (split.describe(), index))
  with tf.control_dependencies([_check_encoded(data, name)]):
    image = tf.io.decode_image(tf.identity(data), channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


# ------------------------------------------------------------------ host pipeline


def _source_tensors(split: datasets.Split) -> tuple[tf.Tensor, tf.Tensor]:
  """The split's stored data (pixels, bytes or paths) and labels as TF tensors.

  tf.data functions capture them by reference, so the map can gather any example.
  """
  if split.kind == "images":
    data = tf.constant(split.images)
  elif split.kind == "encoded":
    data = tf.constant(list(split.encoded), tf.string)
  else:
    data = tf.constant([str(p) for p in split.paths], tf.string)
  return data, tf.constant(split.labels, tf.int32)


def _options(threads: int) -> tf.data.Options:
  """Deterministic tf.data, on a private pool of `threads` threads (0: TF's default)."""
  options = tf.data.Options()
  options.deterministic = True
  if threads:
    options.threading.private_threadpool_size = threads
  # One thread per element: parallelism comes from mapping many elements at once.
  options.threading.max_intra_op_parallelism = 1
  return options


def _finish(ds: tf.data.Dataset, map_fn: Callable, local_rows: int,
            threads: int) -> tf.data.Dataset:
  """Parallel, order-preserving map; per-process batches; prefetch."""
  ds = ds.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(local_rows, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  return ds.with_options(_options(threads))


def _host_dataset(split: datasets.Split, first_step: int, num_steps: int | None,
                  rows: tuple[int, int], locate: Callable, map_fn: Callable,
                  threads: int) -> tf.data.Dataset:
  """This process's rows of steps first_step, first_step + 1, ... (num_steps of them,
  or forever when None), mapped by `map_fn` and batched.

  `locate(step, position)` -> (example index, valid) as TF scalars, for a row's global
  position (row number within the global batch).
  """
  local = rows[1] - rows[0]
  data, labels = _source_tensors(split)
  stop = None if num_steps is None else (first_step + num_steps) * local
  counter = (tf.data.Dataset.range(first_step * local, stop) if stop is not None
             else tf.data.Dataset.counter(first_step * local))

  def to_row(r):
    step = r // local
    position = rows[0] + r % local
    index, valid = locate(step, position)
    label = tf.gather(labels, index) * tf.cast(valid, tf.int32)  # padding rows: 0
    return {"data": tf.gather(data, index), "label": label,
            "index": tf.where(valid, tf.cast(index, tf.int32), -1), "step": step,
            "position": position, "valid": valid}

  return _finish(counter.map(to_row), map_fn, local, threads)


def _stream_epochs(split: datasets.Split, start_step: int, rows: tuple[int, int],
                   global_batch: int, seed: int, map_fn: Callable,
                   threads: int) -> Iterator[dict]:
  """Training batches of a streamed split: one tf.data pipeline per epoch."""
  steps_per_epoch = split.num_examples // global_batch
  local = rows[1] - rows[0]
  for epoch in itertools.count(start_step // steps_per_epoch):
    first = max(start_step, epoch * steps_per_epoch)
    count = (epoch + 1) * steps_per_epoch - first
    shard = split.stream(seed, epoch, jax.process_index(), jax.process_count())
    # Shards differ in size by a few records; repeating makes each one long enough.
    ds = shard.repeat().skip((first - epoch * steps_per_epoch) * local).take(count * local)

    def to_row(r, ex, first=first):
      return {"data": ex["data"], "label": ex["label"], "index": tf.constant(-1),
              "step": first + r // local, "position": rows[0] + r % local,
              "valid": tf.constant(True)}

    ds = ds.enumerate().map(to_row)
    yield from _finish(ds, map_fn, local, threads).as_numpy_iterator()


def _stream_eval(split: datasets.Split, rows: tuple[int, int], global_batch: int,
                 map_fn: Callable, threads: int) -> tf.data.Dataset:
  """Evaluation batches of a streamed split: read in order, keep this process's rows."""
  n = split.num_examples
  total = -(-n // global_batch) * global_batch
  ds = split.stream(0, 0, 0, 1, shuffle=False).take(n).enumerate().map(
      lambda t, ex: {"data": ex["data"], "label": ex["label"],
                     "index": tf.cast(t, tf.int32), "valid": tf.constant(True),
                     "step": t // global_batch, "position": t % global_batch})
  pad = tf.data.Dataset.range(n, total).map(
      lambda t: {"data": tf.constant(b""), "label": tf.constant(0),
                 "index": tf.constant(-1), "valid": tf.constant(False),
                 "step": t // global_batch, "position": t % global_batch})
  ds = ds.concatenate(pad).filter(
      lambda ex: (ex["position"] >= rows[0]) & (ex["position"] < rows[1]))
  return _finish(ds, map_fn, rows[1] - rows[0], threads)


def _tf_message(e: tf.errors.OpError) -> str:
  """The first line of a TF error without TF's internal node names, spaces collapsed."""
  message = re.sub(r"\{\{[^}]*\}\}|\[\[.*?\]\]|\[Op:\w+\].*", "", e.message)
  first = (message.strip().splitlines() or [""])[0]
  return re.sub(r"\s+", " ", first).strip()


def _numpy_batches(make: Callable[[], Iterator[dict]],
                   split: datasets.Split) -> Iterator[dict]:
  """Iterate host batches, turning tf.data failures into `datasets.DataError`s."""
  try:
    yield from make()
  except GeneratorExit:
    # Closing an abandoned iterator (possibly at interpreter exit, when module globals
    # such as `tf` are already gone) is not a data error.
    raise
  except tf.errors.OpError as e:
    message = _tf_message(e)
    if _CORRUPT_MARK in e.message:
      detail = e.message[e.message.index(_CORRUPT_MARK):].split("\n")[0]
      # Assert prints its data as "[a] [b] [c]"; keep the text, not the brackets.
      detail = re.sub(r"\]\s*\[", " ", detail).strip().rstrip("]")
      raise datasets.CorruptDataError(f"{split.describe()}: {detail}") from None
    if isinstance(e, tf.errors.NotFoundError):
      raise datasets.DatasetNotFoundError(
          f"{split.describe()}: a file is missing ({message}); it was listed when the "
          "dataset was loaded. Restore it, or reload the dataset.") from None
    raise datasets.DataError(f"{split.describe()}: reading failed: {message}") from None


def _global_batches(host: Iterator[dict], mesh: jax.sharding.Mesh,
                    global_batch: int) -> Iterator[dict]:
  """Assemble per-process numpy batches into global arrays sharded over `mesh`."""
  sharding = parallel.batch_sharding(mesh)
  for batch in host:
    yield {k: jax.make_array_from_process_local_data(
        sharding, v, (global_batch,) + v.shape[1:]) for k, v in batch.items()}


# ----------------------------------------------------------------------- checks


def check_train_split(split: datasets.Split, global_batch: int) -> None:
  """A training split must fill at least one global batch."""
  if split.num_examples < global_batch:
    raise datasets.DataError(
        f"{split.describe()} has {split.num_examples} examples, fewer than one global "
        f"batch (batch_size={global_batch}); lower --config.batch_size or use a larger "
        "split.")


def _size(config) -> int:
  """The square side of every view."""
  return int(config.image_size)


# ------------------------------------------------------------------ public iterators


def _train_batches(config, mesh, split, start_step, global_batch, purpose,
                   views_fn) -> Iterator[dict]:
  """Shared body of the two infinite, seeded training iterators."""
  parallel.check_global_batch(global_batch, mesh)
  check_train_split(split, global_batch)
  if start_step < 0:
    raise ValueError(f"start_step={start_step}; it must be >= 0.")
  seed = int(config.seed)
  threads = int(config.get("data_threads", 0))
  rows = process_rows(mesh, global_batch)

  def map_fn(ex):
    image = _decode(ex["data"], ex["index"], split)
    seeds = [augmentation_seed(seed, purpose, ex["step"], ex["position"], v)
             for v in range(2)]
    return views_fn(image, seeds, ex["label"])

  if split.random_access:
    def locate(step, position):
      index = _example_index(seed, step * global_batch + position, split.num_examples)
      return index, tf.constant(True)

    def make():
      return _host_dataset(split, start_step, None, rows, locate, map_fn,
                           threads).as_numpy_iterator()
  else:
    def make():
      return _stream_epochs(split, start_step, rows, global_batch, seed, map_fn, threads)
  return _global_batches(_numpy_batches(make, split), mesh, global_batch)


def pretrain_batches(config, mesh: jax.sharding.Mesh, *, start_step: int = 0,
                     split: datasets.Split | None = None) -> Iterator[dict]:
  """Infinite SimCLR pretraining batches from global step `start_step` on.

  Yields ``{"views": float32 [B, 2, S, S, 3], "labels": int32 [B]}`` with
  B = config.batch_size (global) and S = config.image_size, both sharded as
  `parallel.batch_sharding(mesh)`. Views use config.color_jitter_strength,
  config.blur and config.crop_min_area (the smallest crop area fraction); the order and
  the augmentations depend on config.seed and the step only (see the module docstring).
  `split` defaults to the config's train split.

  Raises:
    ValueError: batch_size does not divide over the mesh's devices.
    datasets.DataError: the split is smaller than one global batch, or bad data.
  """
  split = split or datasets.load_splits(config)[0]
  size = _size(config)
  strength = float(config.color_jitter_strength)
  blur = bool(config.blur)
  crop_area_range = (float(config.get("crop_min_area", augment.CROP_AREA_RANGE[0])), 1.0)

  def views_fn(image, seeds, label):
    views = [augment.pretrain_view(image, s, height=size, width=size,
                                   color_jitter_strength=strength, blur=blur,
                                   crop_area_range=crop_area_range)
             for s in seeds]
    return {"views": tf.stack(views), "labels": label}

  return _train_batches(config, mesh, split, start_step, int(config.batch_size),
                        PRETRAIN_PURPOSE, views_fn)


def finetune_batches(config, mesh: jax.sharding.Mesh, *, start_step: int = 0,
                     split: datasets.Split | None = None,
                     batch_size: int | None = None) -> Iterator[dict]:
  """Infinite training batches for linear evaluation and fine-tuning (crop + flip).

  Yields ``{"images": float32 [B, S, S, 3], "labels": int32 [B]}`` sharded as
  `parallel.batch_sharding(mesh)`, shuffled and augmented as a function of
  (config.seed, step), like `pretrain_batches` but with its own random stream.
  B = `batch_size` or config.batch_size; `split` defaults to the config's train split.
  """
  split = split or datasets.load_splits(config)[0]
  size = _size(config)

  def views_fn(image, seeds, label):
    return {"images": augment.finetune_view(image, seeds[0], height=size, width=size),
            "labels": label}

  return _train_batches(config, mesh, split, start_step,
                        int(batch_size or config.batch_size), FINETUNE_PURPOSE, views_fn)


def num_eval_batches(num_examples: int, global_batch: int) -> int:
  """How many batches `eval_batches` yields: every example once, the last padded."""
  return -(-num_examples // global_batch)


def eval_batches(config, mesh: jax.sharding.Mesh, *, split: datasets.Split | None = None,
                 batch_size: int | None = None) -> Iterator[dict]:
  """Every example of an evaluation split exactly once, in storage order.

  Yields `num_eval_batches` dicts ``{"images": float32 [B, S, S, 3], "labels": int32
  [B], "mask": bool [B], "index": int32 [B]}`` sharded as
  `parallel.batch_sharding(mesh)`; `index` is the example's index in the split.
  Rows past the end of the split (last batch only) are zero images with label 0,
  index -1 and mask False. B = `batch_size` or config.batch_size; `split` defaults
  to the config's eval split.
  """
  split = split or datasets.load_splits(config)[1]
  global_batch = int(batch_size or config.batch_size)
  parallel.check_global_batch(global_batch, mesh)
  size = _size(config)
  threads = int(config.get("data_threads", 0))
  rows = process_rows(mesh, global_batch)
  n = split.num_examples

  def map_fn(ex):
    image = tf.cond(
        ex["valid"],
        lambda: augment.eval_view(_decode(ex["data"], ex["index"], split),
                                  height=size, width=size),
        lambda: tf.zeros([size, size, 3], tf.float32))
    return {"images": image, "labels": ex["label"], "mask": ex["valid"],
            "index": ex["index"]}

  if split.random_access:
    def locate(step, position):
      index = step * global_batch + position
      valid = index < n
      return tf.where(valid, index, 0), valid

    def make():
      return _host_dataset(split, 0, num_eval_batches(n, global_batch), rows, locate,
                           map_fn, threads).as_numpy_iterator()
  else:
    def make():
      return _stream_eval(split, rows, global_batch, map_fn, threads).as_numpy_iterator()
  return _global_batches(_numpy_batches(make, split), mesh, global_batch)
