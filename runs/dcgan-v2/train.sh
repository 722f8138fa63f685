#!/usr/bin/env bash
# The DCGAN of issue 32 (spectral norm, hinge loss, two time-scales, EMA sampler; TensorFlow: 4x
# faster than JAX on CPU here). Run again with --resume to continue after an interruption or after
# its time budget; the checkpoint travels with the repo.
cd "$(dirname "$0")/../.."
KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} exec offline gan train --kind dcgan --epochs ${EPOCHS:-60} \
  --minutes ${MINUTES:-110} --out runs/dcgan-v2/model "$@"
