"""Dataset sources: real Fashion-MNIST IDX files, synthetic data, image folders, TFDS, bad data."""

import gzip
import io
import os
import struct
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from simclr_jax import config as config_lib
from simclr_jax import parallel
from simclr_jax.data import datasets
from simclr_jax.data import pipeline

FMNIST = datasets.FASHION_MNIST_DIR


def write_idx(path, array: np.ndarray, *, magic_type: int = 0x08) -> str:
  """Write `array` (uint8) as an IDX file, gzipped when `path` ends in .gz."""
  array = np.asarray(array, np.uint8)
  raw = bytes([0, 0, magic_type, array.ndim]) + struct.pack(
      f">{array.ndim}I", *array.shape) + array.tobytes()
  path = str(path)
  with open(path, "wb") as f:
    f.write(gzip.compress(raw) if path.endswith(".gz") else raw)
  return path


def write_fashion_mnist(directory, *, n_train=30, n_test=20, gz=True, labels=None):
  """A small Fashion-MNIST-shaped IDX directory."""
  os.makedirs(directory, exist_ok=True)
  rng = np.random.default_rng(0)
  suffix = ".gz" if gz else ""
  for prefix, n in (("train", n_train), ("t10k", n_test)):
    write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"),
              rng.integers(0, 256, (n, 28, 28)))
    lab = rng.integers(0, 10, n) if labels is None else labels[:n]
    write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"), lab)
  return str(directory)


# ------------------------------------------------------------ real Fashion-MNIST


@pytest.fixture(scope="module")
def real_fmnist():
  if not os.path.isdir(FMNIST):
    pytest.skip(f"{FMNIST} is missing: apt-get install dataset-fashion-mnist")
  return datasets.get_dataset("fashion_mnist", "train"), datasets.get_dataset(
      "fashion_mnist", "test")


def test_real_fashion_mnist_idx(real_fmnist):
  train, test = real_fmnist
  assert (train.num_examples, test.num_examples) == (60000, 10000)
  for split in (train, test):
    assert split.kind == "images" and split.num_classes == 10
    assert split.images.shape == (split.num_examples, 28, 28, 1)
    assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
    assert set(np.unique(split.labels)) == set(range(10))
    assert split.image_shape == (28, 28, 1)
  # Not blank: the images carry real structure.
  assert 50 < train.images.mean() < 120


def test_fashion_mnist_split_slice(real_fmnist):
  train, _ = real_fmnist
  part = datasets.get_dataset("fashion_mnist", "train[100:150]")
  assert part.num_examples == 50
  np.testing.assert_array_equal(part.images, train.images[100:150])


# --------------------------------------------------------------------- IDX files


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_gz_or_plain(tmp_path, gz):
  d = write_fashion_mnist(tmp_path / "fm", gz=gz)
  train = datasets.get_dataset("fashion_mnist", "train", data_dir=d)
  test = datasets.get_dataset("fashion_mnist", "test", data_dir=d)
  assert (train.num_examples, test.num_examples) == (30, 20)
  assert train.images.shape == (30, 28, 28, 1)


def test_truncated_idx_names_the_file(tmp_path):
  d = write_fashion_mnist(tmp_path / "fm", gz=False)
  path = os.path.join(d, "train-images-idx3-ubyte")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 100)
  with pytest.raises(datasets.CorruptDataError, match="train-images-idx3-ubyte.*truncated"):
    datasets.get_dataset("fashion_mnist", "train", data_dir=d)


