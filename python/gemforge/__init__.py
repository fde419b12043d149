"""gemforge: C++/CUDA kernels for PyTorch's aten ops, served through the dispatcher.

    import gemforge
    gemforge.enable()            # unchanged torch code now runs gemforge kernels
    with gemforge.use_gems(include=["add"]):
        ...

Importing changes nothing; enable() installs the registration table's rows through
torch::Library objects made at run time and disable() destroys them, which restores
PyTorch's own kernels.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections import Counter
from typing import Iterable, Iterator, NamedTuple, Optional

import torch  # noqa: F401  (loads libtorch before our library)

from . import _C
from . import attention  # noqa: E402,F401  (fake kernels of torch.ops.gemforge.*)

__all__ = [
    "enable", "disable", "is_enabled", "use_gems", "registered_ops", "enabled_ops",
    "available_backends", "stats", "served_calls", "fallbacks", "reset_stats", "record_stats",
    "collect_stats", "gemm_tuning", "gemm_cache_dir", "__version__",
]

__version__ = _C.version()


def gemm_cache_dir() -> pathlib.Path:
    """Where GEMM tuning keeps what it measured: $GEMFORGE_CACHE_DIR, else ~/.cache/gemforge."""
    return pathlib.Path(os.environ.get("GEMFORGE_CACHE_DIR") or pathlib.Path.home() / ".cache" / "gemforge")


# GEMM algorithm tables: the ones shipped for known cards, then the user's own cache.
_C.set_gemm_table_dirs([str(pathlib.Path(__file__).parent / "tuned")], str(gemm_cache_dir()))


def gemm_tuning(on: bool = True) -> None:
    """Time cuBLASLt's candidate algorithms at each new GEMM problem's first call (that call
    synchronises the device) and keep the fastest, also in gemm_cache_dir() for the next
    process. Off by default (GEMFORGE_GEMM_TUNE=1 turns it on): without it a problem runs the
    algorithm a table names, else the heuristic's first."""
    _C.gemm_tuning(bool(on))


if os.environ.get("GEMFORGE_GEMM_TUNE", "") not in ("", "0"):
    gemm_tuning(True)


class OpInfo(NamedTuple):
    overload: str
    family: str
    backends: tuple
    via: str = ""  # an alias torch decomposes into this served overload; never registered itself


def _names(value: Optional[Iterable[str]]) -> Optional[list]:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def available_backends() -> list:
    """Backends this build can serve on this machine ('cuda' needs a GPU and a CUDA build)."""
    return list(_C.available_backends())


def registered_ops() -> list:
    """Every row of the registration table: (overload, family, backends, via)."""
    return [OpInfo(name, family, tuple(backends), via) for name, family, backends, via in _C.registered_ops()]


def enabled_ops() -> list:
    """The (overload, backend) pairs gemforge serves right now."""
    return [tuple(pair) for pair in _C.active()]


def enable(include=None, exclude=None, backends=None) -> None:
    """Serve the chosen ops. Names are overloads ('add.Tensor') or base names ('add' = every
    overload); include=None means every row. backends defaults to the accelerator when one is
    present, else 'cpu'. Replaces whatever was enabled before."""
    _C.set_active(_C.select(_names(include), _names(exclude), _names(backends)))


def disable() -> None:
    """Restore PyTorch's own kernels for every op."""
    _C.set_active([])


def is_enabled() -> bool:
    # not bool(_C.active()): that copies every active row into Python (~100 us), which made
    # benchmark runs that branch on it (reshape_and_cache's) look 10x slower than the kernel
    return _C.is_enabled()


@contextlib.contextmanager
def use_gems(include=None, exclude=None, backends=None) -> Iterator[None]:
    """enable() for the duration of a block; nests, and restores the previous state on exit,
    also when the block raises."""
    previous = _C.active()
    _C.set_active(_C.select(_names(include), _names(exclude), _names(backends)))
    try:
        yield
    finally:
        _C.set_active(previous)


def record_stats(on: bool = True) -> None:
    """Count the calls gemforge serves (off by default: counting costs an atomic add a call)."""
    _C.record_stats(bool(on))


def stats() -> dict:
    """Calls gemforge's kernels served since the last reset_stats(), by overload:
    {'add.Tensor': 3, ...}. Calls handed to torch's kernel are in fallbacks()."""
    return dict(_C.stats())


def served_calls(overload: str) -> int:
    """stats().get(overload, 0), without building the whole dict (for a tool that reads one
    overload's count around every call)."""
    return _C.served_calls(overload)


def fallbacks() -> dict:
    """Calls that reached gemforge but ran torch's kernel (a dtype or case it has no kernel
    for), by overload, since the last reset_stats()."""
    return dict(_C.fallbacks())


def reset_stats() -> None:
    _C.reset_stats()


@contextlib.contextmanager
def collect_stats() -> Iterator[Counter]:
    """Count the calls served inside the block; the Counter is filled when the block exits.

        with gemforge.collect_stats() as served:
            torch.add(a, b)
        assert served["add.Tensor"] == 1
    """
    served: Counter = Counter()
    was_on = _C.stats_recording()
    before = Counter(dict(_C.stats()))
    _C.record_stats(True)
    try:
        yield served
    finally:
        _C.record_stats(was_on)
        served.update(Counter(dict(_C.stats())) - before)
