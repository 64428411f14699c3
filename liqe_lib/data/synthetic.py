"""The embedded synthetic IQA dataset: the smoke profile's data, built offline from what installed packages ship.

Pristine images are the natural photographs bundled with scikit-image, scikit-learn and
matplotlib (or any folder of images, e.g. Waterloo Exploration for a large set), each
with scene labels from `PRISTINE`. Every one is distorted by the 11 generators of
`distortions.GENERATORS` at five levels and scored with a pseudo-MOS (`pseudo_mos`).

Layout of the output folder (the `synthetic` spec of the registry):

    reference/<content>.png                pristine images (not in the labels)
    distorted/<content>/<fine>_<level>.png  e.g. distorted/chelsea/gaussian-blur_3.png
    labels.txt                              LIQE label format
    metrics.csv                             raw metric values, level and pseudo-MOS of every image
    level_srcc.csv                          per class: SRCC between pseudo-MOS and distortion level
    manifest.json                           parameters, sources, library versions, sha256 of every image

The same seed gives the same bytes: noise draws come from a generator seeded by
(seed, content name, class, level), and no file holds a time or an absolute path.

The default build (16 contents, 880 distorted images, 133 MB) takes about 140 CPU-seconds:
2 min 45 s wall on two cores shared with other work, about half that on two idle ones.
Every class's pseudo-MOS falls with the level in every content (median per-content SRCC -1;
pooled over contents -0.78 to -0.97, `level_srcc.csv`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
import skimage
import sklearn.datasets
import torch
from PIL import Image
from scipy.stats import spearmanr
from tqdm import tqdm

from .distortions import GENERATORS, LEVELS
from .images import load_rgb
from .labels import LabelRow, write_labels
from .pseudo_mos import METRICS, WORKING_POOL, full_reference_scores, pseudo_mos, to_batch
from .registry import get_spec
from .releases import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)

FORMAT = "liqe-synthetic/1"
LONGER_SIDE = 384
MAX_SIDE = 512
MIN_SIDE = 224
PNG_COMPRESSION = 3
SCORE_DECIMALS = 4
#: Warm tone given to grey photographs, so that the colour generators have chroma to act on
#: (a grey image copied into three channels would pass through them unchanged). The
#: weights keep luminance within 2% (0.299*1.07 + 0.587*0.98 + 0.114*0.82 = 0.988).
GREY_TONE = (1.07, 0.98, 0.82)


@dataclass(frozen=True)
class Source:
    """A pristine image: a content name (unique, file-name safe), where it is read from and its scenes."""

    name: str
    path: Path
    scenes: tuple[str, ...]
    origin: str  # how the manifest names it: "<package>:<file>" or the file name, never an absolute path


#: The natural photographs the installed packages ship, with their scene labels (vocab.SCENES).
PRISTINE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("astronaut", "skimage", "astronaut.png", ("human",)),
    ("chelsea", "skimage", "chelsea.png", ("animal",)),
    ("coffee", "skimage", "coffee.png", ("still_life",)),
    ("rocket", "skimage", "rocket.jpg", ("others",)),
    ("motorcycle", "skimage", "motorcycle_left.png", ("still_life", "indoor")),
    ("hubble", "skimage", "hubble_deep_field.jpg", ("night",)),
    ("retina", "skimage", "retina.jpg", ("others",)),
    ("ihc", "skimage", "ihc.png", ("others",)),
    ("china", "sklearn", "china.jpg", ("cityscape",)),
    ("flower", "sklearn", "flower.jpg", ("plant",)),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg", ("human",)),
    ("camera", "skimage", "camera.png", ("human", "landscape")),
    ("coins", "skimage", "coins.png", ("still_life",)),
    ("moon", "skimage", "moon.png", ("landscape",)),
    ("grass", "skimage", "grass.png", ("plant",)),
    ("gravel", "skimage", "gravel.png", ("others",)),
)

_PACKAGE_DATA = {
    "skimage": lambda: Path(skimage.__file__).parent / "data",
    "sklearn": lambda: Path(sklearn.datasets.__file__).parent / "images",
    "matplotlib": lambda: Path(matplotlib.get_data_path()) / "sample_data",
}


def package_sources() -> list[Source]:
    """The `PRISTINE` images, read from the installed packages' own data folders (never downloaded)."""
    sources = [Source(name, _PACKAGE_DATA[package]() / file, scenes, f"{package}:{file}")
               for name, package, file, scenes in PRISTINE]
    missing = [s.origin for s in sources if not s.path.is_file()]
    if missing:
        raise FileNotFoundError(f"sample images missing from the installed packages: {missing}; "
                                "reinstall scikit-image, scikit-learn and matplotlib (`make setup`)")
    return sources


