"""Which _to_copy calls of the sample models (tiny, one layer) gemforge serves: each distinct
call (input dtype, shape, contiguity, arguments) with its count, how many gemforge's stats
counted and how many it handed back to torch (fallbacks), and, per workload, what the models'
coverage count (models.coverage) reports for _to_copy, to find where the two disagree, and how
many _to_copy calls start from host memory (torch's host-to-device copy serves those).

    python scripts/dev/to_copy_probe.py
"""
import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import gemforge
from gemforge import models as M

seen = collections.Counter()
host = collections.Counter()  # _to_copy calls whose input is in host memory, per workload


def served_now():
    return gemforge.stats().get("_to_copy", 0)


def fallbacks_now():
    return gemforge.fallbacks().get("_to_copy", 0)


class Spy(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if "_to_copy" in str(func) and torch.is_tensor(args[0]) and not args[0].is_cuda:
            to_cuda = "cuda" in str(kwargs.get("device", ""))
            host[to_cuda] += 1  # copies from host memory: to the GPU (True) or on the host
        if "_to_copy" in str(func) and torch.is_tensor(args[0]) and args[0].is_cuda:
            before, fell = served_now(), fallbacks_now()
            r = func(*args, **kwargs)
            key = (str(args[0].dtype), tuple(args[0].shape), tuple(args[0].stride()),
                   repr(sorted((k, str(v)) for k, v in kwargs.items())), served_now() - before,
                   fallbacks_now() - fell)
            seen[key] += 1
            return r
        return func(*args, **kwargs)


for name in M.MODELS:
    for wl in M.WORKLOADS[name]:
        dtype = torch.float32 if wl == "train" else torch.bfloat16
        model, inputs, prompt = M.build(name, tiny=True, layers=1, dtype=dtype, device="cuda")
        gemforge.record_stats(True)
        host.clear()
        with gemforge.use_gems(), Spy():
            M.run_workload(model, inputs, prompt, wl)
        with gemforge.use_gems():
            cov = M.coverage(lambda: M.run_workload(model, inputs, prompt, wl), "cuda")
        print(f"{name} {wl}: coverage counts {cov.calls['_to_copy']} _to_copy calls, "
              f"{cov.served['_to_copy']} served; host-memory inputs: {host[True]} to the GPU, "
              f"{host[False]} on the host")
print("calls | dtype, shape, stride, arguments, served, fallbacks")
for k, v in sorted(seen.items(), key=lambda kv: kv[0][-2:]):
    print(v, k)
