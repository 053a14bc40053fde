"""The representation h of every example of a split, from a frozen encoder.

BatchNorm runs in inference mode (running statistics), so h of an image does not depend
on the rest of its batch; the forward pass is sharded over the mesh like the train step.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from simclr_jax.data import datasets, pipeline
from simclr_jax.parallel import AXIS_NAME


def make_encode_fn(encoder, mesh):
  """jit(shard_map(images -> h)) for an encoder module (e.g. ResNet) in inference mode."""

  def encode(variables, images):
    return encoder.apply(variables, images, train=False)

  return jax.jit(jax.shard_map(encode, mesh=mesh, in_specs=(P(), P(AXIS_NAME)),
                               out_specs=P(AXIS_NAME)))


def extract_features(config, mesh, encode_fn, variables, split: datasets.Split,
                     batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(h [n, D] float32, labels [n] int32) for every example of `split`, in order."""
  feats = labels = None
  for batch in pipeline.eval_batches(config, mesh, split=split, batch_size=batch_size):
    h = np.asarray(jax.device_get(encode_fn(variables, batch["images"])))
    index = np.asarray(jax.device_get(batch["index"]))
    label = np.asarray(jax.device_get(batch["labels"]))
    valid = np.asarray(jax.device_get(batch["mask"]))
    if feats is None:
      feats = np.zeros((split.num_examples, h.shape[1]), np.float32)
      labels = np.full((split.num_examples,), -1, np.int32)
    feats[index[valid]] = h[valid]
    labels[index[valid]] = label[valid]
  return feats, labels


def pixel_features(config, mesh, split: datasets.Split,
                   batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """The raw-pixel baseline: each image's pixels in [0, 1], flattened.

  Decoded in-memory splits (Fashion-MNIST, CIFAR) use the stored pixels as they are;
  others go through the evaluation view (crop and resize to image_size).
  """
  if split.kind == "images":
    flat = split.images.reshape(split.num_examples, -1).astype(np.float32) / 255.0
    return flat, np.asarray(split.labels, np.int32)
  feats = labels = None
  for batch in pipeline.eval_batches(config, mesh, split=split, batch_size=batch_size):
    images = np.asarray(jax.device_get(batch["images"]))
    if split.image_shape[-1] == 1:  # grayscale data: its three channels are equal
      images = images[..., :1]
    index = np.asarray(jax.device_get(batch["index"]))
    valid = np.asarray(jax.device_get(batch["mask"]))
    if feats is None:
      feats = np.zeros((split.num_examples, images[0].size), np.float32)
      labels = np.full((split.num_examples,), -1, np.int32)
    feats[index[valid]] = images[valid].reshape(int(valid.sum()), -1)
    labels[index[valid]] = np.asarray(jax.device_get(batch["labels"]))[valid]
  return feats, labels
