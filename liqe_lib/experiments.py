"""The paper's trained models as named configs: each variant is one difference from LIQE.

Table 4 (ablations) and Table 5 (task combinations) are written as overrides of
a profile's base config (the same dotted keys as `--set`), never as code paths:
the trainer and the model read every difference from the config.

* (1) pretrained CLIP zero-shot with two quality levels: no training (`epochs=0`)
  on the two-level prompts; in the smoke profile the "pretrained" model is the
  random-init liqe-tiny, so its numbers only prove the pipeline.
* (6) fine-tuned visual encoder only: a linear quality head on the image
  features (LIQE(head="linear")), trained by the pairwise fidelity loss alone
  (the training strategy of UNIQUE, ref. [78] of the paper).
* `unique`: UNIQUE itself (`liqe_lib.unique`), the paper's opponent in gMAD (Fig. 3)
  and Table 3: ResNet-34 from ImageNet weights with UNIQUE's bilinear head, trained
  by this project's pipeline (same datasets, pairs, crops, schedule machinery and
  evaluation) at UNIQUE's learning rate and weight decay (docs/FIDELITY.md).

A variant's own settings win over study-wide overrides (a rehearsal's `epochs=1`
must not train the zero-shot variant (1)); `forced` settings come last of all.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import pandas as pd

from . import evaluate
from .config import TrainConfig, apply_overrides, profile_config
from .train import train

log = logging.getLogger(__name__)

#: variant -> its difference from LIQE, as overrides of the profile's base config.
VARIANTS: dict[str, tuple[str, ...]] = {
    "liqe": (),
    # Table 4
    "pretrained-clip-c2": ("model.task_set=two-level", "epochs=0"),
    "finetuned-clip-c2": ("model.task_set=two-level",),
    "frozen-text": ("model.train_text=false",),
    "separate-templates": ("model.task_set=separate",),
    "equal-weights": ("loss.weighting=equal",),
    "visual-only": ("model.head=linear", "model.train_text=false"),
    # Table 5 (its last row, all tasks, is LIQE itself)
    "quality": ("model.task_set=quality",),
    "scene": ("model.task_set=scene",),
    "distortion": ("model.task_set=distortion",),
    "quality+scene": ("model.task_set=quality+scene",),
    "quality+distortion": ("model.task_set=quality+distortion",),
    # the paper's opponent (Fig. 3, Table 3)
    "unique": ("model.arch=unique-resnet34", "model.weights=imagenet", "model.head=unique", "model.task_set=quality",
               "optim.lr=1e-4", "optim.weight_decay=5e-4", "precision=fp32"),
    # beyond the paper
    "liqe+appearance": ("model.task_set=all+appearance",),
}

#: What every variant of a profile is forced to, after its own settings: smoke models start from random weights
#: (no download can happen there), UNIQUE's ImageNet start included.
PROFILE_FORCED: dict[str, tuple[str, ...]] = {"smoke": ("model.weights=null",), "paper": ()}

#: The rows of Tables 4 and 5: variant -> the row's label in `results/paper/`.
TABLE4: dict[str, str] = {
    "pretrained-clip-c2": "(1) Pretrained CLIP (C=2)",
    "finetuned-clip-c2": "(2) Fine-Tuned CLIP (C=2)",
    "frozen-text": "(3) Frozen Textual Encoder",
    "separate-templates": "(4) Separate Task Templates",
    "equal-weights": "(5) Equal Task Weightings",
    "visual-only": "(6) Fine-Tuned Visual Encoder Only",
    "liqe": "LIQE",
}
TABLE5: dict[str, str] = {
    "quality": "Quality",
    "scene": "Scene",
    "distortion": "Distortion",
    "quality+scene": "Quality + Scene",
    "quality+distortion": "Quality + Distortion",
    "liqe": "All Tasks (LIQE)",
}
#: The models of Table 3 and gMAD (Fig. 3): variant -> the paper's name for it.
OPPONENTS: dict[str, str] = {"liqe": "LIQE", "unique": "UNIQUE"}
#: Variants beyond the paper (notebook 10) and their row labels.
BEYOND: dict[str, str] = {
    "liqe": "LIQE",
    "liqe+appearance": "LIQE + appearance",
}


def variant_config(name: str, profile: str = "smoke", overrides: Iterable[str] = (),
                   out_root: str | Path | None = None, session: int | None = None,
                   forced: Iterable[str] = ()) -> TrainConfig:
    """The config of a variant: the profile's base, then `overrides`, then the variant's own
    difference (which wins where it defines the variant), then `forced`.

    The run is named after the variant and writes to <out_root>/<variant>/session-<n>
    (out_root defaults to the parent folder of the profile's out_dir).
    """
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
    base = profile_config(profile)
    cfg = apply_overrides(base, [*overrides, f"name={name}", *VARIANTS[name], *PROFILE_FORCED[profile], *forced])
    if session is not None:
        cfg.data.session = session
    root = Path(out_root) if out_root is not None else Path(base.out_dir).parent
    cfg.out_dir = str(root / name / f"session-{cfg.data.session}")
    return cfg


def run_variant(name: str, profile: str = "smoke", sessions: Iterable[int] = (1,), overrides: Iterable[str] = (),
                out_root: str | Path | None = None, split: str = "test", resume: bool = True,
                forced: Iterable[str] = (), max_images: int | None = None) -> pd.DataFrame:
    """Train (or resume) a variant in each session and test the selected model: the tidy table.

    The test datasets are the variant's training datasets (each whole, as named in the registry);
    `max_images` caps the images tested per dataset (a rehearsal).
    """
    tables = []
    for session in sessions:
        cfg = variant_config(name, profile, overrides, out_root, session, forced)
        result = train(cfg, resume=resume)
        datasets = list(dict.fromkeys(d.name for d in cfg.data.train))
        tables.append(evaluate.evaluate_checkpoint(result.best_checkpoint, datasets, split, device=cfg.device,
                                                   max_images=max_images))
    return pd.concat(tables, ignore_index=True)
