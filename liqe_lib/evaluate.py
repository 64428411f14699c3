"""Predictions and the paper's metrics (DESIGN.md, "Evaluation"), tidy tables and session aggregation.

Quality: SRCC and KRCC on the raw predictions; PLCC and RMSE after mapping the
predictions to the scores with the 4-parameter logistic
yhat = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|)), fitted from the initial
guess [max y, min y, mean x, std x]. Scene accuracy: with k scene labels, each
label found among the top-k predicted scenes is one hit out of k; the official
figure (`scene_acc_official`, BIQA_benchmark.py l. 196-219) counts an image with one
scene label in the denominator only when it is predicted right, which inflates it,
and is reported beside it (docs/FIDELITY.md). Distortion
accuracy: the argmax of p(d|x) against the labelled class. Images without scene
or distortion labels are left out of that accuracy (NaN when none has one).
Models with the appearance task add, per attribute, the accuracy of the argmax
level (`appearance_acc_<attribute>`) and their mean (`appearance_acc`, what model
selection uses); other models' tables are unchanged.

Results are tidy: one row per model x dataset x session x split x metric.
Sessions aggregate by a statistic (`SESSION_STATISTICS`): "median" with the sample
std (ddof=1), as the paper says, or "mean" with the population std (ddof=0), as the
official BIQA_benchmark.py computes it (`final_avg`, l. 377-393, in variables named
median); the fidelity mode chooses (`SESSION_STATISTIC`).
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import optimize, stats
from tqdm import tqdm

from . import rundata, runtime
from .config import DataConfig, TrainConfig, from_dict
from .crops import normalize
from .data.dataset import IQADataset, collate
from .model import LIQE, load_model
from .vocab import APPEARANCE_ATTRIBUTES

log = logging.getLogger(__name__)

QUALITY_METRICS = ("srcc", "krcc", "plcc", "rmse")
METRICS = (*QUALITY_METRICS, "scene_acc", "scene_acc_official", "distortion_acc")
#: statistic over sessions -> the ddof of the std reported beside it.
SESSION_STATISTICS = {"median": 1, "mean": 0}
#: The session statistic of each fidelity mode.
SESSION_STATISTIC = {"official": "mean", "paper": "median"}
APPEARANCE_METRICS = (*(f"appearance_acc_{a}" for a in APPEARANCE_ATTRIBUTES), "appearance_acc")
TIDY_COLUMNS = ("model", "dataset", "session", "split", "metric", "value")


# --- metrics -------------------------------------------------------------------------------

def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """The 4-parameter logistic that maps predictions onto the subjective scale (VQEG)."""
    return b2 + (b1 - b2) / (1 + np.exp(-(x - b3) / abs(b4)))


def fit_logistic(pred: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """Least-squares betas of `logistic4` from predictions to scores, from [max y, min y, mean x, std x]."""
    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    start = [mos.max(), mos.min(), pred.mean(), pred.std() or 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        betas, _ = optimize.curve_fit(logistic4, pred, mos, p0=start, maxfev=20000)
    return betas


def quality_metrics(pred, mos) -> dict[str, float]:
    """SRCC, KRCC, and PLCC and RMSE after the logistic fit. NaN where undefined: constant
    predictions or scores, fewer than 2 images (5 for PLCC and RMSE: the fit has 4 parameters),
    or a logistic fit that does not converge (logged)."""
    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    undefined = {m: math.nan for m in QUALITY_METRICS}
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return undefined
    result = {**undefined, "srcc": float(stats.spearmanr(pred, mos).statistic),
              "krcc": float(stats.kendalltau(pred, mos).statistic)}
    if len(pred) < 5:
        return result
    try:
        fitted = logistic4(pred, *fit_logistic(pred, mos))
    except RuntimeError as err:
        log.warning("4-parameter logistic fit failed on %d images (%s): PLCC and RMSE are NaN", len(pred), err)
        return result
    plcc = float(stats.pearsonr(fitted, mos).statistic) if np.ptp(fitted) > 0 else math.nan
    return {**result, "plcc": plcc, "rmse": float(np.sqrt(np.mean((fitted - mos) ** 2)))}


def scene_hits(prob: torch.Tensor, multi_hot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: (hits, k) of the top-k rule, k = number of scene labels (0 when unknown)."""
    k = multi_hot.sum(dim=1).long()
    ranks = prob.argsort(dim=1, descending=True).argsort(dim=1)  # rank of each scene, 0 = most likely
    hits = ((ranks < k[:, None]) & (multi_hot > 0)).sum(dim=1)
    return hits, k


