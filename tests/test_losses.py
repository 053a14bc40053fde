"""NT-Xent against the paper's formula, on one device and sharded over eight."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from simclr_jax import losses
from simclr_jax.parallel import AXIS_NAME, batch_sharding, make_mesh


def nt_xent_reference(z_a, z_b, temperature):
  """SimCLR eq. 1 in float64, written out anchor by anchor."""
  z = np.concatenate([z_a, z_b]).astype(np.float64)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  n2 = z.shape[0]
  n = n2 // 2
  sim = z @ z.T / temperature
  total = 0.0
  for i in range(n2):
    positive = (i + n) % n2
    others = [sim[i, k] for k in range(n2) if k != i]
    total += -(sim[i, positive] - np.log(np.sum(np.exp(others))))
  return total / n2


def accuracy_reference(z_a, z_b):
  z = np.concatenate([z_a, z_b]).astype(np.float64)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  sim = z @ z.T
  np.fill_diagonal(sim, -np.inf)
  n = z_a.shape[0]
  positive = (np.arange(2 * n) + n) % (2 * n)
  return np.mean(np.argmax(sim, axis=1) == positive)


@pytest.mark.parametrize("n,d,temperature", [(1, 3, 0.5), (4, 8, 0.1), (16, 32, 0.5),
                                             (33, 16, 1.0), (8, 128, 0.05)])
def test_nt_xent_matches_float64_formula(n, d, temperature):
  rng = np.random.default_rng(n * 100 + d)
  z_a = rng.normal(size=(n, d)).astype(np.float32)
  # Correlated positives, so that the loss is far from its value at random.
  z_b = (z_a + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
  got = losses.nt_xent(jnp.asarray(z_a), jnp.asarray(z_b), temperature=temperature)
  want = nt_xent_reference(z_a, z_b, temperature)
  assert got.dtype == jnp.float32 and got.shape == ()
  np.testing.assert_allclose(float(got), want, rtol=1e-5, atol=1e-6)
  acc = losses.contrastive_accuracy(jnp.asarray(z_a), jnp.asarray(z_b))
  np.testing.assert_allclose(float(acc), accuracy_reference(z_a, z_b))


def test_nt_xent_is_stable_at_low_temperature():
  rng = np.random.default_rng(0)
  z_a = rng.normal(size=(8, 16)).astype(np.float32)
  z_b = rng.normal(size=(8, 16)).astype(np.float32)
  got = losses.nt_xent(jnp.asarray(z_a), jnp.asarray(z_b), temperature=0.005)
  assert np.isfinite(float(got))
  np.testing.assert_allclose(float(got), nt_xent_reference(z_a, z_b, 0.005), rtol=1e-5)


def test_nt_xent_bfloat16_inputs_computed_in_float32():
  rng = np.random.default_rng(1)
  z_a = rng.normal(size=(8, 16)).astype(np.float32)
  z_b = rng.normal(size=(8, 16)).astype(np.float32)
  got = losses.nt_xent(jnp.asarray(z_a, jnp.bfloat16), jnp.asarray(z_b, jnp.bfloat16),
                       temperature=0.1)
  assert got.dtype == jnp.float32
  want = nt_xent_reference(np.asarray(jnp.asarray(z_a, jnp.bfloat16), np.float32),
                           np.asarray(jnp.asarray(z_b, jnp.bfloat16), np.float32), 0.1)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_nt_xent_gradient_matches_finite_differences():
  rng = np.random.default_rng(2)
  n, d, temperature = 4, 5, 0.3
  z = rng.normal(size=(2, n, d))
  grad = jax.grad(lambda z: losses.nt_xent(z[0], z[1], temperature=temperature))(
      jnp.asarray(z, jnp.float32))
  eps = 1e-5
  numeric = np.zeros_like(z)
  for idx in np.ndindex(*z.shape):
    up, down = z.copy(), z.copy()
    up[idx] += eps
    down[idx] -= eps
    numeric[idx] = (nt_xent_reference(up[0], up[1], temperature) -
                    nt_xent_reference(down[0], down[1], temperature)) / (2 * eps)
  np.testing.assert_allclose(np.asarray(grad), numeric, rtol=2e-4, atol=2e-6)


@pytest.mark.parametrize("num_devices,n_per_device", [(8, 2), (4, 3), (2, 1)])
def test_sharded_nt_xent_equals_single_device(num_devices, n_per_device):
  mesh = make_mesh(num_devices)
  n, d, temperature = num_devices * n_per_device, 16, 0.2
  rng = np.random.default_rng(3)
  z_a = jnp.asarray(rng.normal(size=(n, d)), jnp.float32)
  z_b = jnp.asarray(z_a + rng.normal(size=(n, d)), jnp.float32)

  def global_loss(z_a, z_b):
    return losses.nt_xent(z_a, z_b, temperature=temperature)

  def per_device(z_a, z_b):
    # The global loss is the mean over devices of each device's mean over its anchors.
    local_loss, grads = jax.value_and_grad(
        lambda a, b: losses.nt_xent(a, b, temperature=temperature, axis_name=AXIS_NAME)
        / num_devices, argnums=(0, 1))(z_a, z_b)
    accuracy = losses.contrastive_accuracy(z_a, z_b, axis_name=AXIS_NAME)
    return (jax.lax.psum(local_loss, AXIS_NAME), grads,
            jax.lax.pmean(accuracy, AXIS_NAME))

  sharded = jax.jit(jax.shard_map(
      per_device, mesh=mesh, in_specs=(P(AXIS_NAME), P(AXIS_NAME)),
      out_specs=(P(), (P(AXIS_NAME), P(AXIS_NAME)), P())))
  split = batch_sharding(mesh)
  loss, (g_a, g_b), accuracy = sharded(jax.device_put(z_a, split), jax.device_put(z_b, split))
  want_loss, (want_a, want_b) = jax.value_and_grad(global_loss, argnums=(0, 1))(z_a, z_b)
  np.testing.assert_allclose(float(loss), float(want_loss), rtol=1e-5)
  np.testing.assert_allclose(float(loss),
                             nt_xent_reference(np.asarray(z_a), np.asarray(z_b),
                                               temperature), rtol=1e-5)
  # Every z's gradient, including the contributions it receives as another device's
  # negative, which flow back through the all_gather.
  np.testing.assert_allclose(np.asarray(g_a), np.asarray(want_a), rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(np.asarray(g_b), np.asarray(want_b), rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(float(accuracy),
                             accuracy_reference(np.asarray(z_a), np.asarray(z_b)))


@pytest.mark.parametrize("temperature", [0.0, -0.1])
def test_non_positive_temperature_is_rejected(temperature):
  z = jnp.ones((2, 4))
  with pytest.raises(ValueError, match="temperature"):
    losses.nt_xent(z, z, temperature=temperature)


def test_mismatched_shapes_are_rejected():
  with pytest.raises(ValueError, match="z_a and z_b"):
    losses.nt_xent(jnp.ones((2, 4)), jnp.ones((3, 4)), temperature=0.5)
