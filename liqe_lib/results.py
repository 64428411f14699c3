"""Where a profile's outputs go. Tables are written by `report.write` under
`results/<profile>/tables/`, figures by `save_figure` under `results/<profile>/figures/`;
trained runs (checkpoints, logs) live under `runs/<profile>/`, which is not committed.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def results_dir(profile: str, out_dir: str | Path | None = None) -> Path:
    return Path(out_dir) if out_dir else PROJECT_ROOT / "results" / profile


def runs_dir(profile: str) -> Path:
    return PROJECT_ROOT / "runs" / profile


def save_figure(figure, out_dir: str | Path, name: str) -> Path:
    """Write a matplotlib figure as figures/<name>.png (fixed dpi, no timestamp: same input, same bytes)."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    return path
