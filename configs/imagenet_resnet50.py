"""SimCLR v1 on ImageNet: ResNet-50 (1x), the paper's main recipe (Chen et al. 2020).

  python -m simclr_jax.main --config=configs/imagenet_resnet50.py --workdir=DIR \\
      --config.data_dir=/path/to/tensorflow_datasets
  # the 1000-epoch run behind the headline number:
  ...  --config.num_epochs=1000
  # wider encoders: --config.width_multiplier=2 (or 4)

Hardware: meant for a TPU v3-128 pod slice or 32+ GPUs of 40 GB or more (global batch
4096 = 16 per TPU core, or 128 per GPU); launch/ has the multi-host scripts. ImageNet
must be prepared for TFDS by hand (imagenet2012, manual download).

Targets, from the paper (linear evaluation, top-1): ResNet-50 1x 69.3% after 1000
epochs (64-65% after 100 epochs at this batch, paper Fig. 9); 2x 74.2%, 4x 76.5%.
See REPRODUCING.md for what has been measured with this code.
"""

from simclr_jax.config import base_config


def get_config():
  config = base_config()
  config.dataset = "imagenet2012"
  config.eval_split = "validation"
  config.image_size = 224
  config.batch_size = 4096
  config.num_epochs = 100
  config.warmup_epochs = 10
  config.optimizer = "lars"
  config.learning_rate = 0.3  # x 4096/256 = 4.8 peak
  config.learning_rate_scaling = "linear"
  config.weight_decay = 1e-6
  config.momentum = 0.9
  config.temperature = 0.1
  config.depth = 50
  config.width_multiplier = 1.0
  config.num_proj_layers = 2
  config.proj_dim = 128
  config.color_jitter_strength = 1.0
  config.blur = True
  config.global_bn = True
  config.dtype = "bfloat16"
  # Linear evaluation as in the paper: crop + flip views through the frozen encoder.
  config.linear_fast_path = False
  config.linear_epochs = 90
  config.linear_batch_size = 4096
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2500
  return config
