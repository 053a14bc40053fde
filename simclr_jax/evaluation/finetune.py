"""Semi-supervised fine-tuning: the whole network trained from the pretrained weights on
a class-balanced label subset (the paper's 1% / 10% protocol), then tested.

A zero-initialised linear classifier on h, SGD with Nesterov momentum 0.9,
lr = finetune_learning_rate x batch / 256 with cosine decay, crop + flip augmentation,
BatchNorm statistics global across the mesh; sharded like the pretraining step.
"""

from __future__ import annotations

import math
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from simclr_jax import losses
from simclr_jax.data import datasets, pipeline
from simclr_jax.models import ResNet, create_encoder
from simclr_jax.parallel import AXIS_NAME, check_global_batch, replicated_sharding
from simclr_jax.train import TrainState, averaged_value_and_grad, shard_step


class Classifier(nn.Module):
  """ResNet encoder + linear classifier on h."""
  encoder: ResNet
  num_classes: int

  @nn.compact
  def __call__(self, x, train: bool = True):
    h = self.encoder(x, train=train)
    return nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, name="head")(h)


def _step(model, tx, schedule, axis_name=AXIS_NAME):
  def step(state, batch, rng):
    del rng  # fine-tuning draws no randomness on the device

    def loss_fn(params):
      logits, new_vars = model.apply({"params": params, "batch_stats": state.batch_stats},
                                     batch["images"], train=True, mutable=["batch_stats"])
      loss, accuracy = losses.masked_cross_entropy(logits, batch["labels"])
      return loss, (new_vars["batch_stats"], accuracy)

    (loss, (batch_stats, accuracy)), grads = averaged_value_and_grad(
        loss_fn, state.params, axis_name)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = TrainState(step=state.step + 1,
                           params=optax.apply_updates(state.params, updates),
                           batch_stats=jax.lax.pmean(batch_stats, axis_name),
                           opt_state=opt_state)
    return new_state, {"loss": jax.lax.pmean(loss, axis_name),
                       "accuracy": jax.lax.pmean(accuracy, axis_name),
                       "learning_rate": schedule(state.step)}

  return step


def finetune(config, mesh, encoder_variables: dict, train_split: datasets.Split,
             test_split: datasets.Split) -> dict:
  """Fine-tune on the config's label subset of `train_split`; test on `test_split`."""
  subset_idx = datasets.label_subset(train_split.labels, config.finetune_fraction,
                                     train_split.num_classes, config.seed)
  subset = datasets.select_examples(train_split, subset_idx)
  batch_size = min(config.finetune_batch_size, subset.num_examples)
  batch_size -= batch_size % mesh.size
  check_global_batch(batch_size, mesh)
  steps = max(1, math.ceil(config.finetune_epochs * subset.num_examples / batch_size))
  schedule = optax.cosine_decay_schedule(
      config.finetune_learning_rate * batch_size / 256, steps)
  tx = optax.sgd(schedule, momentum=0.9, nesterov=True)
  model = Classifier(create_encoder(config, bn_axis_name=AXIS_NAME),
                     train_split.num_classes)

  def init(rng):
    shape = (1, config.image_size, config.image_size, 3)
    variables = model.init(rng, jnp.zeros(shape), train=False)
    params = {**variables["params"], "encoder": encoder_variables["params"]}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats={"encoder": encoder_variables["batch_stats"]},
                      opt_state=tx.init(params))

  state = jax.jit(init, out_shardings=replicated_sharding(mesh))(jax.random.key(config.seed))
  step_fn = shard_step(_step(model, tx, schedule), mesh)
  batches = pipeline.finetune_batches(config, mesh, split=subset, batch_size=batch_size)
  t0 = time.perf_counter()
  rng = jax.random.key(0)
  for _ in range(steps):
    state, metrics = step_fn(state, next(batches), rng)
  train_loss = float(jax.device_get(metrics["loss"]))
  train_seconds = time.perf_counter() - t0

  predict = jax.jit(lambda variables, images: jnp.argmax(
      model.apply(variables, images, train=False), axis=-1))
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  correct = total = 0
  for batch in pipeline.eval_batches(config, mesh, split=test_split,
                                     batch_size=config.eval_batch_size):
    pred = np.asarray(jax.device_get(predict(variables, batch["images"])))
    mask = np.asarray(jax.device_get(batch["mask"]))
    labels = np.asarray(jax.device_get(batch["labels"]))
    correct += int(np.sum((pred == labels) & mask))
    total += int(mask.sum())
  return {"top1": correct / total, "num_examples": total,
          "label_fraction": config.finetune_fraction,
          "num_labelled": int(subset.num_examples), "steps": steps,
          "batch_size": batch_size, "final_train_loss": train_loss,
          "train_seconds": round(train_seconds, 1)}
