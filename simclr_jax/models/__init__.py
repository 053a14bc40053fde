"""Encoders and heads, and the SimCLR model that joins them."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from simclr_jax.models.heads import ProjectionHead
from simclr_jax.models.resnet import STAGE_SIZES, ResNet, check_depth, stem_width

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class SimCLRModel(nn.Module):
  """Encoder f and projection head g: x -> (h, z). Evaluation uses h."""
  depth: int = 50
  width_multiplier: float = 1
  cifar_stem: bool = False
  num_proj_layers: int = 2
  proj_dim: int = 128
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  def setup(self):
    self.encoder = ResNet(depth=self.depth, width_multiplier=self.width_multiplier,
                          cifar_stem=self.cifar_stem, bn_axis_name=self.bn_axis_name,
                          dtype=self.dtype)
    self.projection_head = ProjectionHead(num_layers=self.num_proj_layers,
                                          proj_dim=self.proj_dim,
                                          bn_axis_name=self.bn_axis_name, dtype=self.dtype)

  def __call__(self, x, train: bool = True):
    h = self.encoder(x, train=train)
    return h, self.projection_head(h, train=train)


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ValueError(f"dtype={name!r} is not supported; set --config.dtype to one of "
                     f"{sorted(DTYPES)}.")
  return DTYPES[name]


def create_model(config, bn_axis_name: str | None = None) -> SimCLRModel:
  """The SimCLR model a config describes; the CIFAR stem is used at <= 32 px."""
  check_depth(config.depth)
  stem_width(config.width_multiplier)
  return SimCLRModel(
      depth=config.depth,
      width_multiplier=config.width_multiplier,
      cifar_stem=config.image_size <= 32,
      num_proj_layers=config.num_proj_layers,
      proj_dim=config.proj_dim,
      bn_axis_name=bn_axis_name if config.global_bn else None,
      dtype=compute_dtype(config.dtype),
  )


__all__ = ["ResNet", "ProjectionHead", "SimCLRModel", "create_model", "STAGE_SIZES",
           "check_depth", "compute_dtype"]