def metrics(pred: pd.DataFrame) -> dict[str, float]:
    """All metrics of a `predict` table (one dataset)."""
    result = quality_metrics(pred["pred"], pred["mos"]) if pred["pred"].notna().all() else \
        {m: math.nan for m in QUALITY_METRICS}
    labelled = pred["scene_k"] > 0
    scored = labelled.any() and pred["scene_hits"].notna().all()
    hits, k = pred.loc[labelled, "scene_hits"], pred.loc[labelled, "scene_k"]
    result["scene_acc"] = float(hits.sum() / k.sum()) if scored else math.nan
    official_denominator = hits.where(k == 1, k).sum()  # a single-label image counts only when it is right
    result["scene_acc_official"] = (float(hits.sum() / official_denominator) if scored and official_denominator
                                    else math.nan)
    known = (pred["distortion"] >= 0) & pred["distortion_pred"].notna()
    result["distortion_acc"] = (float((pred.loc[known, "distortion"] == pred.loc[known, "distortion_pred"]).mean())
                                if known.any() else math.nan)
    if f"appearance_{APPEARANCE_ATTRIBUTES[0]}_pred" in pred:
        result.update(appearance_accuracies(pred))
    return result


def appearance_accuracies(pred: pd.DataFrame) -> dict[str, float]:
    """Per attribute, the share of labelled images whose most likely level is the labelled one; and the
    mean over the attributes that have labelled images (NaN for an attribute without any)."""
    result = {}
    for attribute in APPEARANCE_ATTRIBUTES:
        label, guess = pred[f"appearance_{attribute}"], pred[f"appearance_{attribute}_pred"]
        known = label >= 0
        accuracy = float((label[known] == guess[known]).mean()) if known.any() else math.nan
        result[f"appearance_acc_{attribute}"] = accuracy
    values = [v for v in result.values() if not math.isnan(v)]
    result["appearance_acc"] = sum(values) / len(values) if values else math.nan
    return result


# --- predictions ---------------------------------------------------------------------------

@torch.inference_mode()
def predict(model: LIQE, dataset: IQADataset, batch_size: int = 16, device: torch.device | str = "cpu",
            autocast=None, num_workers: int = 0) -> pd.DataFrame:
    """One row per readable image: path, mos, pred (the quality score), and the labelled and
    predicted scene/distortion outcomes (and appearance levels, for a model with that task).
    Unreadable images are logged by `collate` and counted here."""
    was_training = model.training
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate,
                                         num_workers=num_workers)
    frames, skipped = [], []
    for batch in tqdm(loader, desc=f"evaluate {dataset.name}", leave=False, disable=len(loader) < 4):
        skipped += batch["skipped"]
        if not batch["path"]:
            continue
        with autocast or nullcontext():
            out = model(normalize(batch["crops"].to(device)))
        frame = pd.DataFrame({"path": batch["path"], "mos": batch["score"].numpy(),
                              "distortion": batch["distortion"].numpy()})
        frame["pred"] = out.score.float().cpu().numpy() if out.score is not None else math.nan
        frame["distortion_pred"] = out.distortion.argmax(dim=1).cpu().numpy() if out.distortion is not None \
            else math.nan
        if out.scene is not None:
            hits, k = scene_hits(out.scene.float().cpu(), batch["scenes"])
            frame["scene_hits"], frame["scene_k"] = hits.numpy(), k.numpy()
        else:
            frame["scene_hits"], frame["scene_k"] = math.nan, batch["scenes"].sum(dim=1).long().numpy()
        if out.appearance is not None:
            guesses = out.appearance.argmax(dim=2).cpu().numpy()
            for i, attribute in enumerate(APPEARANCE_ATTRIBUTES):
                frame[f"appearance_{attribute}"] = batch["appearance"][:, i].numpy()
                frame[f"appearance_{attribute}_pred"] = guesses[:, i]
        frames.append(frame)
    model.train(was_training)
    if skipped:
        log.warning("%s: %d unreadable image(s) left out of the evaluation: %s", dataset.name, len(skipped),
                    skipped[:5])
    if not frames:
        raise ValueError(f"{dataset.name}: no readable image to evaluate ({len(dataset)} rows)")
    result = pd.concat(frames, ignore_index=True)
    result.insert(0, "dataset", dataset.name)
    return result


