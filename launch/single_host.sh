#!/usr/bin/env bash
# One machine, all of its accelerators (or its CPU): the plain command, with the run
# restarted automatically after a preemption-style exit (143 = SIGTERM, checkpoint saved).
#
#   launch/single_host.sh configs/cifar10_resnet18.py runs/cifar_r18 [--config.x=y ...]
set -uo pipefail
CONFIG=${1:?usage: $0 CONFIG WORKDIR [overrides...]}
WORKDIR=${2:?usage: $0 CONFIG WORKDIR [overrides...]}
shift 2
cd "$(dirname "$0")/.."
while true; do
  .venv/bin/python -m simclr_jax.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
  rc=$?
  [ "$rc" -eq 143 ] || exit "$rc"
  echo "interrupted; resuming from the newest checkpoint" >&2
done
