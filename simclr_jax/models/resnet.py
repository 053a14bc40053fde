"""ResNet v1 encoders (He et al. 2016) as used by SimCLR.

Conventions that the paper's numbers depend on: no conv bias, fan-in truncated-normal
conv init, BatchNorm momentum 0.9 / epsilon 1e-5, the last BatchNorm scale of every
residual block initialised to 0 (each block starts as the identity), stride on the 3x3
conv of bottlenecks, 1x1 conv + BN projection shortcuts.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# depth -> (block kind, blocks per stage)
STAGE_SIZES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}

# Truncated normal with the fan-in variance, as in the official SimCLR code.
conv_init = nn.initializers.lecun_normal()


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """XLA's "SAME" padding (low, high) of one spatial dimension."""
  total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _window_taps(x, window: tuple[int, int], strides: tuple[int, int], pad_value=0.0):
  """{(i, j): what tap (i, j) of a "SAME" window reads}, each [N, H', W', C].

  Each tap is a shifted, strided slice of the padded NHWC input. Taps that would read
  only padding are left out: a 3x3 window on a 1x1 map is its centre tap alone.
  """
  (_, h, w, _), (kh, kw), (sh, sw) = x.shape, window, strides
  pad_h, pad_w = _same_padding(h, kh, sh), _same_padding(w, kw, sw)
  out_h, out_w = -(-h // sh), -(-w // sw)
  x = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)), constant_values=pad_value)

  def reads_input(tap, pad, size, stride, out):  # any row this tap samples is not padding
    return any(pad[0] <= tap + stride * k < pad[0] + size for k in range(out))

  return {(i, j): x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]
          for i in range(kh) for j in range(kw)
          if reads_input(i, pad_h, h, sh, out_h) and reads_input(j, pad_w, w, sw, out_w)}


def conv_as_matmul(x, kernel, strides):
  """A "SAME" convolution of NHWC `x` by HWIO `kernel`, as one matrix product.

  The taps' slices of the input (`_window_taps`) are concatenated along channels
  (im2col), so forward and backward are dense matrix products.
  """
  taps = _window_taps(x, kernel.shape[:2], strides)
  cols = jnp.concatenate(list(taps.values()), axis=-1)
  weights = jnp.concatenate([kernel[i, j] for i, j in taps], axis=0)
  return jax.lax.dot_general(cols, weights, (((3,), (0,)), ((), ())))


def max_pool(x, window: int, stride: int):
  """`nn.max_pool` with "SAME" padding, as the maximum of the window's tap slices.

  The same forward values; its gradient is element-wise selects rather than XLA's
  select-and-scatter, ~5x faster on CPU. Exact ties share the gradient instead of
  giving it to one input; after a ReLU the only likely ties are zeros, whose
  gradient the ReLU stops anyway.
  """
  taps = _window_taps(x, (window, window), (stride, stride), pad_value=-jnp.inf)
  return functools.reduce(jnp.maximum, taps.values())