def evaluate_datasets(model: LIQE, datasets: dict[str, IQADataset], batch_size: int = 16,
                      device: torch.device | str = "cpu", autocast=None) -> dict[str, dict[str, float]]:
    """{dataset: metrics} of a model on several datasets (the trainer's per-epoch validation)."""
    return {name: metrics(predict(model, ds, batch_size, device, autocast)) for name, ds in datasets.items()}


# --- tables --------------------------------------------------------------------------------

def tidy(results: dict[str, dict[str, float]], model: str, session: int, split: str) -> pd.DataFrame:
    """{dataset: {metric: value}} -> the long table (model, dataset, session, split, metric, value)."""
    rows = [(model, dataset, session, split, metric, value)
            for dataset, values in results.items() for metric, value in values.items()]
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


def session_statistic(values, statistic: str = "median"):
    """The sessions' `statistic` ("median" or "mean") of a Series or a grouped Series."""
    if statistic not in SESSION_STATISTICS:
        raise ValueError(f"unknown session statistic {statistic!r}; choose one of {tuple(SESSION_STATISTICS)}")
    return values.agg(statistic)


def session_std(values, statistic: str = "median"):
    """The std reported beside `statistic`: sample std (ddof 1) beside the median, population std (ddof 0,
    NumPy's default, as the official np.std) beside the mean."""
    return values.std(ddof=SESSION_STATISTICS[statistic])


def aggregate(table: pd.DataFrame, statistic: str = "median") -> pd.DataFrame:
    """`statistic` and its std over sessions, per model x dataset x split x metric (NaN values ignored)."""
    grouped = table.groupby(["model", "dataset", "split", "metric"], sort=False)["value"]
    return pd.DataFrame({statistic: session_statistic(grouped, statistic), "std": session_std(grouped, statistic),
                         "sessions": grouped.count()}).reset_index()


def save_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6g")
    return path


# --- a checkpoint on a dataset ---------------------------------------------------------------

def checkpoint_config(checkpoint: str | os.PathLike) -> TrainConfig | None:
    """The training config a `liqe-repro` checkpoint records (None for weights from elsewhere)."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    return from_dict(saved["config"]) if isinstance(saved, dict) and "config" in saved else None


def evaluate_checkpoint(checkpoint: str | os.PathLike, datasets: list[str], split: str = "test", *,
                        data: DataConfig | None = None, device: str = "auto",
                        model_name: str | None = None, max_images: int | None = None) -> pd.DataFrame:
    """Tidy metrics of a checkpoint on the `split` part (train/val/test, or `all` rows) of datasets,
    on at most `max_images` rows of each (the first ones; a rehearsal).

    The data settings (root, split kind, session, crops) default to those the
    checkpoint was trained with; `data` replaces them.
    """
    cfg = checkpoint_config(checkpoint)
    data = data or (cfg.data if cfg else DataConfig())
    torch_device = runtime.resolve_device(device)
    model = load_model(weights=checkpoint, device=torch_device)
    fidelity = cfg.fidelity if cfg else "official"
    precision = runtime.resolve_precision(cfg.precision if cfg else "auto", torch_device, fidelity)
    if precision == "fp16-weights":  # tested as trained, as BIQA_benchmark.py tests clip.load's fp16 model
        runtime.to_fp16_weights(model)
    autocast = runtime.autocast_context(precision, torch_device)
    name = model_name or (cfg.name if cfg else Path(checkpoint).stem)
    # appearance labels by the training split's tertiles, or the dataset's own when it is tested whole
    appearance = ("all" if split == "all" else "train") if "appearance" in model.task_set.tasks else None
    results = {}
    for dataset in datasets:
        rows = rundata.all_rows(dataset, data) if split == "all" else rundata.split_rows(dataset, data)[split]
        ds = rundata.make_dataset(dataset, rows[:max_images] if max_images else rows, data, train=False,
                                  appearance=appearance)
        results[dataset] = metrics(predict(model, ds, data.eval_batch_size, torch_device, autocast,
                                           data.num_workers))
    return tidy(results, name, data.session, split)
