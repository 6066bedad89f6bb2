#!/usr/bin/env bash
# The engine benchmark on a CUDA machine, in one command (about 8 minutes), offline:
#   benchmarks/gpu.sh OUT_DIR [--engines transformers|unsloth] [--strategies ...] [--dry-run]
# Installs the wheels of .whl/ if present (benchmarks/gpu_wheels.sh makes them, one folder per call),
# builds the SmolLM2-135M-, Llama-3.2-1B- and 3B-shaped models from their config with random weights,
# builds the quickstart's data locally, trains each through the chosen engine(s), writes
# OUT_DIR/engines_gpu*.json and .txt, then runs the GPU-only tests (pytest -m gpu) into OUT_DIR/pytest_gpu.txt.
# --dry-run: the same code path at toy size on whatever machine this is (a CPU too); the GPU tests are
# collected, not run.
set -uo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR [engines.py options] [--dry-run]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
mkdir -p "$out"
python=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/odin-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/odin-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$root:$root/plugins${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
dry=0
for arg in "$@"; do [ "$arg" = "--dry-run" ] && dry=1; done
"$python" -m benchmarks.engines --gpu --out "$out" --work "${WORK:-/tmp/odin-bench-gpu}" "$@" 2>&1 | tee "$out/engines_gpu.log"
status=${PIPESTATUS[0]}
# the GPU tests train QLoRA through Unsloth: they need unsloth and bitsandbytes in one call
if [ "$dry" = 1 ]; then
    "$python" -m pytest -q -p no:cacheprovider -m gpu --collect-only tests > "$out/pytest_gpu.txt" 2>&1
    tests=$?
elif "$python" -c "import unsloth, bitsandbytes" >/dev/null 2>&1; then
    "$python" -m pytest -q -p no:cacheprovider -m gpu tests > "$out/pytest_gpu.txt" 2>&1
    tests=$?
else
    echo "not run: pytest -m gpu needs unsloth and bitsandbytes importable together" > "$out/pytest_gpu.txt"
    tests=0
fi
tail -3 "$out/pytest_gpu.txt"
echo "engines: exit $status; pytest -m gpu: exit $tests; results in $out"
[ "$status" = 0 ] && [ "$tests" = 0 ]
