"""SimCLR on Fashion-MNIST: the CPU demo, and the dataset CI uses.

  python -m simclr_jax.main --config=configs/fashion_mnist.py --workdir=runs/fashion_mnist
  python -m simclr_jax.tools.show_augmentations --config=configs/fashion_mnist.py \\
      --out=grid.png

Hardware: 2 CPU cores are enough: about 13 minutes there, pretraining and evaluation
together. The 28x28 grayscale images are upsampled to 32x32 (three equal channels);
augmentations as for CIFAR-10 in the paper (colour strength 0.5, no blur). The encoder
is a ResNet-18 at half width behind the strided ImageNet stem, so that h has 256
dimensions and it still trains at about 250 images/s on 2 cores. Data come from the IDX
files of Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), or
--config.data_dir.

After pretraining (mode pretrain_eval) it evaluates the final checkpoint: linear probe
and weighted k-NN on h over the 10,000 test images, the same two protocols on raw pixels
and on a randomly initialised encoder, then prints one table.

Target: none published. Measured with this config on 2 CPU cores (12m51s in all, 8m35s
of pretraining): loss 5.72 -> 3.73 over 469 steps; linear 84.13%, k-NN 78.82% (raw
pixels 84.27% / 78.85%, random-init encoder 34.25% / 39.44%). Longer runs:
--config.num_epochs=20.
"""

from simclr_jax.config import base_config


def get_config():
  """Fashion-MNIST at 32x32, a half-width ResNet-18, 2 epochs, then evaluation."""
  config = base_config()
  config.dataset = "fashion_mnist"
  config.image_size = 32
  config.color_jitter_strength = 0.5
  config.blur = False
  config.depth = 18
  # The strided ImageNet stem on 32 px inputs: 4x fewer positions than the CIFAR stem,
  # which pays for 4x the width (h of 256 dimensions) at the same speed on a CPU.
  config.stem = "imagenet"
  config.width_multiplier = 0.5
  config.batch_size = 256
  config.num_epochs = 2.0
  config.warmup_epochs = 0.2
  config.optimizer = "lars"
  config.learning_rate = 1.0  # x 256/256: peak 1.0
  config.weight_decay = 1e-6
  config.temperature = 0.2  # learned faster than 0.5 in 1-epoch trials
  config.log_every_steps = 25
  config.mode = "pretrain_eval"  # then linear probe, k-NN and baselines on the test set
  config.checkpoint_every_steps = 200
  return config
