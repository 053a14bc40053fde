"""Default values of every config field; the files in configs/ override what they need.

Field names are fixed by the spec: the same name means the same thing in every config.
"""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """SimCLR v1 defaults (Chen et al. 2020) at a size that runs anywhere."""
  c = ml_collections.ConfigDict()
  c.mode = "pretrain"  # pretrain | linear_eval | finetune | knn | pretrain_eval
  c.method = "simclr"
  c.seed = 0

  # Data.
  c.dataset = "fashion_mnist"
  c.data_dir = ""  # empty: the dataset's default location
  c.image_size = 32
  c.batch_size = 256  # global, over all devices and hosts
  c.color_jitter_strength = 0.5
  c.blur = False

  # Schedule: num_steps > 0 overrides num_epochs.
  c.num_epochs = 100
  c.num_steps = 0
  c.warmup_epochs = 10

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
  c.width_multiplier = 1.0  # float, so that tests and CPU demos can use 0.125 (8 channels)
  c.num_proj_layers = 2
  c.proj_dim = 128
  c.global_bn = True
  c.dtype = "float32"  # compute dtype: float32 | bfloat16

  # Bookkeeping.
  c.log_every_steps = 50
  c.checkpoint_every_steps = 1000
  return c
