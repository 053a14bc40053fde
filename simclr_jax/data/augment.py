"""Image augmentations of SimCLR (Chen et al. 2020, appendix A), as TF stateless ops.

Every random choice is drawn with `tf.random.stateless_*` from an explicit seed (a
shape-[2] integer tensor), split into one sub-seed per step, so a view is a pure
function of (image, seed): the input pipeline can recompute any example of any step
on any host. Images come in as uint8 [H, W, C] (C = 1 or 3) and leave as float32
[height, width, 3] in [0, 1], without mean/std normalisation.

Three views are built from the steps below:
  * `pretrain_view`: random resized crop, flip, colour jitter, grayscale, blur;
  * `finetune_view`: random resized crop and flip (linear eval and fine-tuning);
  * `eval_view`: central crop and resize, no randomness.
"""

from __future__ import annotations

import math

import tensorflow as tf

# Random resized crop: the paper's ranges (the same as Inception-style training).
CROP_AREA_RANGE = (0.08, 1.0)
CROP_ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)
CROP_MAX_ATTEMPTS = 100
# Evaluation keeps the central 87.5% of the shorter side, as for ImageNet.
EVAL_CROP_PROPORTION = 0.875
# Small images (CIFAR, Fashion-MNIST) are evaluated uncropped.
EVAL_NO_CROP_MAX_SIDE = 32

FLIP_PROB = 0.5
COLOR_JITTER_PROB = 0.8
GRAYSCALE_PROB = 0.2
BLUR_PROB = 0.5
BLUR_SIGMA_RANGE = (0.1, 2.0)


def _split(seed, num: int) -> list[tf.Tensor]:
  """`num` independent shape-[2] seeds derived from `seed`."""
  return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def _uniform(seed, minval=0.0, maxval=1.0) -> tf.Tensor:
  """One float32 drawn uniformly from [minval, maxval)."""
  return tf.random.stateless_uniform([], seed, minval=minval, maxval=maxval)


def _to_float(image: tf.Tensor) -> tf.Tensor:
  """uint8 [0, 255] -> float32 [0, 1]; float input is taken to be in [0, 1] already."""
  if image.dtype == tf.uint8:
    return tf.cast(image, tf.float32) / 255.0
  return tf.cast(image, tf.float32)


def _to_rgb(image: tf.Tensor) -> tf.Tensor:
  """Grayscale [..., 1] -> [..., 3] by repeating the channel; 3 channels pass through."""
  if image.shape[-1] == 1:
    return tf.tile(image, [1, 1, 3])
  if image.shape[-1] != 3:
    raise ValueError(
        f"images must have 1 or 3 channels (static shape), got shape {image.shape}; "
        "decode with channels=3 or set the channel dimension with tf.ensure_shape.")
  return image


def _resize(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
  """Bicubic resize of a float image; clipped because bicubic overshoots [0, 1]."""
  image = tf.image.resize(image, [height, width], method="bicubic")
  return tf.clip_by_value(image, 0.0, 1.0)


# --------------------------------------------------------------------------- crop


def random_resized_crop_window(shape, seed, *, area_range=CROP_AREA_RANGE,
                               aspect_ratio_range=CROP_ASPECT_RATIO_RANGE,
                               max_attempts: int = CROP_MAX_ATTEMPTS) -> tf.Tensor:
  """The crop box [offset_y, offset_x, crop_height, crop_width] (int32) of one view.

  Draws `max_attempts` candidates at once (area fraction uniform in `area_range`,
  aspect ratio width/height log-uniform in `aspect_ratio_range`) and keeps the first
  whose rounded size fits the image with its area fraction and aspect ratio still in
  range; when none does, the whole image is the crop. The offset is uniform over the
  positions where the box fits.

  Args:
    shape: the image shape [H, W, ...] (a tensor or a sequence; only H, W are used).
    seed: shape-[2] integer seed.
    area_range, aspect_ratio_range, max_attempts: the paper's values by default.
  """
  shape = tf.convert_to_tensor(shape)
  height = tf.cast(shape[0], tf.float64)
  width = tf.cast(shape[1], tf.float64)
  seed_area, seed_ratio, seed_y, seed_x = _split(seed, 4)
  area = height * width * tf.cast(tf.random.stateless_uniform(
      [max_attempts], seed_area, area_range[0], area_range[1]), tf.float64)
  log_ratio = tf.cast(tf.random.stateless_uniform(
      [max_attempts], seed_ratio, math.log(aspect_ratio_range[0]),
      math.log(aspect_ratio_range[1])), tf.float64)
  ratio = tf.exp(log_ratio)
  crop_w = tf.round(tf.sqrt(area * ratio))
  crop_h = tf.round(tf.sqrt(area / ratio))
  # Rounding to whole pixels can push a small crop out of range; such candidates
  # are rejected rather than clipped, so the ranges hold exactly.
  area_frac = crop_h * crop_w / (height * width)
  true_ratio = crop_w / tf.maximum(crop_h, 1.0)
  ok = ((crop_h >= 1) & (crop_w >= 1) & (crop_h <= height) & (crop_w <= width)
        & (area_frac >= area_range[0]) & (area_frac <= area_range[1])
        & (true_ratio >= aspect_ratio_range[0]) & (true_ratio <= aspect_ratio_range[1]))
  first = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)
  found = tf.reduce_any(ok)
  crop_h = tf.where(found, crop_h[first], height)
  crop_w = tf.where(found, crop_w[first], width)
  offset_y = tf.floor(tf.cast(_uniform(seed_y), tf.float64) * (height - crop_h + 1))
  offset_x = tf.floor(tf.cast(_uniform(seed_x), tf.float64) * (width - crop_w + 1))
  box = tf.stack([tf.minimum(offset_y, height - crop_h),
                  tf.minimum(offset_x, width - crop_w), crop_h, crop_w])
  return tf.cast(box, tf.int32)


