"""The sample models of issue 7, run with and without gemforge: BERT-base, Llama-2-7B's dimensions
and Llava-1.5-7B's (CLIP ViT-L/14 at 336 px + the Llama-2-7B text model), built offline from
configs with random weights (Hugging Face `transformers`, no download).

For each model and workload (inference, a training step, greedy generation with a KV cache) a
run reports
  - agreement: gemforge's outputs (and gradients) against torch's on the same weights and inputs;
  - coverage: the aten overloads that reached the device's kernels, how many calls and how much
    GPU time gemforge served, and the overloads it did not serve;
  - time: the workload end to end with and without gemforge.

    python -m gemforge.models --model llama --layers 2          # one model, real dimensions
    python -m gemforge.models --all --out benchmarks/results/h100/models.md

`tiny=True` shrinks every dimension (the tests use it on the cpu).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import gemforge

MODELS = ("bert", "llama", "llava")
WORKLOADS = {"bert": ("infer", "train"), "llama": ("infer", "train", "generate"),
             "llava": ("infer", "train", "generate")}

# Overloads that only make new views or aliases of their input (without saying so in their schema:
# schema-declared views are found by `is_view`), change its shape or storage size in place, read
# its metadata, or only allocate, or are export's ordering tokens: they launch nothing, and serving
# them would only add host time (issue 7 leaves them to torch). (`_resize_output`, the functional
# form of `_resize_output_`, has only a meta kernel in torch.)
METADATA_ONLY = {"_unsafe_view", "_reshape_alias", "detach", "lift_fresh", "empty.memory_format",
                 "empty_like", "empty_strided", "new_empty", "new_empty_strided", "broadcast_tensors",
                 "unsafe_chunk", "unsqueeze_", "resize_", "resize_as_", "_resize_output_", "_resize_output",
                 "sym_stride", "sym_storage_offset", "_has_compatible_shallow_copy_type", "_make_dep_token",
                 "_functional_sym_constrain_range", "_functional_sym_constrain_range_for_size"}


# ---- building the models -------------------------------------------------------------------------

def _llama_config(tiny: bool, layers: int):
    from transformers import LlamaConfig
    if tiny:
        return LlamaConfig(hidden_size=64, intermediate_size=176, num_hidden_layers=layers,
                           num_attention_heads=4, num_key_value_heads=4, vocab_size=512,
                           max_position_embeddings=256)
    # Llama-2-7B's dimensions with `layers` decoder layers.
    return LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers,
                       num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                       max_position_embeddings=4096, rms_norm_eps=1e-5)


def build(name: str, *, tiny: bool = False, layers: int = 2, dtype=torch.float32, device="cpu"):
    """The model (eval mode) and its inputs: (model, inputs dict, generation prompt or None)."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if name == "bert":
        from transformers import BertConfig, BertModel
        # No dropout: torch and gemforge draw different random masks, and the runs must agree.
        no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
        cfg = (BertConfig(hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                          intermediate_size=128, vocab_size=512, **no_dropout) if tiny
               else BertConfig(num_hidden_layers=layers, **no_dropout))  # BERT-base dims
        model = BertModel(cfg)
        batch, seq = (2, 16) if tiny else (8, 512)
        ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                  "token_type_ids": torch.zeros_like(ids)}
        prompt = None
    elif name == "llama":
        from transformers import LlamaForCausalLM
        cfg = _llama_config(tiny, layers)
        model = LlamaForCausalLM(cfg)
        batch, seq = (2, 16) if tiny else (4, 1024)
        ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen)
        inputs = {"input_ids": ids, "labels": ids}
        prompt = ids[:, : min(seq, 8 if tiny else 128)]
    elif name == "llava":
        from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration
        text = _llama_config(tiny, layers)
        if tiny:
            vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                                      num_attention_heads=4, image_size=56, patch_size=14,
                                      projection_dim=64)
        else:  # CLIP ViT-L/14 at 336 px, `layers` encoder layers
            vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096,
                                      num_hidden_layers=layers, num_attention_heads=16,
                                      image_size=336, patch_size=14, projection_dim=768)
        image_token = text.vocab_size - 1
        cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token,
                          vision_feature_layer=-2)
        model = LlavaForConditionalGeneration(cfg)
        patches = (vision.image_size // vision.patch_size) ** 2
        batch, seq = (2, 8) if tiny else (2, 256)
        text_ids = torch.randint(0, image_token, (batch, seq), generator=gen)
        ids = torch.cat([text_ids[:, :1], torch.full((batch, patches), image_token), text_ids[:, 1:]], 1)
        pixels = torch.randn(batch, 3, vision.image_size, vision.image_size, generator=gen)
        inputs = {"input_ids": ids, "pixel_values": pixels, "labels": ids.masked_fill(ids == image_token, -100)}
        prompt = inputs
    else:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    model = model.to(device=device, dtype=dtype).eval()

    def move(v):
        if not torch.is_tensor(v):
            return {k: move(x) for k, x in v.items()} if isinstance(v, dict) else v
        return v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)

    return model, move(inputs), move(prompt) if prompt is not None else None


