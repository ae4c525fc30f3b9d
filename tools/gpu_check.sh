#!/usr/bin/env bash
# GPU check of optkit's CuPy backend: the `gpu` tests, then the P7 benchmark.
#
# Run from anywhere, on a machine with an NVIDIA H200-class GPU (no network needed):
#
#     OUT=/path/for/results bash tools/gpu_check.sh      # OUT defaults to ./gpu-results
#
# It expects Python with cupy (cupy-cuda12x or -13x), numpy, numba, pytest and, for
# the comparison, torch with CUDA. Whatever else is missing there (array-api-compat
# for optkit; hypothesis, attrs, sortedcontainers, array-api-strict for the tests)
# is installed from wheels in ./.whl/ (pip install --no-index --no-deps, only the
# ones not installed yet). Fill ./.whl/ beforehand, on a machine with network:
#
#     bash tools/gpu_check.sh --fetch-wheels
#
# optkit itself is used from this working tree (PYTHONPATH), not installed.
# Steps and their limits (all within 8 minutes): `optkit info`; `pytest -m gpu tests`
# (300 s); tools/gpu_bench.py (140 s). Results in $OUT: info.txt, pytest.txt,
# pytest.xml (JUnit), gpu_bench.json, gpu_bench.txt, bench.txt and summary.txt.
# Exit status: 0 when the tests passed and the benchmark ran, else 1 (2: no GPU).

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PY=${PYTHON:-python3}
# hypothesis pinned to a pure-Python wheel (newer releases ship per-Python builds).
WHEELS=(array-api-compat hypothesis==6.155.2 attrs sortedcontainers array-api-strict exceptiongroup)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p .whl
    exec "$PY" -m pip download --only-binary=:all: --no-deps -d .whl "${WHEELS[@]}"
fi

OUT=${OUT:-$ROOT/gpu-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
log() { echo "[gpu_check $(date +%T)] $*" | tee -a "$OUT/summary.txt"; }
: >"$OUT/summary.txt"

# 1. missing Python packages, from carried wheels (OPTKIT_GPU_CHECK_NO_INSTALL=1: skip)
if [[ -z "${OPTKIT_GPU_CHECK_NO_INSTALL:-}" ]] && compgen -G ".whl/*.whl" >/dev/null; then
    missing=()
    for wheel in .whl/*.whl; do
        dist=$(basename "$wheel" | cut -d- -f1)
        module=${dist//-/_}
        [[ $module == attrs ]] && module=attr
        "$PY" -c "import $module" 2>/dev/null || missing+=("$wheel")
    done
    if ((${#missing[@]})); then
        log "installing ${#missing[@]} wheel(s) from .whl/: ${missing[*]}"
        "$PY" -m pip install --no-index --no-deps "${missing[@]}" >>"$OUT/summary.txt" 2>&1 \
            || log "pip install failed (see above); continuing"
    fi
fi

# 2. the machine
"$PY" -m optkit info 2>&1 | tee "$OUT/info.txt"
if ! "$PY" -c "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() == 0)" \
    >/dev/null 2>&1; then
    log "no usable GPU (CuPy missing or no CUDA device): nothing to check"
    exit 2
fi

# 3. the gpu tests
log "pytest -m gpu tests"
timeout -k 10 300 "$PY" -m pytest -m gpu -q -p no:cacheprovider \
    --continue-on-collection-errors --junitxml "$OUT/pytest.xml" tests \
    >"$OUT/pytest.txt" 2>&1
tests_rc=$?
tail -n 25 "$OUT/pytest.txt"
log "pytest exit status $tests_rc"

# 4. the benchmark
log "tools/gpu_bench.py"
timeout -k 10 140 "$PY" tools/gpu_bench.py --out "$OUT" --budget 110 2>&1 | tee "$OUT/bench.txt"
bench_rc=${PIPESTATUS[0]}
log "gpu_bench exit status $bench_rc"

if [[ $tests_rc -eq 0 && $bench_rc -eq 0 ]]; then
    log "OK"
    exit 0
fi
log "FAILED (tests $tests_rc, bench $bench_rc)"
exit 1
