"""The bench harness: what a case is, the machine it runs on, and how a case is measured.

A family is a module that turns a Setup into Cases; the harness times each case twice in the
same process, once with PyTorch's own kernels and once inside gemforge.use_gems(), and
returns a Result. Nothing here knows about any particular op.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import re
import statistics
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import torch

import gemforge

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "bool": torch.bool, "int32": torch.int32}

DEVICE_CLOCK = "device"  # per-call device time (CUDA events / perf_counter), median, rotated inputs
BATCH = 10  # calls timed back to back between one pair of CUDA events
HOST_CLOCK = "host"      # host time per call over many calls on one input set: the call overhead


@dataclass(frozen=True)
class Case:
    """One measurement: run(inputs) on inputs from make_inputs(), torch against gemforge.

    bytes is what the op must move (each input read once, each output written once); flops is
    0 for memory-bound ops. shape and dtype are labels for the tables."""

    family: str
    op: str
    name: str
    dtype: str
    shape: str
    make_inputs: Callable[[], tuple]
    run: Callable[[tuple], object]
    bytes: int = 0
    flops: int = 0
    clock: str = DEVICE_CLOCK
    with_gems: bool = True  # False: a torch-only reference (the copy ceiling)

    @property
    def label(self) -> str:
        return f"{self.family} {self.op} {self.name} {self.dtype} {self.shape}"


@dataclass(frozen=True)
class Family:
    """A benchmark family: cases(setup) lists its cases; summarize(results, setup) gives the
    few (metric, value) lines it contributes to summary.md."""

    name: str
    cases: Callable[["Setup"], Iterable[Case]]
    summarize: Optional[Callable[[list, "Setup"], list]] = None


@dataclass(frozen=True)
class Machine:
    device: str
    card: str
    slug: str
    driver: str
    torch_version: str
    cuda_version: str
    gemforge_version: str
    date: str
    l2_bytes: int

    @classmethod
    def detect(cls, device: str) -> "Machine":
        date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        common = dict(device=device, torch_version=torch.__version__,
                      cuda_version=torch.version.cuda or "none",
                      gemforge_version=gemforge.__version__, date=date)
        if device == "cuda":
            card = torch.cuda.get_device_name()
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            return cls(card=card, slug=card_slug(card), driver=_driver_version(),
                       l2_bytes=int(getattr(props, "L2_cache_size", 0) or 50 << 20), **common)
        card = f"cpu {platform.machine()} ({os.cpu_count()} cores)"
        return cls(card=card, slug="cpu", driver="-", l2_bytes=32 << 20, **common)


def card_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-sxm', 'NVIDIA H200' -> 'h200', 'NVIDIA H100 PCIe' ->
    'h100-pcie': the folder name under benchmarks/results/."""
    words = []
    for word in re.split(r"[^a-z0-9]+", name.lower().replace("nvidia", "")):
        if not word or re.fullmatch(r"\d+gb", word):
            continue
        if word.startswith("hbm"):  # the SXM boards name their memory, the PCIe ones say so
            word = "sxm"
        if word not in words:
            words.append(word)
    return "-".join(words) or "gpu"


