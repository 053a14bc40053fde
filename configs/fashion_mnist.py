"""SimCLR on Fashion-MNIST: the offline demo and CI dataset.

The 28x28 grayscale images are upsampled to 32x32 (three equal channels), where the
CIFAR stem is used; augmentations as for CIFAR-10 in the paper (colour strength 0.5,
no blur). Data come from the IDX files of Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist), or --config.data_dir.

  python -m simclr_jax.main --config=configs/fashion_mnist.py --workdir=/tmp/fmnist
  python -m simclr_jax.tools.show_augmentations --config=configs/fashion_mnist.py \\
      --out=grid.png
"""

from simclr_jax.config import base_config


def get_config():
  """Fashion-MNIST at 32x32, colour jitter 0.5, no blur."""
  config = base_config()
  config.dataset = "fashion_mnist"
  config.image_size = 32
  config.color_jitter_strength = 0.5
  config.blur = False
  return config
