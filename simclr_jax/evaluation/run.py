"""Evaluate a pretrained run: linear probe and k-NN on h, with baselines and pictures.

Reads the newest checkpoint in workdir/checkpoints and writes workdir/eval/linear.json,
workdir/eval/knn.json, workdir/eval/baselines.json, workdir/eval/embeddings.npz (test h
and labels) and workdir/plots/{curves,embeddings}.png.
Numbers are always those of the newest (final) checkpoint, never a maximum over time.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from simclr_jax.checkpoints import Checkpoints
from simclr_jax.data import datasets
from simclr_jax.evaluation import features as features_lib
from simclr_jax.evaluation.knn import knn_eval
from simclr_jax.evaluation.linear import linear_eval
from simclr_jax.evaluation.plots import plot_curves, plot_embeddings
from simclr_jax.models import ResNet, compute_dtype
from simclr_jax.parallel import make_mesh


def _encoder(config) -> ResNet:
  return ResNet(depth=config.depth, width_multiplier=config.width_multiplier,
                cifar_stem=config.image_size <= 32, dtype=compute_dtype(config.dtype))


def load_encoder_variables(workdir: str) -> tuple[dict, int]:
  """Encoder params and BatchNorm statistics of the newest checkpoint, and its step."""
  checkpoints = Checkpoints(workdir)
  try:
    step = checkpoints.latest_step()
    if step is None:
      raise FileNotFoundError(
          f"no checkpoint in {checkpoints.directory}; pretrain first "
          "(--config.mode=pretrain) or point --workdir at a pretrained run.")
    tree = checkpoints.restore_raw(step)
  finally:
    checkpoints.close()
  return {"params": tree["params"]["encoder"],
          "batch_stats": tree["batch_stats"]["encoder"]}, int(step)


def _write_json(path: str, record: dict) -> None:
  if jax.process_index() != 0:
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def _probe(name, train, test, num_classes, config) -> dict:
  t0 = time.perf_counter()
  linear = linear_eval(*train, *test, num_classes, epochs=config.linear_epochs,
                       batch_size=config.linear_batch_size,
                       base_learning_rate=config.linear_learning_rate,
                       weight_decay=config.linear_weight_decay, seed=config.seed)
  knn = knn_eval(*train, *test, num_classes, k=config.knn_k,
                 temperature=config.knn_temperature)
  print(f"  {name}: linear top-1 {linear['top1']:.4f}, k-NN top-1 {knn['top1']:.4f} "
        f"({time.perf_counter() - t0:.0f} s)", flush=True)
  return {"linear": linear, "knn": knn}


def evaluate(config, workdir: str) -> dict:
  """Linear probe and k-NN of the newest checkpoint (plus baselines); writes eval/."""
  mesh = make_mesh()
  data_dir = config.data_dir or None
  options = dict(config.get("dataset_options", None) or {})
  train_split = datasets.get_dataset(config.dataset, config.train_split, data_dir=data_dir,
                                     **options)
  eval_name = config.eval_split or datasets.default_eval_split(config.dataset, data_dir)
  test_split = datasets.get_dataset(config.dataset, eval_name, data_dir=data_dir, **options)
  variables, step = load_encoder_variables(workdir)
  encoder = _encoder(config)
  encode = features_lib.make_encode_fn(encoder, mesh)
  batch = config.eval_batch_size
  num_classes = train_split.num_classes
  common = {"dataset": config.dataset, "split": eval_name, "step": step}

  t0 = time.perf_counter()
  train = features_lib.extract_features(config, mesh, encode, variables, train_split, batch)
  test = features_lib.extract_features(config, mesh, encode, variables, test_split, batch)
  print(f"Extracted h ({train[0].shape[1]} dims) of {len(train[0])} train and "
        f"{len(test[0])} {test_split.split} images in {time.perf_counter() - t0:.0f} s.",
        flush=True)
  results = {"simclr": _probe("SimCLR", train, test, num_classes, config)}
  eval_dir = os.path.join(workdir, "eval")
  protocol = {"protocol": "fixed features (no augmentation), zero-init linear, SGD "
              "Nesterov 0.9, lr 0.1 x batch/256, cosine", "encoder": "frozen, BN inference",
              "epochs": config.linear_epochs, "batch_size": config.linear_batch_size}
  _write_json(os.path.join(eval_dir, "linear.json"),
              {**results["simclr"]["linear"], **common, **protocol})
  _write_json(os.path.join(eval_dir, "knn.json"), {**results["simclr"]["knn"], **common})
  if jax.process_index() == 0:
    np.savez_compressed(os.path.join(eval_dir, "embeddings.npz"), h=test[0], labels=test[1])
    plots_dir = os.path.join(workdir, "plots")
    plot_curves(workdir, os.path.join(plots_dir, "curves.png"))
    plot_embeddings(test[0], test[1], os.path.join(plots_dir, "embeddings.png"),
                    class_names=test_split.class_names, seed=config.seed,
                    title=f"t-SNE of h, {config.dataset} {test_split.split} (step {step})")

  if config.eval_baselines:
    random_vars = jax.jit(lambda key: encoder.init(
        key, jnp.zeros((1, config.image_size, config.image_size, 3)), train=False))(
            jax.random.key(config.seed + 1))
    rand_train = features_lib.extract_features(config, mesh, encode, random_vars,
                                               train_split, batch)
    rand_test = features_lib.extract_features(config, mesh, encode, random_vars,
                                              test_split, batch)
    results["random_init"] = _probe("random-init encoder", rand_train, rand_test,
                                    num_classes, config)
    pix_train = features_lib.pixel_features(config, mesh, train_split, batch)
    pix_test = features_lib.pixel_features(config, mesh, test_split, batch)
    results["raw_pixels"] = _probe("raw pixels", pix_train, pix_test, num_classes, config)
    _write_json(os.path.join(eval_dir, "baselines.json"),
                {**common, **{k: v for k, v in results.items() if k != "simclr"}})
  print(results_table(results, config.dataset, test_split.split, step), flush=True)
  return results


def results_table(results: dict, dataset: str, split: str, step: int) -> str:
  names = {"simclr": f"SimCLR (step {step})", "random_init": "random-init encoder",
           "raw_pixels": "raw pixels"}
  lines = [f"{dataset} {split} top-1", f"{'representation':28s} {'linear':>8s} {'k-NN':>8s}"]
  for key, result in results.items():
    lines.append(f"{names[key]:28s} {result['linear']['top1']:8.2%} "
                 f"{result['knn']['top1']:8.2%}")
  return "\n".join(lines)


def run_finetune(config, workdir: str) -> dict:
  """Fine-tune the newest checkpoint's encoder on a label subset; eval/finetune.json."""
  from simclr_jax.evaluation.finetune import finetune

  mesh = make_mesh()
  data_dir = config.data_dir or None
  options = dict(config.get("dataset_options", None) or {})
  train_split = datasets.get_dataset(config.dataset, config.train_split, data_dir=data_dir,
                                     **options)
  eval_name = config.eval_split or datasets.default_eval_split(config.dataset, data_dir)
  test_split = datasets.get_dataset(config.dataset, eval_name, data_dir=data_dir, **options)
  variables, step = load_encoder_variables(workdir)
  result = finetune(config, mesh, variables, train_split, test_split)
  record = {**result, "dataset": config.dataset, "split": eval_name, "step": step}
  _write_json(os.path.join(workdir, "eval", "finetune.json"), record)
  print(f"Fine-tuned on {result['num_labelled']} labels ({config.finetune_fraction:.0%}) "
        f"for {result['steps']} steps: {config.dataset} {test_split.split} top-1 "
        f"{result['top1']:.2%}", flush=True)
  return record
