"""SLIQUE's linear-probe protocol: ridge regression on frozen image features.

SLIQUE (`papers/slique.txt`, Sec. III-B and IV-A) evaluates an image encoder by freezing
it and mapping its features to MOS with "a simple ridge regression", learned on 70% of a
dataset, its regularisation chosen on 10% ("as the learning of ridge regression requires
no iteration, we use the validation set to determine the regularization coefficient"),
tested on 20%. Applied to LIQE it separates how good the image features are from how
good the prompt head is: the same protocol scores pretrained CLIP and a LIQE checkpoint.

Features: each of the 15 evaluation crops (`crops.eval_crops`) is encoded by the image
tower and L2-normalised, as LIQE's forward pass does, and the image's feature is their
mean. The ridge (scikit-learn `Ridge`, with intercept) is fitted on the training split for
every alpha of a log grid; the alpha with the lowest validation RMSE wins (ties go to the
larger alpha, the simpler model). Not the validation SRCC: ranks are blind to shrinkage,
so the SRCC curve plateaus as alpha grows and its maximum on a small validation split is
arbitrary. Test SRCC and PLCC follow; the PLCC is raw, with no logistic fitted first
(unlike `liqe evaluate`'s PLCC): the ridge output is already a linear map onto the score
scale. `liqe probe` and `liqe evaluate --probe ridge` (a tidy table, `probe_metrics`) run it.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import Ridge
from tqdm.auto import tqdm

from . import backbone
from .config import DataConfig
from .crops import EVAL_CROPS, normalize
from .data.commands import add_dataset_arguments
from .data.dataset import IQADataset, collate
from .data.labels import LabelRow
from .data.registry import get_spec
from .data.splits import PARTS
from .evaluate import TIDY_COLUMNS
from .model import LIQE, load_model
from .rundata import SPLITS, ensure_dataset, split_rows
from .score import RANDOM_WEIGHTS, default_device
from .vocab import UNKNOWN

log = logging.getLogger(__name__)

#: The regularisation grid: 10^-4 .. 10^4 in half decades.
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-4, 4, 17))

#: Fewest usable images per part: a fit and a correlation need two, a validation RMSE one.
MIN_IMAGES = {"train": 2, "val": 1, "test": 2}

SplitRows = Mapping[str, Sequence[LabelRow | tuple[str, float]]]


@dataclass
class ProbeResult:
    """What one probe measured. `curve`: validation RMSE and SRCC per alpha; `predictions`: the test images."""

    alpha: float
    val_rmse: float
    val_srcc: float
    srcc: float  # test
    plcc_raw: float  # test, no logistic fitted (see the module docstring)
    n_train: int
    n_val: int
    n_test: int
    curve: pd.DataFrame
    predictions: pd.DataFrame
    skipped: list[str] = field(default_factory=list)  # unreadable images, left out of every split

    def summary(self) -> dict:
        """A flat record for a tidy table of probes."""
        return {"alpha": self.alpha, "val_rmse": self.val_rmse, "val_srcc": self.val_srcc, "srcc": self.srcc,
                "plcc_raw": self.plcc_raw, "n_train": self.n_train, "n_val": self.n_val, "n_test": self.n_test,
                "skipped": len(self.skipped)}


def _srcc(y: np.ndarray, prediction: np.ndarray) -> float:
    """Spearman's rho, or NaN when either side is constant or has fewer than two values."""
    if len(y) < 2 or np.ptp(y) == 0 or np.ptp(prediction) == 0:
        return math.nan
    return float(spearmanr(y, prediction)[0])


def _plcc(y: np.ndarray, prediction: np.ndarray) -> float:
    if len(y) < 2 or np.ptp(y) == 0 or np.ptp(prediction) == 0:
        return math.nan
    return float(pearsonr(y, prediction)[0])


# --- features ----------------------------------------------------------------------------
@torch.inference_mode()
def extract_features(model: LIQE | torch.nn.Module, rows: Sequence[LabelRow], root: str | os.PathLike, *,
                     dataset: str = "", batch_size: int = 16, n_crops: int = EVAL_CROPS,
                     progress: bool = True) -> tuple[dict[str, np.ndarray], list[str]]:
    """Frozen features of the images of `rows` (paths relative to `root`): {path: (D,) float64}.

    `model` is a LIQE model or a bare open_clip model (anything with `encode_image`).
    `dataset` names the registry entry whose loading rules apply (SPAQ's 512-pixel shorter
    side). `n_crops` other than the protocol's 15 is for quick tests. Unreadable images are
    logged, left out and returned as the second value.
    Nothing is cached: pass the returned dict to `run_probe(features=...)` to reuse it
    across sessions.
    """
    encoder = model.clip if isinstance(model, LIQE) else model
    device = next(encoder.parameters()).device
    images = IQADataset(dataset or "probe", root, rows, train=False, n_crops=n_crops)
    loader = torch.utils.data.DataLoader(images, batch_size=batch_size, collate_fn=collate)
    was_training = encoder.training
    encoder.eval()
    features: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    try:
        with tqdm(total=len(images), desc="probe features", unit="image", disable=None if progress else True) as bar:
            for batch in loader:
                skipped += batch["skipped"]
                crops = batch["crops"]
                if len(crops):
                    views = crops.shape[1]
                    embedded = encoder.encode_image(normalize(crops.to(device)).flatten(0, 1), normalize=True)
                    means = embedded.float().view(len(crops), views, -1).mean(dim=1).cpu().double().numpy()
                    features.update(zip(batch["path"], means))
                bar.update(len(batch["path"]) + len(batch["skipped"]))
    finally:
        encoder.train(was_training)
    return features, skipped


