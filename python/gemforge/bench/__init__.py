"""gemforge's benchmarks: torch and gemforge timed in the same process, per op family.

    python -m gemforge.bench [family ...] [--out DIR] [--quick] [--dtypes bf16 fp32 ...]

A family is a module with a FAMILY (see harness.Family): cases(setup) yields Cases, and
summarize(results, setup) gives its lines of summary.md. To add one (reductions, GEMM,
attention), write the module and add it to FAMILIES below; shapes come from shapes.py.
The copy ceiling is always measured first: every memory-bound result is a fraction of it.
"""

from . import (advanced_index, attention, attention_backward, attention_inference, batch_group_norm, ceiling,
               conv, gemm, gemm_ext, index, movement, overhead, pointwise, quantize, random, random_select, reduction,
               rows, scan_loss, search, sort)
from .harness import Case, Family, Result, Setup

FAMILIES = [
    ceiling.FAMILY,
    pointwise.FAMILY,
    reduction.FAMILY,
    rows.FAMILY,
    scan_loss.FAMILY,
    batch_group_norm.FAMILY,
    overhead.FAMILY,
    gemm.FAMILY,
    random.FAMILY,
    sort.FAMILY,
    advanced_index.FAMILY,
    search.FAMILY,
    index.FAMILY,
    movement.FAMILY,
    attention.FAMILY,
    attention_inference.FAMILY,
    random_select.FAMILY,
    attention_backward.FAMILY,
    gemm_ext.FAMILY,
    conv.FAMILY,
    quantize.FAMILY,
]

__all__ = ["FAMILIES", "Case", "Family", "Result", "Setup"]
