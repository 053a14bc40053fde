"""The program users run: command line, checkpoints, exact resume, preemption, errors."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from simclr_jax import config as config_lib
from simclr_jax import trainer
from simclr_jax.checkpoints import Checkpoints
from simclr_jax.metrics import read_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "tiny.py")
FIELDS = {"step", "loss", "learning_rate", "images_per_sec", "contrastive_accuracy",
          "epoch"}


def tiny_config(**overrides):
  sys.path.insert(0, os.path.join(REPO, "configs"))
  try:
    import tiny
  finally:
    sys.path.pop(0)
  config = tiny.get_config()
  config.update(overrides)
  return config


def cli(workdir, *overrides, devices=8):
  env = dict(os.environ)
  env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={devices} "
                      "--xla_backend_optimization_level=0")
  return [sys.executable, "-m", "simclr_jax.main", f"--config={TINY}",
          f"--workdir={workdir}", *overrides], env


def run_cli(workdir, *overrides, devices=8, timeout=300):
  cmd, env = cli(workdir, *overrides, devices=devices)
  return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True,
                        timeout=timeout)


def losses_by_step(workdir):
  return {r["step"]: r["loss"] for r in read_metrics(os.path.join(workdir, "metrics.jsonl"))}


def final_state(workdir):
  """The newest checkpoint as host arrays (restored without a template)."""
  checkpoints = Checkpoints(workdir)
  try:
    return checkpoints.restore_raw()
  finally:
    checkpoints.close()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
  """The tiny config run uninterrupted through the command line on 8 devices."""
  workdir = str(tmp_path_factory.mktemp("reference"))
  result = run_cli(workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result


def test_cli_end_to_end(reference_run):
  workdir, result = reference_run
  records = read_metrics(os.path.join(workdir, "metrics.jsonl"))
  assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
  for r in records:
    assert FIELDS <= set(r), r
    assert np.isfinite(r["loss"]) and 0 <= r["contrastive_accuracy"] <= 1
  assert all(r["images_per_sec"] > 0 for r in records[1:])
  assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))
                if s.isdigit()) == [2, 4, 6]
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  assert saved["num_steps"] == 6 and saved["dataset"] == "fashion_mnist"
  assert any(name.startswith("events.out.tfevents")
             for name in os.listdir(os.path.join(workdir, "tb")))
  assert "Finished 6 steps" in result.stdout and "step 6/6" in result.stdout


def test_finished_run_reports_at_once(reference_run):
  workdir, _ = reference_run
  before = read_metrics(os.path.join(workdir, "metrics.jsonl"))
  result = run_cli(workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "already finished at step 6/6" in result.stdout
  assert read_metrics(os.path.join(workdir, "metrics.jsonl")) == before


def test_killed_run_resumes_exactly(reference_run, tmp_path):
  reference, _ = reference_run
  workdir = str(tmp_path)
  cmd, env = cli(workdir)
  proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  ckpt_root = os.path.join(workdir, "checkpoints")
  deadline = time.time() + 240
  # Orbax renames a finished checkpoint into place, so its directory appearing means
  # the save completed.
  while (not os.path.isdir(os.path.join(ckpt_root, "2")) and time.time() < deadline
         and proc.poll() is None):
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  # The run may have gone on past step 2 before the kill landed; removing the later
  # checkpoints makes this the preemption right after step 2's save, every time.
  for name in os.listdir(ckpt_root):
    if name.isdigit() and int(name) > 2:
      shutil.rmtree(os.path.join(ckpt_root, name))
  assert Checkpoints(workdir).latest_step() == 2
  result = run_cli(workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Resuming from the checkpoint at step 2" in result.stdout
  # Steps 3-6 logged before the kill were dropped and recomputed identically.
  assert losses_by_step(workdir) == losses_by_step(reference)
  jax.tree.map(np.testing.assert_array_equal, final_state(workdir),
               final_state(reference))


def test_sigterm_writes_a_checkpoint(tmp_path):
  workdir = str(tmp_path)
  cmd, env = cli(workdir, "--config.num_steps=100000", "--config.checkpoint_every_steps=100000")
  proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  metrics = os.path.join(workdir, "metrics.jsonl")
  deadline = time.time() + 240
  while not read_metrics(metrics) and time.time() < deadline and proc.poll() is None:
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 143, out[-3000:]
  assert "SIGTERM: saved the checkpoint" in out
  step = Checkpoints(workdir).latest_step()
  assert step is not None and 1 <= step < 100000


def test_one_device_logs_the_same_losses_as_eight(reference_run, tmp_path):
  reference, _ = reference_run
  result = run_cli(str(tmp_path), devices=1)
  assert result.returncode == 0, result.stderr[-3000:]
  got, want = losses_by_step(str(tmp_path)), losses_by_step(reference)
  assert got.keys() == want.keys()
  np.testing.assert_allclose([got[k] for k in sorted(got)], [want[k] for k in sorted(want)],
                             rtol=1e-4)


def test_cli_reports_config_errors_in_one_line(tmp_path):
  result = run_cli(str(tmp_path), "--config.batch_size=30")
  assert result.returncode == 2
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: batch_size=30") and "multiple of 8" in last
  assert not os.path.exists(os.path.join(str(tmp_path), "checkpoints"))


@pytest.mark.parametrize("overrides,field", [
    ({"batch_size": 12}, "batch_size"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"temperature": 0.0}, "temperature"),
    ({"num_epochs": 0, "num_steps": 0}, "num_epochs"),
    ({"num_steps": -1}, "num_steps"),
    ({"image_size": 4}, "image_size"),
    ({"image_size": 48}, "image_size"),
    ({"depth": 42}, "depth"),
    ({"width_multiplier": 0.001}, "width_multiplier"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"learning_rate_scaling": "log"}, "learning_rate_scaling"),
    ({"dtype": "float16"}, "dtype"),
    ({"mode": "dance"}, "mode"),
    ({"method": "byol"}, "method"),
    ({"crop_min_area": 0.0}, "crop_min_area"),
    ({"crop_min_area": 1.5}, "crop_min_area"),
    ({"stem": "resnext"}, "stem"),
])
def test_validation_names_the_field(overrides, field):
  config = tiny_config(**overrides)
  with pytest.raises(config_lib.ConfigError, match=field):
    config_lib.validate_config(config, num_devices=8)


def test_unknown_field_is_rejected():
  config = tiny_config()
  config.unlock()
  config.learing_rate = 0.1
  with pytest.raises(config_lib.ConfigError, match="learing_rate"):
    config_lib.validate_config(config, num_devices=8)


def test_unknown_dataset_is_rejected(tmp_path):
  from simclr_jax.data import datasets
  with pytest.raises(datasets.DataError, match="no_such_dataset"):
    trainer.pretrain(tiny_config(dataset="no_such_dataset"), str(tmp_path))


def test_incompatible_workdir_is_rejected(tmp_path):
  config_lib.save_config(tiny_config(temperature=0.1), str(tmp_path))
  with pytest.raises(config_lib.ConfigError, match="temperature: 0.1 -> 0.5"):
    config_lib.check_workdir_config(tiny_config(), str(tmp_path))
  # Observing a run differently is not a different run.
  config_lib.check_workdir_config(tiny_config(temperature=0.1, log_every_steps=7),
                                  str(tmp_path))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  workdir = str(tmp_path)
  config = tiny_config(learning_rate=1e30, optimizer="sgd", checkpoint_every_steps=1,
                       log_every_steps=1)
  with pytest.raises(trainer.TrainingDivergedError, match="NaN or infinite") as info:
    trainer.pretrain(config, workdir)
  good = Checkpoints(workdir).latest_step()
  assert good is not None and f"step {good}" in str(info.value)
  records = read_metrics(os.path.join(workdir, "metrics.jsonl"))
  assert all(np.isfinite(r["loss"]) for r in records)
  assert max(r["step"] for r in records) == good
  restored = final_state(workdir)
  assert int(restored["step"]) == good
