"""Linear probe and k-NN against known answers and a brute-force computation."""

import os

import numpy as np
import pytest

from simclr_jax.evaluation.knn import knn_eval, knn_predict
from simclr_jax.evaluation.linear import linear_eval, topk_accuracy


def separable(n, d=16, classes=4, seed=0):
  rng = np.random.default_rng(seed)
  w = rng.normal(size=(d, classes))
  x = rng.normal(size=(n, d)).astype(np.float32)
  return x, np.argmax(x @ w, axis=1).astype(np.int32)


def test_linear_probe_separates_linearly_separable_data():
  x, y = separable(4000)
  result = linear_eval(x[:3000], y[:3000], x[3000:], y[3000:], 4, epochs=60,
                       batch_size=256, base_learning_rate=0.5)
  assert result["top1"] > 0.95 and result["num_examples"] == 1000
  assert "top5" not in result  # only where classes > 5


def test_linear_probe_on_shuffled_labels_is_at_chance():
  x, _ = separable(4000, classes=10)
  y = np.random.default_rng(1).integers(0, 10, size=4000).astype(np.int32)
  result = linear_eval(x[:3000], y[:3000], x[3000:], y[3000:], 10, epochs=20,
                       batch_size=256)
  assert abs(result["top1"] - 0.1) < 0.04 and result["top5"] > result["top1"]


def test_topk_accuracy():
  logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
  labels = np.array([1, 2, 0])
  assert topk_accuracy(logits, labels, 1) == pytest.approx(1 / 3)
  assert topk_accuracy(logits, labels, 2) == pytest.approx(2 / 3)


def brute_force_knn(train_x, train_y, test_x, classes, k, tau):
  a = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
  b = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
  weighted, majority = [], []
  for q in b:
    sims = a @ q
    nearest = np.argsort(-sims, kind="stable")[:k]
    w_votes, m_votes = np.zeros(classes), np.zeros(classes)
    for i in nearest:
      w_votes[train_y[i]] += np.exp(sims[i] / tau)
      m_votes[train_y[i]] += 1
    weighted.append(np.argmax(w_votes))
    top = np.flatnonzero(m_votes == m_votes.max())
    majority.append(top[np.argmax(w_votes[top])])
  return np.array(weighted), np.array(majority)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_weighted_knn_matches_brute_force(k):
  rng = np.random.default_rng(k)
  train_x = rng.normal(size=(300, 8)).astype(np.float32)
  train_y = rng.integers(0, 5, size=300).astype(np.int32)
  test_x = rng.normal(size=(50, 8)).astype(np.float32)
  weighted, majority = knn_predict(train_x, train_y, test_x, 5, k=k, temperature=0.1,
                                   chunk=16)
  want_w, want_m = brute_force_knn(train_x, train_y, test_x, 5, k, 0.1)
  np.testing.assert_array_equal(weighted, want_w)
  np.testing.assert_array_equal(majority, want_m)
  test_y = rng.integers(0, 5, size=50)
  result = knn_eval(train_x, train_y, test_x, test_y, 5, k=k)
  assert result["top1"] == pytest.approx(np.mean(want_w == test_y))
  assert result["variant"] == "weighted" and result["k"] == k


def test_plots_write_pngs(tmp_path):
  from simclr_jax.evaluation.plots import plot_curves, plot_embeddings
  with open(tmp_path / "metrics.jsonl", "w") as f:
    for step in range(1, 6):
      f.write(f'{{"step": {step}, "loss": {5 - step * 0.1}, "learning_rate": 0.1, '
              f'"contrastive_accuracy": {step * 0.1}}}\n')
  curves = plot_curves(str(tmp_path))
  assert curves.endswith("plots/curves.png") and os.path.getsize(curves) > 10_000
  h, labels = separable(300)
  out = plot_embeddings(h, labels, str(tmp_path / "plots" / "embeddings.png"),
                        class_names=["a", "b", "c", "d"], max_points=200)
  with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_label_subset_is_balanced_sized_and_seeded():
  from simclr_jax.data.datasets import DataError, label_subset
  labels = np.repeat(np.arange(10), 600)
  np.random.default_rng(0).shuffle(labels)
  subset = label_subset(labels, 0.01, 10, seed=3)
  assert len(subset) == 60 and len(np.unique(subset)) == 60
  assert np.all(np.bincount(labels[subset], minlength=10) == 6)
  np.testing.assert_array_equal(subset, label_subset(labels, 0.01, 10, seed=3))
  assert not np.array_equal(subset, label_subset(labels, 0.01, 10, seed=4))
  assert len(label_subset(labels, 0.1, 10, seed=0)) == 600
  assert len(label_subset(labels, 1.0, 10, seed=0)) == 6000
  with pytest.raises(DataError, match="finetune_fraction"):
    label_subset(labels, 0.0, 10, seed=0)


def test_pretrain_then_evaluate_and_finetune_end_to_end(tmp_path):
  """Tiny config: pretrain -> linear + k-NN (+ baselines) -> fine-tune, files on disk."""
  import json
  import sys

  from simclr_jax import trainer
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs"))
  try:
    import tiny
  finally:
    sys.path.pop(0)
  config = tiny.get_config()
  config.update(dict(mode="pretrain_eval", train_split="train[:2048]",
                     eval_split="test[:1000]", linear_epochs=20, eval_batch_size=512,
                     finetune_fraction=0.05, finetune_epochs=2, finetune_batch_size=64))
  workdir = str(tmp_path)
  trainer.run(config, workdir)
  eval_dir = os.path.join(workdir, "eval")
  for name in ("linear", "knn", "baselines"):
    with open(os.path.join(eval_dir, f"{name}.json")) as f:
      record = json.load(f)
    assert record["step"] == 6 and record["dataset"] == "fashion_mnist"
    assert record["split"] == "test[:1000]"
  with open(os.path.join(eval_dir, "linear.json")) as f:
    linear = json.load(f)
  assert 0.1 < linear["top1"] <= 1 and linear["num_examples"] == 1000 and "top5" in linear
  with open(os.path.join(eval_dir, "baselines.json")) as f:
    baselines = json.load(f)
  # Raw pixels of Fashion-MNIST are far above chance even with 2,048 training images.
  assert baselines["raw_pixels"]["linear"]["top1"] > 0.6
  embeddings = np.load(os.path.join(eval_dir, "embeddings.npz"))
  assert embeddings["h"].shape == (1000, 64) and embeddings["labels"].shape == (1000,)
  for png in ("curves.png", "embeddings.png"):
    with open(os.path.join(workdir, "plots", png), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"

  # The paper's protocol: crop + flip views through the frozen encoder, sharded.
  config.update(dict(mode="linear_eval", linear_fast_path=False, linear_epochs=0.5,
                     linear_batch_size=64, eval_baselines=False))
  trainer.run(config, workdir)
  with open(os.path.join(eval_dir, "linear.json")) as f:
    augmented = json.load(f)
  assert "crop + flip" in augmented["protocol"] and augmented["epochs"] == 0.5
  assert 0 <= augmented["top1"] <= 1 and augmented["num_examples"] == 1000

  config.mode = "finetune"
  trainer.run(config, workdir)
  with open(os.path.join(eval_dir, "finetune.json")) as f:
    finetune = json.load(f)
  assert finetune["num_labelled"] == 100 and finetune["label_fraction"] == 0.05
  assert 0 <= finetune["top1"] <= 1 and finetune["num_examples"] == 1000
