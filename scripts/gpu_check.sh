#!/usr/bin/env bash
# The GPU machine's check: build gemforge with its CUDA backend, run the C++ and Python tests,
# run the benchmarks, and print the benchmark summary last.
#
#   OUT=/path/to/out bash scripts/gpu_check.sh
#
# Writes at most 8 files, at most 2 folders down:
#   $OUT/build.log  $OUT/ctest.log  $OUT/pytest.log  $OUT/bench.log
#   $OUT/bench/{bench.csv,bench.md,bench.png,summary.md,models.md}
# Copy $OUT/bench/* into benchmarks/results/<card-slug>/ to commit the results.
#
# Environment:
#   OUT                      output folder (default ./gpu_out)
#   PYTHON                   interpreter that holds torch (default: python, else python3)
#   GEMFORGE_SKIP_BUILD=1    use the gemforge already installed
#   GEMFORGE_SKIP_TESTS=1    skip ctest and pytest
#   GEMFORGE_SKIP_BENCH=1    skip the benchmarks
#   GEMFORGE_CUDA_ARCHS      CUDA architectures to build (default 90a)
#   GEMFORGE_CMAKE_ARGS      extra CMake defines, ';'-separated (-DFOO=1;-DBAR=2)
#   GEMFORGE_BUILD_DIR       the CMake build folder holding CTestTestfile.cmake
#                            (default: build/gpu, else the first build/*/CTestTestfile.cmake)
#   GEMFORGE_TEST_ARGS       extra pytest arguments (e.g. "-k add")
#   GEMFORGE_TEST_JOBS       pytest processes run at once (default 4)
#   GEMFORGE_BENCH_FAMILIES  benchmark families (default: all)
#   GEMFORGE_BENCH_ARGS      extra benchmark arguments (e.g. "--quick")
#   GEMFORGE_SKIP_MODELS=1   skip the sample models (python -m gemforge.models)
#   GEMFORGE_MODEL_ARGS      their arguments (default: --all --layers 2)
# The GPU machine has no network: `transformers` (for the sample models) and `expecttest` (for
# test_opinfo.py) are installed from the wheels in .whl/ when that folder travels with the call
# (see benchmarks/NOTES.md; `pip download expecttest --no-deps -d .whl`).
# Exits non-zero if any step failed; a failed test step does not stop the benchmarks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-./gpu_out}"
mkdir -p "$OUT/bench"
OUT="$(cd "$OUT" && pwd)"
export PYTHONUNBUFFERED=1

if [[ -n "${PYTHON:-}" ]]; then :
elif command -v python >/dev/null 2>&1; then PYTHON=python
else PYTHON=python3; fi

SCRIPT_START=$SECONDS
STEP_NAME=""
STEP_START=0
declare -a STATUS=()
FAILED=0

step() {
    STEP_NAME="$1"
    STEP_START=$SECONDS
    echo
    echo "=== $STEP_NAME  [$(date '+%H:%M:%S'), +$((SECONDS - SCRIPT_START)) s] ==="
}

# done_step STATUS-WORD: record how the current step ended and how long it took.
done_step() {
    local took=$((SECONDS - STEP_START))
    echo "--- $STEP_NAME: $1 (${took} s)"
    STATUS+=("$(printf '%-28s %-8s %5d s' "$STEP_NAME" "$1" "$took")")
    if [[ "$1" == FAILED ]]; then FAILED=1; fi
}

# Keep a log under the fetch limit (16 MiB a file): its head and its tail.
trim_log() {
    local log="$1" limit=$((12 * 1024 * 1024))
    if [[ -f "$log" && $(stat -c %s "$log") -gt $limit ]]; then
        { head -c $((2 * 1024 * 1024)) "$log"; printf '\n\n[... trimmed ...]\n\n'
          tail -c $((8 * 1024 * 1024)) "$log"; } > "$log.tmp"
        mv "$log.tmp" "$log"
    fi
}

print_status() {
    echo
    echo "=== steps (total $((SECONDS - SCRIPT_START)) s) ==="
    printf '%s\n' "${STATUS[@]}"
}

# ---------------------------------------------------------------------------------------------
step "1. machine"
nvidia-smi || echo "nvidia-smi failed or is missing"
"$PYTHON" - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"{torch.cuda.get_device_name(0)}: sm_{p.major}{p.minor}, {p.multi_processor_count} SMs, "
          f"{p.total_memory >> 30} GiB, L2 {getattr(p, 'L2_cache_size', 0) >> 20} MiB")
