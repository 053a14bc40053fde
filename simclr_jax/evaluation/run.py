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
from simclr_jax.evaluation.linear import linear_eval, score, train_linear_augmented
from simclr_jax.evaluation.plots import plot_curves, plot_embeddings
from simclr_jax.config import ConfigError
from simclr_jax.models import create_encoder
from simclr_jax.parallel import make_mesh


def _splits(config) -> tuple[datasets.Split, datasets.Split, str]:
  """(train split, evaluation split, the evaluation split's name) of the config."""
  data_dir = config.data_dir or None
  options = dict(config.get("dataset_options", None) or {})
  train = datasets.get_dataset(config.dataset, config.train_split, data_dir=data_dir,
                               **options)
  eval_name = config.eval_split or datasets.default_eval_split(config.dataset, data_dir)
  return train, datasets.get_dataset(config.dataset, eval_name, data_dir=data_dir,
                                     **options), eval_name


def load_encoder_variables(workdir: str) -> tuple[dict, int]:
  """Encoder params and BatchNorm statistics of the newest checkpoint, and its step."""
  checkpoints = Checkpoints(workdir)
  try:
    step = checkpoints.latest_step()
    if step is None:
      raise ConfigError(
          f"no checkpoint in {checkpoints.directory} to evaluate; pretrain first "
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


def _probe(name, train, test, num_classes, config, protocols, linear_head=None) -> dict:
  """The requested protocols on (features, labels) pairs; `linear_head` replaces the
  fast-path linear fit when the augmented protocol already trained one."""
  t0 = time.perf_counter()
  result = {}
  if "linear" in protocols:
    if linear_head is None:
      result["linear"] = linear_eval(
          *train, *test, num_classes, epochs=config.linear_epochs,
          batch_size=config.linear_batch_size,
          base_learning_rate=config.linear_learning_rate,
          weight_decay=config.linear_weight_decay, seed=config.seed)
    else:
      head, train_top1 = linear_head
      result["linear"] = {**score(head, *test, num_classes),
                          "last_batch_train_top1": train_top1}
  if "knn" in protocols:
    result["knn"] = knn_eval(*train, *test, num_classes, k=config.knn_k,
                             temperature=config.knn_temperature)
  summary = ", ".join(f"{k} top-1 {v['top1']:.4f}" for k, v in result.items())
  print(f"  {name}: {summary} ({time.perf_counter() - t0:.0f} s)", flush=True)
  return result


def _linear_protocol(config) -> dict:
  if config.linear_fast_path:
    how = "features extracted once (evaluation view, no augmentation)"
  else:
    how = "crop + flip views through the frozen encoder at every step"
  return {"protocol": f"zero-init linear classifier on h, {how}; SGD Nesterov 0.9, lr "
                      f"{config.linear_learning_rate} x batch/256, cosine, no warmup",
          "encoder": "frozen, BatchNorm in inference mode",
          "epochs": config.linear_epochs, "batch_size": config.linear_batch_size}


def evaluate(config, workdir: str, protocols=("linear", "knn")) -> dict:
  """Linear probe and/or k-NN of the newest checkpoint (plus baselines); writes eval/."""
  mesh = make_mesh()
  train_split, test_split, eval_name = _splits(config)
  variables, step = load_encoder_variables(workdir)
  encoder = create_encoder(config)
  encode = features_lib.make_encode_fn(encoder, mesh)
  batch = config.eval_batch_size
  num_classes = train_split.num_classes
  common = {"dataset": config.dataset, "split": eval_name, "step": step}

  def features_and_head(encoder_variables):
    t0 = time.perf_counter()
    train = features_lib.extract_features(config, mesh, encode, encoder_variables,
                                          train_split, batch)
    test = features_lib.extract_features(config, mesh, encode, encoder_variables,
                                         test_split, batch)
    print(f"Extracted h ({train[0].shape[1]} dims) of {len(train[0])} train and "
          f"{len(test[0])} {eval_name} images in {time.perf_counter() - t0:.0f} s.",
          flush=True)
    head = None
    if "linear" in protocols and not config.linear_fast_path:
      head = train_linear_augmented(config, mesh, encoder, encoder_variables, train_split,
                                    num_classes, feature_dim=train[0].shape[1])
    return train, test, head

  train, test, head = features_and_head(variables)
  results = {"simclr": _probe("SimCLR", train, test, num_classes, config, protocols, head)}
  eval_dir = os.path.join(workdir, "eval")
  if "linear" in protocols:
    _write_json(os.path.join(eval_dir, "linear.json"),
                {**results["simclr"]["linear"], **common, **_linear_protocol(config)})
  if "knn" in protocols:
    _write_json(os.path.join(eval_dir, "knn.json"), {**results["simclr"]["knn"], **common})
  if jax.process_index() == 0:
    np.savez_compressed(os.path.join(eval_dir, "embeddings.npz"), h=test[0], labels=test[1])
    plots_dir = os.path.join(workdir, "plots")
    plot_curves(workdir, os.path.join(plots_dir, "curves.png"))
    plot_embeddings(test[0], test[1], os.path.join(plots_dir, "embeddings.png"),
                    class_names=test_split.class_names, seed=config.seed,
                    title=f"t-SNE of h, {config.dataset} {eval_name} (step {step})")

  if config.eval_baselines:
    # The random-init encoder goes through the same protocol as the pretrained one; raw
    # pixels always through the fast path (pixels are their own features).
    random_vars = jax.jit(lambda key: encoder.init(
        key, jnp.zeros((1, config.image_size, config.image_size, 3)), train=False))(
            jax.random.key(config.seed + 1))
    rand_train, rand_test, rand_head = features_and_head(random_vars)
    results["random_init"] = _probe("random-init encoder", rand_train, rand_test,
                                    num_classes, config, protocols, rand_head)
    pix_train = features_lib.pixel_features(config, mesh, train_split, batch)
    pix_test = features_lib.pixel_features(config, mesh, test_split, batch)
    results["raw_pixels"] = _probe("raw pixels", pix_train, pix_test, num_classes, config,
                                   protocols)
    _write_json(os.path.join(eval_dir, "baselines.json"),
                {**common, **{k: v for k, v in results.items() if k != "simclr"}})
  print(results_table(results, config.dataset, eval_name, step, protocols), flush=True)
  return results


def results_table(results: dict, dataset: str, split: str, step: int,
                  protocols=("linear", "knn")) -> str:
  names = {"simclr": f"SimCLR (step {step})", "random_init": "random-init encoder",
           "raw_pixels": "raw pixels"}
  columns = [p for p in ("linear", "knn") if p in protocols]
  heads = {"linear": "linear", "knn": "k-NN"}
  lines = [f"{dataset} {split} top-1",
           f"{'representation':28s}" + "".join(f" {heads[c]:>8s}" for c in columns)]
  for key, result in results.items():
    lines.append(f"{names[key]:28s}" + "".join(f" {result[c]['top1']:8.2%}"
                                                for c in columns))
  return "\n".join(lines)


def run_finetune(config, workdir: str) -> dict:
  """Fine-tune the newest checkpoint's encoder on a label subset; eval/finetune.json."""
  from simclr_jax.evaluation.finetune import finetune

  mesh = make_mesh()
  train_split, test_split, eval_name = _splits(config)
  variables, step = load_encoder_variables(workdir)
  result = finetune(config, mesh, variables, train_split, test_split)
  record = {**result, "dataset": config.dataset, "split": eval_name, "step": step}
  _write_json(os.path.join(workdir, "eval", "finetune.json"), record)
  print(f"Fine-tuned on {result['num_labelled']} labels ({config.finetune_fraction:.0%}) "
        f"for {result['steps']} steps: {config.dataset} {test_split.split} top-1 "
        f"{result['top1']:.2%}", flush=True)
  return record
