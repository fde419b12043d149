"""The sample models of issue 7 (BERT, Llama, Llava; tiny dimensions, random weights) with gemforge
enabled against torch alone: outputs, loss and gradients agree, generation's first step agrees,
and the coverage census adds up (python/gemforge/models.py; the full-size runs are its CLI)."""

import pytest
import torch

from conftest import DEVICE

transformers = pytest.importorskip("transformers", reason="pip install transformers (the CI installs it)")
from gemforge import models  # noqa: E402

CASES = [(m, w) for m in models.MODELS for w in models.WORKLOADS[m]]


@pytest.mark.parametrize("model,workload", CASES, ids=[f"{m}-{w}" for m, w in CASES])
def test_model_agrees_with_torch(model, workload):
    report = models.evaluate(model, workload, tiny=True, layers=2, dtype=torch.float32,
                             device=DEVICE, timed=False)
    compared = [k for k in report.agreement if k != "tokens"]
    assert compared, "nothing was compared"
    bad = {k: v for k, v in report.agreement.items() if k != "tokens" and v < 0.9999}
    assert not bad, f"{model} {workload}: row cosine below 0.9999: {bad}"
    if workload == "train":
        assert any(k.startswith("grad:") for k in compared)

    cov = report.coverage
    assert sum(cov.calls.values()) > 0
    assert sum(cov.served[o] for o in cov.compute_overloads) > 0
    assert set(cov.not_served) <= set(cov.compute_overloads)
    assert 0 < cov.share_by_count() <= 1


def test_markdown_lists_what_was_not_served():
    report = models.evaluate("bert", "infer", tiny=True, layers=1, device=DEVICE, timed=False)
    text = models.markdown([report])
    assert "| bert | infer | float32 |" in text
    for name in report.coverage.not_served:
        assert f"`{name}`" in text


def test_coverage_counts_each_call_as_it_returns():
    """A call counts as served when gemforge served that very call: a mixed-dtype cat, which casts
    inside, counts once, as cat; the workload's own _to_copy counts as unserved while gemforge
    does not serve _to_copy, and as served once it does."""
    import gemforge
    x = torch.randn(5, 3, device=DEVICE)
    y = torch.randn(2, 3, device=DEVICE, dtype=torch.float64)

    def work():
        torch.cat([x, y])            # gemforge's cat casts x inside: a nested _to_copy
        x.to(torch.float64)          # the workload's own _to_copy, which gemforge does not serve here
        return torch.add(x, x)

    with gemforge.use_gems(exclude=["_to_copy"]):
        cov = models.coverage(work, DEVICE)
    assert cov.calls["cat"] == 1 and cov.served["cat"] == 1
    assert cov.calls["add.Tensor"] == 1 and cov.served["add.Tensor"] == 1
    assert cov.calls["_to_copy"] == 1 and cov.served["_to_copy"] == 0
    assert "_to_copy" in cov.not_served

    with gemforge.use_gems():
        cov = models.coverage(work, DEVICE)
    assert cov.served["_to_copy"] == cov.calls["_to_copy"] == 1
    assert not cov.not_served
