"""ResNet v1 encoders and the projection head: sizes, stems, initialisation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simclr_jax.config import base_config
from simclr_jax.models import ProjectionHead, ResNet, SimCLRModel, create_model
from simclr_jax.models.resnet import Conv, conv_as_matmul, max_pool


def lax_conv(x, kernel, strides):
  return jax.lax.conv_general_dilated(x, kernel, strides, "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def param_count(module, image_size):
  variables = jax.eval_shape(lambda: module.init(
      jax.random.key(0), jnp.zeros((1, image_size, image_size, 3)), train=False))
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_resnet50_parameter_count():
  # The standard ResNet-50 (25,557,032) minus its 1000-way classifier (2,049,000).
  assert param_count(ResNet(depth=50), 224) == 23_508_032


def test_resnet18_parameter_count():
  # The standard ResNet-18 (11,689,512) minus its 1000-way classifier (513,000).
  assert param_count(ResNet(depth=18), 224) == 11_176_512


@pytest.mark.parametrize("depth,width,h_dim", [(18, 0.125, 64), (50, 0.0625, 128),
                                               (34, 0.125, 64)])
def test_representation_size(depth, width, h_dim):
  model = ResNet(depth=depth, width_multiplier=width, cifar_stem=True)
  x = jnp.ones((2, 16, 16, 3))
  variables = model.init(jax.random.key(0), x, train=False)
  h = model.apply(variables, x, train=False)
  assert h.shape == (2, h_dim) and h.dtype == jnp.float32


@pytest.mark.parametrize("cifar_stem,size,first_stage", [(True, 32, 32), (False, 64, 16)])
def test_stems(cifar_stem, size, first_stage):
  model = ResNet(depth=18, width_multiplier=0.125, cifar_stem=cifar_stem)
  x = jnp.ones((1, size, size, 3))
  variables = model.init(jax.random.key(0), x, train=False)
  _, state = model.apply(variables, x, train=False, capture_intermediates=True,
                         mutable=["intermediates"])
  out = state["intermediates"]["stage1_block1"]["__call__"][0]
  assert out.shape == (1, first_stage, first_stage, 8)
  stem = variables["params"]["stem_conv"]["kernel"]
  assert stem.shape == ((3, 3, 3, 8) if cifar_stem else (7, 7, 3, 8))


@pytest.mark.parametrize("depth", [18, 50])
def test_last_batchnorm_scale_of_every_block_starts_at_zero(depth):
  model = ResNet(depth=depth, width_multiplier=0.0625, cifar_stem=True)
  params = model.init(jax.random.key(0), jnp.ones((1, 16, 16, 3)), train=False)["params"]
  blocks = [k for k in params if k.startswith("stage")]
  assert len(blocks) == sum({18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth])
  last_bn = "BatchNorm_1" if depth == 18 else "BatchNorm_2"
  for name in blocks:
    block = params[name]
    norms = sorted(k for k in block if k.startswith("BatchNorm"))
    assert norms[-1] == last_bn
    for bn in norms:
      want = 0.0 if bn == last_bn else 1.0
      np.testing.assert_array_equal(np.asarray(block[bn]["scale"]), want, err_msg=name)
    if "proj_bn" in block:
      np.testing.assert_array_equal(np.asarray(block["proj_bn"]["scale"]), 1.0)
  assert not any("bias" in p for blk in blocks for k, p in params[blk].items()
                 if k.startswith("Conv") or k == "proj_conv")


def test_projection_heads():
  h = jnp.ones((4, 32))
  for layers in (2, 3):
    head = ProjectionHead(num_layers=layers, proj_dim=16)
    variables = head.init(jax.random.key(0), h, train=False)
    params = variables["params"]
    assert sorted(k for k in params if k.startswith("dense")) == [
        f"dense{i + 1}" for i in range(layers)]
    for i in range(layers):
      last = i == layers - 1
      assert params[f"dense{i + 1}"]["kernel"].shape == (32, 16 if last else 32)
      assert "bias" not in params[f"dense{i + 1}"]
      assert ("bias" in params[f"bn{i + 1}"]) == (not last)
    kernel = np.asarray(params["dense1"]["kernel"])
    assert 0.005 < kernel.std() < 0.015
    z = head.apply(variables, h, train=False)
    assert z.shape == (4, 16)


def test_create_model_picks_the_stem_and_returns_h_and_z():
  config = base_config()
  config.depth, config.width_multiplier, config.image_size = 18, 0.125, 32
  model = create_model(config)
  assert isinstance(model, SimCLRModel) and model.cifar_stem
  x = jnp.ones((2, 32, 32, 3))
  variables = model.init(jax.random.key(0), x, train=False)
  h, z, logits = model.apply(variables, x, train=False)
  assert h.shape == (2, 64) and z.shape == (2, 128) and logits is None
  config.image_size = 64
  assert not create_model(config).cifar_stem


@pytest.mark.parametrize("field,value", [("depth", 42), ("width_multiplier", 0.01),
                                         ("dtype", "float16")])
def test_bad_model_settings_name_the_field(field, value):
  config = base_config()
  config[field] = value
  with pytest.raises(ValueError, match=field):
    create_model(config)


def test_stem_can_be_chosen_explicitly():
  config = base_config()
  config.depth, config.width_multiplier, config.image_size = 18, 0.125, 32
  assert create_model(config).cifar_stem
  config.stem = "imagenet"
  assert not create_model(config).cifar_stem
  config.image_size, config.stem = 96, "cifar"
  assert create_model(config).cifar_stem


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 8])
@pytest.mark.parametrize("kernel_size", [1, 3, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_as_matmul_equals_xla_convolution(size, kernel_size, stride):
  x = jax.random.normal(jax.random.key(0), (3, size, size + 1, 5))
  kernel = jax.random.normal(jax.random.key(1), (kernel_size, kernel_size, 5, 4))
  got = conv_as_matmul(x, kernel, (stride, stride))
  want = lax_conv(x, kernel, (stride, stride))
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size,kernel_size,stride", [(2, 3, 1), (7, 3, 1), (7, 3, 2),
                                                     (4, 1, 2), (14, 7, 2)])
def test_conv_module_and_its_gradients_match_xla_convolution(size, kernel_size, stride):
  # Each of these shapes takes one of the module's two paths on CPU.
  conv = Conv(6, (kernel_size, kernel_size), (stride, stride))
  x = jax.random.normal(jax.random.key(0), (2, size, size, 4))
  params = conv.init(jax.random.key(1), x)["params"]
  assert params["kernel"].shape == (kernel_size, kernel_size, 4, 6)
  target = jax.random.normal(jax.random.key(2), lax_conv(x, params["kernel"],
                                                         (stride, stride)).shape)

  def loss(apply, x, kernel):
    return jnp.sum(apply(x, kernel) * target)

  got = jax.grad(loss, (1, 2))(lambda x, k: conv.apply({"params": {"kernel": k}}, x),
                               x, params["kernel"])
  want = jax.grad(loss, (1, 2))(lambda x, k: lax_conv(x, k, (stride, stride)),
                                x, params["kernel"])
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [1, 2, 7, 14])
def test_max_pool_equals_flax_max_pool_and_its_gradient_after_relu(size):
  x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
  np.testing.assert_array_equal(max_pool(x, 3, 2),
                                nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME"))
  target = jax.random.normal(jax.random.key(1), max_pool(x, 3, 2).shape)
  grads = [jax.grad(lambda x: jnp.sum(pool(jax.nn.relu(x)) * target))(x)
           for pool in (lambda y: max_pool(y, 3, 2),
                        lambda y: nn.max_pool(y, (3, 3), strides=(2, 2), padding="SAME"))]
  np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
