"""The sharded train step: 8 devices = 1 device = a plain unsharded computation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from simclr_jax import losses
from simclr_jax.config import base_config
from simclr_jax.models import create_model
from simclr_jax.optim import create_optimizer
from simclr_jax.parallel import AXIS_NAME, batch_sharding, make_mesh
from simclr_jax.train import create_train_state, make_train_step, shard_step, simclr_step

GLOBAL_BATCH = 16
SIZE = 8


def tiny_config(**overrides):
  c = base_config()
  c.depth = 18
  c.width_multiplier = 0.125
  c.image_size = SIZE
  c.batch_size = GLOBAL_BATCH
  c.num_steps = 10
  c.warmup_epochs = 0
  c.learning_rate = 1.0
  c.temperature = 0.5
  c.update(overrides)
  return c


def make_batch(step, mesh=None):
  views = jax.random.uniform(jax.random.key(100 + step), (GLOBAL_BATCH, 2, SIZE, SIZE, 3))
  batch = {"views": views}
  if mesh is not None:
    batch = jax.device_put(batch, batch_sharding(mesh))
  return batch


def run_sharded(config, num_devices, num_steps=2):
  mesh = make_mesh(num_devices)
  tx, schedule = create_optimizer(config, steps_per_epoch=10)
  state = create_train_state(config, create_model(config, AXIS_NAME), tx, mesh)
  step = make_train_step(config, mesh, tx, schedule)
  metrics = []
  for i in range(num_steps):
    state, m = step(state, make_batch(i, mesh), jax.random.key(7))
    metrics.append(jax.device_get(m))
  return jax.device_get(state), metrics


def run_reference(config, num_steps=2):
  """The same steps without shard_map or collectives: one device, whole batch."""
  model = create_model(config, bn_axis_name=None)
  tx, _ = create_optimizer(config, steps_per_epoch=10)
  variables = jax.jit(lambda: model.init(jax.random.key(config.seed),
                                         jnp.zeros((1, SIZE, SIZE, 3)), train=False))()
  params, batch_stats = variables["params"], variables["batch_stats"]
  opt_state = tx.init(params)

  @jax.jit
  def step(params, batch_stats, opt_state, views):
    images = jnp.concatenate([views[:, 0], views[:, 1]])

    def loss_fn(params):
      (_, z, _), new_vars = model.apply({"params": params, "batch_stats": batch_stats},
                                     images, train=True, mutable=["batch_stats"])
      return losses.nt_xent(z[:GLOBAL_BATCH], z[GLOBAL_BATCH:],
                            temperature=config.temperature), new_vars["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state, loss

  losses_seen = []
  for i in range(num_steps):
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state,
                                                make_batch(i)["views"])
    losses_seen.append(float(loss))
  return params, batch_stats, losses_seen


def assert_trees_close(got, want, init=None, rtol=1e-5):
  """Leaf by leaf; with `init`, compares the change from init (the update itself), which
  LARS keeps far smaller than the parameters, allowing for the float32 rounding of the
  parameters themselves."""
  for (path, g), (_, w) in zip(jax.tree_util.tree_leaves_with_path(got),
                               jax.tree_util.tree_leaves_with_path(want)):
    g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
    if init is not None:
      base = np.asarray(dict(jax.tree_util.tree_leaves_with_path(init))[path], np.float64)
      g, w = g - base, w - base
    tolerance = rtol * np.abs(w).max() + 1e-12
    if init is not None:
      tolerance += 2 * np.spacing(np.float32(np.abs(base).max()))
    assert np.abs(g - w).max() <= tolerance, (jax.tree_util.keystr(path),
                                                  np.abs(g - w).max(), tolerance)


@pytest.fixture(scope="module")
def initial_params():
  config = tiny_config()
  model = create_model(config, bn_axis_name=None)
  return jax.jit(lambda: model.init(jax.random.key(config.seed),
                                    jnp.zeros((1, SIZE, SIZE, 3)), train=False))()["params"]


def test_eight_devices_equal_one_device_and_the_plain_computation(initial_params):
  config = tiny_config()
  state8, metrics8 = run_sharded(config, 8)
  state1, metrics1 = run_sharded(config, 1)
  ref_params, ref_stats, ref_losses = run_reference(config)

  for m8, m1, want in zip(metrics8, metrics1, ref_losses):
    np.testing.assert_allclose(m8["loss"], want, rtol=1e-5)
    np.testing.assert_allclose(m1["loss"], want, rtol=1e-5)
    np.testing.assert_allclose(m8["contrastive_accuracy"], m1["contrastive_accuracy"])
  assert int(state8.step) == int(state1.step) == 2
  # Updates (not just parameters) agree, so the gather, the gradient average and global
  # BatchNorm are all exercised.
  assert_trees_close(state8.params, ref_params, init=initial_params)
  assert_trees_close(state1.params, ref_params, init=initial_params)
  assert_trees_close(state8.batch_stats, ref_stats)
  assert_trees_close(state1.batch_stats, ref_stats)
  # Momentum holds raw gradient sums, which differ in summation order: looser.
  assert_trees_close(state8.opt_state, state1.opt_state, rtol=1e-4)


def test_per_device_batchnorm_differs_from_global():
  state_local, _ = run_sharded(tiny_config(global_bn=False), 8, num_steps=1)
  state_global, _ = run_sharded(tiny_config(), 8, num_steps=1)
  diff = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(),
                      state_local.params, state_global.params)
  assert max(jax.tree.leaves(diff)) > 1e-6


def test_loss_decreases_on_a_fixed_batch():
  config = tiny_config(optimizer="sgd", learning_rate=0.5, num_steps=200)
  mesh = make_mesh(8)
  tx, schedule = create_optimizer(config, steps_per_epoch=10)
  state = create_train_state(config, create_model(config, AXIS_NAME), tx, mesh)
  step = make_train_step(config, mesh, tx, schedule)
  batch = make_batch(0, mesh)
  first = None
  for _ in range(15):
    state, metrics = step(state, batch, jax.random.key(0))
    first = float(metrics["loss"]) if first is None else first
  assert float(metrics["loss"]) < first - 0.2
  assert float(metrics["contrastive_accuracy"]) > 0.5


def test_step_compiles_once():
  config = tiny_config()
  mesh = make_mesh(8)
  tx, schedule = create_optimizer(config, steps_per_epoch=10)
  model = create_model(config, AXIS_NAME)
  state = create_train_state(config, model, tx, mesh)
  step = shard_step(chex.assert_max_traces(
      simclr_step(model, tx, schedule, config.temperature), n=1), mesh)
  for i in range(3):
    state, metrics = step(state, make_batch(i, mesh), jax.random.key(i))
  assert int(state.step) == 3 and np.isfinite(float(metrics["loss"]))


def test_bfloat16_compute_runs_with_float32_params_and_loss():
  config = tiny_config(dtype="bfloat16")
  state, metrics = run_sharded(config, 8, num_steps=1)
  assert all(p.dtype == np.float32 for p in jax.tree.leaves(state.params))
  assert metrics[0]["loss"].dtype == np.float32 and np.isfinite(metrics[0]["loss"])


def test_global_batch_must_divide_over_devices():
  config = tiny_config(batch_size=12)
  tx, schedule = create_optimizer(config, steps_per_epoch=10)
  with pytest.raises(ValueError, match="batch_size=12"):
    make_train_step(config, make_mesh(8), tx, schedule)


def test_non_positive_temperature_names_the_setting():
  config = tiny_config(temperature=0.0)
  tx, schedule = create_optimizer(config, steps_per_epoch=10)
  with pytest.raises(ValueError, match="temperature"):
    make_train_step(config, make_mesh(8), tx, schedule)


def test_unknown_depth_names_the_setting():
  config = tiny_config(depth=77)
  tx, schedule = create_optimizer(config, steps_per_epoch=10)
  with pytest.raises(ValueError, match="depth"):
    make_train_step(config, make_mesh(8), tx, schedule)


def test_online_probe_trains_alone_and_matches_across_device_counts():
  config = tiny_config()
  labels = jax.random.randint(jax.random.key(5), (GLOBAL_BATCH,), -1, 4)  # -1: unlabelled

  def run(num_devices, num_classes):
    mesh = make_mesh(num_devices)
    tx, schedule = create_optimizer(config, steps_per_epoch=10)
    model = create_model(config, AXIS_NAME, num_classes=num_classes)
    state = create_train_state(config, model, tx, mesh)
    step = make_train_step(config, mesh, tx, schedule, model=model)
    batch = jax.device_put({**make_batch(0), "labels": labels}, batch_sharding(mesh))
    state, metrics = step(state, batch, jax.random.key(7))
    return jax.device_get(state), jax.device_get(metrics)

  with_probe8, metrics8 = run(8, 4)
  with_probe1, metrics1 = run(1, 4)
  without, metrics_without = run(8, 0)
  assert "online_probe" in with_probe8.params and "online_probe" not in without.params
  # stop_gradient(h): the probe changes neither the encoder, the head nor the loss.
  for name in ("encoder", "projection_head"):
    assert_trees_close(with_probe8.params[name], without.params[name], rtol=1e-6)
  np.testing.assert_allclose(metrics8["loss"], metrics_without["loss"], rtol=1e-6)
  # A zero-initialised probe starts at log(4) on the labelled rows.
  np.testing.assert_allclose(metrics8["online_probe_loss"], np.log(4), rtol=1e-5)
  assert np.abs(with_probe8.params["online_probe"]["kernel"]).max() > 0
  assert_trees_close(with_probe8.params["online_probe"], with_probe1.params["online_probe"])
  np.testing.assert_allclose(metrics8["online_probe_accuracy"],
                             metrics1["online_probe_accuracy"])


def test_masked_cross_entropy_matches_numpy():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(6, 3)).astype(np.float32)
  labels = np.array([0, 2, -1, 1, -1, 2])
  loss, accuracy = losses.masked_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
  keep = labels >= 0
  logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  want = -np.mean(logp[keep, labels[keep]])
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  np.testing.assert_allclose(float(accuracy),
                             np.mean(np.argmax(logits[keep], 1) == labels[keep]))
