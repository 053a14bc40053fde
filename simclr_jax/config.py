"""Default values of every config field; the files in configs/ override what they need.

Field names are fixed by the spec: the same name means the same thing in every config.
"""

from __future__ import annotations

import json
import os

import ml_collections

MODES = ("pretrain", "linear_eval", "knn", "pretrain_eval", "finetune")
METHODS = ("simclr",)
# Fields that may differ when a run is resumed in the same workdir: they change how a
# run is observed or where it reads data, not what it computes.
RESUMABLE_CHANGES = ("mode", "log_every_steps", "checkpoint_every_steps",
                     "keep_checkpoints", "data_dir", "data_threads", "eval_split",
                     "eval_batch_size", "linear_epochs", "linear_batch_size",
                     "linear_learning_rate", "linear_weight_decay", "linear_fast_path",
                     "knn_k", "knn_temperature", "eval_baselines", "finetune_fraction",
                     "finetune_epochs", "finetune_batch_size", "finetune_learning_rate")
# Read with defaults where used; accepted although base_config does not define them.
OPTIONAL_FIELDS = ("dataset_options",)


class ConfigError(ValueError):
  """A config value cannot work; the message names the field and the fix."""


def base_config() -> ml_collections.ConfigDict:
  """SimCLR v1 defaults (Chen et al. 2020) at a size that runs anywhere."""
  c = ml_collections.ConfigDict()
  c.mode = "pretrain"  # pretrain | linear_eval | finetune | knn | pretrain_eval
  c.method = "simclr"
  c.seed = 0

  # Data.
  c.dataset = "fashion_mnist"
  c.data_dir = ""  # empty: the dataset's default location
  c.train_split = "train"
  c.eval_split = ""  # empty: "test", or "validation" where there is no test split
  c.data_threads = 0  # tf.data threads; 0: as many as there are cores
  c.image_size = 32
  c.batch_size = 256  # global, over all devices and hosts
  c.color_jitter_strength = 0.5
  c.blur = False
  # Smallest area fraction of the random resized crop: 0.08 in the paper; small images
  # (28 px) may train faster with less aggressive crops.
  c.crop_min_area = 0.08

  # Schedule: num_steps > 0 overrides num_epochs.
  c.num_epochs = 100.0  # float: fractional epochs are fine
  c.num_steps = 0
  c.warmup_epochs = 10.0

  # Optimizer.
  c.optimizer = "lars"  # lars | sgd | adamw
  c.learning_rate = 0.3
  c.learning_rate_scaling = "linear"  # linear: lr * batch / 256; sqrt: lr * sqrt(batch)
  c.weight_decay = 1e-6
  c.momentum = 0.9

  # Loss.
  c.temperature = 0.5

  # Model.
  c.depth = 18
  c.stem = "auto"  # auto: CIFAR stem (3x3/1, no pool) at <= 32 px, else ImageNet stem
  c.width_multiplier = 1.0  # float, so that tests and CPU demos can use 0.125 (8 channels)
  c.num_proj_layers = 2
  c.proj_dim = 128
  c.global_bn = True
  # A linear classifier on stop_gradient(h) trained during pretraining; logged as
  # online_probe_accuracy (on augmented training views, not a test number).
  c.online_probe = True
  c.dtype = "float32"  # compute dtype: float32 | bfloat16

  # Bookkeeping.
  # Evaluation of h (mode linear_eval / knn, or after pretraining with pretrain_eval).
  c.eval_batch_size = 1024
  c.linear_epochs = 100.0
  c.linear_batch_size = 1024
  c.linear_learning_rate = 0.1  # x linear_batch_size / 256
  c.linear_weight_decay = 0.0
  # True: train the classifier on features extracted once without augmentation (minutes
  # on a CPU for small datasets); False: the paper's crop + flip protocol.
  c.linear_fast_path = True
  c.knn_k = 200
  c.knn_temperature = 0.1
  c.eval_baselines = True  # the same protocols on raw pixels and a random-init encoder
  # Semi-supervised fine-tuning (mode finetune): the whole network on a label subset.
  c.finetune_fraction = 0.1  # 0.01 and 0.1 in the paper; 1.0 for all labels
  c.finetune_epochs = 30.0
  c.finetune_batch_size = 256
  c.finetune_learning_rate = 0.05  # x finetune_batch_size / 256

  c.log_every_steps = 50
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  return c


def _fail(field: str, value, why: str, fix: str):
  raise ConfigError(f"{field}={value!r} {why}; {fix}")


