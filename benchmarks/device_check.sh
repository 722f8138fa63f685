#!/usr/bin/env bash
# The live tier on a GPU machine (JAX backend: the device machine has JAX, not TensorFlow).
# Under 8 minutes on an H200. Prints JSON lines and copies them to $OUT/device_check.jsonl.
#
#   here, once:       bash benchmarks/device_check.sh --fetch-wheels   # keras + its two missing deps, for cp312
#   on the device:    run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
#
# Record the summary in BENCHMARKS.md (section "The live tier on a GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fetch-wheels" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "keras==$(python3 -c 'import keras; print(keras.__version__)')" namex optree
  ls -la .whl
  exit 0
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
if ! python3 -c "import keras" 2>/dev/null; then
  [ -d .whl ] || { echo "keras is missing and no .whl folder was carried (see the top of this script)"; exit 2; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
timeout 480 python3 benchmarks/device_check.py "$@" | tee "${OUT:-/tmp}/device_check.jsonl"