def random_resized_crop(image: tf.Tensor, seed, *, height: int, width: int,
                        area_range=CROP_AREA_RANGE) -> tf.Tensor:
  """Crop a random window (`random_resized_crop_window`), bicubic-resize it, float [0, 1]."""
  box = random_resized_crop_window(tf.shape(image), seed, area_range=area_range)
  crop = tf.slice(image, [box[0], box[1], 0], [box[2], box[3], -1])
  # A slice at a dynamic offset loses the static channel count that `_to_rgb` needs.
  crop.set_shape([None, None, image.shape[-1]])
  return _resize(_to_float(crop), height, width)


# --------------------------------------------------------------------------- flip


def random_flip(image: tf.Tensor, seed, *, prob: float = FLIP_PROB) -> tf.Tensor:
  """Left-right flip with probability `prob`."""
  return tf.cond(_uniform(seed) < prob,
                 lambda: tf.image.flip_left_right(image), lambda: image)


# ------------------------------------------------------------------- colour jitter


def color_jitter(image: tf.Tensor, seed, *, strength: float) -> tf.Tensor:
  """Brightness, contrast, saturation and hue changes of strength s, in random order.

  Factors: brightness (multiplicative) in [max(0, 1 - 0.8 s), 1 + 0.8 s], contrast and
  saturation in [1 - 0.8 s, 1 + 0.8 s], hue delta in [-0.2 s, 0.2 s]. The image is
  clipped to [0, 1] after each change, since the next one expects valid colours.
  """
  s = float(strength)
  seed_b, seed_c, seed_s, seed_h, seed_order = _split(seed, 5)
  brightness = _uniform(seed_b, max(0.0, 1 - 0.8 * s), 1 + 0.8 * s)
  contrast = _uniform(seed_c, 1 - 0.8 * s, 1 + 0.8 * s)
  saturation = _uniform(seed_s, 1 - 0.8 * s, 1 + 0.8 * s)
  hue = _uniform(seed_h, -0.2 * s, 0.2 * s)
  branches = [
      lambda x: x * brightness,
      lambda x: tf.image.adjust_contrast(x, contrast),
      lambda x: tf.image.adjust_saturation(x, saturation),
      lambda x: tf.image.adjust_hue(x, hue),
  ]
  order = tf.argsort(tf.random.stateless_uniform([4], seed_order))
  for i in range(4):
    image = tf.switch_case(order[i], [lambda f=f, x=image: f(x) for f in branches])
    image = tf.clip_by_value(image, 0.0, 1.0)
  return image


def random_color_jitter(image: tf.Tensor, seed, *, strength: float,
                        prob: float = COLOR_JITTER_PROB) -> tf.Tensor:
  """`color_jitter` with probability `prob`."""
  seed_apply, seed_jitter = _split(seed, 2)
  return tf.cond(_uniform(seed_apply) < prob,
                 lambda: color_jitter(image, seed_jitter, strength=strength),
                 lambda: image)


def random_grayscale(image: tf.Tensor, seed, *, prob: float = GRAYSCALE_PROB) -> tf.Tensor:
  """Luma grayscale with probability `prob`, kept 3-channel (all channels equal)."""
  def gray():
    return tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])
  return tf.cond(_uniform(seed) < prob, gray, lambda: image)


# --------------------------------------------------------------------------- blur


def blur_kernel_radius(side: int) -> int:
  """Kernel radius of the paper's blur: the kernel is 10% of the side, 2r + 1 taps."""
  return int(side / 10 / 2)


