"""Command line: `python -m simclr_jax.main --config=configs/NAME.py --workdir=DIR`.

Only flags live here; the work is done by `simclr_jax.trainer`, which tests import.
Config fields are overridden as `--config.batch_size=512`.
"""

import os
import sys

# TensorFlow (the input pipeline) logs its CPU build options at INFO; keep warnings.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() first (multi-host jobs).")
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", 0, "XLA devices on the host CPU; 0: one per core (at most 8, a power "
    "of two), unless XLA_FLAGS sets --xla_force_host_platform_device_count. Only runs "
    "without an accelerator use them.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  # Orbax logs every save step at INFO; the progress lines are what a user reads.
  logging.set_verbosity(logging.WARNING)
  import jax

  from simclr_jax.parallel import cpu_device_count

  count = cpu_device_count(_CPU_DEVICES.value, os.cpu_count(),
                           os.environ.get("XLA_FLAGS", ""))
  if count is not None:
    jax.config.update("jax_num_cpu_devices", count)
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  from simclr_jax import config as config_lib
  from simclr_jax import trainer
  from simclr_jax.data import datasets

  try:
    result = trainer.run(_CONFIG.value, _WORKDIR.value)
  except (config_lib.ConfigError, datasets.DataError, trainer.TrainingDivergedError) as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(2 if not isinstance(e, trainer.TrainingDivergedError) else 3)
  if result.status == "preempted":
    sys.exit(143)  # 128 + SIGTERM, so schedulers see the job as interrupted


if __name__ == "__main__":
  app.run(main)
