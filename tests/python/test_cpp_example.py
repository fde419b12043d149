"""The C++ face: a libtorch program finds the installed gemforge with find_package, links it,
enables it and runs (on the cpu backend here, on the GPU where there is one)."""

import os
import shutil
import subprocess

import pytest

import gemforge.cpp

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_cpp_example_builds_and_runs(tmp_path):
    build = tmp_path / "build"
    configure = [
        "cmake", "-S", os.path.join(REPO, "examples", "cpp"), "-B", str(build),
        f"-DCMAKE_PREFIX_PATH={gemforge.cpp.cmake_prefix_path()}", "-DCMAKE_BUILD_TYPE=Release",
    ]
    subprocess.run(configure, check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True, text=True)
    run = subprocess.run([str(build / "enable_demo")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matches torch" in run.stdout
    assert "add.Tensor" in run.stdout and "relu" in run.stdout
