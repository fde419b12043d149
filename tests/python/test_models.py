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
