"""A tiny SimCLR run for tests and smoke checks: seconds on 2 CPU cores.

  python -m simclr_jax.main --config=configs/tiny.py --workdir=/tmp/tiny

Fashion-MNIST at 16 px, an 8-channel ResNet-18, global batch 32, 6 steps. It checks that
everything runs end to end; it reaches no published number.
"""

from simclr_jax.config import base_config


def get_config():
  config = base_config()
  config.dataset = "fashion_mnist"
  config.image_size = 16
  config.batch_size = 32
  config.depth = 18
  config.width_multiplier = 0.125
  config.proj_dim = 16
  config.num_steps = 6
  config.warmup_epochs = 0
  config.learning_rate = 0.3
  config.temperature = 0.5
  config.log_every_steps = 1
  config.checkpoint_every_steps = 2
  return config
