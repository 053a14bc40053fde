"""Throughput of the compiled SimCLR train step on the visible devices.

  python bench/step.py --depth 18 --image_size 32 --batch_per_device 32
  python bench/step.py --depth 50 --image_size 224 --batch_per_device 256 --dtype bfloat16

Times the jitted, sharded step alone (random views already on the devices, compile time
excluded and reported apart): several repetitions, median. Prints source images/s (each
image is two views), images/s per device, XLA's FLOP count per step and, where the
device's peak is known, the model FLOP utilisation; then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from simclr_jax.config import base_config
from simclr_jax.models import create_model
from simclr_jax.optim import create_optimizer
from simclr_jax.parallel import AXIS_NAME, batch_sharding, make_mesh
from simclr_jax.train import create_train_state, make_train_step

# Dense bf16 peak FLOP/s per device, from the vendors' spec sheets.
PEAK_BF16_FLOPS = {
    "NVIDIA H200": 989e12,
    "NVIDIA H100": 989e12,
    "NVIDIA H100 80GB HBM3": 989e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
}


def peak_flops(device) -> float | None:
  kind = device.device_kind
  if kind in PEAK_BF16_FLOPS:
    return PEAK_BF16_FLOPS[kind]
  for name, peak in PEAK_BF16_FLOPS.items():  # e.g. "NVIDIA H200 NVL" or "TPU v4 lite"
    if kind.startswith(name):
      return peak
  return None


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--depth", type=int, default=18)
  p.add_argument("--width_multiplier", type=float, default=1.0)
  p.add_argument("--image_size", type=int, default=32)
  p.add_argument("--stem", default="auto", choices=["auto", "cifar", "imagenet"])
  p.add_argument("--batch_per_device", type=int, default=32)
  p.add_argument("--num_devices", type=int, default=None, help="default: all visible")
  p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  p.add_argument("--optimizer", default="lars")
  p.add_argument("--warmup", type=int, default=2, help="untimed calls after compiling")
  p.add_argument("--repeats", type=int, default=5, help="timed calls")
  return p.parse_args()


def main():
  args = parse_args()
  mesh = make_mesh(args.num_devices)
  config = base_config()
  config.update(dict(depth=args.depth, width_multiplier=args.width_multiplier,
                     image_size=args.image_size, stem=args.stem, dtype=args.dtype,
                     optimizer=args.optimizer, num_steps=1000, warmup_epochs=0,
                     batch_size=args.batch_per_device * mesh.size))
  tx, schedule = create_optimizer(config, steps_per_epoch=100)
  state = create_train_state(config, create_model(config, AXIS_NAME), tx, mesh)
  step = make_train_step(config, mesh, tx, schedule)
  shape = (config.batch_size, 2, args.image_size, args.image_size, 3)
  batch = {"views": jax.device_put(jax.random.uniform(jax.random.key(0), shape),
                                   batch_sharding(mesh))}
  rng = jax.random.key(1)

  t0 = time.perf_counter()
  compiled = step.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  # XLA reports the FLOPs of one device's program under SPMD partitioning.
  flops_per_device = float(cost.get("flops", 0.0)) if cost else 0.0

  for _ in range(args.warmup):
    state, metrics = compiled(state, batch, rng)
  jax.block_until_ready(state)
  times = []
  for _ in range(args.repeats):
    t0 = time.perf_counter()
    state, metrics = compiled(state, batch, rng)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t0)
  step_s = statistics.median(times)

  device = jax.devices()[0]
  images_per_s = config.batch_size / step_s
  peak = peak_flops(device)
  mfu = flops_per_device / step_s / peak if peak and flops_per_device else None
  result = {
      "device": device.device_kind, "platform": device.platform,
      "num_devices": mesh.size, "depth": args.depth,
      "width_multiplier": args.width_multiplier, "image_size": args.image_size,
      "batch_per_device": args.batch_per_device, "global_batch": config.batch_size,
      "dtype": args.dtype, "compile_s": round(compile_s, 2),
      "step_s_median": step_s, "step_s_all": times,
      "images_per_s": images_per_s, "images_per_s_per_device": images_per_s / mesh.size,
      "flops_per_step_per_device": flops_per_device, "mfu": mfu,
      "loss": float(metrics["loss"]),
  }
  print(f"{device.device_kind} x{mesh.size}: ResNet-{args.depth} x{args.width_multiplier:g} "
        f"{args.image_size}px {args.dtype}, batch {args.batch_per_device}/device: "
        f"{images_per_s:.1f} images/s ({images_per_s / mesh.size:.1f} per device, two views "
        f"each), step {step_s * 1e3:.1f} ms (median of {len(times)}), compile "
        f"{compile_s:.1f} s, {flops_per_device / 1e9:.2f} GFLOP/step/device"
        + (f", MFU {mfu:.1%}" if mfu is not None else ", MFU n/a (peak unknown)"))
  print(json.dumps(result))


if __name__ == "__main__":
  main()
