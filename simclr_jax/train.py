"""The sharded SimCLR train step.

The step is written for one device, with named-axis collectives, and mapped over the 1-D
mesh with `jax.shard_map` under `jax.jit` (state donated):

  two views -> encoder f -> head g -> NT-Xent against candidates gathered from every
  device -> gradients averaged with pmean -> optimizer update,

with BatchNorm statistics averaged over the mesh (global BN) so that the step computes
the same numbers as one device holding the whole global batch.
"""

from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from simclr_jax import losses
from simclr_jax.models import create_model
from simclr_jax.parallel import AXIS_NAME, check_global_batch, replicated_sharding


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


def init_train_state(model, tx: optax.GradientTransformation, rng: jax.Array,
                     image_shape: tuple[int, int, int]) -> TrainState:
  """Fresh parameters, BatchNorm statistics and optimizer state (on the host)."""
  variables = model.init(rng, jnp.zeros((1, *image_shape), jnp.float32), train=False)
  params = variables["params"]
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables.get("batch_stats", {}),
                    opt_state=tx.init(params))


def create_train_state(config, model, tx, mesh, rng: jax.Array | None = None) -> TrainState:
  """`init_train_state` for the config's image size, replicated over the mesh."""
  if rng is None:
    rng = jax.random.key(config.seed)
  shape = (config.image_size, config.image_size, 3)
  init = jax.jit(lambda r: init_train_state(model, tx, r, shape),
                 out_shardings=replicated_sharding(mesh))
  return init(rng)


def averaged_value_and_grad(loss_fn: Callable, params, axis_name: str = AXIS_NAME):
  """((loss, aux), gradient of the global loss) of a per-device `loss_fn(params)`.

  Differentiates w.r.t. a device-varying copy of the replicated params: shard_map would
  otherwise sum the per-device gradients implicitly. The pmean then gives the gradient of
  the mean over devices; an all_gather's transpose already routes every device's
  contributions (e.g. as another device's negatives) back to their owner.
  """
  varying = jax.lax.pcast(params, axis_name, to="varying")
  value, grads = jax.value_and_grad(loss_fn, has_aux=True)(varying)
  return value, jax.lax.pmean(grads, axis_name)


def simclr_step(model, tx: optax.GradientTransformation, schedule: Callable,
                temperature: float, axis_name: str = AXIS_NAME):
  """Per-device step `(state, batch, rng) -> (state, metrics)`; call it under shard_map.

  batch["views"]: [n, 2, H, W, 3] float, this device's n source images, two views each;
  batch["labels"]: [n] int (-1: unlabelled), read only by the online probe. Metrics:
  loss (NT-Xent), contrastive_accuracy, learning_rate, and with the probe
  online_probe_loss / online_probe_accuracy (on the augmented training views).
  """

  def step(state: TrainState, batch, rng):
    # Per-device key: the same (seed, step) gives the same keys on any mesh size.
    rng = jax.random.fold_in(jax.random.fold_in(rng, state.step),
                             jax.lax.axis_index(axis_name))
    views = batch["views"]
    n = views.shape[0]
    # Both views in one forward pass, so BatchNorm normalises over all 2N images as in
    # the official implementation.
    images = jnp.concatenate([views[:, 0], views[:, 1]], axis=0)

    def loss_fn(params):
      (_, z, logits), new_vars = model.apply(
          {"params": params, "batch_stats": state.batch_stats}, images, train=True,
          mutable=["batch_stats"], rngs={"dropout": rng})
      loss, accuracy = losses.nt_xent_with_accuracy(
          z[:n], z[n:], temperature=temperature, axis_name=axis_name)
      aux = {"contrastive_accuracy": accuracy}
      total = loss
      if logits is not None:
        # The probe sees stop_gradient(h): its loss trains the probe alone.
        labels = jnp.concatenate([batch["labels"], batch["labels"]])
        probe_loss, probe_accuracy = losses.masked_cross_entropy(logits, labels)
        total = loss + probe_loss
        aux.update(online_probe_loss=probe_loss, online_probe_accuracy=probe_accuracy)
      return total, (loss, new_vars["batch_stats"], aux)

    (_, (loss, batch_stats, aux)), grads = averaged_value_and_grad(
        loss_fn, state.params, axis_name)
    # Already identical across devices with global BN; averaged so that per-device BN
    # (global_bn=False) still leaves one replicated copy.
    batch_stats = jax.lax.pmean(batch_stats, axis_name)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = TrainState(step=state.step + 1,
                           params=optax.apply_updates(state.params, updates),
                           batch_stats=batch_stats, opt_state=opt_state)
    metrics = {"loss": jax.lax.pmean(loss, axis_name),
               **{k: jax.lax.pmean(v, axis_name) for k, v in aux.items()},
               "learning_rate": jnp.asarray(schedule(state.step), jnp.float32)}
    return new_state, metrics

  return step


def shard_step(step: Callable, mesh):
  """Map a per-device `(state, batch, rng)` step over the mesh and jit it.

  State and rng are replicated, the batch is split along the mesh axis; the state
  argument is donated so that its buffers are reused for the new state.
  """
  sharded = jax.shard_map(step, mesh=mesh, in_specs=(P(), P(AXIS_NAME), P()),
                          out_specs=(P(), P()))
  return jax.jit(sharded, donate_argnums=0)


def make_train_step(config, mesh, tx: optax.GradientTransformation, schedule: Callable,
                    model=None):
  """The jitted, sharded SimCLR step for `config` on `mesh` (see `shard_step`).

  Batches must be global arrays sharded along the mesh axis (parallel.batch_sharding).
  """
  check_global_batch(config.batch_size, mesh)
  if not config.temperature > 0:
    raise ValueError(f"temperature={config.temperature} must be positive; set "
                     "--config.temperature to e.g. 0.1 (ImageNet) or 0.5 (CIFAR).")
  if model is None:
    model = create_model(config, bn_axis_name=AXIS_NAME)
  return shard_step(simclr_step(model, tx, schedule, config.temperature), mesh)
