"""Orbax checkpoints of the train state under workdir/checkpoints/.

Saves are atomic (orbax writes to a temporary directory and renames it), so a run killed
mid-save leaves the previous checkpoints intact. Everything a run needs to continue
exactly is in the state: parameters, BatchNorm statistics, optimizer state and the step;
random keys and the data position are functions of (seed, step).
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpoints:
  """Keeps the last `keep` checkpoints of a run and restores the newest."""

  def __init__(self, workdir: str, keep: int = 3):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             cleanup_tmp_directories=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state, *, wait: bool = False) -> None:
    """Start saving `state` at its step (asynchronously unless `wait`)."""
    step = int(jax.device_get(state.step))
    if step in self.manager.all_steps():
      return
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
    if wait:
      self.manager.wait_until_finished()

  def restore(self, like, step: int | None = None):
    """The checkpoint at `step` (default: newest) laid out like `like` (same shardings)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def restore_raw(self, step: int | None = None) -> dict:
    """The checkpoint at `step` (default: newest) as a plain tree of arrays, for readers
    that need no optimizer (evaluation); no template required."""
    step = self.latest_step() if step is None else step
    return self.manager.restore(step, args=ocp.args.StandardRestore())

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()
