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