# ---- the workloads -------------------------------------------------------------------------------

def _primary(out):
    return out.logits if hasattr(out, "logits") and out.logits is not None else out.last_hidden_state


def run_workload(model, inputs, prompt, workload: str, new_tokens: int = 8):
    """Runs one workload; returns the tensors to compare (outputs, loss, gradients, tokens)."""
    if workload == "infer":
        with torch.no_grad():
            args = {k: v for k, v in inputs.items() if k != "labels"}
            return {"out": _primary(model(**args))}
    if workload == "train":
        model.train()
        model.zero_grad(set_to_none=True)
        out = model(**inputs)
        loss = out.loss if getattr(out, "loss", None) is not None else _primary(out).float().pow(2).mean()
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        with torch.no_grad():  # one plain SGD step: weights move, as in training
            for p in model.parameters():
                if p.grad is not None:
                    p.add_(p.grad, alpha=-1e-3)
        model.eval()
        return {"loss": loss.detach(), **{f"grad:{n}": g for n, g in grads.items()}}
    if workload == "generate":
        with torch.no_grad():
            if isinstance(prompt, dict):
                args = {k: v for k, v in prompt.items() if k != "labels"}
            else:
                args = {"input_ids": prompt, "attention_mask": torch.ones_like(prompt)}
            out = model.generate(**args, max_new_tokens=new_tokens, do_sample=False,
                                 min_new_tokens=new_tokens, pad_token_id=0,
                                 return_dict_in_generate=True, output_logits=True)
        # Random weights give near-even logits, so one rounding difference can flip a greedy
        # token and the rest of the sequence with it: the first step's logits (same prefix in
        # both runs) are the numerical check, the token match is reported beside it.
        return {"tokens": out.sequences, "first logits": out.logits[0]}
    raise ValueError(f"unknown workload {workload!r}")


# ---- agreement -----------------------------------------------------------------------------------

def row_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """The smallest cosine similarity between matching rows (last dim) of a and b."""
    a = a.detach().double().reshape(-1, a.shape[-1] if a.dim() else 1)
    b = b.detach().double().reshape(-1, b.shape[-1] if b.dim() else 1)
    if a.numel() == 0:
        return 1.0
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-30)
    both_zero = (a.norm(dim=-1) == 0) & (b.norm(dim=-1) == 0)
    return float(torch.where(both_zero, torch.ones_like(cos), cos).min())


def agreement(ref: dict, got: dict) -> dict:
    """Per compared tensor: exact token match share, or the smallest row cosine. A gradient that
    is zero in exact arithmetic (a key bias under softmax) is rounding noise in both runs: it
    counts as agreeing when it is that small next to the largest gradient."""
    result = {}
    grad_scale = max((float(r.abs().max()) for k, r in ref.items()
                      if k.startswith("grad:") and r.numel()), default=0.0)
    for key, r in ref.items():
        g = got[key]
        noise = 1e-6 * grad_scale
        if key.startswith("grad:") and max(float(r.abs().max()), float(g.abs().max())) <= noise:
            result[key] = 1.0
        elif key == "tokens":
            n = min(r.shape[-1], g.shape[-1])
            result[key] = float((r[..., :n] == g[..., :n]).double().mean())
        else:
            result[key] = row_cosine(r, g)
    return result


# ---- coverage ------------------------------------------------------------------------------------

def overload_name(func) -> str:
    name = func._schema.name.split("::", 1)[1]
    return f"{name}.{func._overloadname}" if func._overloadname != "default" else name


def is_metadata_only(func) -> bool:
    return func.is_view or overload_name(func) in METADATA_ONLY