def validate_config(config, num_devices: int) -> None:
  """Raise ConfigError for the first field that cannot work, before any compute."""
  known = set(base_config().keys()) | set(OPTIONAL_FIELDS)
  unknown = sorted(set(config.keys()) - known)
  if unknown:
    raise ConfigError(f"unknown config field(s) {unknown}; check the spelling against "
                      f"simclr_jax/config.py (known: {sorted(known)}).")
  if config.mode not in MODES:
    _fail("mode", config.mode, "is not a mode this version runs",
          f"set --config.mode to one of {MODES}.")
  if config.method not in METHODS:
    _fail("method", config.method, "is not implemented",
          f"set --config.method to one of {METHODS}.")
  if config.batch_size <= 0 or config.batch_size % num_devices:
    _fail("batch_size", config.batch_size,
          f"does not divide over the {num_devices} devices",
          f"set --config.batch_size to a positive multiple of {num_devices} (on a CPU, "
          "--cpu_devices sets the number of devices).")
  for field in ("learning_rate", "temperature"):
    if not config[field] > 0:
      _fail(field, config[field], "must be positive", f"set --config.{field} > 0.")
  if config.num_steps < 0:
    _fail("num_steps", config.num_steps, "must be >= 0",
          "set --config.num_steps > 0, or 0 to train for num_epochs.")
  if config.num_steps == 0 and not config.num_epochs > 0:
    _fail("num_epochs", config.num_epochs, "must be positive when num_steps is 0",
          "set --config.num_epochs > 0 or --config.num_steps > 0.")
  for field in ("warmup_epochs", "weight_decay", "momentum"):
    if config[field] < 0:
      _fail(field, config[field], "must be >= 0", f"set --config.{field} >= 0.")
  # The CIFAR stem (<= 32 px) keeps full resolution through stage 1 and divides by 8
  # overall; the ImageNet stem divides by 32. Below these sizes the last stage sees
  # padding only.
  if config.image_size < 8:
    _fail("image_size", config.image_size, "is too small for the ResNet",
          "set --config.image_size >= 8 (32 for CIFAR-like data, 224 for ImageNet).")
  if 32 < config.image_size < 64 and config.stem == "auto":
    _fail("image_size", config.image_size,
          "uses the ImageNet stem (stride 32) and leaves the last stage under 2x2",
          "set --config.image_size <= 32 (CIFAR stem) or >= 64.")
  for field in ("num_proj_layers", "proj_dim", "log_every_steps",
                "checkpoint_every_steps", "keep_checkpoints"):
    if config[field] < 1:
      _fail(field, config[field], "must be >= 1", f"set --config.{field} >= 1.")
  if not 0 < config.crop_min_area <= 1:
    _fail("crop_min_area", config.crop_min_area, "must be in (0, 1]",
          "set --config.crop_min_area to 0.08 (the paper) or another fraction.")
  if config.data_threads < 0:
    _fail("data_threads", config.data_threads, "must be >= 0",
          "set --config.data_threads to 0 (all cores) or a thread count.")
  # Deferred imports: the model and optimizer modules import jax, this one does not.
  from simclr_jax.models import check_depth, compute_dtype, stem_width, uses_cifar_stem
  from simclr_jax.optim import OPTIMIZERS, peak_learning_rate
  for check in (lambda: check_depth(config.depth),
                lambda: stem_width(config.width_multiplier),
                lambda: compute_dtype(config.dtype),
                lambda: uses_cifar_stem(config),
                lambda: peak_learning_rate(config)):
    try:
      check()
    except ValueError as e:
      raise ConfigError(str(e)) from None
  if config.optimizer not in OPTIMIZERS:
    _fail("optimizer", config.optimizer, "is unknown",
          f"set --config.optimizer to one of {OPTIMIZERS}.")


def check_workdir_config(config, workdir: str) -> None:
  """Refuse to resume a run in `workdir` whose saved config computes something else."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = json.load(f)
  current = json.loads(config.to_json())
  changed = sorted(k for k in set(saved) | set(current)
                   if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k))
  if changed:
    diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
    raise ConfigError(
        f"workdir {workdir} holds a run with a different config ({diffs}); use a new "
        f"--workdir, or pass the saved values (see {path}) to resume it.")


def save_config(config, workdir: str) -> None:
  """Write the resolved config to workdir/config.json (atomically)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  with open(path + ".tmp", "w") as f:
    f.write(config.to_json(indent=2, sort_keys=True))
  os.replace(path + ".tmp", path)
