"""Optimizers and learning-rate schedules built from the config.

One mask decides both weight decay and the LARS trust ratio: conv and dense kernels get
them, biases and BatchNorm scale/offset get neither (as in the SimCLR and BYOL code).
"""

from __future__ import annotations

import math

import jax
import optax

OPTIMIZERS = ("lars", "sgd", "adamw")


def kernel_mask(params):
  """True for conv and dense kernels, False for biases and BatchNorm parameters."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def peak_learning_rate(config) -> float:
  """Base lr scaled by the global batch: linear (lr * B / 256) or sqrt (lr * sqrt(B))."""
  if config.learning_rate_scaling == "linear":
    return config.learning_rate * config.batch_size / 256
  if config.learning_rate_scaling == "sqrt":
    return config.learning_rate * math.sqrt(config.batch_size)
  raise ValueError(f"learning_rate_scaling={config.learning_rate_scaling!r}; set "
                   "--config.learning_rate_scaling to 'linear' or 'sqrt'.")


def num_train_steps(config, steps_per_epoch: float) -> int:
  """num_steps when set, else enough steps to see num_epochs epochs of data."""
  if config.num_steps > 0:
    return int(config.num_steps)
  if not config.num_epochs > 0:
    raise ValueError(f"num_epochs={config.num_epochs} and num_steps={config.num_steps}; "
                     "set --config.num_epochs or --config.num_steps to a positive value.")
  return math.ceil(config.num_epochs * steps_per_epoch)


def create_schedule(config, steps_per_epoch: float) -> optax.Schedule:
  """Linear warmup from 0 over warmup_epochs, then cosine decay to 0 at the last step.

  `steps_per_epoch` may be fractional (examples / global batch), which is how the
  published step counts come out: ImageNet at batch 4096 for 100 epochs with 10 warmup
  epochs gives 31,279 steps, 3,127 of them warmup, peak lr 4.8.
  """
  if not config.learning_rate > 0:
    raise ValueError(f"learning_rate={config.learning_rate} must be positive; set "
                     "--config.learning_rate.")
  if config.warmup_epochs < 0:
    raise ValueError(f"warmup_epochs={config.warmup_epochs} must be >= 0.")
  total = num_train_steps(config, steps_per_epoch)
  warmup = min(int(config.warmup_epochs * steps_per_epoch), total)
  peak = peak_learning_rate(config)
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak, warmup_steps=warmup, decay_steps=total,
      end_value=0.0)


def create_optimizer(config, steps_per_epoch: float):
  """(optax transformation, schedule) for `config.optimizer` in lars | sgd | adamw."""
  schedule = create_schedule(config, steps_per_epoch)
  name = config.optimizer
  if name == "lars":
    tx = optax.lars(schedule, weight_decay=config.weight_decay,
                    weight_decay_mask=kernel_mask, trust_coefficient=0.001, eps=0.0,
                    trust_ratio_mask=kernel_mask, momentum=config.momentum,
                    nesterov=False)
  elif name == "sgd":
    tx = optax.chain(
        optax.add_decayed_weights(config.weight_decay, mask=kernel_mask),
        optax.sgd(schedule, momentum=config.momentum, nesterov=True))
  elif name == "adamw":
    tx = optax.adamw(schedule, weight_decay=config.weight_decay, mask=kernel_mask)
  else:
    raise ValueError(f"optimizer={name!r} is unknown; set --config.optimizer to one of "
                     f"{OPTIMIZERS}.")
  return tx, schedule