class AtenCensus(TorchDispatchMode):
    """Counts the aten overloads that reach a backend kernel with a tensor on `device_type`, and,
    while gemforge records stats, which of those calls it served.

    A call counts as served when gemforge's count for its overload rose during it, net of calls
    handed back to torch (served_calls, like stats(), already subtracts those), or, for a torch
    composite gemforge serves through another overload (`via`: ones_like -> fill_), when that
    overload's count rose.
    Counting each call as it returns keeps calls that torch's kernels make inside other ops
    (a host-to-device copy inside an op, handed to torch) out of the model's own calls."""

    def __init__(self, device_type: str, via: dict | None = None):
        super().__init__()
        self.device_type = device_type
        self.via = via or {}
        self.calls: Counter = Counter()
        self.served: Counter = Counter()
        self.views: set = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat = list(args) + list(kwargs.values())
        flat += [x for v in flat if isinstance(v, (list, tuple)) for x in v]
        if not any(torch.is_tensor(t) and t.device.type == self.device_type for t in flat):
            return func(*args, **kwargs)
        name = overload_name(func)
        self.calls[name] += 1
        if is_metadata_only(func):
            self.views.add(name)
            return func(*args, **kwargs)
        watch = [o for o in (name, self.via.get(name)) if o]
        before = [gemforge.served_calls(o) for o in watch]
        out = func(*args, **kwargs)
        if any(gemforge.served_calls(o) > n for o, n in zip(watch, before)):
            self.served[name] += 1
        return out


@dataclass
class Coverage:
    calls: Counter = field(default_factory=Counter)       # overload -> calls that reached the device
    served: Counter = field(default_factory=Counter)      # overload -> calls gemforge served
    views: set = field(default_factory=set)
    inner: list = field(default_factory=list)             # served only inside torch composites
    gpu_time_us: dict = field(default_factory=dict)       # "served"/"torch" -> device time

    @property
    def compute_overloads(self) -> list:
        return sorted(set(self.calls) - self.views)

    @property
    def not_served(self) -> list:
        return [o for o in self.compute_overloads if self.served[o] < self.calls[o]]

    def share_by_count(self) -> float:
        total = sum(self.calls[o] for o in self.compute_overloads)
        return sum(min(self.served[o], self.calls[o]) for o in self.compute_overloads) / max(total, 1)

    def share_by_time(self) -> float:
        total = sum(self.gpu_time_us.values())
        return self.gpu_time_us.get("served", 0.0) / total if total else float("nan")


def coverage(fn, device_type: str) -> Coverage:
    """Runs fn (under gemforge) once counting overloads and served calls, and, on cuda, once more
    under the profiler to split GPU time into the ops gemforge served and the rest."""
    cov = Coverage()
    via = {op.overload: op.via for op in gemforge.registered_ops() if op.via}
    census = AtenCensus(device_type, via)
    with gemforge.collect_stats() as served, census:
        fn()
    cov.calls, cov.views, cov.served = census.calls, census.views, census.served
    # Overloads gemforge served only inside torch's kernels of other calls (copy_ in _to_copy).
    cov.inner = sorted(o for o in served if served[o] > 0 and o not in cov.calls)
    if device_type == "cuda":
        served_bases = {o.split(".")[0] for o in cov.served if cov.served[o]}
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        split = {"served": 0.0, "torch": 0.0}
        for ev in prof.key_averages():
            t = getattr(ev, "self_device_time_total", 0.0)
            if t <= 0 or not ev.key.startswith("aten::"):
                continue
            split["served" if ev.key[6:] in served_bases else "torch"] += t
        cov.gpu_time_us = split
    return cov


# ---- timing --------------------------------------------------------------------------------------

def _once_ms(fn, device_type: str) -> float:
    if device_type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device_type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


def time_pair_ms(fn, device_type: str, reps: int = 5) -> tuple:
    """Median wall time of fn with torch's kernels and with gemforge's, in rounds that alternate
    which goes first: short workloads (generation is host-bound) drift with clocks and caches,
    and timing one side's reps after the other's put that drift into the ratio. After each
    switch one untimed run warms the dispatcher's caches (switching re-registers every kernel)."""
    was = gemforge._C.active()
    rows = {False: [], True: gemforge._C.select(None, None, None)}
    times = {False: [], True: []}
    try:
        for r in range(reps):
            for gems in ((False, True) if r % 2 == 0 else (True, False)):
                gemforge._C.set_active(rows[gems])
                fn()
                times[gems].append(_once_ms(fn, device_type))
    finally:
        gemforge._C.set_active(was)
    return statistics.median(times[False]), statistics.median(times[True])


# ---- one report ----------------------------------------------------------------------------------

