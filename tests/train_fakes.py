"""A tiny stand-in for the synthetic set (same layout and label format) and a config that trains on it in seconds.

The real `build_synthetic` takes minutes; the trainer's tests need only a few small
images per content, with scores that fall with the distortion level.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from liqe_lib.config import TrainConfig, apply_overrides, smoke_config
from liqe_lib.data.labels import LabelRow, write_labels

CONTENTS = ("ant", "bay", "cup", "dam", "elm", "fig")  # 6 contents: 4 train / 1 val / 1 test
KINDS = (("white noise", ("animal",)), ("gaussian blur", ("plant", "others")))
LEVELS = (1, 3)


def write_fake_synthetic(root: Path, size: tuple[int, int] = (240, 224)) -> Path:
    """<root>/synthetic with 6 contents x 2 distortions x 2 levels of 240x224 PNGs; returns root."""
    folder = root / "synthetic"
    rows = []
    for c, content in enumerate(CONTENTS):
        base = np.random.default_rng(c).integers(0, 256, (size[1], size[0], 3)).astype(np.float64)
        for kind, scenes in KINDS:
            for level in LEVELS:
                noise = np.random.default_rng(100 * c + level).normal(0, 12 * level, base.shape)
                pixels = base + noise if kind == "white noise" else base * (1 - 0.2 * level) + 128 * 0.2 * level
                path = f"distorted/{content}/{kind.replace(' ', '-')}_{level}.png"
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / path)
                rows.append(LabelRow(path, 5.0 - level + 0.1 * c, kind, scenes))
    write_labels(rows, folder / "labels.txt")
    return root


def tiny_config(data_root: Path | None = None, out_dir: Path | None = None, *overrides: str) -> TrainConfig:
    """The smoke profile shrunk to seconds: 2 images per dataset, 1 crop, 2 steps, 1 epoch."""
    places = ([f"data.root={data_root}"] if data_root else []) + ([f"out_dir={out_dir}"] if out_dir else [])
    return apply_overrides(smoke_config(), [
        *places, "epochs=1", "steps_per_epoch=2",
        "data.train.0.batch_size=2", "data.train.1.batch_size=2", "data.train_crops=1", "data.eval_crops=1",
        "schedule.warmup_steps=0", *overrides])
