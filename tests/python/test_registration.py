"""enable / disable / use_gems, the registration table, and call statistics."""

import subprocess
import sys
import warnings

import pytest
import torch

import gemforge
from conftest import (BACKEND, POINTWISE_OVERLOADS, base_name, full_name, make,
                      registered_names, served_count)

OVERRIDE_WARNING = "Overriding a previously registered kernel"

needs_dispatch_dump = pytest.mark.skipif(not hasattr(torch._C, "_dispatch_dump"),
                                         reason="this torch has no torch._C._dispatch_dump")


def dispatcher_tables():
    """The dispatcher's kernel table of every overload served on BACKEND, as torch prints it."""
    return {row.overload: torch._C._dispatch_dump(f"aten::{row.overload}")
            for row in gemforge.registered_ops() if not row.via and BACKEND in row.backends}


def enabled_set():
    return set(gemforge.enabled_ops())


def rows_named(base):
    return {full_name(row.overload) for row in gemforge.registered_ops()
            if base_name(row.overload) == base and BACKEND in row.backends and not row.via}


def enabled_names():
    return {full_name(name) for name, _ in gemforge.enabled_ops()}


# ---- the table ----------------------------------------------------------------------------------

def _aten_name(overload: str) -> str:
    base, _, name = overload.partition(".")
    return f"aten::{base}" + (f".{name}" if name else "")


def _composite_only(overload: str) -> bool:
    """torch implements the overload only as a CompositeImplicitAutograd decomposition."""
    name = _aten_name(overload)
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    return has(name, "CompositeImplicitAutograd") and not (has(name, "CUDA") or has(name, "CPU"))


# Composites gemforge fuses into a kernel of its own: their results are bool, so the autograd
# formula that registering them cuts off has nothing to compute.
BOOL_COMPOSITES = {"isfinite", "isclose"}
# Composites returning a Python bool (no tensor, nothing for autograd to record).
SCALAR_COMPOSITES = {"is_nonzero"}


def test_served_rows_are_not_composite_aliases():
    # Registering a CompositeImplicitAutograd-only overload would cut it off from autograd.
    wrong = [row.overload for row in gemforge.registered_ops()
             if not row.via and _composite_only(row.overload)
             and row.overload not in BOOL_COMPOSITES | SCALAR_COMPOSITES]
    assert not wrong, f"these should be GF_VIA alias rows: {wrong}"


def test_fused_composites_return_bool():
    x = torch.randn(5, requires_grad=True)
    for name in sorted(BOOL_COMPOSITES):
        r = getattr(torch, name)(x) if name == "isfinite" else getattr(torch, name)(x, x)
        assert r.dtype == torch.bool and not r.requires_grad, name


def _wrapper_only(overload: str) -> bool:
    """No kernel of torch's own: a composite (implicit, or an explicit out= wrapper)."""
    name = _aten_name(overload)
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    return not (has(name, "CUDA") or has(name, "CPU"))


def test_alias_rows_point_at_served_rows():
    rows = gemforge.registered_ops()
    served = {full_name(row.overload): row for row in rows if not row.via}
    for row in rows:
        if not row.via:
            continue
        assert full_name(row.via) in served, f"{row.overload}: via {row.via}, which is not served"
        assert _wrapper_only(row.overload), f"{row.overload} has kernels of its own: serve it"
        assert row.backends == served[full_name(row.via)].backends


def test_enabling_an_alias_enables_its_target():
    aliases = [row for row in gemforge.registered_ops() if row.via and BACKEND in row.backends]
    if not aliases:
        pytest.skip("no alias rows")
    alias = aliases[0]
    with gemforge.use_gems(include=[alias.overload]):
        assert full_name(alias.via) in enabled_names()


