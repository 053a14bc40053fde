"""Throughput of the pretraining input pipeline, in source images per second.

Runs `simclr_jax.data.pipeline.pretrain_batches` (two views per image, global jax
arrays at the end) and counts source images, at two operating points:
  * 32x32: Fashion-MNIST when its IDX files are installed (synthetic uint8 arrays
    otherwise), colour strength 0.5, no blur, as in configs/fashion_mnist.py;
  * 224x224: synthetic 256x256 sources stored as JPEG, so decoding is included;
    colour strength 1.0 with blur, as for ImageNet.
tf.data runs on a private pool of --cores threads (all CPUs by default); the figure
per core is images/s divided by that number.

  python bench/input.py [--cores=2] [--seconds=20] [--sizes=32,224]

Prints one human-readable line per size, then one JSON line with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402

from simclr_jax import config as config_lib  # noqa: E402
from simclr_jax import parallel  # noqa: E402
from simclr_jax.data import datasets  # noqa: E402
from simclr_jax.data import pipeline  # noqa: E402


def source_for(size: int, num_jpeg: int):
  """(split, description) that the benchmark at `size` reads."""
  if size <= 32:
    try:
      return datasets.get_dataset("fashion_mnist", "train"), "fashion_mnist (IDX, uint8)"
    except datasets.DatasetNotFoundError:
      split = datasets.get_dataset("synthetic", "train", num_train=8192, image_size=28)
      return split, "synthetic 28x28 uint8"
  split = datasets.get_dataset("synthetic", "train", num_train=num_jpeg, image_size=256,
                               encoding="jpeg")
  return split, f"synthetic 256x256 JPEG ({num_jpeg} distinct images)"


def measure(split, *, size: int, batch_size: int, cores: int, seconds: float,
            warmup_batches: int) -> dict:
  """Images/s of `pretrain_batches` over `split` after `warmup_batches` batches."""
  config = config_lib.base_config()
  config.image_size = size
  config.batch_size = batch_size
  config.color_jitter_strength = 0.5 if size <= 32 else 1.0
  config.blur = size > 32
  config.data_threads = cores
  mesh = parallel.make_mesh(1)
  batches = pipeline.pretrain_batches(config, mesh, split=split)
  for _ in range(warmup_batches):
    jax.block_until_ready(next(batches))
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    jax.block_until_ready(next(batches))
    count += 1
  elapsed = time.perf_counter() - start
  images_per_sec = count * batch_size / elapsed
  return {"image_size": size, "batch_size": batch_size, "batches": count,
          "seconds": round(elapsed, 2), "images_per_sec": round(images_per_sec, 1),
          "images_per_sec_per_core": round(images_per_sec / cores, 1),
          "color_jitter_strength": config.color_jitter_strength, "blur": config.blur}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cores", type=int, default=os.cpu_count(),
                      help="tf.data threads (default: all CPUs)")
  parser.add_argument("--seconds", type=float, default=20.0,
                      help="measured time per size, after warm-up")
  parser.add_argument("--sizes", default="32,224", help="comma-separated image sizes")
  parser.add_argument("--batch_size_32", type=int, default=256)
  parser.add_argument("--batch_size_224", type=int, default=32)
  parser.add_argument("--warmup_batches", type=int, default=2)
  parser.add_argument("--num_jpeg", type=int, default=256,
                      help="distinct synthetic JPEG sources at 224")
  args = parser.parse_args()

  results = []
  for size in [int(s) for s in args.sizes.split(",")]:
    split, source = source_for(size, args.num_jpeg)
    batch_size = args.batch_size_32 if size <= 32 else args.batch_size_224
    result = measure(split, size=size, batch_size=batch_size, cores=args.cores,
                     seconds=args.seconds, warmup_batches=args.warmup_batches)
    result["source"] = source
    results.append(result)
    print(f"input pipeline {size}x{size} from {source}: "
          f"{result['images_per_sec']:.1f} images/s "
          f"({result['images_per_sec_per_core']:.1f} per core, {args.cores} cores; "
          f"2 views each, batch {batch_size}, {result['batches']} batches "
          f"in {result['seconds']} s)", flush=True)
  print(json.dumps({"bench": "input", "cores": args.cores,
                    "cpu_count": os.cpu_count(), "results": results}))


if __name__ == "__main__":
  main()