def gaussian_blur(image: tf.Tensor, sigma, *, radius: int) -> tf.Tensor:
  """Separable Gaussian blur of a float [H, W, C] image with 2 * radius + 1 taps.

  The kernel is normalised to sum 1 and borders are reflected, so flat images stay
  flat (zero padding would darken the edges). radius = 0 is the identity.
  """
  if radius <= 0:
    return image
  channels = image.shape[-1]
  x = tf.range(-radius, radius + 1, dtype=tf.float32)
  sigma = tf.cast(sigma, tf.float32)
  kernel = tf.exp(-tf.square(x) / (2.0 * tf.square(sigma)))
  kernel /= tf.reduce_sum(kernel)
  # One depthwise filter per channel: [rows, cols, in_channels, multiplier].
  kernel_h = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
  kernel_v = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
  padded = tf.pad(image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]],
                  mode="REFLECT")
  out = tf.nn.depthwise_conv2d(padded, kernel_h, [1, 1, 1, 1], "VALID")
  out = tf.nn.depthwise_conv2d(out, kernel_v, [1, 1, 1, 1], "VALID")
  return out[0]


def random_blur(image: tf.Tensor, seed, *, side: int, prob: float = BLUR_PROB) -> tf.Tensor:
  """`gaussian_blur` with probability `prob`, sigma uniform in [0.1, 2.0]."""
  seed_apply, seed_sigma = _split(seed, 2)
  sigma = _uniform(seed_sigma, *BLUR_SIGMA_RANGE)
  radius = blur_kernel_radius(side)
  return tf.cond(_uniform(seed_apply) < prob,
                 lambda: gaussian_blur(image, sigma, radius=radius), lambda: image)


# --------------------------------------------------------------------------- views


def pretrain_view(image: tf.Tensor, seed, *, height: int, width: int,
                  color_jitter_strength: float, blur: bool,
                  crop_area_range=CROP_AREA_RANGE) -> tf.Tensor:
  """One SimCLR pretraining view of `image`: float32 [height, width, 3] in [0, 1].

  In order: random resized crop (bicubic), flip (p 0.5), colour jitter (p 0.8, strength
  `color_jitter_strength`), grayscale (p 0.2), and, when `blur`, Gaussian blur (p 0.5,
  radius from `height`). Each step has its own sub-seed, split from `seed` the same way
  whether or not `blur` is on, so switching blur off changes nothing else.

  Args:
    image: uint8 [H, W, C] with C = 1 or 3 (static).
    seed: shape-[2] integer tensor; the same seed gives the same view.
  """
  seed_crop, seed_flip, seed_jitter, seed_gray, seed_blur = _split(seed, 5)
  view = random_resized_crop(image, seed_crop, height=height, width=width,
                             area_range=crop_area_range)
  # Grayscale sources become 3-channel after the resize, where it is cheapest.
  view = _to_rgb(view)
  view = random_flip(view, seed_flip)
  view = random_color_jitter(view, seed_jitter, strength=color_jitter_strength)
  view = random_grayscale(view, seed_gray)
  if blur:
    view = random_blur(view, seed_blur, side=height)
  # The grayscale weights and the blur kernel sum to 1 only up to round-off.
  view = tf.clip_by_value(view, 0.0, 1.0)
  return tf.ensure_shape(view, [height, width, 3])


def finetune_view(image: tf.Tensor, seed, *, height: int, width: int) -> tf.Tensor:
  """Linear-eval / fine-tuning training view: random resized crop and flip only."""
  seed_crop, seed_flip = _split(seed, 2)
  view = _to_rgb(random_resized_crop(image, seed_crop, height=height, width=width))
  view = random_flip(view, seed_flip)
  return tf.ensure_shape(view, [height, width, 3])


def eval_view(image: tf.Tensor, *, height: int, width: int) -> tf.Tensor:
  """Evaluation view: central crop of 87.5% of the shorter side, then bicubic resize.

  The crop keeps the target's aspect ratio. Targets of side <= 32 are not cropped
  (as in the paper's CIFAR evaluation): the whole image is resized.
  """
  image = _to_float(image)
  if min(height, width) > EVAL_NO_CROP_MAX_SIDE:
    shape = tf.cast(tf.shape(image), tf.float32)
    scale = EVAL_CROP_PROPORTION * tf.minimum(shape[0] / height, shape[1] / width)
    crop_h = tf.cast(tf.round(scale * height), tf.int32)
    crop_w = tf.cast(tf.round(scale * width), tf.int32)
    offset_y = (tf.shape(image)[0] - crop_h) // 2
    offset_x = (tf.shape(image)[1] - crop_w) // 2
    channels = image.shape[-1]
    image = tf.slice(image, [offset_y, offset_x, 0], [crop_h, crop_w, -1])
    image.set_shape([None, None, channels])
  view = _to_rgb(_resize(image, height, width))
  return tf.ensure_shape(view, [height, width, 3])
