"""The pretraining loop: config -> data -> sharded step -> checkpoints and metrics.

Resume order, in one place: the newest checkpoint in workdir/checkpoints, else a fresh
initialisation from config.seed. Because the data order, the augmentations and every
random key are functions of (seed, step), a resumed run computes exactly what an
uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import time

import jax
import jax.numpy as jnp

from simclr_jax import config as config_lib
from simclr_jax.checkpoints import Checkpoints
from simclr_jax.data import datasets, pipeline
from simclr_jax.metrics import MetricWriter, Progress, format_duration, read_metrics
from simclr_jax.models import create_model
from simclr_jax.optim import create_optimizer, num_train_steps
from simclr_jax.parallel import AXIS_NAME, make_mesh
from simclr_jax.train import create_train_state, make_train_step


class TrainingDivergedError(RuntimeError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class RunResult:
  status: str  # "finished" | "already_finished" | "preempted"
  step: int
  total_steps: int
  final_metrics: dict


class _SigtermFlag:
  """Turns SIGTERM (a preemption notice) into a flag the loop checks after each step."""

  def __init__(self):
    self.raised = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread: leave signals alone
      self._previous = None
    return self

  def _handle(self, signum, frame):
    self.raised = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def loss_curve_summary(records: list[dict], points: int = 8) -> str:
  """A few (step, loss, accuracy) rows spread over the run, for the console."""
  records = [r for r in records if "loss" in r]
  if not records:
    return "no metrics logged"
  picks = sorted({round(i * (len(records) - 1) / max(points - 1, 1))
                  for i in range(points)})
  lines = ["     step      loss   contrastive_acc"]
  for i in picks:
    r = records[i]
    lines.append(f"{r['step']:9d} {r['loss']:9.4f} {r.get('contrastive_accuracy', float('nan')):17.3f}")
  return "\n".join(lines)


def pretrain(config, workdir: str) -> RunResult:
  """Pretrain (or resume, or report a finished run) in `workdir`."""
  mesh = make_mesh()
  config_lib.validate_config(config, mesh.size)
  config_lib.check_workdir_config(config, workdir)
  data_dir = config.data_dir or None
  options = dict(config.get("dataset_options", None) or {})
  train_split = datasets.get_dataset(config.dataset, config.train_split,
                                     data_dir=data_dir, **options)
  pipeline.check_train_split(train_split, config.batch_size)
  if jax.process_index() == 0:
    config_lib.save_config(config, workdir)

  steps_per_epoch = train_split.num_examples / config.batch_size
  total_steps = num_train_steps(config, steps_per_epoch)
  checkpoints = Checkpoints(workdir, keep=config.keep_checkpoints)
  writer = MetricWriter(workdir)
  try:
    start_step = checkpoints.latest_step() or 0
    writer.drop_after(start_step)
    if start_step >= total_steps:
      records = read_metrics(writer.path)
      print(f"Run in {workdir} already finished at step {start_step}/{total_steps}.\n"
            + loss_curve_summary(records), flush=True)
      return RunResult("already_finished", start_step, total_steps,
                       records[-1] if records else {})
    tx, schedule = create_optimizer(config, steps_per_epoch)
    model = create_model(config, bn_axis_name=AXIS_NAME,
                         num_classes=train_split.num_classes)
    state = create_train_state(config, model, tx, mesh)
    if start_step:
      state = checkpoints.restore(state)
      print(f"Resuming from the checkpoint at step {start_step} in "
            f"{checkpoints.directory}", flush=True)
    return _train_loop(config, mesh, train_split, model, tx, schedule, state,
                       checkpoints, writer, steps_per_epoch, start_step, total_steps)
  finally:
    checkpoints.wait()
    checkpoints.close()
    writer.close()


def _train_loop(config, mesh, train_split, model, tx, schedule, state, checkpoints,
                writer, steps_per_epoch, start_step, total_steps) -> RunResult:
  batches = pipeline.pretrain_batches(config, mesh, start_step=start_step,
                                      split=train_split)
  step_fn = make_train_step(config, mesh, tx, schedule, model=model)
  rng = jax.random.key(config.seed)
  progress = Progress(total_steps, config.batch_size)
  all_finite = jnp.array(True)
  last_logged: dict = {}
  t_start = time.perf_counter()

  def check_finite(step):
    # One flag accumulated on the device, fetched only when logging or saving, so the
    # check costs no extra host-device round trip per step.
    if not bool(jax.device_get(all_finite)):
      good = checkpoints.latest_step()
      where = (f"the last good checkpoint is step {good} in {checkpoints.directory}"
               if good else "no checkpoint had been written yet")
      raise TrainingDivergedError(
          f"loss became NaN or infinite at or before step {step} (learning_rate="
          f"{config.learning_rate}, batch_size={config.batch_size}); {where}. Lower "
          "--config.learning_rate or raise --config.warmup_epochs, then re-run: the run "
          "resumes from that checkpoint.")

  with _SigtermFlag() as sigterm:
    for step in range(start_step, total_steps):
      batch = next(batches)
      state, metrics = step_fn(state, batch, rng)
      all_finite = all_finite & jnp.isfinite(metrics["loss"])
      done = step + 1
      if step == start_step:
        jax.block_until_ready(state)
        print(f"Compiled and ran the first step in {time.perf_counter() - t_start:.1f} s "
              f"({mesh.size} device(s), global batch {config.batch_size}, "
              f"{total_steps} steps).", flush=True)
        progress.started(done)
      if done % config.log_every_steps == 0 or done == total_steps:
        check_finite(done)
        scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
        scalars["epoch"] = done / steps_per_epoch
        # None (null) only when the very first step is logged: it includes compiling.
        scalars["images_per_sec"] = progress.images_per_sec(done)
        writer.write(done, scalars)
        progress.report(done, scalars["epoch"],
                        {k: v for k, v in scalars.items()
                         if k not in ("epoch", "images_per_sec")},
                        scalars["images_per_sec"])
        last_logged = {"step": done, **scalars}
      if done % config.checkpoint_every_steps == 0 or done == total_steps:
        check_finite(done)
        checkpoints.save(state)
      if sigterm.raised:
        check_finite(done)
        checkpoints.save(state, wait=True)
        print(f"SIGTERM: saved the checkpoint at step {done}; re-run the same command to "
              "resume.", flush=True)
        return RunResult("preempted", done, total_steps, last_logged)

  checkpoints.wait()
  elapsed = time.perf_counter() - t_start
  print(f"Finished {total_steps} steps in {format_duration(elapsed)}.\n"
        + loss_curve_summary(read_metrics(writer.path)), flush=True)
  return RunResult("finished", total_steps, total_steps, last_logged)


def run(config, workdir: str) -> RunResult:
  """Entry point for `main`: dispatch on config.mode."""
  if config.mode in ("pretrain", "pretrain_eval"):
    result = pretrain(config, workdir)
    if config.mode == "pretrain_eval" and result.status != "preempted":
      from simclr_jax.evaluation.run import evaluate
      evaluate(config, workdir, protocols=("linear", "knn"))
    return result
  if config.mode in ("linear_eval", "knn"):
    from simclr_jax.evaluation.run import evaluate
    evaluate(config, workdir, protocols=("linear",) if config.mode == "linear_eval"
             else ("knn",))
    return RunResult("evaluated", 0, 0, {})
  if config.mode == "finetune":
    from simclr_jax.evaluation.run import run_finetune
    run_finetune(config, workdir)
    return RunResult("evaluated", 0, 0, {})
  raise config_lib.ConfigError(f"mode={config.mode!r} is not a mode this version runs; "
                               f"set --config.mode to one of {config_lib.MODES}.")
