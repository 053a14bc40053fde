"""Augmentations: the SimCLR ranges and probabilities, measured over many seeded draws."""

import numpy as np
import pytest
import tensorflow as tf

from simclr_jax.data import augment

N_DRAWS = 2000


def _draws(fn, n: int = N_DRAWS) -> np.ndarray:
  """fn(seed) for seeds [i, 12345], i < n, mapped in parallel by tf.data, stacked."""
  ds = tf.data.Dataset.range(n).map(
      lambda i: fn(tf.stack([i, tf.constant(12345, tf.int64)])),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return next(iter(ds.batch(n))).numpy()


def _gradient_image(height: int = 40, width: int = 40) -> tf.Tensor:
  """A saturated orange whose brightness grows from left to right.

  Every pixel has the same hue and saturation, so brightness, contrast, saturation and
  hue changes keep the left-to-right growth (only its rate changes) and never make the
  channels equal (saturation >= 0.8 * 0.6): equal channels mean the grayscale step ran,
  and a brightness that falls from left to right means the flip did.
  """
  value = np.linspace(0.2, 0.75, width)[None, :, None]
  colour = np.array([1.0, 0.5, 0.2])[None, None, :]
  image = np.broadcast_to(value * colour * 255, (height, width, 3))
  return tf.constant(np.round(image).astype(np.uint8))


def _is_gray(views: np.ndarray) -> np.ndarray:
  return ((views[..., 0] == views[..., 1]) & (views[..., 1] == views[..., 2])).all(axis=(1, 2))


def _is_flipped(views: np.ndarray) -> np.ndarray:
  profile = views.mean(axis=(1, 3))  # [n, width]
  x = np.arange(profile.shape[1]) - (profile.shape[1] - 1) / 2
  return (profile - profile.mean(axis=1, keepdims=True)) @ x < 0


@pytest.fixture(scope="module")
def pretrain_draws():
  image = _gradient_image()
  return _draws(lambda s: augment.pretrain_view(
      image, s, height=32, width=32, color_jitter_strength=0.5, blur=False))


def test_pretrain_view_shape_dtype_range(pretrain_draws):
  assert pretrain_draws.shape == (N_DRAWS, 32, 32, 3)
  assert pretrain_draws.dtype == np.float32
  assert pretrain_draws.min() >= 0.0 and pretrain_draws.max() <= 1.0


def test_grayscale_probability(pretrain_draws):
  assert abs(_is_gray(pretrain_draws).mean() - 0.2) <= 0.04


def test_flip_probability(pretrain_draws):
  assert abs(_is_flipped(pretrain_draws).mean() - 0.5) <= 0.05


def test_flip_detection_is_exact_without_jitter():
  # Guards the detector used above: with strength 0 the only changes are crop, flip and
  # grayscale, and the detected flips must match what the flip step alone does.
  image = _gradient_image()
  views = _draws(lambda s: augment.pretrain_view(
      image, s, height=32, width=32, color_jitter_strength=0.0, blur=False), n=400)
  ones = tf.ones([2, 2, 3])
  flips = _draws(lambda s: augment.random_flip(
      tf.constant([[[0.0] * 3, [1.0] * 3]] * 2) * ones,
      tf.random.experimental.stateless_split(s, 5)[1])[0, 0, 0], n=400) > 0.5
  np.testing.assert_array_equal(_is_flipped(views), flips)


def test_colour_jitter_is_applied_with_probability_point_eight(pretrain_draws):
  # Crop and flip keep the set of colours of a constant-hue image; a changed red/green
  # ratio means jitter or grayscale ran: P = 1 - 0.2 * 0.8 = 0.84.
  del pretrain_draws
  image = tf.constant(np.full((16, 16, 3), [200, 100, 40], np.uint8))
  views = _draws(lambda s: augment.pretrain_view(
      image, s, height=16, width=16, color_jitter_strength=0.5, blur=False), n=1000)
  changed = np.abs(views - np.array([200, 100, 40]) / 255).max(axis=(1, 2, 3)) > 1e-4
  assert abs(changed.mean() - 0.84) <= 0.04


def _noise_image(side: int = 40) -> tf.Tensor:
  """Random colours: no two crops of it look alike, and blurring always changes it."""
  rng = np.random.default_rng(0)
  return tf.constant(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def test_same_seed_same_view_different_seed_different_view(pretrain_draws):
  kwargs = dict(height=32, width=32, color_jitter_strength=0.5, blur=True)
  seed = tf.constant([7, 12345], tf.int64)
  a = augment.pretrain_view(_noise_image(), seed, **kwargs).numpy()
  b = augment.pretrain_view(_noise_image(), seed, **kwargs).numpy()
  np.testing.assert_array_equal(a, b)
  # Eager and tf.data (graph) runs of the same seed agree too.
  np.testing.assert_array_equal(pretrain_draws[7], augment.pretrain_view(
      _gradient_image(), seed, height=32, width=32, color_jitter_strength=0.5,
      blur=False).numpy())
  views = _draws(lambda s: augment.pretrain_view(_noise_image(), s, **kwargs), n=1000)
  assert len({v.tobytes() for v in views}) == 1000


def test_grayscale_source_gives_three_channels():
  image = tf.constant(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28, 1))
  view = augment.pretrain_view(image, tf.constant([1, 2]), height=32, width=32,
                               color_jitter_strength=0.5, blur=False)
  assert view.shape == (32, 32, 3) and view.dtype == tf.float32


@pytest.mark.parametrize("shape", [(28, 28), (32, 32), (224, 224), (375, 500)])
def test_crop_window_ranges(shape):
  boxes = _draws(lambda s: augment.random_resized_crop_window(shape, s))
  y, x, h, w = boxes.T.astype(np.float64)
  assert (y >= 0).all() and (x >= 0).all()
  assert (y + h <= shape[0]).all() and (x + w <= shape[1]).all()
  area = h * w / (shape[0] * shape[1])
  assert area.min() >= 0.08 and area.max() <= 1.0
  whole = (h == shape[0]) & (w == shape[1])
  ratio = w / h
  assert ((ratio >= 3 / 4) & (ratio <= 4 / 3) | whole).all()
  # The whole range is used, not a corner of it.
  assert area.min() < 0.15 and area.max() > 0.85
  if shape[0] == shape[1]:
    # Square images reject few candidates, so the area is close to uniform.
    assert np.median(area) == pytest.approx(0.54, abs=0.08)


def test_crop_window_falls_back_to_whole_image():
  # A 1x100 strip has no window of aspect 3/4..4/3 covering 8% of it.
  box = augment.random_resized_crop_window([1, 100, 3], tf.constant([3, 4]))
  np.testing.assert_array_equal(box.numpy(), [0, 0, 1, 100])


@pytest.mark.parametrize("side,radius", [(224, 11), (96, 4), (64, 3), (32, 1), (19, 0)])
def test_blur_kernel_radius(side, radius):
  assert augment.blur_kernel_radius(side) == radius


@pytest.mark.parametrize("side", [64, 224])
def test_gaussian_blur_impulse_has_the_kernel_support(side):
  r = augment.blur_kernel_radius(side)
  impulse = np.zeros((side, side, 3), np.float32)
  impulse[side // 2, side // 2] = 1.0
  out = augment.gaussian_blur(tf.constant(impulse), 2.0, radius=r).numpy()
  rows, cols = np.nonzero(out[..., 0] > 0)
  assert rows.min() == side // 2 - r and rows.max() == side // 2 + r
  assert cols.min() == side // 2 - r and cols.max() == side // 2 + r
  np.testing.assert_allclose(out.sum(axis=(0, 1)), 1.0, rtol=1e-5)
  np.testing.assert_allclose(out[..., 0], out[..., 0].T, atol=1e-7)  # isotropic
  np.testing.assert_allclose(out[..., 0], out[..., 2])  # same kernel per channel


def test_gaussian_blur_keeps_flat_images_flat():
  flat = tf.fill([40, 40, 3], 0.3)
  np.testing.assert_allclose(augment.gaussian_blur(flat, 2.0, radius=5).numpy(), 0.3,
                             atol=1e-6)


def test_random_blur_probability_and_sigma_range():
  impulse = np.zeros((64, 64, 3), np.float32)
  impulse[32, 32] = 1.0
  peaks = _draws(lambda s: augment.random_blur(tf.constant(impulse), s, side=64)[32, 32, 0],
                 n=1000)
  blurred = peaks < 1.0
  assert abs(blurred.mean() - 0.5) <= 0.05
  # sigma in [0.1, 2.0]: the centre tap of the normalised 7-tap kernel, squared (2-D).
  def centre(sigma):
    k = np.exp(-np.arange(-3, 4) ** 2 / (2 * sigma**2))
    return (k[3] / k.sum()) ** 2
  assert peaks[blurred].min() >= centre(2.0) - 1e-6
  assert peaks[blurred].max() <= centre(0.1) + 1e-6


def test_blur_off_gives_no_blur():
  # The sub-seeds do not depend on `blur`, so with blur off a view equals the blur-on
  # view exactly when the blur coin came up tails (about half the time), and never
  # otherwise.
  image = _noise_image(64)
  def view(blur):
    return lambda s: augment.pretrain_view(image, s, height=64, width=64,
                                           color_jitter_strength=0.5, blur=blur)
  off, on = _draws(view(False), n=1000), _draws(view(True), n=1000)
  same = (off == on).all(axis=(1, 2, 3))
  assert abs(same.mean() - 0.5) <= 0.05
  # Blurring lowers the high-frequency energy of the views it changes.
  def energy(v):
    return np.abs(np.diff(v, axis=2)).mean(axis=(1, 2, 3))
  assert (energy(on[~same]) <= energy(off[~same]) + 1e-6).all()


def test_finetune_view_is_crop_and_flip_only():
  colour = np.array([200, 100, 40], np.uint8)
  image = tf.constant(np.broadcast_to(colour, (20, 20, 3)).copy())
  views = _draws(lambda s: augment.finetune_view(image, s, height=32, width=32), n=200)
  assert views.shape == (200, 32, 32, 3) and views.dtype == np.float32
  np.testing.assert_allclose(views, np.broadcast_to(colour / 255, views.shape), atol=1e-5)
  flips = _is_flipped(_draws(
      lambda s: augment.finetune_view(_gradient_image(), s, height=32, width=32), n=1000))
  assert abs(flips.mean() - 0.5) <= 0.05


def test_eval_view_small_images_are_resized_uncropped():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
  view = augment.eval_view(tf.constant(image), height=32, width=32).numpy()
  expected = tf.clip_by_value(tf.image.resize(
      tf.constant(image, tf.float32) / 255, [32, 32], method="bicubic"), 0, 1).numpy()
  assert view.shape == (32, 32, 3)
  np.testing.assert_allclose(view, np.repeat(expected, 3, axis=-1), atol=1e-6)


def test_eval_view_crops_the_central_seven_eighths():
  rng = np.random.default_rng(1)
  image = rng.integers(0, 256, (256, 300, 3), dtype=np.uint8)
  view = augment.eval_view(tf.constant(image), height=224, width=224).numpy()
  # 0.875 * 256 = 224: the central 224x224 window, resized to itself.
  centre = image[16:240, 38:262] / 255
  np.testing.assert_allclose(view, centre, atol=1e-5)


def test_show_augmentations_draws_a_grid(tmp_path):
  from simclr_jax import config as config_lib
  from simclr_jax.data import datasets
  from simclr_jax.tools import show_augmentations

  config = config_lib.base_config()
  split = datasets.get_dataset("synthetic", "train", num_train=12, image_size=24)
  sources, views, labels = show_augmentations.augmentation_grid(
      config, split, num_images=3, num_views=4)
  assert labels == [0, 1, 2]  # one image per class first
  assert len(views) == 3 and views[0][0].shape == (32, 32, 3)
  out = tmp_path / "grid.png"
  show_augmentations.draw_grid(sources, views, labels, split.class_names, "test", str(out))
  assert out.stat().st_size > 1000


def test_crop_min_area_narrows_the_crop_range():
  from simclr_jax.data.augment import random_resized_crop_window
  areas = []
  for i in range(300):
    box = random_resized_crop_window(tf.constant([28, 28, 1]), tf.constant([i, 7]),
                                     area_range=(0.5, 1.0)).numpy()
    areas.append(box[2] * box[3] / (28 * 28))
  assert min(areas) >= 0.5 - 1e-6 and max(areas) <= 1.0
