"""Where a profile's outputs go. Tables are written by `report.write` under
`results/<profile>/tables/`, figures by `save_figure` under `results/<profile>/figures/`;
trained runs (checkpoints, logs) live under `runs/<profile>/` (or `$LIQE_RUNS_DIR/<profile>/`, or a
folder given by `--runs-dir`, so a reproduction can live on a data disk), which is not committed.
"""
from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR_ENV = "LIQE_RUNS_DIR"

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def results_dir(profile: str, out_dir: str | Path | None = None) -> Path:
    return Path(out_dir) if out_dir else PROJECT_ROOT / "results" / profile


def default_runs_dir(profile: str, runs_dir: str | Path | None = None) -> Path:
    """<runs_dir>/<profile>: `runs_dir`, else $LIQE_RUNS_DIR, else the checkout's runs/."""
    return Path(runs_dir or os.environ.get(RUNS_DIR_ENV) or PROJECT_ROOT / "runs") / profile


def save_figure(figure, out_dir: str | Path, name: str) -> Path:
    """Write a matplotlib figure as figures/<name>.png (fixed dpi, no timestamp: same input, same bytes)."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    return path
