"""k-nearest-neighbour classification on L2-normalised features.

Weighted (Wu et al. 2018): the k nearest training examples by cosine similarity vote
for their class with weight exp(sim / tau). Majority: each of the k votes counts once.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _normalise(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames=("k", "num_classes"))
def _votes(queries, bank, bank_labels, *, k, num_classes, temperature):
  sims = _normalise(queries) @ _normalise(bank).T
  top_sims, top_idx = jax.lax.top_k(sims, k)
  onehot = jax.nn.one_hot(bank_labels[top_idx], num_classes)
  weighted = jnp.sum(onehot * jnp.exp(top_sims / temperature)[..., None], axis=1)
  majority = jnp.sum(onehot, axis=1)
  return weighted, majority


def knn_predict(train_x, train_y, test_x, num_classes: int, *, k: int = 200,
                temperature: float = 0.1, chunk: int = 1024):
  """(weighted predictions, majority predictions) for each row of test_x."""
  k = min(k, len(train_x))
  bank = jnp.asarray(train_x, jnp.float32)
  bank_labels = jnp.asarray(train_y, jnp.int32)
  weighted, majority = [], []
  for start in range(0, len(test_x), chunk):
    w, m = _votes(jnp.asarray(test_x[start:start + chunk], jnp.float32), bank,
                  bank_labels, k=k, num_classes=num_classes, temperature=temperature)
    w, m = np.asarray(w, np.float64), np.asarray(m, np.float64)
    weighted.append(np.argmax(w, axis=1))
    # Ties in a majority vote go to the class whose neighbours are more similar: the
    # weighted share is below 1/2, so it never overturns a difference of one vote.
    majority.append(np.argmax(m + 0.5 * w / w.sum(axis=1, keepdims=True), axis=1))
  return np.concatenate(weighted), np.concatenate(majority)


def knn_eval(train_x, train_y, test_x, test_y, num_classes: int, *, k: int = 200,
             temperature: float = 0.1) -> dict:
  weighted, majority = knn_predict(train_x, train_y, test_x, num_classes, k=k,
                                   temperature=temperature)
  return {"top1": float(np.mean(weighted == test_y)), "variant": "weighted",
          "k": int(min(k, len(train_x))), "temperature": temperature,
          "majority_top1": float(np.mean(majority == test_y)),
          "num_examples": int(len(test_y))}
