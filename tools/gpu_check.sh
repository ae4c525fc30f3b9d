#!/usr/bin/env bash
# GPU check of optkit's CuPy backend: the `gpu` tests, the GPU benchmark (CuPy Adam vs
# HBM bandwidth and torch CUDA fused), and the asv suite's GPU subset as asv results.
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
# Steps and their limits (all within 9 minutes; each can be changed by the variable
# named): `optkit info`; `pytest -m gpu tests` (GPU_TESTS_S=240 s); tools/gpu_bench.py
# (GPU_BENCH_S=120 s); the asv GPU subset (GPU_ASV_S=150 s): every benchmark
# combination whose backend is cupy, torch-cuda-fused, torch-cuda or roofline-cuda,
# the quick subset first, run in one process by tools/asv_run_here.py (needs only
# asv_runner, a pure-Python wheel, and no git: pass the commit being measured as
# OPTKIT_COMMIT=$(git rev-parse HEAD) where the tree is a copy without .git).
# Results in $OUT: info.txt, pytest.txt, pytest.xml (JUnit), gpu_bench.json,
# gpu_bench.txt, bench.txt, asv.txt, asv-results/<machine>/ (asv result files: copy
# that folder to asv_bench/results/ and `git add -f` it) and summary.txt.
# Exit status: 0 when the tests passed and the benchmarks ran, else 1 (2: no GPU).

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PY=${PYTHON:-python3}
# hypothesis pinned to a pure-Python wheel (newer releases ship per-Python builds).
WHEELS=(array-api-compat hypothesis==6.155.2 attrs sortedcontainers array-api-strict exceptiongroup
    asv_runner)

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
        [[ $module == asv_runner ]] && module=asv_runner
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
timeout -k 10 "${GPU_TESTS_S:-240}" "$PY" -m pytest -m gpu -q -p no:cacheprovider \
    --continue-on-collection-errors --junitxml "$OUT/pytest.xml" tests \
    >"$OUT/pytest.txt" 2>&1
tests_rc=$?
tail -n 25 "$OUT/pytest.txt"
log "pytest exit status $tests_rc"

# 4. the benchmark
log "tools/gpu_bench.py"
bench_s=${GPU_BENCH_S:-120}
timeout -k 10 "$bench_s" "$PY" tools/gpu_bench.py --out "$OUT" --budget $((bench_s - 30)) 2>&1 \
    | tee "$OUT/bench.txt"
bench_rc=${PIPESTATUS[0]}
log "gpu_bench exit status $bench_rc"

# 5. the asv suite's GPU subset, as asv result files of this machine
commit=${OPTKIT_COMMIT:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || true)}
[[ -n $commit ]] || log "no git checkout and no OPTKIT_COMMIT: results filed under commit 0000000"
asv_s=${GPU_ASV_S:-150}
gpu_pattern="\\('(cupy|torch-cuda[a-z-]*|roofline-cuda)'"
log "asv GPU subset (tools/asv_run_here.py, ${asv_s} s)"
ASV_RESULTS="$OUT/asv-results"
half=$((asv_s / 2))
# quick subset first (every kernel at one size), then the full GPU subset; results are
# written after each benchmark, and each run stops starting new ones after its budget
OPTKIT_COMMIT=$commit timeout -k 10 "$half" "$PY" tools/asv_run_here.py \
    --results "$ASV_RESULTS" -b "^quick\.[A-Za-z]+\.[a-z_]+$gpu_pattern" \
    --budget $((half - 20)) >"$OUT/asv.txt" 2>&1
asv_rc=$?
OPTKIT_COMMIT=$commit timeout -k 10 "$half" "$PY" tools/asv_run_here.py \
    --results "$ASV_RESULTS" -b "^bench_[a-z]+\.[A-Za-z]+\.[a-z_]+$gpu_pattern" \
    --budget $((half - 20)) >>"$OUT/asv.txt" 2>&1 || asv_rc=$?
tail -n 5 "$OUT/asv.txt"
log "asv GPU subset exit status $asv_rc (results in $ASV_RESULTS)"

if [[ $tests_rc -eq 0 && $bench_rc -eq 0 && $asv_rc -eq 0 ]]; then
    log "OK"
    exit 0
fi
log "FAILED (tests $tests_rc, bench $bench_rc, asv $asv_rc)"
exit 1
