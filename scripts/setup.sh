#!/usr/bin/env bash
# Set up a fresh Debian machine and build + install gemforge into the current Python.
#   GEMFORGE_CUDA=AUTO|ON|OFF    build the cuda backend (AUTO: when nvcc is found)
#   GEMFORGE_CUDA_ARCHS="90a"    CUDA architectures (the library's default is "80;90a")
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== setup: $* ($SECONDS s)"; }

step "Debian packages"
need=()
for pkg in cmake ninja-build g++ libgtest-dev ccache; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

step "Python packages (torch pinned to the GPU machine's 2.11.0)"
python3 -m pip install -q --disable-pip-version-check \
  "torch==2.11.0" numpy pytest pytest-xdist "scikit-build-core>=0.10" "pybind11>=2.12" matplotlib ninja \
  transformers

step "build and install gemforge (cuda archs: ${GEMFORGE_CUDA_ARCHS:-80;90a})"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# The library's C++ files share a precompiled header (CMakeLists.txt); ccache caches such
# compiles only with this sloppiness.
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros}"
export GEMFORGE_BUILD_TESTS="${GEMFORGE_BUILD_TESTS:-ON}"
python3 -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps . \
  ${GEMFORGE_PIP_VERBOSE:+-v}
step "done"
