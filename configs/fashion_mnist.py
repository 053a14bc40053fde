"""SimCLR on Fashion-MNIST: the CPU demo, and the dataset CI uses.

  python -m simclr_jax.main --config=configs/fashion_mnist.py --workdir=runs/fashion_mnist
  python -m simclr_jax.tools.show_augmentations --config=configs/fashion_mnist.py \\
      --out=grid.png

Hardware: 2 CPU cores are enough; 2 epochs take about 10 minutes there. The 28x28
grayscale images are upsampled to 32x32 (three equal channels), where the CIFAR stem is
used; augmentations as for CIFAR-10 in the paper (colour strength 0.5, no blur). The
encoder is a ResNet-18 with 8 channels in its first stage (width_multiplier 0.125), so
that it trains at about 240 images/s on 2 cores. Data come from the IDX files of
Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), or
--config.data_dir.

After pretraining (mode pretrain_eval) it evaluates the final checkpoint: linear probe
and weighted k-NN on h over the 10,000 test images, the same two protocols on raw pixels
and on a randomly initialised encoder, then prints one table.

Target: none published. Measured with this config on 2 CPU cores: loss 5.67 -> 4.88 over
469 steps; linear 80.3%, k-NN 76.8% (raw pixels 84.4% / 79.2%, random-init encoder
38.5% / 45.0%). Longer runs: --config.num_epochs=20.
"""

from simclr_jax.config import base_config


def get_config():
  """Fashion-MNIST at 32x32, a small ResNet-18, 2 epochs."""
  config = base_config()
  config.dataset = "fashion_mnist"
  config.image_size = 32
  config.color_jitter_strength = 0.5
  config.blur = False
  config.depth = 18
  config.width_multiplier = 0.125
  config.batch_size = 256
  config.num_epochs = 2.0
  config.warmup_epochs = 0.2
  config.optimizer = "lars"
  config.learning_rate = 1.0  # x 256/256: peak 1.0
  config.weight_decay = 1e-6
  config.temperature = 0.5
  config.log_every_steps = 25
  config.mode = "pretrain_eval"  # then linear probe, k-NN and baselines on the test set
  config.checkpoint_every_steps = 200
  return config
