"""Linear evaluation (SimCLR protocol) on fixed features.

A zero-initialised linear classifier trained with SGD, Nesterov momentum 0.9,
lr = base_lr x batch / 256 with cosine decay and no warmup, cross-entropy. This is the
fast path for small datasets: features are extracted once, without augmentation, and the
classifier is trained on them; it usually lands within a point of the augmented protocol.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
  top = np.argsort(-logits, axis=1)[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=1)))


@functools.partial(jax.jit, static_argnames=("num_classes", "epochs", "batch_size"))
def _fit(x, y, key, *, num_classes, epochs, batch_size, learning_rate, weight_decay):
  n, d = x.shape
  steps_per_epoch = n // batch_size
  schedule = optax.cosine_decay_schedule(learning_rate, epochs * steps_per_epoch)
  tx = optax.chain(optax.add_decayed_weights(weight_decay),
                   optax.sgd(schedule, momentum=0.9, nesterov=True))
  params = {"kernel": jnp.zeros((d, num_classes)), "bias": jnp.zeros((num_classes,))}

  def loss_fn(params, xb, yb):
    logits = xb @ params["kernel"] + params["bias"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  def step(carry, idx):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params, x[idx], y[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  def epoch(carry, key):
    order = jax.random.permutation(key, n)[:steps_per_epoch * batch_size]
    return jax.lax.scan(step, carry, order.reshape(steps_per_epoch, batch_size))[0], None

  carry = (params, tx.init(params))
  (params, _), _ = jax.lax.scan(epoch, carry, jax.random.split(key, epochs))
  return params


def train_linear(train_x: np.ndarray, train_y: np.ndarray, num_classes: int, *,
                 epochs: int = 100, batch_size: int = 1024, base_learning_rate: float = 0.1,
                 weight_decay: float = 0.0, seed: int = 0) -> dict:
  """Fit the linear classifier; returns {"kernel": [D, C], "bias": [C]} as numpy."""
  batch_size = min(batch_size, len(train_x))
  params = _fit(jnp.asarray(train_x, jnp.float32), jnp.asarray(train_y, jnp.int32),
                jax.random.key(seed), num_classes=num_classes, epochs=epochs,
                batch_size=batch_size,
                learning_rate=base_learning_rate * batch_size / 256,
                weight_decay=weight_decay)
  return jax.device_get(params)


def linear_eval(train_x, train_y, test_x, test_y, num_classes: int, **kwargs) -> dict:
  """Train on (train_x, train_y), report top-1 (and top-5 where classes > 5) on test."""
  params = train_linear(train_x, train_y, num_classes, **kwargs)
  logits = np.asarray(test_x, np.float32) @ params["kernel"] + params["bias"]
  result = {"top1": topk_accuracy(logits, test_y, 1), "num_examples": int(len(test_y)),
            "train_top1": topk_accuracy(
                np.asarray(train_x, np.float32) @ params["kernel"] + params["bias"],
                train_y, 1)}
  if num_classes > 5:
    result["top5"] = topk_accuracy(logits, test_y, 5)
  return result
