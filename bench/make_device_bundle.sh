#!/usr/bin/env bash
# Build, HERE (no GPU needed), what the lent GPU machine needs for bench/cuda_device_run.sh, into
# .device/ at the repository root (ignored through .git/info/exclude; carry it with the run):
#   .device/wheels/   lanner's wheel (maturin, release) + pytest's pure-Python wheels
#   .device/models/   smollm2-4layers.gguf: the first 4 blocks of SmolLM2-135M-Instruct Q4_1
# Everything must stay well under 60 MiB (the whole working tree that travels is capped at 64 MiB).
#
#   bash bench/make_device_bundle.sh               # everything
#   bash bench/make_device_bundle.sh --no-wheel    # keep .device/wheels/lanner-*.whl as it is
#   bash bench/make_device_bundle.sh --model-only  # only the truncated model
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEV="$ROOT/.device"
LIMIT_MIB=60

build_wheel=1
pip_wheels=1
for arg in "$@"; do
    case "$arg" in
        --no-wheel) build_wheel=0 ;;
        --model-only) build_wheel=0; pip_wheels=0 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

# keep .device/ out of git (the device tool still carries it when named in `carry`)
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qxF '.device/' "$exclude" 2>/dev/null || echo '.device/' >> "$exclude"

mkdir -p "$DEV/wheels" "$DEV/models"

if [[ $build_wheel == 1 ]]; then
    echo "== lanner wheel (maturin build --release)"
    rm -f "$DEV"/wheels/lanner-*.whl
    # an abi3 wheel: one build serves the GPU machine's Python 3.12
    maturin build --release -o "$DEV/wheels"
fi

if [[ $pip_wheels == 1 ]]; then
    # pytest and its pure-Python dependencies (Python 3.12 needs no exceptiongroup/tomli). The GPU
    # image normally has pytest already; cuda_device_run.sh installs these only if it has not.
    echo "== pytest wheels"
    rm -f "$DEV"/wheels/pytest-*.whl "$DEV"/wheels/pluggy-*.whl "$DEV"/wheels/iniconfig-*.whl \
          "$DEV"/wheels/packaging-*.whl "$DEV"/wheels/pygments-*.whl
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
        --python-version 3.12 --implementation py --abi none --platform any \
        -d "$DEV/wheels" pytest pluggy iniconfig packaging pygments
fi

echo "== truncated model"
SRC="${LANNER_SMOLLM2:-}"
if [[ -z "$SRC" ]]; then
    SRC="$(python3 -c 'import lanner; print(lanner.fetch_model("smollm2"))')"
fi
python3 "$ROOT/bench/truncate_gguf.py" "$SRC" "$DEV/models/smollm2-4layers.gguf" --blocks 4
python3 - "$DEV/models/smollm2-4layers.gguf" <<'EOF'
import sys
import lanner
e = lanner.Engine(sys.argv[1], threads=2, context_length=256)
assert e.info["n_layer"] == 4, e.info["n_layer"]
print("loads with lanner:", repr(e.generate("Hello", max_tokens=5, temperature=0)))
EOF

echo "== contents"
ls -la "$DEV/wheels" "$DEV/models"
total=$(du -sb "$DEV" | cut -f1)
awk -v b="$total" -v l="$LIMIT_MIB" 'BEGIN { printf ".device/ holds %.1f MiB (limit %d MiB)\n", b / 1048576, l }'
if (( total > LIMIT_MIB * 1048576 )); then
    echo "ERROR: .device/ is over ${LIMIT_MIB} MiB" >&2
    exit 1
fi
if ! ls "$DEV"/wheels/lanner-*.whl >/dev/null 2>&1; then
    echo "WARNING: no lanner wheel in .device/wheels (run without --no-wheel/--model-only)" >&2
fi
