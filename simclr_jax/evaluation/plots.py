"""Pictures of a run: training curves from metrics.jsonl and a 2-D map of h."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simclr_jax.metrics import read_metrics  # noqa: E402

CURVES = (("loss", "NT-Xent loss"), ("contrastive_accuracy", "contrastive top-1"),
          ("online_probe_accuracy", "online linear probe top-1 (train batches)"),
          ("learning_rate", "learning rate"))


def plot_curves(workdir: str, out: str | None = None) -> str:
  """workdir/plots/curves.png: each logged scalar of CURVES against step."""
  records = read_metrics(os.path.join(workdir, "metrics.jsonl"))
  if not records:
    raise FileNotFoundError(f"no metrics in {workdir}/metrics.jsonl; pretrain first.")
  panels = [(k, title) for k, title in CURVES if any(k in r for r in records)]
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
  for ax, (key, title) in zip(np.atleast_1d(axes), panels):
    steps = [r["step"] for r in records if r.get(key) is not None]
    ax.plot(steps, [r[key] for r in records if r.get(key) is not None], lw=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  fig.tight_layout()
  out = out or os.path.join(workdir, "plots", "curves.png")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out


def plot_embeddings(h: np.ndarray, labels: np.ndarray, out: str, *,
                    class_names=None, max_points: int = 2000, seed: int = 0,
                    title: str = "t-SNE of h (test set)") -> str:
  """A t-SNE map of (a seeded subset of) h, coloured by label."""
  from sklearn.manifold import TSNE

  rng = np.random.default_rng(seed)
  pick = rng.permutation(len(h))[:max_points]
  points = TSNE(n_components=2, init="pca", perplexity=30, random_state=seed).fit_transform(
      np.asarray(h[pick], np.float64))
  fig, ax = plt.subplots(figsize=(6.5, 6))
  classes = np.unique(labels[pick])
  cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
  for i, c in enumerate(classes):
    sel = labels[pick] == c
    name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
    ax.scatter(points[sel, 0], points[sel, 1], s=4, color=cmap(i % cmap.N), label=name)
  ax.legend(markerscale=3, fontsize=7, loc="best")
  ax.set_title(title, fontsize=10)
  ax.set_xticks([])
  ax.set_yticks([])
  fig.tight_layout()
  os.makedirs(os.path.dirname(out), exist_ok=True)
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out
