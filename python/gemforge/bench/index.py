"""Index family at LLM sizes: index_select of rows, gather along the last and the first dim,
embedding forward (8192 tokens of a 32000 x 4096 table) and its dense backward, embedding_bag's
backward ops (bags of 8 tokens; max mode's indices drawn at random), segment_reduce over segments of
64 (a flat tensor, a matrix's rows) and its max backward over a matrix's rows, scatter_add and
index_add, index_copy_/index_fill_/index_reduce_ of rows, scatter_reduce, take and isin. bytes = each input read once (index included, table rows only as picked) + each
output written once; the backward also writes the zeroed gradient table."""

from __future__ import annotations

import torch

from .harness import DTYPES, Case, Family
from .report import bandwidth_lines

FAMILY_NAME = "index"


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"vocab": 32000, "tokens": 8192, "hidden": 4096, "rows": (4096, 4096), "k": 2048,
                "logits": (4096, 8192), "picks": 1024}
    return {"vocab": 1000, "tokens": 256, "hidden": 256, "rows": (512, 512), "k": 256,
            "logits": (256, 1024), "picks": 64}


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)
    aten = torch.ops.aten
    vocab, tokens, hidden = s["vocab"], s["tokens"], s["hidden"]
    rows, cols = s["rows"]
    found = []
    for dtype in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype):
            continue
        dt = DTYPES[dtype]
        es = torch.empty((), dtype=dt).element_size()

        def table(dt=dt):
            return (torch.randn(vocab, hidden, device=dev).to(dt),
                    torch.randint(0, vocab, (tokens,), device=dev))

        if setup.wants_op("embedding"):
            found.append(Case(family=FAMILY_NAME, op="embedding", name="forward", dtype=dtype,
                              shape=f"{tokens}x{hidden}", make_inputs=table,
                              run=lambda x: torch.nn.functional.embedding(x[1], x[0]),
                              bytes=2 * tokens * hidden * es + tokens * 8))

        if setup.wants_op("embedding_dense_backward"):
            def grads(dt=dt):
                return (torch.randn(tokens, hidden, device=dev).to(dt),
                        torch.randint(0, vocab, (tokens,), device=dev))

            found.append(Case(family=FAMILY_NAME, op="embedding_dense_backward", name="", dtype=dtype,
                              shape=f"{tokens}x{hidden}->{vocab}", make_inputs=grads,
                              run=lambda x: aten.embedding_dense_backward(x[0], x[1], vocab, -1, False),
                              bytes=tokens * hidden * es + tokens * 8 + vocab * hidden * es))

        bag = 8  # embedding_bag: tokens in bags of 8
        if setup.wants_op("_embedding_bag_dense_backward"):
            def bags(dt=dt):
                idx = torch.randint(0, vocab, (tokens,), device=dev)
                offset2bag = torch.arange(tokens, device=dev) // bag
                sizes = torch.full((tokens // bag,), bag, device=dev)
                return (torch.randn(tokens // bag, hidden, device=dev).to(dt), idx, offset2bag, sizes)

            for name, mode in (("sum", 0), ("mean", 1)):
                found.append(Case(family=FAMILY_NAME, op="_embedding_bag_dense_backward", name=name, dtype=dtype,
                                  shape=f"{tokens}/{bag}x{hidden}->{vocab}", make_inputs=bags,
                                  run=lambda x, mode=mode: aten._embedding_bag_dense_backward(
                                      x[0], x[1], x[2], x[3], x[3], vocab, False, mode, None, -1),
                                  bytes=tokens * hidden * es + 2 * tokens * 8 + vocab * hidden * es))

            def bag_max(dt=dt):
                idx = torch.randint(0, vocab, (tokens // bag, hidden), device=dev)
                return (torch.randn(tokens // bag, hidden, device=dev).to(dt), idx)

            found.append(Case(family=FAMILY_NAME, op="_embedding_bag_dense_backward", name="max", dtype=dtype,
                              shape=f"{tokens}/{bag}x{hidden}->{vocab}", make_inputs=bag_max,
                              run=lambda x: aten._embedding_bag_dense_backward(
                                  x[0], x[1][:, 0], x[1][:, 0], x[1][:, 0], x[1], vocab, False, 2, None, -1),
                              bytes=tokens // bag * hidden * (es + 8) + vocab * hidden * es))

        if setup.wants_op("_embedding_bag_per_sample_weights_backward"):
            def bag_weights(dt=dt):
                return (torch.randn(tokens // bag, hidden, device=dev).to(dt),
                        torch.randn(vocab, hidden, device=dev).to(dt),
                        torch.randint(0, vocab, (tokens,), device=dev),
                        torch.arange(tokens, device=dev) // bag)

            found.append(Case(family=FAMILY_NAME, op="_embedding_bag_per_sample_weights_backward", name="sum",
                              dtype=dtype, shape=f"{tokens}/{bag}x{hidden} of {vocab}", make_inputs=bag_weights,
                              run=lambda x: aten._embedding_bag_per_sample_weights_backward(
                                  x[0], x[1], x[2], x[3][::bag], x[3], 0, -1),
                              bytes=2 * tokens * hidden * es + 2 * tokens * 8 + tokens * es))

        if setup.wants_op("segment_reduce") or setup.wants_op("_segment_reduce_backward"):
            n, c = s["rows"]
            seg = 64  # segments of 64 elements of a flat tensor, or of 64 rows of a matrix

            def flat(dt=dt):
                return (torch.randn(n * c, device=dev).to(dt), torch.full((n * c // seg,), seg, device=dev))

            def matrix(dt=dt):
                return (torch.randn(n, c, device=dev).to(dt), torch.full((n // seg,), seg, device=dev))

            for name, make, size in ((f"1-d /{seg}", flat, f"{n * c}"), (f"dim0 /{seg}", matrix, f"{n}x{c}")):
                found.append(Case(family=FAMILY_NAME, op="segment_reduce", name=f"sum {name}", dtype=dtype,
                                  shape=size, make_inputs=make,
                                  run=lambda x: torch.segment_reduce(x[0], "sum", lengths=x[1], unsafe=True),
                                  bytes=n * c * es * (1 + 1 / seg)))
                found.append(Case(family=FAMILY_NAME, op="segment_reduce", name=f"max {name}", dtype=dtype,
                                  shape=size, make_inputs=make,
                                  run=lambda x: torch.segment_reduce(x[0], "max", lengths=x[1], unsafe=True),
                                  bytes=n * c * es * (1 + 1 / seg)))

            # (gemforge leaves one-element rows, a flat tensor's, to torch's backward on cuda)
            def backward_inputs(make=matrix):
                data, lengths = make()
                out = torch.segment_reduce(data, "max", lengths=lengths)
                return data, lengths, out, torch.randn_like(out)

            found.append(Case(family=FAMILY_NAME, op="_segment_reduce_backward", name=f"max dim0 /{seg}",
                              dtype=dtype, shape=f"{n}x{c}", make_inputs=backward_inputs,
                              run=lambda x: aten._segment_reduce_backward(x[3], x[2], x[0], "max", lengths=x[1]),
                              bytes=n * c * es * (2 + 2 / seg)))

        if setup.wants_op("index_select"):
            def picked(dt=dt):
                return (torch.randn(rows, cols, device=dev).to(dt),
                        torch.randint(0, rows, (s["k"],), device=dev))

            found.append(Case(family=FAMILY_NAME, op="index_select", name="rows dim0", dtype=dtype,
                              shape=f"{rows}x{cols} k{s['k']}", make_inputs=picked,
                              run=lambda x: x[0].index_select(0, x[1]),
                              bytes=2 * s["k"] * cols * es + s["k"] * 8))

        if setup.wants_op("gather"):
            n, c = s["logits"]

            def last(dt=dt):
                return (torch.randn(n, c, device=dev).to(dt),
                        torch.randint(0, c, (n, c), device=dev))

            found.append(Case(family=FAMILY_NAME, op="gather", name="dim-1", dtype=dtype, shape=f"{n}x{c}",
                              make_inputs=last, run=lambda x: x[0].gather(-1, x[1]),
                              bytes=n * c * (2 * es + 8)))

            def first(dt=dt):
                return (torch.randn(n, c, device=dev).to(dt),
                        torch.randint(0, n, (n, c), device=dev))

            found.append(Case(family=FAMILY_NAME, op="gather", name="dim0", dtype=dtype, shape=f"{n}x{c}",
                              make_inputs=first, run=lambda x: x[0].gather(0, x[1]),
                              bytes=n * c * (2 * es + 8)))

            def top(dt=dt):  # a top-k style pick: few columns per row
                return (torch.randn(n, c, device=dev).to(dt),
                        torch.randint(0, c, (n, 8), device=dev))

            found.append(Case(family=FAMILY_NAME, op="gather", name="dim-1 k8", dtype=dtype, shape=f"{n}x{c}",
                              make_inputs=top, run=lambda x: x[0].gather(-1, x[1]),
                              bytes=n * 8 * (2 * es + 8)))

        if setup.wants_op("scatter_add"):
            n, c = s["logits"]

            def scat(dt=dt):
                return (torch.zeros(n, c, device=dev).to(dt),
                        torch.randint(0, c, (n, c), device=dev),
                        torch.randn(n, c, device=dev).to(dt))

            found.append(Case(family=FAMILY_NAME, op="scatter_add", name="dim-1", dtype=dtype, shape=f"{n}x{c}",
                              make_inputs=scat, run=lambda x: x[0].scatter_add(-1, x[1], x[2]),
                              bytes=n * c * (3 * es + 8)))

        if setup.wants_op("index_add"):
            def iadd(dt=dt):
                return (torch.zeros(vocab, hidden, device=dev).to(dt),
                        torch.randint(0, vocab, (tokens,), device=dev),
                        torch.randn(tokens, hidden, device=dev).to(dt))

            found.append(Case(family=FAMILY_NAME, op="index_add_", name="rows", dtype=dtype,
                              shape=f"{tokens}x{hidden}->{vocab}", make_inputs=iadd,
                              run=lambda x: x[0].index_add_(0, x[1], x[2]),
                              bytes=3 * tokens * hidden * es + tokens * 8))
        n, c = s["rows"]
        k = n  # as many index entries as rows (4096 at full size), duplicates likely

        if setup.wants_op("index_copy"):
            def icopy(dt=dt):
                return (torch.zeros(n, c, device=dev).to(dt), torch.randperm(n, device=dev)[:k],
                        torch.randn(k, c, device=dev).to(dt))

            found.append(Case(family=FAMILY_NAME, op="index_copy_", name="rows dim0", dtype=dtype,
                              shape=f"{n}x{c} k{k}", make_inputs=icopy,
                              run=lambda x: x[0].index_copy_(0, x[1], x[2]),
                              bytes=2 * k * c * es + k * 8))

        if setup.wants_op("index_fill"):
            def ifill(dt=dt):
                return (torch.zeros(n, c, device=dev).to(dt), torch.randperm(n, device=dev)[: n // 2])

            found.append(Case(family=FAMILY_NAME, op="index_fill_", name="rows dim0", dtype=dtype,
                              shape=f"{n}x{c} k{n // 2}", make_inputs=ifill,
                              run=lambda x: x[0].index_fill_(0, x[1], 1.5),
                              bytes=(n // 2) * c * es + (n // 2) * 8))
            found.append(Case(family=FAMILY_NAME, op="index_fill_", name="cols dim-1", dtype=dtype,
                              shape=f"{n}x{c} k{n // 2}", make_inputs=ifill,
                              run=lambda x: x[0].index_fill_(-1, x[1], 1.5),
                              bytes=(n // 2) * n * es + (n // 2) * 8))

        if setup.wants_op("index_reduce"):
            def ired(dt=dt):
                return (torch.zeros(n, c, device=dev).to(dt), torch.randint(0, n, (k,), device=dev),
                        torch.randn(k, c, device=dev).to(dt))

            found.append(Case(family=FAMILY_NAME, op="index_reduce_", name="amax rows dim0", dtype=dtype,
                              shape=f"{n}x{c} k{k}", make_inputs=ired,
                              run=lambda x: x[0].index_reduce_(0, x[1], x[2], "amax"),
                              bytes=3 * k * c * es + k * 8))

        if setup.wants_op("scatter_reduce"):
            n2, c2 = s["logits"]

            def sred(dt=dt):
                return (torch.zeros(n2, c2, device=dev).to(dt), torch.randint(0, c2, (n2, c2), device=dev),
                        torch.randn(n2, c2, device=dev).to(dt))

            for reduce in ("amax", "sum", "mean"):
                found.append(Case(family=FAMILY_NAME, op="scatter_reduce", name=f"{reduce} dim-1", dtype=dtype,
                                  shape=f"{n2}x{c2}", make_inputs=sred,
                                  run=lambda x, reduce=reduce: x[0].scatter_reduce(-1, x[1], x[2], reduce),
                                  bytes=n2 * c2 * (3 * es + 8)))

        if setup.wants_op("take"):
            def tk(dt=dt):
                return (torch.randn(n, c, device=dev).to(dt), torch.randint(-n * c, n * c, (n * c // 4,), device=dev))

            found.append(Case(family=FAMILY_NAME, op="take", name="random", dtype=dtype,
                              shape=f"{n}x{c} k{n * c // 4}", make_inputs=tk,
                              run=lambda x: torch.take(x[0], x[1]),
                              bytes=(n * c // 4) * (2 * es + 8)))

        if setup.wants_op("isin"):
            for m in (8, 4096):
                def isin_inputs(dt=dt, m=m):
                    return (torch.randint(0, 100000, (n, c), device=dev).to(dt),
                            torch.randint(0, 100000, (m,), device=dev).to(dt))

                found.append(Case(family=FAMILY_NAME, op="isin", name=f"{m} tests", dtype=dtype,
                                  shape=f"{n}x{c}", make_inputs=isin_inputs,
                                  run=lambda x: torch.isin(x[0], x[1]),
                                  bytes=n * c * (es + 1) + m * es))
    yield from found


FAMILY = Family(FAMILY_NAME, cases, bandwidth_lines)