def _driver_version() -> str:
    try:
        index = str(torch.cuda.current_device())
        done = subprocess.run(["nvidia-smi", "-i", index, "--query-gpu=driver_version",
                               "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:  # no nvidia-smi: the CUDA version the driver supports is what torch can tell
        version = torch._C._cuda_getDriverVersion()
        return f"cuda-driver-api {version // 1000}.{version % 1000 // 10}"
    except Exception:
        return "unknown"


@dataclass
class Setup:
    """What one bench run was asked for, and what it has learned so far (the copy ceiling)."""

    device: str
    backend: str
    quick: bool
    dtypes: tuple
    ops: Optional[tuple]
    machine: Machine
    copy_gbps: Optional[float] = None

    def wants_op(self, op: str) -> bool:
        return self.ops is None or op in self.ops

    def wants_dtype(self, dtype: str) -> bool:
        return dtype in self.dtypes

    def gems(self):
        return gemforge.use_gems(backends=[self.backend])

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

    @property
    def warmup(self) -> int:
        return {("cuda", False): 10, ("cuda", True): 3, ("cpu", False): 3, ("cpu", True): 1}[
            (self.device, self.quick)]

    @property
    def reps(self) -> int:
        return {("cuda", False): 100, ("cuda", True): 20, ("cpu", False): 30, ("cpu", True): 5}[
            (self.device, self.quick)]

    @property
    def host_calls(self) -> int:
        return 1000 if self.quick else 10000

    @property
    def host_rounds(self) -> int:
        return 3 if self.quick else 5

    @property
    def rotation_bytes(self) -> int:
        """Total input bytes cycled through per case: well beyond the last-level cache so that
        neither side is timed out of cache. The CPU run keeps two sets, for speed alone."""
        return 4 * self.machine.l2_bytes if self.device == "cuda" else 0


@dataclass
class Result:
    case: Case
    torch_ms: Optional[float] = None
    gemforge_ms: Optional[float] = None
    served: str = ""
    fallbacks: str = ""  # overloads that reached gemforge and ran torch's kernel
    max_abs_diff: Optional[float] = None
    note: str = ""
    copy_gbps: Optional[float] = None
    device_broken: bool = False  # a CUDA error poisoned the context: later cases would fail too

    @property
    def speedup(self) -> Optional[float]:
        if self.torch_ms and self.gemforge_ms:
            return self.torch_ms / self.gemforge_ms
        return None

    def _gbps(self, ms: Optional[float]) -> Optional[float]:
        if not ms or not self.case.bytes or self.case.clock != DEVICE_CLOCK:
            return None
        return self.case.bytes / (ms * 1e-3) / 1e9

    @property
    def gbps(self) -> Optional[float]:
        return self._gbps(self.gemforge_ms)

    @property
    def torch_gbps(self) -> Optional[float]:
        return self._gbps(self.torch_ms)

    @property
    def pct_of_copy(self) -> Optional[float]:
        if self.gbps is None or not self.copy_gbps:
            return None
        return 100.0 * self.gbps / self.copy_gbps

    @property
    def torch_pct_of_copy(self) -> Optional[float]:
        if self.torch_gbps is None or not self.copy_gbps:
            return None
        return 100.0 * self.torch_gbps / self.copy_gbps

    def _tflops(self, ms: Optional[float]) -> Optional[float]:
        if not ms or not self.case.flops:
            return None
        return self.case.flops / (ms * 1e-3) / 1e12

    @property
    def tflops(self) -> Optional[float]:
        return self._tflops(self.gemforge_ms)

    @property
    def torch_tflops(self) -> Optional[float]:
        return self._tflops(self.torch_ms)


def tflops_line(r, digits: int = 0) -> str:
    """A compute-bound result as the summaries print it: ours, torch's, the speedup."""
    return f"{r.tflops:.{digits}f} TFLOP/s (torch {r.torch_tflops or 0:.{digits}f}), {r.speedup:.2f}x torch"


def storage_bytes(values) -> int:
    """Bytes of the distinct storages behind the tensors in values (a broadcast view counts
    its small storage once)."""
    seen, total = set(), 0
    for value in values:
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def input_sets(case: Case, setup: Setup) -> list:
    """As many input sets as it takes to exceed setup.rotation_bytes (one when a single set
    already does; at least two otherwise; host-clocked cases need one)."""
    first = case.make_inputs()
    if case.clock != DEVICE_CLOCK:
        return [first]
    size = max(1, storage_bytes(first))
    if size >= setup.rotation_bytes and setup.rotation_bytes:
        return [first]
    count = max(2, min(64, math.ceil(setup.rotation_bytes / size)))
    return [first] + [case.make_inputs() for _ in range(count - 1)]


def _device_ms(run, sets, setup: Setup) -> float:
    """Median device time of one call, each call on the next input set.

    On CUDA the calls run in batches of BATCH back to back between one pair of events, as a
    model runs them: launch latency overlaps the previous kernel, as it does in real use, and
    no event record sits between two kernels. The median over batches of (batch time / BATCH)
    is the result."""
    for i in range(setup.warmup):
        run(sets[i % len(sets)])
    if setup.device != "cuda":
        times = []
        for i in range(setup.reps):
            start = time.perf_counter()
            run(sets[i % len(sets)])
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    batches = max(3, setup.reps // BATCH)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(batches)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(batches)]
    # A spin kernel holds the stream while the host queues every call behind it, so that host
    # launch gaps of either side don't enter the device times (the overhead family measures
    # those); about 25 us of head start per call at ~2 GHz.
    if hasattr(torch.cuda, "_sleep"):
        torch.cuda._sleep(50_000 * batches * BATCH)
    i = 0
    for b in range(batches):
        starts[b].record()
        for _ in range(BATCH):
            run(sets[i % len(sets)])
            i += 1
        ends[b].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) / BATCH for s, e in zip(starts, ends))


def _host_ms(run, inputs, setup: Setup) -> float:
    """Host time per call over setup.host_calls calls, median over rounds, synchronized
    before and after each round."""
    for _ in range(max(100, setup.host_calls // 10)):
        run(inputs)
    per_call = []
    for _ in range(setup.host_rounds):
        setup.sync()
        start = time.perf_counter()
        for _ in range(setup.host_calls):
            run(inputs)
        setup.sync()
        per_call.append((time.perf_counter() - start) * 1e3 / setup.host_calls)
    return statistics.median(per_call)


def _tensors(value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    return []


def max_abs_diff(expected, actual) -> float:
    """Largest |expected - actual| over the outputs; equal infinities and NaN in both count
    as equal."""
    worst = 0.0
    for e, a in zip(_tensors(expected), _tensors(actual)):
        if e.shape != a.shape:
            return math.inf
        e, a = e.double(), a.double()
        same = (e == a) | (e.isnan() & a.isnan())
        diff = torch.where(same, torch.zeros_like(e), (e - a).abs())
        if diff.numel():
            worst = max(worst, float(diff.max()))
    return worst


def _is_sticky_cuda_error(error: BaseException) -> bool:
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is not None and isinstance(error, accelerator_error):
        return True
    text = str(error)
    return "CUDA error" in text or "cudaError" in text or "illegal memory access" in text


def measure(case: Case, setup: Setup) -> Result:
    """Time case with torch and (unless case.with_gems is False) with gemforge; record which
    overloads gemforge served and how far its outputs are from torch's."""
    result = Result(case, copy_gbps=setup.copy_gbps)
    sets = None
    try:
        sets = input_sets(case, setup)
        timer = _device_ms if case.clock == DEVICE_CLOCK else (
            lambda run, s, st: _host_ms(run, s[0], st))
        result.torch_ms = timer(case.run, sets, setup)
        if case.with_gems:
            expected = [t.clone() for t in _tensors(case.run(sets[0]))]
            fell_back = Counter(gemforge.fallbacks())
            with setup.gems(), gemforge.collect_stats() as served:
                actual = case.run(sets[0])
                setup.sync()
            result.served = ";".join(sorted(served))
            result.fallbacks = ";".join(sorted(Counter(gemforge.fallbacks()) - fell_back))
            result.max_abs_diff = max_abs_diff(expected, actual)
            del expected, actual
            with setup.gems():
                result.gemforge_ms = timer(case.run, sets, setup)
            if case.flops and case.clock == DEVICE_CLOCK:
                # Compute-bound kernels run slower the longer the card has been busy (clocks
                # drop as it heats): the second side timed loses up to 10% (seen on attention).
                # Timing torch, gemforge, gemforge, torch and averaging each side's pair
                # cancels a steady drift.
                with setup.gems():
                    gems_again = timer(case.run, sets, setup)
                torch_again = timer(case.run, sets, setup)
                result.gemforge_ms = (result.gemforge_ms + gems_again) / 2
                result.torch_ms = (result.torch_ms + torch_again) / 2
    except Exception as error:  # one failing case must not end the run
        lines = str(error).strip().splitlines() or [""]
        result.note = f"{type(error).__name__}: {lines[0][:200]}"
        result.device_broken = setup.device == "cuda" and _is_sticky_cuda_error(error)
    finally:
        del sets
        if setup.device == "cuda" and not result.device_broken:
            with contextlib.suppress(Exception):
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
    return result
