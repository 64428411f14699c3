"""The paper profile end to end, as a reproducer runs it, on stand-in copies of the ten releases (issue 14).

`liqe data standin` writes every dataset in its release layout; `liqe reproduce --profile paper
--rehearsal --arch liqe-tiny` then runs every notebook of the paper profile through papermill with
the paper's datasets, readers, splits, variants, tables and SUMMARY code, on CPU, with a
CPU-sized random backbone. The rehearsal's own sizes are cut further here (1 step an epoch, 4 test
images, 16 gMAD images) to keep CI short; `make rehearse-paper` runs the default rehearsal.
"""
import os

from liqe_lib.data.standin import build_standin
from liqe_lib.reproduce import NOTEBOOKS, REHEARSAL, reproduce

SECTIONS = ("## Table1 plcc", "## Table1 srcc", "## Table2 cross dataset", "## Table3 realignment",
            "## Table4 ablations", "## Table5 task combinations", "## Gmad pairs", "## Task gradient cosines",
            "## Beyond appearance accuracy", "## Beyond liqe vs appearance", "## Beyond probe", "## Figures")


def test_the_paper_profile_rehearses_end_to_end_on_stand_in_releases(tmp_path, shared_labels, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    root = tmp_path / "data"
    build_standin(root, images_per_dataset=8, official_labels=shared_labels)
    sizes = {**REHEARSAL, "steps_per_epoch": 1, "max_eval_images": 4, "max_playground": 16}
    timings = reproduce("paper", None, data_root=str(root), out_dir=str(tmp_path / "out"),
                        runs_dir=str(tmp_path / "runs"), arch="liqe-tiny", **sizes)
    assert [name for name, _ in timings] == list(NOTEBOOKS)
    summary = (tmp_path / "out" / "SUMMARY.md").read_text()
    assert summary.startswith("# LIQE stand-in rehearsal, not a result: paper profile")
    headings = [line for line in summary.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    sections = summary.split("\n## ")[1:-1]  # every table, each under its own stand-in note
    assert all("stand-in rehearsal, not a result" in section for section in sections)
    table3 = (tmp_path / "out" / "tables" / "table3_realignment.md").read_text()
    assert "| LIQE |" in table3 and "| UNIQUE |" in table3
    gmad = (tmp_path / "out" / "tables" / "gmad_pairs.md").read_text()
    assert "| LIQE | UNIQUE |" in gmad and "| UNIQUE | LIQE |" in gmad and "| LIQE | (6) visual only |" in gmad
    # the zero-shot variant (1) stays untrained although the study trains one epoch
    assert not (tmp_path / "runs" / "paper" / "pretrained-clip-c2" / "session-1" / "last.pt").exists()
    assert os.path.isfile(tmp_path / "runs" / "paper" / "liqe" / "session-1" / "best.pt")
