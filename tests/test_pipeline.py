"""Batch iterators: sharding, determinism across device counts and restarts, coverage, errors."""

import io
import itertools
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from simclr_jax import config as config_lib
from simclr_jax import parallel
from simclr_jax.data import augment
from simclr_jax.data import datasets
from simclr_jax.data import pipeline

BATCH = 16
SIZE = 16


@pytest.fixture(scope="module")
def config():
  c = config_lib.base_config()
  c.dataset = "synthetic"
  c.batch_size = BATCH
  c.image_size = SIZE
  c.seed = 3
  return c


@pytest.fixture(scope="module")
def split():
  # 40 examples: batches of 16 straddle the epoch boundaries.
  return datasets.get_dataset("synthetic", "train", num_train=40, image_size=20)


def _take(iterator, n):
  return [{k: np.asarray(v) for k, v in b.items()} for b in itertools.islice(iterator, n)]


@pytest.fixture(scope="module")
def batches_8(config, split):
  return _take(pipeline.pretrain_batches(config, parallel.make_mesh(8), split=split), 5)


def test_pretrain_batch_format_and_sharding(config, split):
  mesh = parallel.make_mesh(8)
  batch = next(pipeline.pretrain_batches(config, mesh, split=split))
  assert set(batch) == {"views", "labels"}
  assert batch["views"].shape == (BATCH, 2, SIZE, SIZE, 3)
  assert batch["views"].dtype == np.float32 and batch["labels"].dtype == np.int32
  assert batch["labels"].shape == (BATCH,)
  for value in batch.values():
    assert value.sharding == parallel.batch_sharding(mesh)
    assert len(value.addressable_shards) == 8
    assert value.addressable_shards[0].data.shape[0] == BATCH // 8
  views = np.asarray(batch["views"])
  assert views.min() >= 0 and views.max() <= 1
  assert not np.array_equal(views[:, 0], views[:, 1])  # two independent views


def test_same_batches_on_1_and_8_devices(config, split, batches_8):
  batches_1 = _take(pipeline.pretrain_batches(config, parallel.make_mesh(1), split=split), 5)
  for b1, b8 in zip(batches_1, batches_8):
    np.testing.assert_array_equal(b1["views"], b8["views"])
    np.testing.assert_array_equal(b1["labels"], b8["labels"])


def test_starting_at_step_k_equals_continuing(config, split, batches_8):
  resumed = _take(pipeline.pretrain_batches(config, parallel.make_mesh(8), split=split,
                                            start_step=3), 2)
  for got, want in zip(resumed, batches_8[3:5]):
    np.testing.assert_array_equal(got["views"], want["views"])
    np.testing.assert_array_equal(got["labels"], want["labels"])


def test_batches_follow_the_documented_order_and_seeds(config, split, batches_8):
  # Example order: seeded per-epoch permutations, batch k = positions [kB, (k+1)B).
  epoch0 = pipeline.example_indices(config.seed, 40, np.arange(40))
  assert sorted(epoch0) == list(range(40))
  assert not np.array_equal(epoch0, pipeline.example_indices(config.seed, 40,
                                                             np.arange(40, 80)))
  for k, batch in enumerate(batches_8):
    idx = pipeline.example_indices(config.seed, 40, k * BATCH + np.arange(BATCH))
    np.testing.assert_array_equal(batch["labels"], split.labels[idx])
  # Views: pretrain_view seeded by (seed, purpose, step, position, view).
  k, row, view = 2, 5, 1
  idx = pipeline.example_indices(config.seed, 40, [k * BATCH + row])[0]
  seed = pipeline.augmentation_seed(config.seed, pipeline.PRETRAIN_PURPOSE, k, row, view)
  expected = augment.pretrain_view(
      tf.constant(split.images[idx]), seed, height=SIZE, width=SIZE,
      color_jitter_strength=config.color_jitter_strength, blur=config.blur)
  np.testing.assert_allclose(batches_8[k]["views"][row, view], expected.numpy(), atol=1e-6)


