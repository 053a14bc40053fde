"""LARS against a hand-computed update; the warmup + cosine schedule's published values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from simclr_jax.config import base_config
from simclr_jax.optim import create_optimizer, kernel_mask, num_train_steps

IMAGENET_TRAIN = 1_281_167


def small_params():
  rng = np.random.default_rng(0)
  return {
      "conv": {"kernel": jnp.asarray(rng.normal(size=(3, 3, 2, 4)), jnp.float32)},
      "bn": {"scale": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
             "bias": jnp.asarray(rng.normal(size=(4,)), jnp.float32)},
      "dense": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
                "bias": jnp.asarray(rng.normal(size=(3,)), jnp.float32)},
  }


def lars_config(**overrides):
  c = base_config()
  c.optimizer = "lars"
  c.batch_size = 512
  c.learning_rate = 0.3
  c.weight_decay = 1e-2  # large, so that a missing or misplaced decay shows
  c.momentum = 0.9
  c.warmup_epochs = 0
  c.num_steps = 10
  c.update(overrides)
  return c


def test_kernel_mask_selects_only_kernels():
  mask = kernel_mask(small_params())
  assert mask == {"conv": {"kernel": True}, "bn": {"scale": False, "bias": False},
                  "dense": {"kernel": True, "bias": False}}


def test_lars_two_steps_match_hand_computation():
  config = lars_config()
  tx, schedule = create_optimizer(config, steps_per_epoch=1)
  params = small_params()
  state = tx.init(params)
  rng = np.random.default_rng(1)
  grads_per_step = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape),
                                                       jnp.float32), params)
                    for _ in range(2)]

  # By hand, in float64: kernels are decayed then trust-scaled; biases and BatchNorm
  # parameters take the plain lr-scaled gradient; heavy-ball momentum, no Nesterov.
  want = jax.tree.map(lambda p: np.asarray(p, np.float64), params)
  velocity = jax.tree.map(np.zeros_like, want)
  flat_mask = dict(jax.tree_util.tree_leaves_with_path(kernel_mask(params)))
  for step, grads in enumerate(grads_per_step):
    lr = 0.3 * 512 / 256 * 0.5 * (1 + math.cos(math.pi * step / 10))
    new_want, new_velocity = {}, {}
    for path, w in jax.tree_util.tree_leaves_with_path(want):
      g = np.asarray(dict(jax.tree_util.tree_leaves_with_path(grads))[path], np.float64)
      v = dict(jax.tree_util.tree_leaves_with_path(velocity))[path]
      if flat_mask[path]:
        g = g + 1e-2 * w
        g = 0.001 * np.linalg.norm(w) / np.linalg.norm(g) * g
      v = 0.9 * v + lr * g
      new_want[path], new_velocity[path] = w - v, v
    want = jax.tree_util.tree_unflatten(jax.tree.structure(params),
                                        [new_want[p] for p, _ in
                                         jax.tree_util.tree_leaves_with_path(want)])
    velocity = jax.tree_util.tree_unflatten(jax.tree.structure(params),
                                            [new_velocity[p] for p, _ in
                                             jax.tree_util.tree_leaves_with_path(want)])
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(float(schedule(step)), lr, rtol=1e-6)

  for (path, got), (_, expected) in zip(jax.tree_util.tree_leaves_with_path(params),
                                        jax.tree_util.tree_leaves_with_path(want)):
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
  # The trust ratio makes kernel steps tiny relative to the bias steps here.
  assert np.abs(np.asarray(params["bn"]["bias"]) - np.asarray(small_params()["bn"]["bias"])).max() > 0.1


def test_imagenet_schedule_values():
  """SimCLR v1, ImageNet: batch 4096, lr 0.3 x 4096/256 = 4.8, 100 epochs, 10 warmup."""
  config = lars_config(batch_size=4096, learning_rate=0.3, num_epochs=100, num_steps=0,
                       warmup_epochs=10)
  steps_per_epoch = IMAGENET_TRAIN / 4096
  _, schedule = create_optimizer(config, steps_per_epoch)
  total = num_train_steps(config, steps_per_epoch)
  assert total == 31_279
  assert float(schedule(0)) == 0.0
  np.testing.assert_allclose(float(schedule(3127)), 4.8, rtol=1e-6)
  np.testing.assert_allclose(float(schedule(3127 // 2)), 4.8 * (3127 // 2) / 3127,
                             rtol=1e-5)
  np.testing.assert_allclose(float(schedule((3127 + total) // 2)), 2.4, rtol=1e-3)
  assert abs(float(schedule(total))) < 1e-7
  assert 0 <= float(schedule(total - 1)) < 1e-6


def test_sqrt_scaling_and_num_steps_override():
  config = lars_config(batch_size=4096, learning_rate=0.075,
                       learning_rate_scaling="sqrt", num_steps=100, num_epochs=1000)
  _, schedule = create_optimizer(config, steps_per_epoch=312.8)
  assert num_train_steps(config, 312.8) == 100
  np.testing.assert_allclose(float(schedule(0)), 0.075 * 64, rtol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_other_optimizers_update_parameters(name):
  config = lars_config(optimizer=name, weight_decay=0.0)
  tx, _ = create_optimizer(config, steps_per_epoch=1)
  params = small_params()
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  if name == "sgd":  # Nesterov: the first update is lr * (1 + momentum) * g
    for u in jax.tree.leaves(updates):
      np.testing.assert_allclose(np.asarray(u), -0.6 * 1.9, rtol=1e-6)
  else:
    for u in jax.tree.leaves(updates):
      assert np.all(np.asarray(u) < 0)


@pytest.mark.parametrize("field,value", [("optimizer", "adagrad"),
                                         ("learning_rate_scaling", "cubic"),
                                         ("learning_rate", 0.0),
                                         ("learning_rate", -1.0)])
def test_bad_values_name_the_field(field, value):
  config = lars_config(**{field: value})
  with pytest.raises(ValueError, match=field):
    create_optimizer(config, steps_per_epoch=10)


def test_no_steps_is_rejected():
  config = lars_config(num_steps=0, num_epochs=0)
  with pytest.raises(ValueError, match="num_epochs"):
    create_optimizer(config, steps_per_epoch=10)
