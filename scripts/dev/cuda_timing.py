"""Device time of a call for the dev scripts beside this one (imported, not run)."""

from __future__ import annotations

import torch


def timeit(fn, reps=20, warmup=3):
    """Device µs a call of fn, from reps calls back to back (as a model makes them) after warmup."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(True), torch.cuda.Event(True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps * 1e3


def rotating(xs, reps=50, warmup=5):
    """A timer of fn(x), x the next of xs at each call (inputs over L2's size: none stays cached)."""
    it = [0]

    def per_call(fn):
        def call():
            it[0] = (it[0] + 1) % len(xs)
            return fn(xs[it[0]])
        return timeit(call, reps, warmup)
    return per_call
