"""`liqe reproduce`'s SUMMARY.md: every table in notebook order, then the figures."""
from pathlib import Path

from liqe_lib.report import SMOKE_NOTE
from liqe_lib.reproduce import write_summary


def test_summary_lists_tables_in_notebook_order_then_figures(tmp_path: Path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "figures").mkdir()
    for stem in ("beyond_probe", "gmad_pairs", "table2_cross_dataset", "table1_srcc", "task_gradient_cosines"):
        (tmp_path / "tables" / f"{stem}.md").write_text(f"| {stem} |\n")
    (tmp_path / "figures" / "02_table1_scatter.png").write_bytes(b"")

    text = write_summary("smoke", tmp_path, SMOKE_NOTE).read_text()

    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Table1 srcc", "## Table2 cross dataset", "## Gmad pairs", "## Task gradient cosines",
                        "## Beyond probe", "## Figures"]
    assert f"> {SMOKE_NOTE}" in text
    assert "- [02_table1_scatter](figures/02_table1_scatter.png)" in text


def test_a_summary_on_stand_in_data_is_titled_a_rehearsal_never_a_reproduction(tmp_path: Path):
    (tmp_path / "tables").mkdir()
    text = write_summary("paper", tmp_path, "stand-in rehearsal, not a result: ...", rehearsal=True).read_text()
    assert text.startswith("# LIQE stand-in rehearsal, not a result: paper profile")
    assert "reproduction" not in text.splitlines()[0]