def test_truncated_gzip_names_the_file(tmp_path):
  d = write_fashion_mnist(tmp_path / "fm", gz=True)
  path = os.path.join(d, "t10k-images-idx3-ubyte.gz")
  data = open(path, "rb").read()
  open(path, "wb").write(data[: len(data) // 2])
  with pytest.raises(datasets.CorruptDataError, match="t10k-images-idx3-ubyte.gz"):
    datasets.get_dataset("fashion_mnist", "test", data_dir=d)


def test_bad_idx_magic_names_the_file(tmp_path):
  d = write_fashion_mnist(tmp_path / "fm", gz=False)
  path = write_idx(os.path.join(d, "train-labels-idx1-ubyte"), np.zeros(30),
                   magic_type=0x0D)  # float32 type code
  with pytest.raises(datasets.CorruptDataError, match="train-labels-idx1-ubyte.*magic"):
    datasets.read_idx(path)


def test_idx_label_out_of_range(tmp_path):
  labels = np.array([3] * 29 + [10])
  d = write_fashion_mnist(tmp_path / "fm", labels=labels)
  with pytest.raises(datasets.DataError, match=r"label 10 of example 29.*\[0, 10\)"):
    datasets.get_dataset("fashion_mnist", "train", data_dir=d)


def test_idx_count_mismatch(tmp_path):
  d = write_fashion_mnist(tmp_path / "fm")
  write_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"), np.zeros(29))
  with pytest.raises(datasets.CorruptDataError, match="train-labels-idx1-ubyte.gz"):
    datasets.get_dataset("fashion_mnist", "train", data_dir=d)


def test_idx_missing_labels_file(tmp_path):
  d = write_fashion_mnist(tmp_path / "fm")
  os.remove(os.path.join(d, "train-labels-idx1-ubyte.gz"))
  with pytest.raises(datasets.DatasetNotFoundError, match="train-labels-idx1-ubyte"):
    datasets.get_dataset("fashion_mnist", "train", data_dir=d)


@pytest.mark.parametrize("make_dir", [False, True])
def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, make_dir):
  d = tmp_path / "nothing_here"
  if make_dir:
    d.mkdir()
  with pytest.raises(datasets.DatasetNotFoundError) as e:
    datasets.get_dataset("fashion_mnist", "train", data_dir=str(d))
  assert "apt-get install dataset-fashion-mnist" in str(e.value)
  assert "--config.data_dir" in str(e.value) and str(d) in str(e.value)
  assert isinstance(e.value, FileNotFoundError)


# --------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_sized():
  a = datasets.get_dataset("synthetic", "train", num_train=40, image_size=24, num_classes=3)
  b = datasets.get_dataset("synthetic", "train", num_train=40, image_size=24, num_classes=3)
  test = datasets.get_dataset("synthetic", "test", num_test=12, image_size=24, num_classes=3)
  np.testing.assert_array_equal(a.images, b.images)
  assert a.images.shape == (40, 24, 24, 3) and a.images.dtype == np.uint8
  assert a.num_classes == 3 and set(a.labels) == {0, 1, 2}
  assert test.num_examples == 12 and not np.array_equal(test.images, a.images[:12])
  gray = datasets.get_dataset("synthetic", "train", num_train=8, channels=1)
  assert gray.images.shape == (8, 32, 32, 1)


def test_synthetic_encoded_round_trips():
  png = datasets.get_dataset("synthetic", "train", num_train=4, encoding="png")
  raw = datasets.get_dataset("synthetic", "train", num_train=4)
  assert png.kind == "encoded" and png.image_shape == (32, 32, 3)
  np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(png.encoded[2]))),
                                raw.images[2])
  jpeg = datasets.get_dataset("synthetic", "train", num_train=4, encoding="jpeg")
  assert jpeg.encoded[0][:3] == b"\xff\xd8\xff"


def test_load_splits_reads_the_config(tmp_path):
  config = config_lib.base_config()
  config.dataset = "synthetic"
  config.dataset_options = {"num_train": 20, "num_test": 10}
  train, test = datasets.load_splits(config)
  assert (train.split, train.num_examples, test.split, test.num_examples) == (
      "train", 20, "test", 10)


def test_bad_split_names():
  with pytest.raises(datasets.DataError, match="splits"):
    datasets.get_dataset("synthetic", "holdout")
  with pytest.raises(datasets.DataError, match="selects no example"):
    datasets.get_dataset("synthetic", "test[300:]")
  with pytest.raises(datasets.DataError, match="not understood"):
    datasets.get_dataset("synthetic", "train[::2]")


# ------------------------------------------------------------------ image folder


def make_image_folder(root, layout: dict) -> str:
  """root/<split>/<label>/<i>.png|jpg with small random images; layout split->label->n."""
  rng = np.random.default_rng(0)
  for split, classes in layout.items():
    for label, n in classes.items():
      os.makedirs(os.path.join(root, split, label), exist_ok=True)
      for i in range(n):
        image = Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8))
        ext = "png" if i % 2 else "jpg"
        image.save(os.path.join(root, split, label, f"{i}.{ext}"))
  return str(root)


def test_image_folder_labels_are_sorted_class_names(tmp_path):
  root = make_image_folder(tmp_path / "imgs", {
      "train": {"dog": 3, "cat": 2, "emu": 2}, "test": {"dog": 2, "cat": 1}})
  train = datasets.get_dataset("image_folder", "train", data_dir=root)
  test = datasets.get_dataset("image_folder", "test", data_dir=root)
  assert train.kind == "paths" and train.num_examples == 7 and train.num_classes == 3
  assert list(train.labels) == [0, 0, 1, 1, 1, 2, 2]  # cat, dog, emu
  # The test split lacks "emu" but keeps the same label numbers.
  assert test.num_classes == 3 and list(test.labels) == [0, 1, 1]
  assert all(p.endswith((".png", ".jpg")) for p in train.paths)


def test_image_folder_missing_or_empty(tmp_path):
  with pytest.raises(datasets.DataError, match="data_dir"):
    datasets.get_dataset("image_folder", "train")
  with pytest.raises(datasets.DatasetNotFoundError, match="does not exist"):
    datasets.get_dataset("image_folder", "train", data_dir=str(tmp_path / "nope"))
  (tmp_path / "empty" / "train" / "cat").mkdir(parents=True)
  with pytest.raises(datasets.DatasetNotFoundError, match="holds no images"):
    datasets.get_dataset("image_folder", "train", data_dir=str(tmp_path / "empty"))


