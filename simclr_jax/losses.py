"""Contrastive losses as plain functions of arrays.

Inside the sharded step each device holds n of the N source images. Candidates are
gathered from every device, but each device scores only its own 2n anchors, so the
logits it holds are (2n, 2N) rather than (2N, 2N).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Added to the self-similarity logit. Finite (not -inf) so that 0 * mask stays 0 in the
# backward pass; any value below -2/temperature - 100 already contributes exp(-100).
_SELF_MASK = -1e9


def _check_temperature(temperature: float) -> None:
  if not temperature > 0:
    raise ValueError(f"temperature={temperature} must be positive; set "
                     "--config.temperature to e.g. 0.1 (ImageNet) or 0.5 (CIFAR).")


def _l2_normalize(z: jax.Array) -> jax.Array:
  z = z.astype(jnp.float32)
  return z * jax.lax.rsqrt(jnp.maximum(jnp.sum(z * z, axis=-1, keepdims=True), 1e-24))


def _nt_xent_logits(z_a, z_b, temperature, axis_name):
  """Logits of this device's 2n anchors against all 2N candidates, and positives.

  Global candidate order: [a_0 .. a_{N-1}, b_0 .. b_{N-1}]. Returns (logits [2n, 2N]
  with self-similarity masked, index of each anchor's positive [2n]).
  """
  _check_temperature(temperature)
  if z_a.shape != z_b.shape or z_a.ndim != 2:
    raise ValueError(f"z_a and z_b must both be [n, d]; got {z_a.shape} and {z_b.shape}.")
  z_a, z_b = _l2_normalize(z_a), _l2_normalize(z_b)
  n = z_a.shape[0]
  if axis_name is None:
    all_a, all_b, offset = z_a, z_b, 0
  else:
    all_a = jax.lax.all_gather(z_a, axis_name, tiled=True)
    all_b = jax.lax.all_gather(z_b, axis_name, tiled=True)
    offset = jax.lax.axis_index(axis_name) * n
  big_n = all_a.shape[0]
  anchors = jnp.concatenate([z_a, z_b], axis=0)
  candidates = jnp.concatenate([all_a, all_b], axis=0)
  logits = jnp.matmul(anchors, candidates.T,
                      precision=jax.lax.Precision.HIGHEST) / temperature
  rows = jnp.arange(n) + offset  # global index of each local source image
  self_idx = jnp.concatenate([rows, rows + big_n])
  positive_idx = jnp.concatenate([rows + big_n, rows])
  self_mask = jax.nn.one_hot(self_idx, 2 * big_n, dtype=logits.dtype)
  return logits + _SELF_MASK * self_mask, positive_idx


def nt_xent_with_accuracy(z_a, z_b, *, temperature, axis_name=None):
  """(NT-Xent loss, contrastive top-1 accuracy), both means over this device's anchors."""
  logits, positive_idx = _nt_xent_logits(z_a, z_b, temperature, axis_name)
  positive = jnp.take_along_axis(logits, positive_idx[:, None], axis=1)[:, 0]
  loss = jnp.mean(jax.nn.logsumexp(logits, axis=1) - positive)
  accuracy = jnp.mean((jnp.argmax(logits, axis=1) == positive_idx).astype(jnp.float32))
  return loss, accuracy


def nt_xent(z_a, z_b, *, temperature, axis_name=None):
  """NT-Xent (SimCLR eq. 1): mean over anchors of -log softmax(sim / tau)[positive].

  z_a, z_b: [n, d], row i of each a view of the same source image; L2-normalised here.
  With `axis_name` (inside the mapped step) the negatives come from every device and the
  value is the mean over this device's 2n anchors, so the mean over devices is the
  global loss. This is the paper's mean; the official TF code optimises twice it.
  """
  return nt_xent_with_accuracy(z_a, z_b, temperature=temperature, axis_name=axis_name)[0]


def contrastive_accuracy(z_a, z_b, *, temperature=1.0, axis_name=None):
  """Fraction of anchors whose positive ranks first among the 2N - 1 candidates."""
  return nt_xent_with_accuracy(z_a, z_b, temperature=temperature, axis_name=axis_name)[1]


def masked_cross_entropy(logits, labels):
  """(mean cross-entropy, top-1 accuracy) over the rows whose label is >= 0.

  Unlabelled rows (label -1, e.g. STL-10's unlabelled split) count for neither.
  """
  valid = (labels >= 0).astype(jnp.float32)
  safe = jnp.maximum(labels, 0)
  logits = logits.astype(jnp.float32)
  ce = jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(
      logits, safe[:, None], axis=-1)[:, 0]
  count = jnp.maximum(jnp.sum(valid), 1.0)
  correct = (jnp.argmax(logits, axis=-1) == safe).astype(jnp.float32)
  return jnp.sum(ce * valid) / count, jnp.sum(correct * valid) / count
