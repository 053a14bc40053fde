"""Linear evaluation (SimCLR protocol): a classifier on the frozen representation h.

A zero-initialised linear classifier trained with SGD, Nesterov momentum 0.9,
lr = base_lr x batch / 256 with cosine decay and no warmup, cross-entropy. Two ways:
  * `train_linear_augmented`: the paper's protocol, crop + flip views through the frozen
    encoder at every step, sharded over the mesh;
  * `train_linear` / `linear_eval`: the fast path for small datasets, on features
    extracted once without augmentation.
"""

from __future__ import annotations

import functools
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from simclr_jax.data import pipeline
from simclr_jax.losses import masked_cross_entropy
from simclr_jax.parallel import AXIS_NAME, check_global_batch, replicated_sharding
from simclr_jax.train import averaged_value_and_grad, shard_step


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
  epochs = max(1, int(round(epochs)))  # whole epochs: the fit scans over them
  params = _fit(jnp.asarray(train_x, jnp.float32), jnp.asarray(train_y, jnp.int32),
                jax.random.key(seed), num_classes=num_classes, epochs=epochs,
                batch_size=batch_size,
                learning_rate=base_learning_rate * batch_size / 256,
                weight_decay=weight_decay)
  return jax.device_get(params)


def score(params: dict, test_x, test_y, num_classes: int) -> dict:
  """top1 (and top5 where classes > 5) of a linear classifier on test features."""
  logits = np.asarray(test_x, np.float32) @ params["kernel"] + params["bias"]
  result = {"top1": topk_accuracy(logits, test_y, 1), "num_examples": int(len(test_y))}
  if num_classes > 5:
    result["top5"] = topk_accuracy(logits, test_y, 5)
  return result


def linear_eval(train_x, train_y, test_x, test_y, num_classes: int, **kwargs) -> dict:
  """Fast path: train on (train_x, train_y), report top-1 (and top-5) on test."""
  params = train_linear(train_x, train_y, num_classes, **kwargs)
  train_logits = np.asarray(train_x, np.float32) @ params["kernel"] + params["bias"]
  return {**score(params, test_x, test_y, num_classes),
          "train_top1": topk_accuracy(train_logits, train_y, 1)}


@flax.struct.dataclass
class LinearEvalState:
  step: jax.Array
  head: dict  # {"kernel": [D, C], "bias": [C]}
  encoder_variables: dict  # frozen: params and BatchNorm statistics
  opt_state: optax.OptState


def _augmented_step(encoder, tx, axis_name=AXIS_NAME):
  def step(state, batch, rng):
    del rng  # augmentation happens in the input pipeline
    h = jax.lax.stop_gradient(
        encoder.apply(state.encoder_variables, batch["images"], train=False))

    def loss_fn(head):
      return masked_cross_entropy(h @ head["kernel"] + head["bias"], batch["labels"])

    (loss, accuracy), grads = averaged_value_and_grad(loss_fn, state.head, axis_name)
    updates, opt_state = tx.update(grads, state.opt_state, state.head)
    new_state = state.replace(step=state.step + 1,
                              head=optax.apply_updates(state.head, updates),
                              opt_state=opt_state)
    return new_state, {"loss": jax.lax.pmean(loss, axis_name),
                       "accuracy": jax.lax.pmean(accuracy, axis_name)}

  return step


def train_linear_augmented(config, mesh, encoder, encoder_variables, train_split,
                           num_classes: int, feature_dim: int) -> tuple[dict, float]:
  """The paper's protocol: the classifier trained on crop + flip views through the frozen
  encoder (BatchNorm in inference mode), sharded like pretraining.

  Returns (head params as numpy, accuracy on the last training batch).
  """
  batch_size = config.linear_batch_size
  check_global_batch(batch_size, mesh)
  steps = max(1, math.ceil(config.linear_epochs * train_split.num_examples / batch_size))
  schedule = optax.cosine_decay_schedule(
      config.linear_learning_rate * batch_size / 256, steps)
  tx = optax.chain(optax.add_decayed_weights(config.linear_weight_decay),
                   optax.sgd(schedule, momentum=0.9, nesterov=True))
  head = {"kernel": jnp.zeros((feature_dim, num_classes)),
          "bias": jnp.zeros((num_classes,))}
  state = jax.device_put(
      LinearEvalState(step=jnp.zeros((), jnp.int32), head=head,
                      encoder_variables=encoder_variables, opt_state=tx.init(head)),
      replicated_sharding(mesh))
  step_fn = shard_step(_augmented_step(encoder, tx), mesh)
  batches = pipeline.finetune_batches(config, mesh, split=train_split,
                                      batch_size=batch_size)
  rng = jax.random.key(0)
  for _ in range(steps):
    state, metrics = step_fn(state, next(batches), rng)
  return jax.device_get(state.head), float(jax.device_get(metrics["accuracy"]))
