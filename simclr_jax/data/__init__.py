"""Input data: datasets by name (`datasets`), SimCLR augmentations (`augment`) and the
sharded batch iterators of training and evaluation (`pipeline`).

TensorFlow runs only the tf.data input pipeline here, so importing this package hides
the GPUs from it: their memory belongs to JAX.
"""

import tensorflow as tf


def hide_accelerators_from_tf() -> None:
  """Keep TF (used only for tf.data) off the GPUs, whose memory belongs to JAX."""
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:
    # TF's devices were initialised already (by an earlier TF call); nothing to undo.
    pass


hide_accelerators_from_tf()
