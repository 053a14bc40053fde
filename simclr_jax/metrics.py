"""Where a run reports: metrics.jsonl, TensorBoard events and a progress line.

Only process 0 writes files, so a multi-host run keeps one copy of each.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import jax


class MetricWriter:
  """Appends one JSON object per logged step to workdir/metrics.jsonl and mirrors the
  scalars to TensorBoard under workdir/tb/."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if self.enabled:
      import tensorflow as tf  # the input pipeline imports it anyway
      self._tf = tf
      self._tb = tf.summary.create_file_writer(os.path.join(workdir, "tb"))

  def drop_after(self, step: int) -> None:
    """Forget records past `step`: a resumed run recomputes them from its checkpoint."""
    if not self.enabled or not os.path.exists(self.path):
      return
    kept = [r for r in read_metrics(self.path) if r["step"] <= step]
    with open(self.path + ".tmp", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(self.path + ".tmp", self.path)

  def write(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _plain(v) for k, v in scalars.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    with self._tb.as_default(step=int(step)):
      for k, v in record.items():
        if k != "step" and isinstance(v, (int, float)):
          self._tf.summary.scalar(k, v)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.flush()
      self._tb.close()


def _plain(value):
  value = jax.device_get(value)
  return value.item() if hasattr(value, "item") else value


def read_metrics(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
  """images/s and ETA measured from the first completed step on, so that compile time
  (spent in the first call) never enters them."""

  def __init__(self, total_steps: int, global_batch: int, stream=sys.stdout):
    self.total_steps = total_steps
    self.global_batch = global_batch
    self.stream = stream
    self._start_step = None
    self._start_time = None
    self._window = None

  def started(self, step: int) -> None:
    """Call once the step that ends at `step` has completed (compile done)."""
    self._start_step, self._start_time = step, time.perf_counter()
    self._window = (step, self._start_time)

  def images_per_sec(self, step: int) -> float | None:
    """Throughput since the last call (or since `started`)."""
    if self._window is None or step <= self._window[0]:
      return None
    now = time.perf_counter()
    rate = (step - self._window[0]) * self.global_batch / (now - self._window[1])
    self._window = (step, now)
    return rate

  def eta(self, step: int) -> float:
    if self._start_time is None or step <= self._start_step:
      return math.inf
    per_step = (time.perf_counter() - self._start_time) / (step - self._start_step)
    return per_step * (self.total_steps - step)

  def report(self, step: int, epoch: float, scalars: dict,
             images_per_sec: float | None) -> None:
    if jax.process_index() != 0:
      return
    parts = [f"step {step}/{self.total_steps}", f"epoch {epoch:.2f}"]
    parts += [f"{k} {v:.4g}" for k, v in scalars.items() if isinstance(v, float)]
    if images_per_sec is not None:
      parts.append(f"{images_per_sec:.1f} img/s")
    parts.append(f"ETA {format_duration(self.eta(step))}")
    print(" | ".join(parts), file=self.stream, flush=True)
