"""Appearance attributes of an image (SLIQUE's third quality factor) and their low/medium/high classes.

SLIQUE (`papers/slique.txt`, Sec. III-C) annotates authentic images by brightness (BR),
contrast (CT), sharpness (SH) and colorfulness (CL), citing Hasler and Suesstrunk [11]
and Vu and Chandler's FISH [42], and classes each value as low, medium or high "based on
their value distributions". Its Appendix B with the exact procedures is not part of the
text we have, so the definitions below are the standard ones those citations point to:

* brightness: mean luma Y' = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) on [0, 1];
* contrast: RMS contrast, the standard deviation of Y' on [0, 1] (Peli, "Contrast in complex
  images", JOSA A 7(10), 1990);
* sharpness: FISH (Vu and Chandler, "A fast wavelet-based algorithm for global and local image
  sharpness estimation", IEEE SPL 19(7), 2012): log-energies of the high-pass sub-bands of a
  three-level CDF 9/7 wavelet transform of Y' on [0, 255], finer levels weighted more;
* colorfulness: M = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2) with rg = R - G,
  yb = (R + G) / 2 - B on [0, 255] (Hasler and Suesstrunk, "Measuring colorfulness in natural
  images", SPIE HVEI VIII 5007, 2003).

Classes are tertiles over a dataset; `tertiles` returns the thresholds with the classes so
that a test split can be classed with the training split's thresholds.
"""
from __future__ import annotations

import argparse
import logging
import sys
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from PIL import Image
from scipy.ndimage import convolve1d
from tqdm.auto import tqdm

from .data.commands import add_dataset_arguments
from .data.images import load_rgb
from .data.labels import LabelRow
from .data.registry import dataset_dir, get_spec, labels_root, load_rows, official_file
from .vocab import APPEARANCE_ATTRIBUTES, APPEARANCE_LEVELS

log = logging.getLogger(__name__)

#: The attributes in the spelling of the prompts (American, as SLIQUE and Hasler and Suesstrunk write it).
ATTRIBUTES: tuple[str, ...] = APPEARANCE_ATTRIBUTES
LEVELS: tuple[str, ...] = APPEARANCE_LEVELS
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601

#: CDF 9/7 analysis filters, normalised as PyWavelets' and MATLAB's `bior4.4` (low-pass sums to sqrt 2).
CDF97_LOW = np.array([0.03782845550726404, -0.023849465019556843, -0.11062440441843718, 0.37740285561283066,
                      0.8526986790088938, 0.37740285561283066, -0.11062440441843718, -0.023849465019556843,
                      0.03782845550726404])
CDF97_HIGH = np.array([-0.06453888262869706, 0.04068941760916406, 0.41809227322161724, -0.7884856164055829,
                       0.41809227322161724, 0.04068941760916406, -0.06453888262869706])
FISH_LEVELS = 3
FISH_ALPHA = 0.8  # weight of the HH band against the mean of LH and HL (Vu and Chandler, Eq. 2)


def _rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """An RGB image as float64 (H, W, 3) on [0, 255]."""
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image shaped (H, W, 3), got {array.shape}")
    return array


def luma(image: Image.Image | np.ndarray) -> np.ndarray:
    """BT.601 luma Y' of an RGB image on [0, 255], (H, W)."""
    return _rgb(image) @ np.array(LUMA_WEIGHTS)


def brightness(image: Image.Image | np.ndarray) -> float:
    """Mean luma on [0, 1]: 0 for black, 1 for white."""
    return float(luma(image).mean() / 255.0)


def contrast(image: Image.Image | np.ndarray) -> float:
    """RMS contrast (Peli 1990): the standard deviation of luma on [0, 1]; 0.5 for half black, half white."""
    return float(luma(image).std() / 255.0)


