#!/usr/bin/env bash
# Runs ON the lent GPU machine, from the repository root, after bench/make_device_bundle.sh made
# .device/ here (carry it: `run(command="bash bench/cuda_device_run.sh", carry=[".device"])`).
# Installs the carried wheel, prints the GPU and lanner.cuda_info(), runs tests/test_cuda.py (every
# failure listed, not just the first), then bench/cuda_bench.py --quick. Everything it writes
# comes back from $OUT: env.txt, test_cuda.log, test_cuda.xml, bench.log, cuda_bench.json.
# The whole run stays under 6 minutes (pytest <= 150 s, the benchmark gets what is left of 340 s).
set -uo pipefail

START=$SECONDS
OUT="${OUT:-/tmp/lanner_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=python3
LIB=/tmp/pylib

if ! ls .device/wheels/lanner-*.whl >/dev/null 2>&1; then
    echo "no .device/wheels/lanner-*.whl: run bench/make_device_bundle.sh here first and carry .device" >&2
    exit 2
fi

# -- install the carried wheels (nothing can be downloaded on that machine) ----------------------
rm -rf "$LIB"
mkdir -p "$LIB"
whls=(.device/wheels/lanner-*.whl)
whl=${whls[0]}
if ! $PY -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$LIB" "$whl"; then
    # a platform tag pip refuses (another glibc): a wheel is a zip, unpack it as it is
    echo "pip refused $whl; unpacking it" >&2
    $PY -m zipfile -e "$whl" "$LIB" || exit 3
fi
if ! $PY -c 'import pytest' 2>/dev/null; then
    extra=()
    for f in .device/wheels/*.whl; do
        [[ $f == */lanner-* ]] || extra+=("$f")
    done
    if (( ${#extra[@]} )); then
        $PY -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$LIB" "${extra[@]}"
    fi
fi
export PYTHONPATH="$LIB${PYTHONPATH:+:$PYTHONPATH}"
export LANNER_DEVICE_MODELS="$PWD/.device/models"
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1   # the image's pytest plugins are not ours

# cuBLAS / NVRTC are loaded at run time: if the loader cannot find them, point it at a copy
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
    dirs=$(find /usr/local /opt /usr/lib -name 'libcublas.so*' -printf '%h\n' 2>/dev/null | sort -u | head -n 3 | paste -sd: -)
    ndirs=$(find /usr/local /opt /usr/lib -name 'libnvrtc.so*' -printf '%h\n' 2>/dev/null | sort -u | head -n 3 | paste -sd: -)
    for d in "$dirs" "$ndirs"; do
        [[ -n "$d" ]] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
fi

# -- what machine this is -----------------------------------------------------------------------
{
    echo "== nvidia-smi -L"; nvidia-smi -L 2>&1
    echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv 2>&1
    echo "== python"; $PY --version; $PY -c 'import numpy, torch, transformers; print("numpy", numpy.__version__, "torch", torch.__version__, "transformers", transformers.__version__)' 2>&1
    echo "== LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    echo "== lanner"
    $PY - <<'EOF' 2>&1
import json
import lanner
print("lanner", lanner.__version__, "from", lanner.__file__)
print(json.dumps(lanner.cuda_info(), indent=1))
EOF
} | tee "$OUT/env.txt"

# -- tests (no -x: every failure is listed) -------------------------------------------------------
echo "== pytest tests/test_cuda.py"
timeout 150 $PY -m pytest -q tests/test_cuda.py -rfEs -p no:cacheprovider --durations=10 \
    --junitxml="$OUT/test_cuda.xml" 2>&1 | tee "$OUT/test_cuda.log"
echo "pytest exit status: ${PIPESTATUS[0]} (124 = timed out)" | tee -a "$OUT/test_cuda.log"

# -- benchmark: whatever is left of 340 s, at most 240 s -------------------------------------------
left=$(( 340 - (SECONDS - START) ))
(( left > 240 )) && left=240
if (( left < 40 )); then
    echo "== benchmark skipped: only ${left} s left" | tee "$OUT/bench.log"
else
    echo "== bench/cuda_bench.py --quick (${left} s)"
    # SIGINT first (the script saves its JSON after every section), SIGKILL 10 s later
    timeout -s INT -k 10 "$left" $PY bench/cuda_bench.py --quick --budget $(( left - 25 )) \
        --json "$OUT/cuda_bench.json" 2>&1 | tee "$OUT/bench.log"
    echo "bench exit status: ${PIPESTATUS[0]}" | tee -a "$OUT/bench.log"
fi
echo "== done in $(( SECONDS - START )) s"