class Conv(nn.Module):
  """Bias-free "SAME" 2-D convolution with `nn.Conv`'s parameter (an HWIO `kernel`).

  On CPU, XLA's convolutions are slow on the few-pixel maps of small inputs and in the
  backward pass of strided convolutions, so there 1x1 kernels, strided kernels and
  maps of at most 2x2 run as matrix products (`conv_as_matmul`: ~10x faster on a 2x2
  map). Elsewhere, and on GPU and TPU, it is `lax.conv_general_dilated`.
  """
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  kernel_init: Callable[..., Any] = conv_init
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    kh, kw = self.kernel_size
    small = x.shape[1] * x.shape[2] <= 4
    if jax.default_backend() == "cpu" and kh * kw <= 9 and (
        kh * kw == 1 or self.strides != (1, 1) or small):
      return conv_as_matmul(x, kernel, self.strides)
    return jax.lax.conv_general_dilated(x, kernel, self.strides, "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def check_depth(depth: int) -> None:
  if depth not in STAGE_SIZES:
    raise ValueError(
        f"depth={depth} is not a ResNet depth this codebase builds; set --config.depth "
        f"to one of {sorted(STAGE_SIZES)}.")


def stem_width(width_multiplier: float) -> int:
  """Channels of the stem and first stage: 64 x width_multiplier, a positive integer."""
  width = 64 * width_multiplier
  if not (width >= 1 and float(width).is_integer()):
    raise ValueError(f"width_multiplier={width_multiplier} gives {width} channels; set "
                     "--config.width_multiplier so that 64 x it is a positive integer "
                     "(1, 2, 4 in the paper; 0.125 for an 8-channel test model).")
  return int(width)


def _merge(residual, y, strides, conv, norm):
  """relu(shortcut + y); the shortcut is a 1x1 conv + BN where the shape changes.

  Called from a block's compact __call__, so the projection belongs to that block.
  """
  if residual.shape != y.shape:
    residual = conv(y.shape[-1], (1, 1), (strides, strides), name="proj_conv")(residual)
    residual = norm(name="proj_bn")(residual)
  return nn.relu(residual + y)


class BasicBlock(nn.Module):
  """Two 3x3 convs (ResNet-18/34)."""
  filters: int
  strides: int
  conv: Callable[..., Any]
  norm: Callable[..., Any]

  @nn.compact
  def __call__(self, x):
    residual = x
    y = self.conv(self.filters, (3, 3), (self.strides, self.strides))(x)
    y = nn.relu(self.norm()(y))
    y = self.conv(self.filters, (3, 3))(y)
    y = self.norm(scale_init=nn.initializers.zeros)(y)
    return _merge(residual, y, self.strides, self.conv, self.norm)


class BottleneckBlock(nn.Module):
  """1x1 -> 3x3 (strided) -> 1x1 with 4x expansion (ResNet-50 and deeper)."""
  filters: int
  strides: int
  conv: Callable[..., Any]
  norm: Callable[..., Any]

  @nn.compact
  def __call__(self, x):
    residual = x
    y = self.conv(self.filters, (1, 1))(x)
    y = nn.relu(self.norm()(y))
    y = self.conv(self.filters, (3, 3), (self.strides, self.strides))(y)
    y = nn.relu(self.norm()(y))
    y = self.conv(self.filters * 4, (1, 1))(y)
    y = self.norm(scale_init=nn.initializers.zeros)(y)
    return _merge(residual, y, self.strides, self.conv, self.norm)


class ResNet(nn.Module):
  """ResNet v1 trunk; returns the pooled representation h (no classifier).

  `cifar_stem` swaps the 7x7/2 conv + max-pool for a 3x3/1 conv without pooling, which
  keeps 32x32 inputs at full resolution in the first stage.
  """
  depth: int = 50
  # 1, 2, 4 in the paper; fractions (0.125 -> 8 channels) give the tiny models of tests
  # and CPU demos.
  width_multiplier: float = 1
  cifar_stem: bool = False
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    check_depth(self.depth)
    kind, stage_sizes = STAGE_SIZES[self.depth]
    block_cls = BasicBlock if kind == "basic" else BottleneckBlock
    conv = functools.partial(Conv, dtype=self.dtype)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=1e-5, dtype=self.dtype,
                             axis_name=self.bn_axis_name if train else None)
    width = stem_width(self.width_multiplier)
    x = x.astype(self.dtype)
    if self.cifar_stem:
      x = conv(width, (3, 3), name="stem_conv")(x)
      x = nn.relu(norm(name="stem_bn")(x))
    else:
      x = conv(width, (7, 7), (2, 2), name="stem_conv")(x)
      x = nn.relu(norm(name="stem_bn")(x))
      x = max_pool(x, 3, 2)
    for stage, num_blocks in enumerate(stage_sizes):
      for block in range(num_blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = block_cls(width * 2**stage, strides, conv=conv, norm=norm,
                      name=f"stage{stage + 1}_block{block + 1}")(x)
    return jnp.mean(x, axis=(1, 2)).astype(jnp.float32)
