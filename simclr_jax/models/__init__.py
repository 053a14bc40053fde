"""Encoders and heads, and the SimCLR model that joins them."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from simclr_jax.models.heads import ProjectionHead
from simclr_jax.models.resnet import STAGE_SIZES, ResNet, check_depth, stem_width

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class SimCLRModel(nn.Module):
  """Encoder f, projection head g and an optional online probe: x -> (h, z, logits).

  Evaluation uses h. With num_classes > 0, `logits` come from a linear classifier on
  stop_gradient(h) (the online probe of the official TF2 code): it trains alongside
  pretraining without changing the encoder, and is None otherwise.
  """
  depth: int = 50
  width_multiplier: float = 1
  cifar_stem: bool = False
  num_proj_layers: int = 2
  proj_dim: int = 128
  num_classes: int = 0
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  def setup(self):
    self.encoder = ResNet(depth=self.depth, width_multiplier=self.width_multiplier,
                          cifar_stem=self.cifar_stem, bn_axis_name=self.bn_axis_name,
                          dtype=self.dtype)
    self.projection_head = ProjectionHead(num_layers=self.num_proj_layers,
                                          proj_dim=self.proj_dim,
                                          bn_axis_name=self.bn_axis_name, dtype=self.dtype)
    if self.num_classes > 0:
      self.online_probe = nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros)

  def __call__(self, x, train: bool = True):
    h = self.encoder(x, train=train)
    z = self.projection_head(h, train=train)
    logits = self.online_probe(jax.lax.stop_gradient(h)) if self.num_classes > 0 else None
    return h, z, logits


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ValueError(f"dtype={name!r} is not supported; set --config.dtype to one of "
                     f"{sorted(DTYPES)}.")
  return DTYPES[name]


STEMS = ("auto", "cifar", "imagenet")


def uses_cifar_stem(config) -> bool:
  """config.stem, where "auto" means the CIFAR stem at <= 32 px (the paper's choice)."""
  stem = config.get("stem", "auto")
  if stem not in STEMS:
    raise ValueError(f"stem={stem!r} is unknown; set --config.stem to one of {STEMS}.")
  return config.image_size <= 32 if stem == "auto" else stem == "cifar"


def _encoder_fields(config, bn_axis_name: str | None) -> dict:
  """The ResNet arguments a config sets, validated; shared by the encoder and the model."""
  check_depth(config.depth)
  stem_width(config.width_multiplier)
  return dict(depth=config.depth, width_multiplier=config.width_multiplier,
              cifar_stem=uses_cifar_stem(config),
              bn_axis_name=bn_axis_name if config.global_bn else None,
              dtype=compute_dtype(config.dtype))


def create_encoder(config, bn_axis_name: str | None = None) -> ResNet:
  """The ResNet encoder f a config describes (stem per `uses_cifar_stem`), alone: for
  evaluation and fine-tuning, which use h and not the projection head."""
  return ResNet(**_encoder_fields(config, bn_axis_name))


def create_model(config, bn_axis_name: str | None = None,
                 num_classes: int = 0) -> SimCLRModel:
  """The SimCLR model a config describes (stem per `uses_cifar_stem`).

  `num_classes` > 0 adds the online linear probe (when config.online_probe is on).
  """
  return SimCLRModel(**_encoder_fields(config, bn_axis_name),
                     num_proj_layers=config.num_proj_layers, proj_dim=config.proj_dim,
                     num_classes=num_classes if config.get("online_probe", False) else 0)


__all__ = ["ResNet", "ProjectionHead", "SimCLRModel", "create_model", "create_encoder",
           "STAGE_SIZES", "check_depth", "compute_dtype", "uses_cifar_stem"]
