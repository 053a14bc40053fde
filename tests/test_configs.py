"""Every shipped config loads, validates and documents its command and target; the command
line picks a CPU device count."""

import glob
import importlib.util
import os

import pytest

from simclr_jax import config as config_lib
from simclr_jax.optim import peak_learning_rate
from simclr_jax.parallel import cpu_device_count

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))


def load(path):
  spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_is_valid_and_documented(path):
  module = load(path)
  config = module.get_config()
  devices = 8 if config.batch_size % 8 == 0 else 1
  config_lib.validate_config(config, num_devices=devices)
  assert "python -m simclr_jax.main" in module.__doc__
  assert f"configs/{os.path.basename(path)}" in module.__doc__


def test_imagenet_recipe_matches_the_paper():
  config = load(os.path.join(REPO, "configs", "imagenet_resnet50.py")).get_config()
  assert (config.depth, config.width_multiplier, config.batch_size) == (50, 1.0, 4096)
  assert peak_learning_rate(config) == pytest.approx(4.8)
  assert (config.temperature, config.weight_decay, config.num_epochs,
          config.warmup_epochs) == (0.1, 1e-6, 100, 10)
  assert config.blur and config.color_jitter_strength == 1.0
  assert config.num_proj_layers == 2 and config.image_size == 224


def test_cifar_recipe_matches_the_paper():
  config = load(os.path.join(REPO, "configs", "cifar10_resnet50.py")).get_config()
  assert (config.batch_size, config.temperature, config.color_jitter_strength,
          config.blur, config.num_epochs) == (1024, 0.5, 0.5, False, 1000)
  assert config.image_size <= 32  # CIFAR stem


@pytest.mark.parametrize("requested,cores,xla_flags,expected", [
    (0, 2, "", 2), (0, 3, "", 2), (0, 6, "", 4), (0, 64, "", 8), (0, 1, "", 1),
    (0, None, "", None),
    (0, 16, "--xla_force_host_platform_device_count=8", None),  # XLA_FLAGS decides
    (3, 16, "--xla_force_host_platform_device_count=8", 3),  # the flag decides
])
def test_cpu_device_count(requested, cores, xla_flags, expected):
  assert cpu_device_count(requested, cores, xla_flags) == expected
