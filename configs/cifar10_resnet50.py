"""SimCLR v1 on CIFAR-10 with ResNet-50 and the CIFAR stem (paper appendix B.9).

  python -m simclr_jax.main --config=configs/cifar10_resnet50.py --workdir=DIR \\
      --config.data_dir=/path/to/tensorflow_datasets

Hardware: one 8-GPU node or a TPU v3-8 (global batch 1024 = 128 per device); about a
day on 8 A100s for 1000 epochs. CIFAR-10 must be prepared for TFDS beforehand (this
code never downloads).

Target, from the paper: 94.0% linear-evaluation top-1 after 1000 epochs. See
REPRODUCING.md for what has been measured with this code.
"""

from simclr_jax.config import base_config


def get_config():
  config = base_config()
  config.dataset = "cifar10"
  config.image_size = 32  # <= 32 px: CIFAR stem (3x3/1 conv, no max-pool)
  config.batch_size = 1024
  config.num_epochs = 1000
  config.warmup_epochs = 10
  config.optimizer = "lars"
  config.learning_rate = 1.0  # x 1024/256 = 4.0 peak
  config.learning_rate_scaling = "linear"
  config.weight_decay = 1e-6
  config.temperature = 0.5
  config.depth = 50
  config.width_multiplier = 1.0
  config.num_proj_layers = 2
  config.color_jitter_strength = 0.5
  config.blur = False
  config.dtype = "bfloat16"
  # Linear evaluation as in the paper: crop + flip views through the frozen encoder.
  config.linear_fast_path = False
  config.linear_epochs = 100
  config.linear_batch_size = 1024
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