# --- ridge -------------------------------------------------------------------------------
def fit_ridge(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], test_x: np.ndarray,
              alphas: Sequence[float] = ALPHAS) -> tuple[float, pd.DataFrame, np.ndarray]:
    """Fit a ridge per alpha on `train` (X, y), pick the alpha of least validation RMSE, predict `test_x`.

    Returns (chosen alpha, curve with columns alpha, val_rmse and val_srcc, test predictions).
    Of alphas with equal RMSE the largest is taken.
    """
    if not alphas:
        raise ValueError("the alpha grid is empty")
    grid = sorted(float(a) for a in alphas)
    fits = [Ridge(alpha=alpha).fit(*train) for alpha in grid]
    predictions = [fit.predict(val[0]) for fit in fits]
    curve = pd.DataFrame({"alpha": grid, "val_rmse": [float(np.sqrt(np.mean((p - val[1]) ** 2))) for p in predictions],
                          "val_srcc": [_srcc(val[1], p) for p in predictions]})
    rmse = curve["val_rmse"].to_numpy()
    best = int(np.flatnonzero(rmse == rmse.min())[-1])  # ties: the larger alpha
    return grid[best], curve, fits[best].predict(test_x)


def _as_row(item: LabelRow | tuple[str, float]) -> LabelRow:
    return item if isinstance(item, LabelRow) else LabelRow(str(item[0]), float(item[1]), UNKNOWN, ())


def run_probe(model: LIQE | torch.nn.Module | None, splits: SplitRows, root: str | os.PathLike | None = None, *,
              dataset: str = "", alphas: Sequence[float] = ALPHAS, batch_size: int = 16, n_crops: int = EVAL_CROPS,
              features: Mapping[str, np.ndarray] | None = None, progress: bool = True) -> ProbeResult:
    """SLIQUE's probe of `model`'s frozen image features on one train/val/test split.

    splits: {"train", "val", "test"} -> LabelRows or (path, score) pairs, paths relative to
    `root`. Features are extracted for every image of the split unless `features`
    ({path: vector}, e.g. from `extract_features`) is given, in which case `model` and
    `root` are not used; images without a feature (unreadable) are left out and listed
    in `skipped`. The chosen alpha, the validation curve and the test predictions are kept.
    """
    missing = [part for part in PARTS if part not in splits]
    if missing:
        raise ValueError(f"splits lack part(s) {missing}: expected keys {PARTS}")
    rows = {part: [_as_row(item) for item in splits[part]] for part in PARTS}
    if features is None:
        if model is None or root is None:
            raise ValueError("run_probe needs a model and a root to extract features, or precomputed `features`")
        unique = list({row.path: row for part in PARTS for row in rows[part]}.values())
        features, skipped = extract_features(model, unique, root, dataset=dataset, batch_size=batch_size,
                                             n_crops=n_crops, progress=progress)
    else:
        skipped = sorted({row.path for part in PARTS for row in rows[part] if row.path not in features})
    arrays = {}
    for part in PARTS:
        kept = [row for row in rows[part] if row.path in features]
        if len(kept) < MIN_IMAGES[part]:
            raise ValueError(f"the {part} split has {len(kept)} usable image(s); the probe needs at least "
                             f"{MIN_IMAGES[part]}")
        arrays[part] = (kept, np.stack([features[row.path] for row in kept]), np.array([row.score for row in kept]))
    if skipped:
        log.warning("%d image(s) without features left out of the probe: %s", len(skipped), ", ".join(skipped[:5]))
    alpha, curve, prediction = fit_ridge(arrays["train"][1:], arrays["val"][1:], arrays["test"][1], alphas)
    test_rows, _, test_y = arrays["test"]
    predictions = pd.DataFrame({"path": [row.path for row in test_rows], "score": test_y, "prediction": prediction})
    chosen = curve[curve["alpha"] == alpha].iloc[0]
    result = ProbeResult(alpha=alpha, val_rmse=float(chosen["val_rmse"]), val_srcc=float(chosen["val_srcc"]),
                         srcc=_srcc(test_y, prediction), plcc_raw=_plcc(test_y, prediction),
                         n_train=len(arrays["train"][0]), n_val=len(arrays["val"][0]), n_test=len(test_rows),
                         curve=curve, predictions=predictions, skipped=skipped)
    log.info("ridge probe: alpha %.3g (val RMSE %.4g, SRCC %.4f), test SRCC %.4f, PLCC (raw) %.4f on %d images",
             result.alpha, result.val_rmse, result.val_srcc, result.srcc, result.plcc_raw, result.n_test)
    return result


