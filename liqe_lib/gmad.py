"""Group maximum differentiation (gMAD) competition between two quality models.

gMAD (Ma et al., CVPR 2016; the LIQE paper's Fig. 3, LIQE vs UNIQUE) compares two models
without labels: the *defender* holds a quality level fixed (images whose defender
score lies in a narrow band around that level, which the defender calls equally
good) and the *attacker* picks, among them, the pair it rates most differently. If
people see a clear difference in that pair the defender failed; if they see none,
the attacker did. Each model defends at a low and a high level: four pairs.

Scores for the playground (~100k images in the paper) come from `score_playground`,
which streams the paths through the model in batches and appends every result to a
JSONL cache as it goes, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from . import sharding
from .data.crop_loader import default_workers
from .data.images import ImageSource, load_rgb
from .model import LIQE
from .score import score_sources

log = logging.getLogger(__name__)

#: Level centres as quantiles of the defender's playground scores.
LEVELS: dict[str, float] = {"low": 0.1, "high": 0.9}
#: Half-width of a level's band, as a fraction of the defender's score range.
BAND = 0.02
#: A level compares at least this many images: a band holding fewer (a small playground, a rehearsal)
#: takes the images nearest its centre instead, and says so.
MIN_CANDIDATES = 2


def gmad_pairs(scores: Mapping[str, pd.Series], levels: Mapping[str, float] = LEVELS,
               band: float = BAND) -> pd.DataFrame:
    """The gMAD pair of each (defender, level): one row each, both roles, all levels.

    `scores` maps the two model names to score Series indexed by image id; only ids
    that both models scored (not NaN) take part. A level's band is the defender
    score at quantile `levels[level]` +- `band` times the defender's score range.
    Within it the attacker's highest- and lowest-rated images form the pair.

    Columns: defender, attacker, level, centre, n_candidates, better and worse (ids,
    better = rated higher by the attacker), attacker_better/worse, defender_better/
    worse (scores), attacker_gap, attacker_gap_rel (gap over the attacker's whole
    playground range, to compare models on different scales), defender_spread.
    """
    if len(scores) != 2:
        raise ValueError(f"gMAD compares exactly two models, got {list(scores)}")
    table = pd.DataFrame(dict(scores)).dropna()
    if len(table) < 2:
        raise ValueError(f"gMAD needs at least two images scored by both models, got {len(table)}")
    rows = []
    for defender, attacker in (tuple(scores), tuple(scores)[::-1]):
        d, a = table[defender], table[attacker]
        half_width, attacker_range = band * (d.max() - d.min()), a.max() - a.min()
        for level, quantile in levels.items():
            centre = float(d.quantile(quantile))
            distance = (d - centre).abs()
            candidates = table[distance <= half_width]
            if len(candidates) < MIN_CANDIDATES:
                log.warning("defender %s, level %s: %d image(s) within %.4g +- %.4g; comparing the %d nearest the "
                            "centre instead (grow the playground or widen `band`, now %s)", defender, level,
                            len(candidates), centre, half_width, MIN_CANDIDATES, band)
                candidates = table.loc[distance.sort_values(kind="stable").index[:MIN_CANDIDATES]]
            ranked = candidates[attacker].sort_values(kind="stable")  # distinct ends even if all tie
            worse, better = ranked.index[0], ranked.index[-1]
            gap = a[better] - a[worse]
            rows.append({
                "defender": defender, "attacker": attacker, "level": level, "centre": centre,
                "n_candidates": len(candidates), "better": better, "worse": worse,
                "attacker_better": a[better], "attacker_worse": a[worse],
                "defender_better": d[better], "defender_worse": d[worse],
                "attacker_gap": gap, "attacker_gap_rel": gap / attacker_range if attacker_range else 0.0,
                "defender_spread": abs(d[better] - d[worse]),
            })
    return pd.DataFrame(rows)


def plot_pairs(pairs: pd.DataFrame, image: Callable[[str], ImageSource] = str,
               path: str | os.PathLike | None = None) -> Figure:
    """The paper's gMAD figure: one row per pair, its two images side by side, both models' scores above each.

    `image` maps an id to something `load_rgb` reads (by default the id is the path).
    Writes a PNG to `path` if given.
    """
    figure = Figure(figsize=(6, 3 * len(pairs)), layout="constrained")
    axes = figure.subplots(len(pairs), 2, squeeze=False)
    for row, pair in zip(axes, pairs.itertuples()):
        for ax, side in zip(row, ("better", "worse")):
            ax.imshow(load_rgb(image(getattr(pair, side))))
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{pair.defender}: {getattr(pair, f'defender_{side}'):.3f}   "
                         f"{pair.attacker}: {getattr(pair, f'attacker_{side}'):.3f}", fontsize=9)
        row[0].set_ylabel(f"{pair.defender} defends, {pair.level}\n{pair.attacker} gap {pair.attacker_gap:.3f}",
                          fontsize=9)
    if path is not None:
        figure.savefig(path, format="png", dpi=100)
    return figure


def read_cache(cache: str | os.PathLike) -> pd.DataFrame:
    """The cache's records (path, score, error), last record per path wins; a torn last line is ignored."""
    cache = Path(cache)
    records = [json.loads(line) for line in sharding.complete_lines(cache)] if cache.exists() else []
    table = pd.DataFrame(records, columns=["path", "score", "error"])
    return table.drop_duplicates("path", keep="last").set_index("path")


def score_playground(model: LIQE, paths: Iterable[str | os.PathLike], cache: str | os.PathLike,
                     batch_size: int = 32, workers: int | None = None) -> pd.Series:
    """Quality scores of `paths` (a Series indexed by path), computed once and cached.

    `cache` is a JSONL file of one model's scores (use one file per model): paths it
    already holds are not scored again, new results are appended (and flushed) as each batch finishes.
    Unreadable files are cached with their error, left out of the result and counted
    in a warning. `workers` decode ahead of the model (default: `crop_loader.default_workers`).
    """
    paths = list(dict.fromkeys(str(p) for p in paths))
    done = read_cache(cache)
    todo = [p for p in paths if p not in done.index]
    log.info("playground: %d images, %d cached, %d to score", len(paths), len(paths) - len(todo), len(todo))
    with sharding.open_for_append(Path(cache)) as handle, tqdm(total=len(todo), unit="image", desc="gMAD playground") as bar:
        for scored in score_sources(model, [(p, p) for p in todo], batch_size, bar,
                                    workers=default_workers(model.device) if workers is None else workers):
            record = {"path": scored.name, "score": scored.result.score if scored.result else None,
                      "error": scored.error}
            handle.write(json.dumps(record) + "\n")
            handle.flush()
    table = read_cache(cache).reindex(paths)
    unreadable = int(table["error"].notna().sum())
    if unreadable:
        log.warning("playground: skipped %d unreadable of %d images (errors in %s)", unreadable, len(paths), cache)
    return table["score"].dropna().astype(float).rename("score")
