"""Projection head g (SimCLR v1: 2 layers, v2: 3 layers)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class ProjectionHead(nn.Module):
  """`num_layers` bias-free dense layers, each followed by BatchNorm, ReLU between.

  Hidden layers keep the width of the representation h; the last maps to `proj_dim`
  and its BatchNorm has no offset (a shift would not change the normalised z anyway).
  """
  num_layers: int = 2
  proj_dim: int = 128
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, train: bool = True):
    if self.num_layers < 1:
      raise ValueError(
          f"num_proj_layers={self.num_layers}; set --config.num_proj_layers to 2 "
          "(SimCLR v1) or 3 (SimCLR v2).")
    hidden = h.shape[-1]
    x = h.astype(self.dtype)
    for i in range(self.num_layers):
      last = i == self.num_layers - 1
      x = nn.Dense(self.proj_dim if last else hidden, use_bias=False, dtype=self.dtype,
                   kernel_init=nn.initializers.normal(stddev=0.01), name=f"dense{i + 1}")(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                       use_bias=not last, dtype=self.dtype,
                       axis_name=self.bn_axis_name if train else None, name=f"bn{i + 1}")(x)
      if not last:
        x = nn.relu(x)
    return x.astype(jnp.float32)
