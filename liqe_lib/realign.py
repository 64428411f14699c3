"""Table 3: realigned scores pooled across datasets (paper Sec. 4.3).

Each dataset's subjective scores live on their own scale, so the paper maps them
onto one common scale with a 4-parameter logistic per dataset (betas from the
official `cbetas.mat`, copied to `results/paper/realignment_logistic_betas.csv`),
pools the six test sets and computes one SRCC between the pooled predictions and
the pooled realigned scores: a model must rank images across datasets, not only
within each.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .evaluate import logistic4
from .report import PAPER_DIR

#: registry dataset name -> the row of the betas file.
BETA_ROWS = {"live": "live", "csiq": "csiq", "bid": "bid", "clive": "clive", "koniq10k": "koniq", "kadid10k": "kadid"}


def load_betas(path: str | Path = PAPER_DIR / "realignment_logistic_betas.csv") -> dict[str, np.ndarray]:
    """{registry dataset name: [beta1, beta2, beta3, beta4]}."""
    table = pd.read_csv(path).set_index("dataset")
    return {name: table.loc[row, ["beta1", "beta2", "beta3", "beta4"]].to_numpy(float) for name, row in BETA_ROWS.items()}


def realign(scores: np.ndarray, betas: np.ndarray | None) -> np.ndarray:
    """A dataset's scores on the common scale: logistic4(scores, *betas); None: already on it."""
    scores = np.asarray(scores, dtype=np.float64)
    return scores if betas is None else logistic4(scores, *betas)


def pooled_srcc(predictions: pd.DataFrame, betas: dict[str, np.ndarray | None]) -> float:
    """SRCC of pooled predictions against pooled realigned scores.

    `predictions` has columns dataset, mos, pred (as `evaluate.predict` returns);
    every dataset in it needs betas.
    """
    missing = sorted(set(predictions["dataset"]) - set(betas))
    if missing:
        raise KeyError(f"no realignment betas for {missing}; known: {sorted(betas)}")
    realigned = np.concatenate([realign(group["mos"], betas[name]) for name, group in predictions.groupby("dataset", sort=False)])
    pred = np.concatenate([group["pred"].to_numpy() for _, group in predictions.groupby("dataset", sort=False)])
    return float(stats.spearmanr(pred, realigned).statistic)
