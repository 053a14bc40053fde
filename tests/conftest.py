"""Test set-up: 8 fake CPU devices, so the sharded code runs as it would on a pod slice.

XLA reads the flag once, when jax initialises its backends, so it is set here, before
any test module imports jax.
"""

import os

# Backend optimisation level 0: the tiny test models run for milliseconds but take
# seconds to compile, and O0 cuts XLA's CPU compile time by 2-3x.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    " --xla_backend_optimization_level=0").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tf.data must not grab the accelerators (there are none here, but keep tests honest).
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import jax  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")
