"""The tables of notebook 10, beyond the paper: what fine-tuning does to the image features, and what
SLIQUE's appearance attributes add as a fourth task.

* `probe_table`: SLIQUE's ridge probe (`probe`) of the features LIQE starts from and of the
  LIQE-trained ones: median over sessions of the test SRCC and raw PLCC.
* `versus_table`: LIQE and LIQE + appearance, Table 1 style: median and std over sessions
  of SRCC and PLCC (after the logistic fit).
* `appearance_table`: LIQE + appearance's accuracy per attribute (the argmax level against
  the training-tertile label; 1/3 is chance on balanced tertiles), median over sessions.

Input is the tidy table of `evaluate` or `probe.probe_metrics`; every number is a
median over sessions of the test split, as in the paper's tables.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from .evaluate import APPEARANCE_METRICS
from .experiments import BEYOND
from .report import PAPER_COLUMNS
from .vocab import APPEARANCE_ATTRIBUTES

#: Row labels of the probe table: the model names `Study.probe` gives.
PROBE_ROWS = {"initial": "initial (before training)", "liqe": "LIQE-trained"}


def session_table(tidy: pd.DataFrame, rows: Mapping[str, str], metrics: Mapping[str, str],
                  with_std: bool = False, index: str = "model") -> pd.DataFrame:
    """Median (and std, with `with_std`) over sessions of the test split's `metrics`, one row per model of `rows`
    (model name -> row label), one column per dataset x metric ("<dataset> <metric label>")."""
    test = tidy[(tidy["split"] == "test") & tidy["model"].isin(rows) & tidy["metric"].isin(metrics)]
    stats = test.groupby(["model", "dataset", "metric"], sort=False)["value"].agg(["median", "std"])
    table = pd.DataFrame(index=pd.Index([label for model, label in rows.items() if model in set(test["model"])],
                                        name=index))
    for dataset in dict.fromkeys(test["dataset"]):
        for metric, label in metrics.items():
            name = f"{PAPER_COLUMNS.get(dataset, dataset)} {label}"
            for stat in ("median", "std") if with_std else ("median",):
                column = stats[stat].xs((dataset, metric), level=("dataset", "metric"))
                table[name if stat == "median" else f"{name} std"] = column.rename(index=rows)
    return table


def probe_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """(a) Ridge probe of the initial and the LIQE-trained image features."""
    return session_table(tidy, PROBE_ROWS, {"srcc": "SRCC", "plcc_raw": "PLCC (raw)"}, index="features")


def versus_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """(b) LIQE against LIQE + appearance: SRCC and PLCC, median and std over sessions."""
    return session_table(tidy, BEYOND, {"srcc": "SRCC", "plcc": "PLCC"}, with_std=True)


def appearance_table(tidy: pd.DataFrame, model: str = "liqe+appearance") -> pd.DataFrame:
    """(c) Accuracy of each appearance attribute and their mean: one row per attribute, a column per dataset."""
    metrics = dict(zip(APPEARANCE_METRICS, (*APPEARANCE_ATTRIBUTES, "mean")))
    test = tidy[(tidy["split"] == "test") & (tidy["model"] == model) & tidy["metric"].isin(metrics)]
    medians = test.groupby(["metric", "dataset"], sort=False)["value"].median().unstack("dataset")
    medians = medians.rename(index=metrics, columns=lambda dataset: PAPER_COLUMNS.get(dataset, dataset))
    return medians.reindex(list(metrics.values())).rename_axis("attribute")