def test_processes_compute_their_own_rows(config, split, batches_8, monkeypatch):
  # Two processes, simulated: each builds only its half of the global batch (rows
  # [0, 8) and [8, 16)); together they must give the single-process batches.
  monkeypatch.setattr(pipeline, "_global_batches", lambda host, mesh, b: host)
  halves = []
  for rows in ((0, BATCH // 2), (BATCH // 2, BATCH)):
    monkeypatch.setattr(pipeline, "process_rows", lambda mesh, b, rows=rows: rows)
    halves.append(list(itertools.islice(
        pipeline.pretrain_batches(config, parallel.make_mesh(8), split=split,
                                  start_step=1), 2)))
  for k, (a, b) in enumerate(zip(*halves), start=1):
    assert a["views"].shape[0] == BATCH // 2
    np.testing.assert_array_equal(np.concatenate([a["views"], b["views"]]),
                                  batches_8[k]["views"])


def test_another_seed_gives_other_batches(config, split, batches_8):
  other = config.copy_and_resolve_references()
  other.seed = 4
  batch = _take(pipeline.pretrain_batches(other, parallel.make_mesh(8), split=split), 1)[0]
  assert not np.array_equal(batch["views"], batches_8[0]["views"])


def test_eval_covers_every_example_once(config):
  split = datasets.get_dataset("synthetic", "test", num_test=37, image_size=20)
  mesh = parallel.make_mesh(8)
  batches = [{k: np.asarray(v) for k, v in b.items()}
             for b in pipeline.eval_batches(config, mesh, split=split)]
  assert len(batches) == pipeline.num_eval_batches(37, BATCH) == 3
  index = np.concatenate([b["index"] for b in batches])
  mask = np.concatenate([b["mask"] for b in batches])
  assert mask.dtype == bool and mask.sum() == 37
  np.testing.assert_array_equal(index[mask], np.arange(37))
  assert (index[~mask] == -1).all()
  images = np.concatenate([b["images"] for b in batches])
  labels = np.concatenate([b["labels"] for b in batches])
  np.testing.assert_array_equal(labels[mask], split.labels)
  assert (images[~mask] == 0).all() and (labels[~mask] == 0).all()
  expected = augment.eval_view(tf.constant(split.images[36]), height=SIZE, width=SIZE)
  np.testing.assert_allclose(images[36], expected.numpy(), atol=1e-6)


def test_eval_batches_are_sharded(config):
  split = datasets.get_dataset("synthetic", "test", num_test=16, image_size=20)
  mesh = parallel.make_mesh(8)
  batch = next(pipeline.eval_batches(config, mesh, split=split))
  for key in ("images", "labels", "mask", "index"):
    assert batch[key].sharding == parallel.batch_sharding(mesh)
  assert batch["images"].shape == (BATCH, SIZE, SIZE, 3)


def test_finetune_batches_are_seeded_and_resumable(config, split):
  mesh = parallel.make_mesh(8)
  first = _take(pipeline.finetune_batches(config, mesh, split=split), 3)
  resumed = _take(pipeline.finetune_batches(config, parallel.make_mesh(1), split=split,
                                            start_step=2), 1)
  assert first[0]["images"].shape == (BATCH, SIZE, SIZE, 3)
  np.testing.assert_array_equal(resumed[0]["images"], first[2]["images"])
  np.testing.assert_array_equal(resumed[0]["labels"], first[2]["labels"])


def test_encoded_and_folder_sources(config, tmp_path):
  mesh = parallel.make_mesh(8)
  raw = datasets.get_dataset("synthetic", "test", num_test=16, image_size=20)
  png = datasets.get_dataset("synthetic", "test", num_test=16, image_size=20,
                             encoding="png")
  root = tmp_path / "folder"
  for i, (image, label) in enumerate(zip(raw.images, raw.labels)):
    os.makedirs(root / "test" / f"c{label}", exist_ok=True)
    Image.fromarray(image).save(root / "test" / f"c{label}" / f"{i:02d}.png")
  folder = datasets.get_dataset("image_folder", "test", data_dir=str(root))
  want = np.asarray(next(pipeline.eval_batches(config, mesh, split=raw))["images"])
  for source in (png, folder):
    got = next(pipeline.eval_batches(config, mesh, split=source))
    if source is png:  # same order as the arrays; PNG is lossless
      np.testing.assert_array_equal(np.asarray(got["images"]), want)
    assert got["images"].shape == (BATCH, SIZE, SIZE, 3)
  views = next(pipeline.pretrain_batches(config, mesh, split=folder))["views"]
  assert views.shape == (BATCH, 2, SIZE, SIZE, 3)


# ------------------------------------------------------------------------ errors


def test_batch_not_divisible_by_devices(config, split):
  bad = config.copy_and_resolve_references()
  bad.batch_size = 12
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    pipeline.pretrain_batches(bad, parallel.make_mesh(8), split=split)


def test_split_smaller_than_a_global_batch(config):
  small = datasets.get_dataset("synthetic", "train", num_train=10)
  with pytest.raises(datasets.DataError, match=r"10 examples.*batch_size=16"):
    pipeline.pretrain_batches(config, parallel.make_mesh(8), split=small)
  with pytest.raises(datasets.DataError, match="fewer than one global batch"):
    pipeline.finetune_batches(config, parallel.make_mesh(8), split=small)


def _folder_with(tmp_path, name: str, data: bytes) -> datasets.Split:
  """An image folder of 16 good PNGs plus one file `name` holding `data`."""
  root = tmp_path / "imgs"
  os.makedirs(root / "train" / "a", exist_ok=True)
  rng = np.random.default_rng(0)
  for i in range(16):
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
        root / "train" / "a" / f"good{i:02d}.png")
  (root / "train" / "a" / name).write_bytes(data)
  return datasets.get_dataset("image_folder", "train", data_dir=str(root))


def _png_bytes() -> bytes:
  buf = io.BytesIO()
  Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


@pytest.mark.parametrize("name,data", [
    ("broken.png", "truncated-png"),
    ("broken.jpg", b"this is not an image at all"),
])
def test_corrupt_image_names_the_file(config, tmp_path, name, data):
  if data == "truncated-png":
    data = _png_bytes()[:-20]
  split = _folder_with(tmp_path, name, data)
  with pytest.raises(datasets.CorruptDataError, match=name):
    list(pipeline.eval_batches(config, parallel.make_mesh(8), split=split))


def test_image_deleted_after_listing(config, tmp_path):
  split = _folder_with(tmp_path, "zz.png", _png_bytes())
  os.remove(split.paths[-1])
  with pytest.raises(datasets.DatasetNotFoundError, match="zz.png"):
    list(pipeline.eval_batches(config, parallel.make_mesh(8), split=split))


def test_process_rows_single_process(config):
  assert pipeline.process_rows(parallel.make_mesh(8), 64) == (0, 64)
  assert pipeline.process_rows(parallel.make_mesh(1), 64) == (0, 64)
