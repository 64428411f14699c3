"""Reproduced numbers next to the paper's (`results/paper/`), as CSV and Markdown.

Input is the tidy table of `evaluate` (model x dataset x session x split x metric).
What the paper reports, and so what is compared:

* Table 1: per dataset, the median over sessions of SRCC or PLCC, with the std.
* Table 4: per variant and dataset, the median SRCC; "Mean" is the mean of the
  six medians.
* Table 5: per task combination, the median over sessions of the mean over the
  datasets (mSRCC, mACC) of SRCC, scene and distortion accuracy.

The paper says median; the official BIQA_benchmark.py computes the mean (and a
population std). Every table takes the session `statistic` (`evaluate.SESSION_STATISTIC`
of the run's fidelity mode) and its notes say which one it is.

Datasets are matched to the paper's columns by `PAPER_COLUMNS`; a dataset the
paper does not have (the smoke profile's synthetic set) gets its own column with
no paper value. Missing values print as "-".
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .evaluate import session_statistic, session_std
from .experiments import TABLE4, TABLE5

PAPER_DIR = Path(__file__).resolve().parents[1] / "results" / "paper"
#: registry dataset name -> the paper's column name.
PAPER_COLUMNS = {"live": "LIVE", "csiq": "CSIQ", "kadid10k": "KADID-10k", "bid": "BID", "clive": "CLIVE",
                 "koniq10k": "KonIQ-10k", "tid2013": "TID2013", "spaq": "SPAQ", "pipal": "PIPAL"}
SMOKE_NOTE = ("Smoke profile: liqe-tiny from random init on the synthetic set. These numbers prove the "
              "pipeline runs end to end; they are not a reproduction of the paper.")


def paper_table(name: str, paper_dir: str | os.PathLike = PAPER_DIR) -> pd.DataFrame:
    """A table of the paper as data, indexed by its first column (e.g. `table4_ablations_srcc`)."""
    path = Path(paper_dir) / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"paper table {path} not found (copied from shared/paper_tables)")
    frame = pd.read_csv(path)
    return frame.set_index(frame.columns[0])


def _test(tidy: pd.DataFrame, metric: str, splits: tuple[str, ...] = ("test",)) -> pd.DataFrame:
    """The rows of `metric` on the test split (cross-dataset tables also take a whole dataset, split "all"),
    datasets named as in the paper."""
    rows = tidy[tidy["split"].isin(splits) & (tidy["metric"] == metric)]
    return rows.assign(dataset=rows["dataset"].map(lambda d: PAPER_COLUMNS.get(d, d)))


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Rows of both; for every column C of either, `C` (reproduced) then `C (paper)`."""
    rows = list(dict.fromkeys([*ours.index, *paper.index]))
    columns = list(dict.fromkeys([*ours.columns, *paper.columns]))
    result = pd.DataFrame(index=pd.Index(rows, name=ours.index.name or paper.index.name))
    for column in columns:
        result[column] = ours[column] if column in ours else float("nan")
        result[f"{column} (paper)"] = paper[column] if column in paper else float("nan")
    return result


def table1(tidy: pd.DataFrame, metric: str = "srcc", model: str = "liqe", statistic: str = "median") -> pd.DataFrame:
    """Per dataset: the reproduced `statistic` over sessions of SRCC/PLCC and its std (`evaluate.session_std`),
    and the paper's LIQE row (a median and a std), in columns named after the metric."""
    rows = _test(tidy[tidy["model"] == model], metric).groupby("dataset", sort=False)["value"]
    name = metric.upper()
    ours = pd.DataFrame({name: session_statistic(rows, statistic), "std": session_std(rows, statistic)})
    paper = paper_table(f"table1_{metric}").loc["LIQE"]
    datasets = [c for c in paper.index if not c.endswith("_std")]
    theirs = pd.DataFrame({name: [paper[d] for d in datasets], "std": [paper[f"{d}_std"] for d in datasets]},
                          index=datasets)
    return side_by_side(ours.rename_axis("dataset"), theirs.rename_axis("dataset"))


def table4(tidy: pd.DataFrame, statistic: str = "median") -> pd.DataFrame:
    """SRCC over sessions (`statistic`) of every Table 4 variant per dataset, and the mean over datasets."""
    medians = _test(tidy[tidy["model"].isin(TABLE4)], "srcc").groupby(["model", "dataset"], sort=False)["value"]
    ours = session_statistic(medians, statistic).unstack("dataset")
    ours["Mean"] = ours.mean(axis=1)
    ours = ours.rename(index=TABLE4)
    ours = ours.reindex([label for label in TABLE4.values() if label in ours.index])
    return side_by_side(ours.rename_axis("variant"), paper_table("table4_ablations_srcc"))


def table5(tidy: pd.DataFrame, statistic: str = "median") -> pd.DataFrame:
    """Per task combination: `statistic` over sessions of the mean over datasets of SRCC and the accuracies."""
    names = {"srcc": "mSRCC", "scene_acc": "mACC_scene", "distortion_acc": "mACC_distortion"}
    columns = {}
    for metric, column in names.items():
        rows = _test(tidy[tidy["model"].isin(TABLE5)], metric)
        session_means = rows.groupby(["model", "session"], sort=False)["value"].mean()
        columns[column] = session_statistic(session_means.groupby("model", sort=False), statistic)
    ours = pd.DataFrame(columns).rename(index=TABLE5)
    ours = ours.reindex([label for label in TABLE5.values() if label in ours.index])
    return side_by_side(ours.rename_axis("tasks"), paper_table("table5_task_combinations"))


def table2(tidy: pd.DataFrame, model: str = "liqe", statistic: str = "median") -> pd.DataFrame:
    """Cross-dataset SRCC: per test set, the `statistic` over the sessions' models, and the paper's LIQE row."""
    rows = session_statistic(_test(tidy[tidy["model"] == model], "srcc", ("test", "all"))
                             .groupby("dataset", sort=False)["value"], statistic)
    ours = pd.DataFrame([rows.to_dict()], index=pd.Index(["LIQE"], name="method"))
    return side_by_side(ours, paper_table("table2_cross_dataset_srcc").loc[["LIQE"]])


def table3(per_session_srcc: dict[str, pd.Series], statistic: str = "median") -> pd.DataFrame:
    """Pooled SRCC on the realigned scale (`realign.pooled_srcc` per session) of each model (row label ->
    its sessions' SRCC): the `statistic` over sessions, next to the paper's rows of the same labels."""
    ours = pd.DataFrame({"SRCC": [session_statistic(s, statistic) for s in per_session_srcc.values()]},
                        index=pd.Index(list(per_session_srcc), name="method"))
    paper = paper_table("table3_realignment_srcc")
    return side_by_side(ours, paper.loc[[m for m in ours.index if m in paper.index]])


def to_markdown(table: pd.DataFrame, note: str | None = None, digits: int = 3) -> str:
    """A GitHub Markdown table (numbers rounded, NaN as "-"), preceded by `note` if given."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in table.iterrows():
        cells = ["-" if pd.isna(v) else (f"{v:.{digits}f}" if isinstance(v, float) else str(v)) for v in row]
        lines.append("| " + " | ".join([str(label), *cells]) + " |")
    return (f"> {note}\n\n" if note else "") + "\n".join(lines) + "\n"


def write(table: pd.DataFrame, stem: str | os.PathLike, note: str | None = None) -> tuple[Path, Path]:
    """Save `<stem>.csv` and `<stem>.md`; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md = stem.with_suffix(".csv"), stem.with_suffix(".md")
    table.to_csv(csv, float_format="%.4f")
    md.write_text(to_markdown(table, note))
    return csv, md