def colorfulness(image: Image.Image | np.ndarray) -> float:
    """Hasler and Suesstrunk's M (2003), which they found to match perceived colorfulness (r = 0.95).

    Grey images score 0; the saturated primaries score highest (pure red 0.3 * sqrt(255^2 + 127.5^2)).
    """
    rgb = _rgb(image)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _analyse(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One-dimensional CDF 9/7 analysis along `axis` with symmetric extension: (low, high) halves.

    The low band keeps the even samples and the high band the odd ones (the JPEG 2000 phase).
    """
    low = convolve1d(x, CDF97_LOW, axis=axis, mode="mirror")
    high = convolve1d(x, CDF97_HIGH, axis=axis, mode="mirror")
    take = [slice(None)] * x.ndim
    take[axis] = slice(0, None, 2)
    even = tuple(take)
    take[axis] = slice(1, None, 2)
    return low[even], high[tuple(take)]


def sharpness(image: Image.Image | np.ndarray) -> float:
    """FISH, the global sharpness index of Vu and Chandler (2012), on the luma of an RGB image.

    Blur removes high frequencies, so the energy left in the high-pass wavelet sub-bands
    measures sharpness. At level n = 1 (finest) .. 3, E_XY = log10(1 + mean(S_XY^2)) for
    the LH, HL and HH bands, E_n = (1 - a)(E_LH + E_HL)/2 + a E_HH with a = 0.8, and
    FISH = sum_n 2^(3 - n) E_n. A flat image scores 0; blurring an image lowers its score.
    """
    band = luma(image)
    if min(band.shape) < 2 ** FISH_LEVELS:
        raise ValueError(f"FISH needs at least {2 ** FISH_LEVELS} pixels a side, got {band.shape}")
    total = 0.0
    for level in range(1, FISH_LEVELS + 1):
        low_rows, high_rows = _analyse(band, axis=1)
        band, lh = _analyse(low_rows, axis=0)
        hl, hh = _analyse(high_rows, axis=0)
        e_lh, e_hl, e_hh = (float(np.log10(1.0 + np.mean(s * s))) for s in (lh, hl, hh))
        total += 2.0 ** (FISH_LEVELS - level) * ((1 - FISH_ALPHA) * (e_lh + e_hl) / 2 + FISH_ALPHA * e_hh)
    return total


def appearance(image: Image.Image | np.ndarray) -> dict[str, float]:
    """All four attributes of an RGB image, keyed by `ATTRIBUTES`."""
    rgb = _rgb(image)
    return {"brightness": brightness(rgb), "contrast": contrast(rgb), "sharpness": sharpness(rgb),
            "colorfulness": colorfulness(rgb)}


# --- classes -----------------------------------------------------------------------------
def tertile_thresholds(values: ArrayLike) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles (linear interpolation) of the finite values."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        raise ValueError("no finite values to take tertiles of")
    low, high = np.quantile(finite, [1 / 3, 2 / 3])
    return float(low), float(high)


def classify(values: ArrayLike, thresholds: tuple[float, float]) -> np.ndarray:
    """low below the first threshold, high above the second, medium in between (inclusive).

    Values on a threshold are medium, so a dataset whose attribute never varies is all
    medium rather than all low. Non-finite values (unreadable images) get None.
    """
    array = np.asarray(values, dtype=np.float64)
    classes = np.where(array < thresholds[0], LEVELS[0], np.where(array > thresholds[1], LEVELS[2], LEVELS[1]))
    return np.where(np.isfinite(array), classes, None).astype(object)


def tertiles(values: ArrayLike) -> tuple[np.ndarray, tuple[float, float]]:
    """Classes of `values` by their own tertiles, and the thresholds (to class other splits with `classify`)."""
    thresholds = tertile_thresholds(values)
    return classify(values, thresholds), thresholds


def add_levels(table: pd.DataFrame, thresholds: Mapping[str, tuple[float, float]] | None = None
               ) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    """A copy of `table` with a `<attribute>_level` column per attribute, and the thresholds used.

    Without `thresholds` each attribute is classed by the table's own tertiles (SLIQUE's
    annotation of a database); pass a training split's thresholds to class a test split.
    """
    out = table.copy()
    used: dict[str, tuple[float, float]] = {}
    for name in ATTRIBUTES:
        used[name] = tuple(thresholds[name]) if thresholds is not None else tertile_thresholds(out[name])
        out[f"{name}_level"] = classify(out[name], used[name])
    if "error" in out:  # keep the error column last
        out = out[[column for column in out.columns if column != "error"] + ["error"]]
    return out, used


# --- datasets ----------------------------------------------------------------------------
def measure_rows(rows: Sequence[LabelRow], root: str | os.PathLike, progress: bool = True) -> pd.DataFrame:
    """Attributes of the images of `rows` (paths relative to `root`), one row each, in order.

    Columns: path, score, the four attributes, error. An unreadable image keeps its row
    with NaN attributes and the reason in `error`; each one is logged and the total is
    reported, never dropped silently.
    """
    root = Path(root)
    records = []
    for row in tqdm(rows, desc="appearance", unit="image", disable=None if progress else True):
        record: dict = {"path": row.path, "score": row.score}
        try:
            record.update(appearance(load_rgb(root / row.path)))
            record["error"] = None
        except ValueError as err:  # an ImageDecodeError, or an image too small for FISH
            log.warning("cannot measure %s: %s", root / row.path, err)
            record.update({name: np.nan for name in ATTRIBUTES})
            record["error"] = str(err)
        records.append(record)
    table = pd.DataFrame(records, columns=["path", "score", *ATTRIBUTES, "error"])
    failed = int(table["error"].notna().sum())
    if failed:
        log.warning("%d of %d images under %s could not be measured (see the error column)", failed, len(rows), root)
    return table


def appearance_file(name: str, root: str | os.PathLike | None = None,
                    labels_dir: str | os.PathLike | None = None) -> Path:
    """Where the appearance table of dataset `name` goes: `<labels stem>_appearance.csv` next to its labels.

    Official LIQE sets: next to `<prefix>_all_clip.txt`; sets with their own label file: next
    to it; unlabelled sets: `appearance.csv` in the dataset folder.
    """
    spec = get_spec(name)
    if spec.label_source == "liqe":
        labels = official_file(spec, Path(labels_dir) if labels_dir is not None else labels_root(root))
    elif spec.label_file:
        labels = dataset_dir(spec, root) / spec.label_file
    else:
        return dataset_dir(spec, root) / "appearance.csv"
    return labels.with_name(f"{labels.stem}_appearance.csv")


def annotate_dataset(name: str, root: str | os.PathLike | None = None, labels_dir: str | os.PathLike | None = None,
                     out: str | os.PathLike | None = None, progress: bool = True) -> tuple[Path, pd.DataFrame]:
    """Measure every labelled image of dataset `name`, class by the dataset's tertiles, write the CSV.

    Returns the CSV path and the table (path, score, four attributes, four `_level`
    columns, error). The thresholds are logged; they can be recomputed from the table.
    """
    rows = load_rows(name, root, labels_dir)
    folder = dataset_dir(name, root)
    measured = measure_rows(rows, folder, progress)
    if measured["error"].notna().all():
        raise ValueError(f"none of the {len(rows)} images of {name} under {folder} could be read "
                         f"(first: {measured['error'].iloc[0] if len(rows) else 'no rows'})")
    table, thresholds = add_levels(measured)
    for attribute, (low, high) in thresholds.items():
        log.info("%s %s tertiles: low < %.4g <= medium <= %.4g < high", name, attribute, low, high)
    path = Path(out) if out is not None else appearance_file(name, root, labels_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path, table


def measurements(name: str, root: str | os.PathLike | None = None,
                 labels_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The attributes of every labelled image of dataset `name`, in label-file order.

    Read from the dataset's appearance file (`appearance_file`) when its paths and scores
    are those of the label file and it has every attribute column, else measured and written
    there (`annotate_dataset`): the file is a cache that a rebuilt or relabelled dataset (or a
    file from before an attribute was renamed) invalidates. Its `_level` columns
    are the dataset's own tertiles; the appearance task reclasses by the training split's.
    """
    path = appearance_file(name, root, labels_dir)
    if path.is_file():
        table = pd.read_csv(path)
        rows = load_rows(name, root, labels_dir)
        if (set(ATTRIBUTES) <= set(table.columns) and table["path"].tolist() == [r.path for r in rows]
                and np.allclose(table["score"], [r.score for r in rows])):
            return table
        log.info("%s does not match the labels of %s any more: measuring again", path, name)
    return annotate_dataset(name, root, labels_dir, progress=False)[1]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "appearance", help="measure brightness, contrast, sharpness and colorfulness of a dataset",
        description="Measure SLIQUE's four appearance attributes for every labelled image of a dataset, class "
                    "them low/medium/high by the dataset's tertiles and write a CSV keyed by path next to the "
                    "labels (<labels stem>_appearance.csv). Unreadable images keep a row with an error.")
    add_dataset_arguments(parser)
    parser.add_argument("--out", default=None, help="CSV to write instead of the default next to the labels")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`liqe appearance`: the CSV path and counts go to stderr; exit 2 when nothing could be written."""
    try:
        path, table = annotate_dataset(args.dataset, args.root, args.labels_root, args.out)
    except (KeyError, FileNotFoundError, ValueError) as err:  # unknown dataset, missing or bad labels, no image
        print(f"liqe appearance: error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    failed = int(table["error"].notna().sum())
    print(f"liqe appearance: {len(table) - failed} of {len(table)} images measured, {failed} unreadable; "
          f"wrote {path}", file=sys.stderr)
    return 0
