"""The notebooks' figures (matplotlib, PNG): data overviews, training curves, prediction scatters.

Figures are built with the object API (no pyplot state), so a notebook shows the
returned figure and `results.save_figure` writes the same one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .crops import adaptive_resize
from .data.images import load_rgb
from .data.labels import LabelRow


def score_histograms(rows_by_dataset: dict[str, list[LabelRow]], bins: int = 20) -> Figure:
    """One histogram of subjective scores per dataset (each on its own scale)."""
    fig = Figure(figsize=(3.2 * len(rows_by_dataset), 2.6))
    for ax, (name, rows) in zip(np.atleast_1d(fig.subplots(1, len(rows_by_dataset))), rows_by_dataset.items()):
        ax.hist([r.score for r in rows], bins=bins, color="#4472c4")
        ax.set(title=f"{name} ({len(rows)} images)", xlabel="score", ylabel="images")
    fig.tight_layout()
    return fig


def sample_grid(rows: list[LabelRow], root: Path, columns: int = 4) -> Figure:
    """Thumbnails of `rows` with their score, distortion and scene labels."""
    lines = -(-len(rows) // columns)
    fig = Figure(figsize=(3 * columns, 3 * lines))
    for ax, row in zip(np.atleast_1d(fig.subplots(lines, columns)).ravel(), rows):
        image = adaptive_resize(load_rgb(root / row.path), shorter=256)
        ax.imshow(image)
        ax.set_title(f"{row.score:.2f} | {row.distortion}\n{', '.join(row.scenes) or 'no scene label'}", fontsize=8)
    for ax in fig.axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def training_curves(epochs: pd.DataFrame) -> Figure:
    """Per-task mean loss and DWA weight over epochs, one line per session (`Study.epoch_log`)."""
    fig = Figure(figsize=(10, 3.2))
    loss_ax, weight_ax = fig.subplots(1, 2)
    for (task, session), part in epochs.groupby(["task", "session"]):
        loss_ax.plot(part["epoch"], part["loss"], marker="o", label=f"{task} (session {session})")
        weight_ax.plot(part["epoch"], part["weight"], marker="o", label=f"{task} (session {session})")
    loss_ax.set(title="mean training loss", xlabel="epoch", ylabel="fidelity loss")
    weight_ax.set(title="DWA task weight", xlabel="epoch", ylabel="lambda")
    weight_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def prediction_scatter(predictions: pd.DataFrame) -> Figure:
    """Predicted quality against the subjective score, one panel per dataset."""
    names = list(dict.fromkeys(predictions["dataset"]))
    fig = Figure(figsize=(3.4 * len(names), 3.2))
    for ax, name in zip(np.atleast_1d(fig.subplots(1, len(names))), names):
        part = predictions[predictions["dataset"] == name]
        ax.scatter(part["mos"], part["pred"], s=6, alpha=0.6)
        ax.set(title=name, xlabel="subjective score", ylabel="LIQE score")
    fig.tight_layout()
    return fig


def variant_curves(epochs: pd.DataFrame) -> Figure:
    """Per task combination: the mean (over sessions) training loss of each task and its DWA weight by epoch."""
    variants = list(dict.fromkeys(epochs["variant"]))
    fig = Figure(figsize=(3.2 * len(variants), 5.4))
    axes = fig.subplots(2, len(variants), squeeze=False, sharex=True)
    for column, variant in enumerate(variants):
        means = epochs[epochs["variant"] == variant].groupby(["task", "epoch"])[["loss", "weight"]].mean()
        for task, part in means.groupby(level="task"):
            epochs_axis = part.index.get_level_values("epoch")
            axes[0, column].plot(epochs_axis, part["loss"], marker="o", label=task)
            axes[1, column].plot(epochs_axis, part["weight"], marker="o", label=task)
        axes[0, column].set(title=variant, ylabel="training loss" if column == 0 else None)
        axes[1, column].set(xlabel="epoch", ylabel="DWA weight" if column == 0 else None)
        axes[0, column].legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_cosines(cosines: pd.DataFrame) -> Figure:
    """Mean cosine between the quality gradient and each auxiliary task's, at initialisation and trained."""
    means = cosines.groupby(["variant", "task", "point"], sort=False)["cosine"].mean().unstack("point")
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    positions = np.arange(len(means))
    for offset, point in zip((-0.2, 0.2), means.columns):
        ax.bar(positions + offset, means[point], width=0.4, label=point)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(positions, [f"{v}\n{t}" for v, t in means.index], fontsize=7)
    ax.set(ylabel="cos(grad quality, grad task)", title="image-encoder gradient agreement with quality")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