@dataclass
class Report:
    model: str
    workload: str
    dtype: str
    agreement: dict
    coverage: Coverage
    torch_ms: float
    gemforge_ms: float

    def min_cosine(self) -> float:
        values = [v for k, v in self.agreement.items() if k != "tokens"]
        return min(values) if values else float("nan")

    def tokens_equal(self) -> str:
        return f"{100 * self.agreement['tokens']:.0f}%" if "tokens" in self.agreement else "-"


def evaluate(name: str, workload: str, *, tiny=False, layers=2, dtype=torch.float32,
             device="cpu", timed=True, reps=5) -> Report:
    model, inputs, prompt = build(name, tiny=tiny, layers=layers, dtype=dtype, device=device)
    device_type = torch.device(device).type
    was = gemforge._C.active()
    gemforge.disable()
    try:
        # Torch and gemforge each start from the same weights (training moves them).
        start = copy.deepcopy(model.state_dict())
        ref = run_workload(model, inputs, prompt, workload)
        model.load_state_dict(start)
        with gemforge.use_gems():
            got = run_workload(model, inputs, prompt, workload)
            model.load_state_dict(start)
            cov = coverage(lambda: run_workload(model, inputs, prompt, workload), device_type)
        agree = agreement(ref, got)
        torch_ms = gem_ms = float("nan")
        if timed:
            # Generation is host-bound and short: its ratio swung from 0.70x to 1.82x between two
            # H100 runs at 5 rounds (stop 22), so it takes more.
            rounds = max(reps, 15) if workload == "generate" else reps
            torch_ms, gem_ms = time_pair_ms(lambda: run_workload(model, inputs, prompt, workload), device_type,
                                            rounds)
    finally:
        gemforge._C.set_active(was)
    return Report(name, workload, str(dtype).replace("torch.", ""), agree, cov, torch_ms, gem_ms)


def markdown(reports: list, card: str = "") -> str:
    lines = []
    if card:
        lines += [f"Card: {card}. torch {torch.__version__}, CUDA {torch.version.cuda}.", ""]
    lines += ["| model | workload | dtype | min row cosine | tokens equal | served calls "
              "| served GPU time | torch ms | gemforge ms | speedup |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in reports:
        c = r.coverage
        lines.append(
            f"| {r.model} | {r.workload} | {r.dtype} | {r.min_cosine():.5f} | {r.tokens_equal()} "
            f"| {100 * c.share_by_count():.1f}% of {sum(c.calls[o] for o in c.compute_overloads)} "
            f"| {100 * c.share_by_time():.1f}% | {r.torch_ms:.2f} | {r.gemforge_ms:.2f} "
            f"| {r.torch_ms / r.gemforge_ms:.2f}× |")
    overloads = sorted({o for r in reports for o in r.coverage.compute_overloads})
    missing = sorted({o for r in reports for o in r.coverage.not_served})
    views = sorted({o for r in reports for o in r.coverage.views})
    # calls served / calls made, over every workload: 0 of n is never served, k of n in part
    served = {o: sum(r.coverage.served[o] for r in reports) for o in missing}
    calls = {o: sum(r.coverage.calls[o] for r in reports) for o in missing}
    lines += ["", f"{len(overloads) + len(views)} distinct overloads reached the device, "
              f"{len(views)} of them metadata-only (views, left to torch): {', '.join(views)}.", "",
              f"Not served by gemforge in all their calls ({len(missing)} of {len(overloads)}; calls served "
              "of calls made): " + (", ".join(f"`{o}` ({served[o]} of {calls[o]})" for o in missing) or "none")
              + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=MODELS, action="append")
    p.add_argument("--all", action="store_true", help="every model and workload")
    p.add_argument("--layers", type=int, default=2, help="decoder/encoder layers (memory)")
    p.add_argument("--dtype", default="bfloat16", help="inference/generation dtype")
    p.add_argument("--train-dtype", default="float32")
    p.add_argument("--tiny", action="store_true", help="shrink every dimension (quick check)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="write the markdown table here too")
    args = p.parse_args(argv)
    models = MODELS if args.all or not args.model else args.model
    gemforge.disable()
    reports = []
    for name in models:
        for workload in WORKLOADS[name]:
            dtype = getattr(torch, args.train_dtype if workload == "train" else args.dtype)
            print(f"[models] {name} {workload} {dtype} ...", file=sys.stderr, flush=True)
            reports.append(evaluate(name, workload, tiny=args.tiny, layers=args.layers,
                                    dtype=dtype, device=args.device))
            if args.device == "cuda":
                torch.cuda.empty_cache()
    card = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    text = markdown(reports, card)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
