"""The 1-D device mesh that every sharded computation runs on.

All data-parallel code uses one mesh axis, ``"batch"``: batches are split along it,
parameters and optimizer state are replicated over it.
"""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

AXIS_NAME = "batch"


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh over the first `num_devices` devices (all of them by default)."""
  devices = jax.devices()
  if num_devices is None:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise ValueError(
        f"num_devices={num_devices} but {len(devices)} devices are visible; "
        f"choose a value between 1 and {len(devices)}.")
  return jax.make_mesh((num_devices,), (AXIS_NAME,), devices=devices[:num_devices])


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Leading axis split over the mesh: how the step wants its batches."""
  return NamedSharding(mesh, P(AXIS_NAME))


def replicated_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Same value on every device: how the step wants its state."""
  return NamedSharding(mesh, P())


def check_global_batch(global_batch_size: int, mesh: jax.sharding.Mesh) -> int:
  """Per-device batch size; raises if `batch_size` does not split over the mesh."""
  n = mesh.size
  if global_batch_size <= 0 or global_batch_size % n:
    raise ValueError(
        f"batch_size={global_batch_size} is not divisible by the {n} devices of the "
        f"mesh; set --config.batch_size to a positive multiple of {n}.")
  return global_batch_size // n
