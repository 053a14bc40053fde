"""The representation h of every example of a split, from a frozen encoder.

BatchNorm runs in inference mode (running statistics), so h of an image does not depend
on the rest of its batch; the forward pass is sharded over the mesh like the train step.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from simclr_jax.data import datasets, pipeline
from simclr_jax.parallel import AXIS_NAME, replicated_sharding


def make_encode_fn(encoder, mesh):
  """jit(shard_map(images -> h)) for an encoder module (e.g. ResNet) in inference mode."""

  def encode(variables, images):
    return encoder.apply(variables, images, train=False)

  return jax.jit(jax.shard_map(encode, mesh=mesh, in_specs=(P(), P(AXIS_NAME)),
                               out_specs=P(AXIS_NAME)))


def _collect(config, mesh, split: datasets.Split, batch_size: int,
             rows_of) -> tuple[np.ndarray, np.ndarray]:
  """Stack `rows_of(batch)` ([B, D]) over every example of `split`, in split order,
  dropping the padding rows of the last batch; returns (rows [n, D], labels [n])."""
  feats = labels = None
  for batch in pipeline.eval_batches(config, mesh, split=split, batch_size=batch_size):
    rows = np.asarray(rows_of(batch), np.float32)
    rows = rows.reshape(len(rows), -1)
    index = np.asarray(jax.device_get(batch["index"]))
    valid = np.asarray(jax.device_get(batch["mask"]))
    if feats is None:
      feats = np.zeros((split.num_examples, rows.shape[1]), np.float32)
      labels = np.full((split.num_examples,), -1, np.int32)
    feats[index[valid]] = rows[valid]
    labels[index[valid]] = np.asarray(jax.device_get(batch["labels"]))[valid]
  return feats, labels


def extract_features(config, mesh, encode_fn, variables, split: datasets.Split,
                     batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(h [n, D] float32, labels [n] int32) for every example of `split`, in order."""
  # Replicated over the mesh once, not copied to every device at each call.
  variables = jax.device_put(variables, replicated_sharding(mesh))
  return _collect(config, mesh, split, batch_size,
                  lambda batch: jax.device_get(encode_fn(variables, batch["images"])))


def pixel_features(config, mesh, split: datasets.Split,
                   batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """The raw-pixel baseline: each image's pixels in [0, 1], flattened.

  Decoded in-memory splits (Fashion-MNIST, CIFAR) use the stored pixels as they are;
  others go through the evaluation view (crop and resize to image_size).
  """
  if split.kind == "images":
    flat = split.images.reshape(split.num_examples, -1).astype(np.float32) / 255.0
    return flat, np.asarray(split.labels, np.int32)

  def pixels(batch):
    images = np.asarray(jax.device_get(batch["images"]))
    # Grayscale data: the three channels of the view are equal; keep one.
    return images[..., :1] if split.image_shape[-1] == 1 else images

  return _collect(config, mesh, split, batch_size, pixels)