def probe_sessions(model: LIQE | torch.nn.Module, dataset: str, data: DataConfig, sessions: Sequence[int], *,
                   n_crops: int = EVAL_CROPS, progress: bool = True) -> dict[int, ProbeResult]:
    """The probe of `model` on `dataset` in each session of `data`'s split kind: {session: result}.

    Each image's features are extracted once, however many sessions use it; unreadable
    images are tried once and left out of every session.
    """
    features: dict[str, np.ndarray] = {}
    unreadable: set[str] = set()
    results = {}
    for session in sessions:
        cfg = dataclasses.replace(data, session=session)
        splits = split_rows(dataset, cfg)
        new = {row.path: row for part in PARTS for row in splits[part]
               if row.path not in features and row.path not in unreadable}
        if new:
            extracted, skipped = extract_features(model, list(new.values()), ensure_dataset(dataset, cfg),
                                                  dataset=dataset, batch_size=data.eval_batch_size, n_crops=n_crops,
                                                  progress=progress)
            features.update(extracted)
            unreadable.update(skipped)
        results[session] = run_probe(None, splits, features=features)
    return results


def probe_metrics(model: LIQE | torch.nn.Module, datasets: Sequence[str], data: DataConfig, model_name: str, *,
                  sessions: Sequence[int] | None = None, n_crops: int | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """The probe as a tidy table like `evaluate.tidy`'s: model, dataset, session, split "test", metric, value.

    Metrics are `ProbeResult.summary()`'s (srcc, plcc_raw, alpha, ...). Sessions default to
    `data.session`, crops to `data.eval_crops` (the protocol's 15 in the paper profile).
    """
    rows = []
    for dataset in datasets:
        results = probe_sessions(model, dataset, data, sessions or (data.session,),
                                 n_crops=n_crops or data.eval_crops, progress=progress)
        rows += [(model_name, dataset, session, "test", metric, float(value))
                 for session, result in results.items() for metric, value in result.summary().items()]
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


# --- command line --------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="SLIQUE's ridge-regression probe of a model's frozen image features",
        description="Fit a ridge regression from frozen image features (mean over the 15 evaluation crops) to "
                    "the scores of a dataset's training split, choose alpha on the validation split, report "
                    "test SRCC and raw PLCC. Features are extracted once and shared by all sessions.")
    parser.add_argument("--weights", required=True,
                        help=f"checkpoint file, open_clip pretrained tag (e.g. openai: plain CLIP), or "
                             f"'{RANDOM_WEIGHTS}' for random init (tests only)")
    parser.add_argument("--arch", default="ViT-B-32", choices=sorted(backbone.ARCHITECTURES),
                        help="architecture for weights that do not record it (default: ViT-B-32)")
    add_dataset_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default=None,
                        help="official session files or a seeded random 70/10/20 split (default: official "
                             "where the dataset has LIQE label files, else random)")
    parser.add_argument("--session", type=int, nargs="+", default=[1], metavar="S", help="session(s) (default: 1)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default: 16)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--csv", default=None, metavar="OUT", help="write one row per session to this CSV")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`liqe probe`: one row per session on stdout (and in --csv), the median too for several sessions."""
    weights = None if args.weights == RANDOM_WEIGHTS else args.weights
    try:
        split = args.split or ("official" if get_spec(args.dataset).label_source == "liqe" else "random")
        model = load_model(args.arch, weights, device=args.device or default_device())
        data = DataConfig(root=args.root, split=split, labels_root=args.labels_root, eval_batch_size=args.batch_size)
        results = probe_sessions(model, args.dataset, data, args.session)
        rows = [{"dataset": args.dataset, "split": split, "session": session, "arch": model.arch,
                 "weights": args.weights, **result.summary()} for session, result in results.items()]
    except (backbone.WeightsError, KeyError, FileNotFoundError, ValueError) as err:
        print(f"liqe probe: error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    table = pd.DataFrame(rows)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
    print(table.to_string(index=False, float_format="%.4f"))
    if len(table) > 1:
        print(f"median over {len(table)} sessions: SRCC {table['srcc'].median():.4f}, "
              f"PLCC (raw) {table['plcc_raw'].median():.4f}")
    return 0
