"""SimCLR on CIFAR-10 with ResNet-18: the smaller recipe of the official SimCLR code.

  python -m simclr_jax.main --config=configs/cifar10_resnet18.py --workdir=DIR \\
      --config.data_dir=/path/to/tensorflow_datasets

Hardware: a single GPU is enough (global batch 512); a few hours per 100 epochs on one
A100. CIFAR-10 must be prepared for TFDS beforehand.

Target: about 91% linear-evaluation top-1 after 1000 epochs (the figure the official
code reports for this recipe). See REPRODUCING.md for what has been measured here.
"""

from simclr_jax.config import base_config


def get_config():
  config = base_config()
  config.dataset = "cifar10"
  config.image_size = 32
  config.batch_size = 512
  config.num_epochs = 1000
  config.warmup_epochs = 10
  config.optimizer = "lars"
  config.learning_rate = 1.0  # x 512/256 = 2.0 peak
  config.learning_rate_scaling = "linear"
  config.weight_decay = 1e-4
  config.temperature = 0.5
  config.depth = 18
  config.width_multiplier = 1.0
  config.num_proj_layers = 2
  config.color_jitter_strength = 0.5
  config.blur = False
  # Linear evaluation as in the paper: crop + flip views through the frozen encoder.
  config.linear_fast_path = False
  config.linear_epochs = 100
  config.linear_batch_size = 512
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