EOF
command -v nvcc >/dev/null && nvcc --version | tail -n 2 || echo "nvcc not on PATH"
if ! "$PYTHON" -c "import transformers" 2>/dev/null && [[ -d .whl ]]; then
    PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install -q --no-index --find-links .whl transformers \
        && echo "transformers installed from .whl/" || echo "transformers: install from .whl/ failed"
fi
# expecttest: torch's op_db (tests/python/test_opinfo.py) imports it; the GPU image lacks it.
if ! "$PYTHON" -c "import expecttest" 2>/dev/null && [[ -d .whl ]]; then
    PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install -q --no-index --find-links .whl expecttest \
        && echo "expecttest installed from .whl/" || echo "expecttest: install from .whl/ failed"
fi
cmake --version | head -n 1 || true
echo "cores: $(nproc)"
done_step ok

# ---------------------------------------------------------------------------------------------
step "2. build and install"
# A torch extension must share the process's libstdc++ (the system's). This GPU image sets
# CXX=/opt/gcc/bin/g++, a wrapper whose libraries link libstdc++ into our .so statically; two
# libstdc++ in one process crashed on the first formatted error message. Use the system compiler.
if [[ -n "${CXX:-}" && "$CXX" != /usr/bin/* && -x /usr/bin/g++ ]]; then
    echo "CXX=$CXX: building with the system compiler /usr/bin/g++ instead"
    export CXX=/usr/bin/g++ CC=/usr/bin/gcc CUDAHOSTCXX=/usr/bin/g++
    # named to CMake too, so that a build folder configured with the other compiler starts over
    GEMFORGE_CMAKE_ARGS="-DCMAKE_CXX_COMPILER=/usr/bin/g++;-DCMAKE_CUDA_HOST_COMPILER=/usr/bin/g++${GEMFORGE_CMAKE_ARGS:+;$GEMFORGE_CMAKE_ARGS}"
fi
if [[ "${GEMFORGE_SKIP_BUILD:-0}" == 1 ]]; then
    echo "GEMFORGE_SKIP_BUILD=1: using the installed gemforge"
    done_step skipped
else
    if ! "$PYTHON" -c "import scikit_build_core" 2>/dev/null; then
        echo "scikit_build_core is not importable by $PYTHON: --no-build-isolation needs it installed"
    fi
    ARCHS="${GEMFORGE_CUDA_ARCHS:-90a}"
    CMAKE_DEFINES="-DGEMFORGE_CUDA=ON;-DGEMFORGE_CUDA_ARCHS=${ARCHS};-DGEMFORGE_BUILD_TESTS=ON"
    if [[ -n "${GEMFORGE_CMAKE_ARGS:-}" ]]; then CMAKE_DEFINES="$CMAKE_DEFINES;$GEMFORGE_CMAKE_ARGS"; fi
    echo "SKBUILD_CMAKE_ARGS=$CMAKE_DEFINES  (log: $OUT/build.log)"
    if CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" GEMFORGE_CUDA=ON GEMFORGE_CUDA_ARCHS="$ARCHS" \
        GEMFORGE_BUILD_TESTS=ON \
        SKBUILD_CMAKE_ARGS="$CMAKE_DEFINES" PIP_BREAK_SYSTEM_PACKAGES=1 \
        "$PYTHON" -m pip install --no-build-isolation --no-deps --no-index -v . \
        > "$OUT/build.log" 2>&1; then
        grep -E "warning|Successfully installed" "$OUT/build.log" | tail -n 20 || true
        trim_log "$OUT/build.log"
        done_step ok
    else
        trim_log "$OUT/build.log"
        tail -n 80 "$OUT/build.log"
        done_step FAILED
        print_status
        echo "build failed: nothing to test (log: $OUT/build.log)"
        exit 1
    fi
fi
(cd /tmp && "$PYTHON" -c "import gemforge; print('gemforge', gemforge.__version__, 'from', gemforge.__file__, 'backends', gemforge.available_backends())") \
    || echo "gemforge does not import"

# ---------------------------------------------------------------------------------------------
step "3. C++ tests (ctest)"
if [[ "${GEMFORGE_SKIP_TESTS:-0}" == 1 ]]; then
    done_step skipped
else
    BUILD_DIR="${GEMFORGE_BUILD_DIR:-}"
    if [[ -z "$BUILD_DIR" ]]; then
        if [[ -f build/gpu/CTestTestfile.cmake ]]; then
            BUILD_DIR=build/gpu
        else
            found=(build/*/CTestTestfile.cmake)
            if [[ -f "${found[0]}" ]]; then BUILD_DIR="$(dirname "${found[0]}")"; fi
        fi
    fi
    if [[ -z "$BUILD_DIR" || ! -f "$BUILD_DIR/CTestTestfile.cmake" ]]; then
        echo "no CMake build folder with tests (set GEMFORGE_BUILD_DIR; looked at build/gpu and build/*)"
        done_step absent
    elif ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" > "$OUT/ctest.log" 2>&1; then
        tail -n 5 "$OUT/ctest.log"
        done_step ok
    else
        tail -n 60 "$OUT/ctest.log"
        done_step FAILED
    fi
fi

# ---------------------------------------------------------------------------------------------
step "4. Python tests (pytest)"
if [[ "${GEMFORGE_SKIP_TESTS:-0}" == 1 ]]; then
    done_step skipped
else
    # The suite is host-bound and one GPU serves many processes: with pytest-xdist, the tests
    # spread over GEMFORGE_TEST_JOBS workers (default: cores - 2; the whole suite took 189 s
    # with 14 on the H100 machine, against more than 555 s in 8 file groups). Without it, the
    # test files run in GEMFORGE_TEST_JOBS pytest processes at once (default 4), largest files
    # spread first; one log, group by group.
    if "$PYTHON" -c "import xdist" 2>/dev/null; then
        JOBS="${GEMFORGE_TEST_JOBS:-$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))}"
        # shellcheck disable=SC2086  # GEMFORGE_TEST_ARGS is a list of words
        "$PYTHON" -m pytest tests/python -q -p no:cacheprovider -n "$JOBS" ${GEMFORGE_TEST_ARGS:-} \
            > "$OUT/pytest.log" 2>&1 && TEST_FAILED=0 || TEST_FAILED=1
    else
        JOBS="${GEMFORGE_TEST_JOBS:-4}"
        mapfile -t FILES < <(ls -S tests/python/test_*.py)
        declare -a PIDS=()
        for ((g = 0; g < JOBS; g++)); do
            group=()
            for ((i = g; i < ${#FILES[@]}; i += JOBS)); do group+=("${FILES[$i]}"); done
            [[ ${#group[@]} -gt 0 ]] || continue
            # shellcheck disable=SC2086  # GEMFORGE_TEST_ARGS is a list of words
            "$PYTHON" -m pytest "${group[@]}" -q -p no:cacheprovider ${GEMFORGE_TEST_ARGS:-} \
                > "$OUT/pytest.$g.log" 2>&1 &
            PIDS+=($!)
        done
        TEST_FAILED=0
        for pid in "${PIDS[@]}"; do wait "$pid" || TEST_FAILED=1; done
        for log in "$OUT"/pytest.*.log; do
            echo "##### $log" >> "$OUT/pytest.log"; cat "$log" >> "$OUT/pytest.log"; rm "$log"
        done
    fi
    grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/pytest.log" | tail -n 80 || true
    if [[ $TEST_FAILED == 0 ]]; then done_step ok; else done_step FAILED; fi
    trim_log "$OUT/pytest.log"
fi

# ---------------------------------------------------------------------------------------------
step "5. benchmarks"
if [[ "${GEMFORGE_SKIP_BENCH:-0}" == 1 ]]; then
    done_step skipped
else
    # shellcheck disable=SC2086  # both are lists of words
    if "$PYTHON" -m gemforge.bench ${GEMFORGE_BENCH_FAMILIES:-} --out "$OUT/bench" \
        ${GEMFORGE_BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"; then
        done_step ok
    else
        done_step FAILED
    fi
    trim_log "$OUT/bench.log"
fi

# ---------------------------------------------------------------------------------------------
step "6. sample models"
if [[ "${GEMFORGE_SKIP_MODELS:-0}" == 1 ]]; then
    done_step skipped
elif ! "$PYTHON" -c "import transformers" 2>/dev/null; then
    echo "transformers is not installed (no .whl/ folder?)"
    done_step absent
else
    # shellcheck disable=SC2086  # a list of words
    if "$PYTHON" -m gemforge.models ${GEMFORGE_MODEL_ARGS:---all --layers 2} \
        --out "$OUT/bench/models.md" 2>&1 | tee "$OUT/models.log"; then
        done_step ok
    else
        done_step FAILED
    fi
fi

# ---------------------------------------------------------------------------------------------
print_status
echo "results: $OUT (copy $OUT/bench/* to benchmarks/results/<card-slug>/ to commit them)"
echo
if [[ -f "$OUT/bench/summary.md" ]]; then
    cat "$OUT/bench/summary.md"
else
    echo "(no $OUT/bench/summary.md)"
fi
exit "$FAILED"
