#!/usr/bin/env bash
# Start one process per host of a Cloud TPU VM pod slice; each runs the same command and
# jax.distributed.initialize() (--distributed) finds its peers from the TPU metadata.
#
#   TPU_NAME=my-v3-128 ZONE=europe-west4-a \
#     launch/tpu_pod.sh configs/imagenet_resnet50.py gs://bucket/runs/r50 [--config.x=y ...]
#
# The repository must already be checked out and installed at $REPO_DIR on every host
# (e.g. with the same command and `make venv`). The workdir must be shared storage
# (a GCS bucket), since every host restores checkpoints from it.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
CONFIG=${1:?usage: $0 CONFIG WORKDIR [overrides...]}
WORKDIR=${2:?usage: $0 CONFIG WORKDIR [overrides...]}
shift 2
REPO_DIR=${REPO_DIR:-\$HOME/simclr_jax}

gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="
  cd $REPO_DIR && .venv/bin/python -m simclr_jax.main --distributed \
    --config=$CONFIG --workdir=$WORKDIR $*"
