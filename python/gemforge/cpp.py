"""Where a libtorch program finds gemforge: find_package(gemforge) with this on CMAKE_PREFIX_PATH."""

import os

_ROOT = os.path.dirname(os.path.abspath(__file__))


def cmake_prefix_path() -> str:
    """gemforge's and torch's CMake package folders, as a CMake list."""
    import torch.utils
    return ";".join([os.path.join(_ROOT, "share", "cmake"), torch.utils.cmake_prefix_path])


def include_dir() -> str:
    return os.path.join(_ROOT, "include")


def library_path() -> str:
    return os.path.join(_ROOT, "libgemforge.so")