# -------------------------------------------------------------------------- TFDS


class FakeTfdsBuilder:
  """Enough of a TFDS builder for the loader: info, is_prepared, as_dataset."""

  def __init__(self, images, labels, *, num_classes=4, image_shape=(16, 16, 3),
               prepared=True, num_bytes=10_000):
    self.images, self.labels = images, np.asarray(labels, np.int64)
    self.prepared = prepared
    self.data_dir = "/fake/tfds/fake_ds/1.0.0"
    self.info = types.SimpleNamespace(
        supervised_keys=("image", "label"),
        features={"image": types.SimpleNamespace(shape=image_shape),
                  "label": types.SimpleNamespace(num_classes=num_classes)},
        splits={"train": types.SimpleNamespace(num_examples=len(labels),
                                               num_bytes=num_bytes)})

  def is_prepared(self):
    return self.prepared

  def as_dataset(self, split, batch_size=None, as_supervised=False, decoders=None,
                 shuffle_files=False, read_config=None):
    assert as_supervised and split == "train"
    data = (datasets.encode_images(self.images, "png").tolist() if decoders
            else self.images)
    ds = tf.data.Dataset.from_tensor_slices((data, self.labels))
    context = getattr(read_config, "input_context", None)
    if context is not None:
      ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
    if shuffle_files:
      ds = ds.shuffle(len(self.labels), seed=read_config.shuffle_seed)
    # As in TFDS, batch_size=-1 gives the whole split as tensors, not a dataset.
    return ds.batch(len(self.labels)).get_single_element() if batch_size == -1 else ds


@pytest.fixture
def fake_tfds(monkeypatch):
  """Install a fake builder made by the returned function in place of tfds.builder."""
  def install(**kwargs):
    images, labels = datasets.synthetic_images(24, image_size=16, num_classes=4)
    builder = FakeTfdsBuilder(images, kwargs.pop("labels", labels), **kwargs)
    monkeypatch.setattr(datasets, "_tfds_builder", lambda name, data_dir: builder)
    return builder
  return install


def test_tfds_not_prepared_says_how_to_prepare(fake_tfds):
  fake_tfds(prepared=False)
  with pytest.raises(datasets.DatasetNotFoundError, match=r"tfds build cifar10.*data_dir"):
    datasets.get_dataset("cifar10", "train")


def test_tfds_real_builder_unprepared(tmp_path):
  # The real TFDS code path: nothing is prepared in an empty data_dir.
  with pytest.raises(datasets.DatasetNotFoundError, match="not prepared"):
    datasets.get_dataset("cifar10", "train", data_dir=str(tmp_path))


def test_tfds_in_memory_fixed_shape(fake_tfds):
  builder = fake_tfds()
  split = datasets.get_dataset("tfds:fake_ds", "train")
  assert split.kind == "images" and split.num_examples == 24 and split.num_classes == 4
  np.testing.assert_array_equal(split.images, builder.images)
  np.testing.assert_array_equal(split.labels, builder.labels)


def test_tfds_in_memory_variable_shape_keeps_bytes(fake_tfds):
  fake_tfds(image_shape=(None, None, 3))
  split = datasets.get_dataset("fake_ds", "train")
  assert split.kind == "encoded" and split.encoded[0][:4] == b"\x89PNG"


def test_tfds_label_out_of_range(fake_tfds):
  fake_tfds(labels=[0, 1, 2, 3] * 5 + [0, 1, 7, 2])
  with pytest.raises(datasets.DataError, match=r"label 7 of example 22"):
    datasets.get_dataset("fake_ds", "train")


def test_tfds_streamed_split_feeds_the_pipeline(fake_tfds):
  fake_tfds(num_bytes=datasets.MAX_IN_MEMORY_BYTES + 1)
  split = datasets.get_dataset("fake_ds", "train")
  assert split.kind == "stream" and not split.random_access
  config = config_lib.base_config()
  config.batch_size, config.image_size = 8, 16
  mesh = parallel.make_mesh(8)
  it = pipeline.pretrain_batches(config, mesh, split=split)
  batches = [next(it) for _ in range(4)]  # 3 steps per epoch: crosses into epoch 1
  assert batches[0]["views"].shape == (8, 2, 16, 16, 3)
  resumed = next(pipeline.pretrain_batches(config, mesh, split=split, start_step=2))
  np.testing.assert_array_equal(np.asarray(resumed["views"]),
                                np.asarray(batches[2]["views"]))
  evals = list(pipeline.eval_batches(config, mesh, split=split, batch_size=16))
  seen = np.concatenate([np.asarray(b["index"])[np.asarray(b["mask"])] for b in evals])
  assert sorted(seen) == list(range(24))