def test_import_changes_nothing():
    code = (
        "import torch\n"
        "dump = getattr(torch._C, '_dispatch_dump', None)\n"
        "names = ['add.Tensor', 'mul.out', 'neg', 'copy_', 'fill_.Scalar', 'where.self']\n"
        "before = [dump('aten::' + n) for n in names] if dump else []\n"
        "import gemforge\n"
        "after = [dump('aten::' + n) for n in names] if dump else []\n"
        "assert before == after, 'importing gemforge changed the dispatcher'\n"
        "assert gemforge.is_enabled() is False, gemforge.enabled_ops()\n"
        "assert gemforge.enabled_ops() == [], gemforge.enabled_ops()\n"
        "with gemforge.collect_stats() as served:\n"
        "    torch.add(torch.ones(3), torch.ones(3))\n"
        "assert sum(served.values()) == 0, served\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_registered_ops_cover_the_promised_overloads():
    names = registered_names()
    missing = [name for name in POINTWISE_OVERLOADS if full_name(name) not in names]
    assert not missing, f"not registered: {missing}"


def test_registered_rows_are_well_formed():
    rows = gemforge.registered_ops()
    assert rows
    overloads = [full_name(row.overload) for row in rows]
    assert len(overloads) == len(set(overloads)), "an overload is listed twice"
    for row in rows:
        assert isinstance(row, gemforge.OpInfo)
        assert isinstance(row.family, str) and row.family, row
        assert isinstance(row.backends, tuple) and row.backends, row
        assert set(row.backends) <= {"cpu", "cuda"}, row
        base, _, overload = full_name(row.overload).partition(".")
        assert hasattr(getattr(torch.ops.aten, base), overload), f"no aten overload {row.overload}"


def test_pointwise_rows_serve_both_backends():
    rows = {full_name(row.overload): row for row in gemforge.registered_ops()}
    for name in POINTWISE_OVERLOADS:
        assert set(rows[full_name(name)].backends) == {"cpu", "cuda"}, rows[full_name(name)]


def test_available_backends():
    backends = gemforge.available_backends()
    assert backends in (["cpu"], ["cpu", "cuda"])
    if not torch.cuda.is_available():
        assert backends == ["cpu"]


def test_version_is_a_string():
    assert isinstance(gemforge.__version__, str) and gemforge.__version__


# ---- enable / disable ---------------------------------------------------------------------------

def test_enable_disable_round_trip(device):
    a, b = make((4, 5), torch.float32, device), make((4, 5), torch.float32, device)
    expected = torch.add(a, b)
    with gemforge.use_gems(include=["add"], backends=[BACKEND]):
        assert gemforge.is_enabled()
        with gemforge.collect_stats() as served:
            result = torch.add(a, b)
    assert served_count(served, "add.Tensor") == 1, served
    torch.testing.assert_close(result, expected)

    assert not gemforge.is_enabled()
    assert gemforge.enabled_ops() == []
    with gemforge.collect_stats() as served:
        result = torch.add(a, b)
    assert sum(served.values()) == 0, served
    assert torch.equal(result, expected)


def test_enable_then_disable(device):
    a = make((8,), torch.float32, device)
    expected = torch.neg(a)
    gemforge.enable(include=["neg"], backends=[BACKEND])
    assert gemforge.is_enabled()
    with gemforge.collect_stats() as served:
        torch.neg(a)
    assert served_count(served, "neg") == 1, served
    gemforge.disable()
    assert not gemforge.is_enabled()
    with gemforge.collect_stats() as served:
        result = torch.neg(a)
    assert sum(served.values()) == 0, served
    assert torch.equal(result, expected)


@needs_dispatch_dump
def test_disable_restores_the_dispatcher_exactly():
    before = dispatcher_tables()
    gemforge.enable(backends=[BACKEND])
    during = dispatcher_tables()
    changed = {name for name in before if during[name] != before[name]}
    assert changed == set(before), f"enable() installed nothing for {set(before) - changed}"
    gemforge.disable()
    assert dispatcher_tables() == before
    with gemforge.use_gems(include=["add"], backends=[BACKEND]):
        with gemforge.use_gems(include=["mul"], backends=[BACKEND]):
            pass
    assert dispatcher_tables() == before


def test_default_enable_serves_every_row_of_the_default_backend():
    default = "cuda" if "cuda" in gemforge.available_backends() else "cpu"
    gemforge.enable()
    expected = {(full_name(row.overload), default) for row in gemforge.registered_ops()
                if default in row.backends and not row.via}  # aliases are never installed
    assert {(full_name(n), b) for n, b in gemforge.enabled_ops()} == expected


def test_backends_argument():
    gemforge.enable(include=["add"], backends=["cpu"])
    assert {b for _, b in gemforge.enabled_ops()} == {"cpu"}
    assert enabled_names() == rows_named("add")


def test_enable_twice_replaces():
    gemforge.enable(include=["add"], backends=[BACKEND])
    gemforge.enable(include=["mul"], backends=[BACKEND])
    assert enabled_names() == rows_named("mul")
    gemforge.enable(backends=[BACKEND])
    gemforge.enable(backends=[BACKEND])
    pairs = gemforge.enabled_ops()
    assert len(pairs) == len(set(pairs))
    assert len(pairs) == sum(BACKEND in row.backends and not row.via for row in gemforge.registered_ops())


def test_disable_when_nothing_is_enabled():
    gemforge.disable()
    gemforge.disable()
    assert not gemforge.is_enabled()
    assert gemforge.enabled_ops() == []


def test_base_name_expands_to_every_overload():
    with gemforge.use_gems(include=["div"], backends=[BACKEND]):
        names = enabled_names()
    assert names == rows_named("div")
    assert {"div.Tensor", "div.Scalar", "div.Tensor_mode", "div.out_mode"} <= names
    assert not any(name.startswith("div_.") for name in names)


def test_overload_name_selects_one_row():
    with gemforge.use_gems(include=["add.Tensor", "neg"], backends=[BACKEND]):
        names = enabled_names()
    assert "add.Tensor" in names and "add.out" not in names
    assert "neg.default" in names


def test_exclude(device):
    a, b = make((3,), torch.float32, device), make((3,), torch.float32, device)
    with gemforge.use_gems(exclude=["add"], backends=[BACKEND]):
        names = enabled_names()
        with gemforge.collect_stats() as served:
            added = torch.add(a, b)
            multiplied = torch.mul(a, b)
    assert not names & rows_named("add")
    assert rows_named("mul") <= names
    assert served_count(served, "add.Tensor") == 0, served
    assert served_count(served, "mul.Tensor") == 1, served
    torch.testing.assert_close(added, a + b)
    torch.testing.assert_close(multiplied, a * b)


def test_include_and_exclude_together():
    with gemforge.use_gems(include=["add", "mul"], exclude=["add.out"], backends=[BACKEND]):
        names = enabled_names()
    assert names == (rows_named("add") | rows_named("mul")) - {"add.out"}


def test_single_string_is_one_name():
    with gemforge.use_gems(include="mul", backends=[BACKEND]):
        names = enabled_names()
    assert names == rows_named("mul")


def test_use_gems_nests_and_restores(device):
    a = make((5,), torch.float32, device)
    with gemforge.use_gems(include=["add", "sub"], backends=[BACKEND]):
        outer = enabled_set()
        with gemforge.use_gems(include=["mul"], backends=[BACKEND]):
            assert {full_name(n) for n, _ in gemforge.enabled_ops()} == rows_named("mul")
            with gemforge.collect_stats() as served:
                a + a
                a * a
            assert served_count(served, "add.Tensor") == 0, served
            assert served_count(served, "mul.Tensor") == 1, served
        assert enabled_set() == outer
        with gemforge.collect_stats() as served:
            a + a
            a * a
        assert served_count(served, "add.Tensor") == 1, served
        assert served_count(served, "mul.Tensor") == 0, served
    assert gemforge.enabled_ops() == []


def test_use_gems_restores_on_exception(device):
    gemforge.enable(include=["neg"], backends=[BACKEND])
    before = enabled_set()
    with pytest.raises(KeyError):
        with gemforge.use_gems(include=["add"], backends=[BACKEND]):
            raise KeyError("boom")
    assert enabled_set() == before
    with pytest.raises(RuntimeError):
        with gemforge.use_gems(include=["add"], backends=[BACKEND]):
            torch.add(make((3,), torch.float32, device), make((4,), torch.float32, device))
    assert enabled_set() == before


def test_use_gems_restores_torch_when_outermost():
    with pytest.raises(ZeroDivisionError):
        with gemforge.use_gems(backends=[BACKEND]):
            1 / 0
    assert not gemforge.is_enabled()


def test_unknown_op_name_raises_value_error():
    with pytest.raises(ValueError, match="no_such_op"):
        gemforge.enable(include=["no_such_op"])
    with pytest.raises(ValueError, match="add.NoSuchOverload"):
        gemforge.enable(include=["add.NoSuchOverload"])
    with pytest.raises(ValueError, match="not_an_op"):
        with gemforge.use_gems(exclude=["not_an_op"]):
            pass
    assert not gemforge.is_enabled()


def test_failed_enable_keeps_the_previous_state():
    gemforge.enable(include=["mul"], backends=[BACKEND])
    before = enabled_set()
    with pytest.raises(ValueError):
        gemforge.enable(include=["mul", "no_such_op"])
    assert enabled_set() == before


def test_unknown_backend_raises_value_error():
    with pytest.raises(ValueError, match="tpu"):
        gemforge.enable(backends=["tpu"])
    with pytest.raises(ValueError):
        with gemforge.use_gems(backends=["tpu"]):
            pass
    assert not gemforge.is_enabled()


def test_no_override_warning_is_printed(capfd, device):
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            gemforge.enable(backends=[BACKEND])
            torch.add(make((3,), torch.float32, device), 1)
            gemforge.disable()
            with gemforge.use_gems(include=["add", "mul"], backends=[BACKEND]):
                with gemforge.use_gems(include=["neg"], backends=[BACKEND]):
                    pass
    captured = capfd.readouterr()
    assert OVERRIDE_WARNING not in captured.err
    assert OVERRIDE_WARNING not in captured.out
    assert not [w for w in caught if OVERRIDE_WARNING in str(w.message)]


# ---- statistics ---------------------------------------------------------------------------------

def test_stats_record_and_reset(device):
    a = make((6,), torch.float32, device)
    gemforge.reset_stats()
    gemforge.record_stats(True)
    with gemforge.use_gems(include=["add", "mul"], backends=[BACKEND]):
        a + a
        a + a
        a * a
    gemforge.record_stats(False)
    counts = gemforge.stats()
    assert isinstance(counts, dict)
    assert served_count(counts, "add.Tensor") == 2, counts
    assert served_count(counts, "mul.Tensor") == 1, counts
    with gemforge.use_gems(include=["add"], backends=[BACKEND]):
        a + a  # not recorded
    assert served_count(gemforge.stats(), "add.Tensor") == 2
    gemforge.reset_stats()
    assert sum(gemforge.stats().values()) == 0


def test_served_calls_reads_one_count(device):
    a = make((6,), torch.float32, device)
    gemforge.reset_stats()
    gemforge.record_stats(True)
    try:
        with gemforge.use_gems(include=["add"], backends=[BACKEND]):
            a + a
            a + a
    finally:
        gemforge.record_stats(False)
    assert gemforge.served_calls("add.Tensor") == gemforge.stats()["add.Tensor"] == 2
    assert gemforge.served_calls("mul.Tensor") == 0
    assert gemforge.served_calls("no_such_overload") == 0
    gemforge.reset_stats()
    assert gemforge.served_calls("add.Tensor") == 0


def test_collect_stats_counts_only_its_block(device):
    a = make((6,), torch.float32, device)
    with gemforge.use_gems(include=["add"], backends=[BACKEND]):
        with gemforge.collect_stats() as first:
            a + a
        a + a
        with gemforge.collect_stats() as second:
            a + a
            a + a
            a + a
    assert served_count(first, "add.Tensor") == 1, first
    assert served_count(second, "add.Tensor") == 3, second


def test_collect_stats_restores_recording_flag(device):
    a = make((6,), torch.float32, device)
    gemforge.reset_stats()
    with gemforge.collect_stats():
        pass
    with gemforge.use_gems(include=["add"], backends=[BACKEND]):
        a + a
    assert sum(gemforge.stats().values()) == 0, "recording stayed on after collect_stats"
