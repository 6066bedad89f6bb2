#!/usr/bin/env bash
# Wheels for benchmarks/gpu.sh on the GPU machines (Python 3.12, x86-64, no network there), run here where
# PyPI is reachable. One folder per device call, each under the 64 MiB a call may carry:
#   benchmarks/gpu_wheels.sh transformers   # -> .whl-transformers/: Odin, TRL, datasets, pydantic,
#                                           #    hypernetx, bitsandbytes (QLoRA, 8-bit AdamW)
#   benchmarks/gpu_wheels.sh unsloth        # -> .whl-unsloth/: the same without bitsandbytes, plus Unsloth
# Then carry the folder as .whl: mv .whl-unsloth .whl (both are git-ignored), and on the device machine:
#   benchmarks/gpu.sh "$OUT" --engines unsloth --strategies finetune.lora
# The versions are those of the development environment (pyproject.toml leaves them to Unsloth's caps).
set -euo pipefail
kind=${1:?usage: benchmarks/gpu_wheels.sh transformers|unsloth}
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/.whl-$kind
python=${PYTHON:-python3}
common=(trl==1.15.0 datasets==4.8.5 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic_core==2.50.5
        annotated-types==0.8.0 typing-inspection==0.4.5 hypernetx==2.4.3 bitsets concepts heapdict igraph==1.0.0
        texttable==1.7.2 fastjsonschema==2.22.3 decorator==5.3.1)
case $kind in
    transformers) extra=(bitsandbytes==0.50.2) ;;
    unsloth) extra=(unsloth==2026.10.9 unsloth_zoo==2026.10.9 cut-cross-entropy==25.1.1 tyro==1.0.17 msgspec==0.22.0
                    docstring-parser shtab typeguard==4.6.1 json5 nest-asyncio structlog hf_transfer==0.1.9) ;;
    *) echo "unknown kind $kind (transformers or unsloth)" >&2; exit 2 ;;
esac
rm -rf "$dest" && mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 any; do platforms+=(--platform "$p"); done
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dest" "${common[@]}" "${extra[@]}"
# Odin itself as a wheel: its plugins are found through the entry points it declares; built from a clean
# export so that no egg-info is left in the work tree
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$root" archive HEAD | tar -x -C "$tmp"
"$python" -m pip wheel -q --no-deps -w "$dest" "$tmp"
size=$(du -sm "$dest" | cut -f1)
echo "$dest: $(ls "$dest" | wc -l) wheels, ${size} MiB (limit 64 MiB a call with the work tree)"
[ "$size" -lt 60 ]