def folder_sources(folder: str | os.PathLike) -> list[Source]:
    """Every image in `folder` (sorted), with unknown scenes; content names from the file stems."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    names = [re.sub(r"[^A-Za-z0-9_-]+", "_", p.stem) for p in files]
    if len(set(names)) != len(names):
        raise ValueError(f"images in {folder} whose names differ only in extension or punctuation: "
                         "rename them so each content has its own name")
    return [Source(name, path, (), path.name) for name, path in zip(names, files)]


def fit(image: Image.Image, longer: int = LONGER_SIDE) -> Image.Image:
    """Resize so the longer side is `longer` while the shorter side stays >= 224 (one 224 crop must fit);
    an extreme panorama is then centre-cropped to at most 512 pixels."""
    if longer > MAX_SIDE or longer < MIN_SIDE:
        raise ValueError(f"longer side {longer} outside {MIN_SIDE}..{MAX_SIDE}")
    w, h = image.size
    scale = max(longer / max(w, h), MIN_SIDE / min(w, h))
    if scale != 1:
        image = image.resize((max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))), Image.LANCZOS)
    w, h = image.size
    left, top = (w - min(w, MAX_SIDE)) // 2, (h - min(h, MAX_SIDE)) // 2
    return image.crop((left, top, left + min(w, MAX_SIDE), top + min(h, MAX_SIDE)))


def load_pristine(source: Source, longer: int = LONGER_SIDE) -> tuple[Image.Image, bool]:
    """The pristine image ready to distort, and whether it was a grey photograph (toned)."""
    pixels = np.asarray(fit(load_rgb(source.path), longer), dtype=np.float64)
    grey = bool(np.all(pixels.max(axis=2) == pixels.min(axis=2)))
    if grey:
        pixels = pixels * np.asarray(GREY_TONE)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="RGB"), grey


def _rng(seed: int, content: str, generator: int, level: int) -> np.random.Generator:
    """The noise source of one image: a pure function of its coordinates, independent of build order."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(content.encode()), generator, level]))


def _save(image: Image.Image, path: Path) -> str:
    """Write a PNG and return its sha256 (for the manifest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG", compress_level=PNG_COMPRESSION)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_content(source: Source, out_dir: Path, seed: int, longer: int) -> tuple[list[dict], dict, dict[str, str]]:
    """Distort one pristine image 11 x 5 ways, save everything, score against the reference.

    The metrics run on one thread: a float sum split over threads rounds differently, and
    the bytes of the set must not depend on how many threads or workers built it.
    """
    torch.set_num_threads(1)
    reference, grey = load_pristine(source, longer)
    hashes = {f"reference/{source.name}.png": _save(reference, out_dir / "reference" / f"{source.name}.png")}
    records, arrays = [], []
    for index, generator in enumerate(GENERATORS):
        for level in range(1, LEVELS + 1):
            image = generator(reference, level, _rng(seed, source.name, index, level))
            path = f"distorted/{source.name}/{generator.slug}_{level}.png"
            hashes[path] = _save(image, out_dir / path)
            arrays.append(np.asarray(image))
            records.append({"path": path, "content": source.name, "distortion": generator.coarse,
                            "fine": generator.fine, "level": level})
    scores = full_reference_scores(to_batch(arrays), to_batch([np.asarray(reference)]))
    for i, record in enumerate(records):
        record.update({name: float(scores[name][i]) for name in METRICS})
    content = {"name": source.name, "origin": source.origin, "scenes": list(source.scenes),
               "size": list(reference.size), "toned": grey}
    return records, content, hashes


def level_correlations(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per distortion class: Spearman SRCC between pseudo-MOS and level, pooled over contents
    and the median of the per-content values (-1 = quality falls with every level)."""
    rows = []
    for (coarse, fine), group in metrics.groupby(["distortion", "fine"], sort=False):
        per_content = [spearmanr(g["level"], g["pmos"]).statistic for _, g in group.groupby("content")]
        rows.append({"distortion": coarse, "fine": fine, "images": len(group),
                     "srcc_pooled": spearmanr(group["level"], group["pmos"]).statistic,
                     "srcc_median_per_content": float(np.nanmedian(per_content))})
    return pd.DataFrame(rows)


