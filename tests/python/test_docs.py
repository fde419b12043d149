"""The README's supported-ops and coverage tables are the registration table's, regenerated, not hand-kept."""

import os

import gemforge.report

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")


def test_readme_tables_are_current():
    with open(README) as f:
        text = f.read()
    assert gemforge.report.ops_table() in text, "run: python -m gemforge.report readme"
    tsv = os.path.join(os.path.dirname(README), gemforge.report.TSV)
    assert gemforge.report.coverage_table(tsv) in text, "run: python -m gemforge.report readme"


def test_every_registered_overload_is_in_the_table():
    table = gemforge.report.ops_table()
    for op in gemforge.registered_ops():
        assert f"`{op.overload}`" in table


def test_views_are_left_to_torch():
    """The coverage table's 'view (left to torch)' column: views and metadata-only overloads."""
    for name in ("expand", "transpose.int", "_unsafe_view", "lift_fresh", "unbind.int", "tensor_split", "resize_"):
        assert gemforge.report.left_to_torch(name), name
    for name in ("add.Tensor", "diff", "clone", "resize", "no_such_op"):
        assert not gemforge.report.left_to_torch(name), name
