"""Draw a grid of pretraining views, to check the augmentations of a config by eye.

Each row is one source image (first column, at its stored resolution) followed by
independent `pretrain_view`s of it, made with the config's image_size,
color_jitter_strength and blur and seeded as the pretraining pipeline seeds them.

  python -m simclr_jax.tools.show_augmentations --config=configs/fashion_mnist.py \\
      --out=grid.png [--config.color_jitter_strength=1.0] [--num_images=6]
"""

from __future__ import annotations

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.",
                                          lock_config=True)
_OUT = flags.DEFINE_string("out", "augmentations.png", "Where to write the PNG grid.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 6, "Source images (rows).")
_NUM_VIEWS = flags.DEFINE_integer("num_views", 8, "Augmented views per image.")
_SPLIT = flags.DEFINE_string("split", "train", "Dataset split to draw images from.")


def pick_examples(labels, num_images: int) -> list[int]:
  """Indices of the first example of each class, in order, then the next ones."""
  first = {}
  for i, label in enumerate(labels):
    first.setdefault(int(label), i)
    if len(first) == num_images:
      break
  chosen = sorted(first.values())
  rest = [i for i in range(len(labels)) if i not in set(chosen)]
  return (chosen + rest)[:num_images]


def augmentation_grid(config, split, *, num_images: int, num_views: int):
  """(sources, views, labels): uint8 source images, float32 [num_views, S, S, 3] each."""
  import tensorflow as tf

  from simclr_jax.data import augment
  from simclr_jax.data import pipeline

  sources, views, labels = [], [], []
  for row, index in enumerate(pick_examples(split.labels, num_images)):
    image, label = split.read_example(index)
    row_views = [augment.pretrain_view(
        tf.constant(image),
        pipeline.augmentation_seed(config.seed, pipeline.PRETRAIN_PURPOSE, 0, row, v),
        height=config.image_size, width=config.image_size,
        color_jitter_strength=config.color_jitter_strength, blur=config.blur).numpy()
                 for v in range(num_views)]
    sources.append(image)
    views.append(row_views)
    labels.append(label)
  return sources, views, labels


def draw_grid(sources, views, labels, class_names, title: str, out: str) -> None:
  """Save the grid as a PNG: sources in the first column, views to their right."""
  import matplotlib
  matplotlib.use("Agg")  # files only; no display needed
  import matplotlib.pyplot as plt

  rows, cols = len(sources), 1 + len(views[0])
  fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows + 0.4),
                           squeeze=False)
  for r in range(rows):
    source = sources[r]
    gray = source.shape[-1] == 1
    axes[r, 0].imshow(source[..., 0] if gray else source, cmap="gray" if gray else None,
                      vmin=0, vmax=255)
    name = class_names[labels[r]] if class_names else str(labels[r])
    axes[r, 0].set_title(f"{name}", fontsize=7)
    for c, view in enumerate(views[r], start=1):
      axes[r, c].imshow(view, vmin=0, vmax=1)
      if r == 0:
        axes[r, c].set_title(f"view {c}", fontsize=7)
  for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
  fig.suptitle(title, fontsize=8)
  fig.tight_layout()
  fig.savefig(out, dpi=120)
  plt.close(fig)


def main(argv):
  del argv
  from simclr_jax.data import datasets

  config = _CONFIG.value
  if config is None:
    raise app.UsageError("--config=configs/NAME.py is required.")
  split = datasets.get_dataset(config.dataset, _SPLIT.value,
                               data_dir=config.get("data_dir", "") or None,
                               **dict(config.get("dataset_options", None) or {}))
  sources, views, labels = augmentation_grid(config, split, num_images=_NUM_IMAGES.value,
                                             num_views=_NUM_VIEWS.value)
  title = (f"{config.dataset}/{_SPLIT.value}: pretrain views at {config.image_size}px, "
           f"colour jitter {config.color_jitter_strength}, blur {config.blur}")
  draw_grid(sources, views, labels, split.class_names, title, _OUT.value)
  print(f"wrote {_OUT.value}: {len(sources)} images x {len(views[0])} views")


if __name__ == "__main__":
  app.run(main)