def build_synthetic(out_dir: str | os.PathLike, seed: int = 0, sources: Sequence[Source] | None = None,
                    longer: int = LONGER_SIDE, workers: int = 2, progress: bool = True) -> Path:
    """Build the synthetic set into `out_dir` and return that folder (see the module docstring).

    `sources` defaults to `package_sources()` (16 contents: 880 distorted images).
    `workers` processes build contents in parallel (one thread each); 1 builds in this
    process. The output is the same for any number of workers.
    """
    out_dir = Path(out_dir)
    sources = list(package_sources() if sources is None else sources)
    if len({s.name for s in sources}) != len(sources):
        raise ValueError("content names must be unique")
    records, contents, hashes = [], [], {}
    jobs = ([source, out_dir, seed, longer] for source in sources)
    if workers > 1:
        # fork where it is safe (torch resets its thread pool in forked children, as in its DataLoader):
        # spawn would re-import the caller's __main__, which fails from stdin and in some notebook kernels
        context = get_context("fork" if sys.platform == "linux" else "spawn")
        pool = ProcessPoolExecutor(min(workers, len(sources)), mp_context=context)
        results = pool.map(_build_content, *zip(*jobs))
    else:
        pool, results = None, (_build_content(*job) for job in jobs)
    threads = torch.get_num_threads()
    try:
        built = list(tqdm(results, total=len(sources), desc="synthetic set", unit="content", disable=not progress))
    finally:
        torch.set_num_threads(threads)
        if pool:
            pool.shutdown()
    for content_records, content, content_hashes in built:
        records += content_records
        contents.append(content)
        hashes.update(content_hashes)
    metrics = pd.DataFrame(records)
    metrics["pmos"] = np.round(pseudo_mos({name: metrics[name].to_numpy() for name in METRICS}), SCORE_DECIMALS)
    metrics.to_csv(out_dir / "metrics.csv", index=False, float_format="%.6f")
    correlations = level_correlations(metrics)
    correlations.to_csv(out_dir / "level_srcc.csv", index=False, float_format="%.4f")
    _write_manifest(out_dir, seed, longer, contents, hashes)
    scenes = {s.name: s.scenes for s in sources}  # the label file comes last: its presence means a finished build
    write_labels([LabelRow(r.path, float(r.pmos), r.fine, scenes[r.content]) for r in metrics.itertuples()],
                 out_dir / get_spec("synthetic").label_file)
    logger.info("synthetic set: %d contents, %d distorted images in %s; SRCC(pseudo-MOS, level) per class:\n%s",
                len(sources), len(metrics), out_dir, correlations.to_string(index=False, float_format="%.3f"))
    return out_dir


def _write_manifest(out_dir: Path, seed: int, longer: int, contents: list[dict], hashes: dict[str, str]) -> None:
    manifest = {
        "format": FORMAT, "seed": seed, "longer_side": longer, "levels": LEVELS,
        "pseudo_mos": {"metrics": list(METRICS), "working_pool": WORKING_POOL, "range": [1, 5]},
        "distortions": [{"fine": g.fine, "class": g.coarse, "params": list(g.params)} for g in GENERATORS],
        "contents": contents,
        "versions": {p: version(p) for p in ("numpy", "pillow", "scipy", "torch", "piq")},
        "files": dict(sorted(hashes.items())),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
