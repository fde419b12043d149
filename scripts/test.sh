#!/usr/bin/env bash
# The tests: C++ unit tests (ctest, from the build tree pip left in build/) and the Python
# suite (pytest; on a machine without a GPU the cpu backend is what runs).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${GEMFORGE_BUILD_DIR:-$(ls -d build/cp*/ 2>/dev/null | head -n 1)}"
if [ -n "$build_dir" ] && [ -f "$build_dir/CTestTestfile.cmake" ]; then
  ctest --test-dir "$build_dir" --output-on-failure
else
  echo "no C++ test build found (run scripts/setup.sh, which builds with GEMFORGE_BUILD_TESTS=ON)" >&2
  exit 1
fi
# One pytest worker per core when pytest-xdist is installed (setup.sh installs it).
workers=()
if python3 -c "import xdist" 2>/dev/null; then workers=(-n "${GEMFORGE_TEST_WORKERS:-auto}"); fi
python3 -m pytest tests/python -q -p no:cacheprovider "${workers[@]}" "$@"
