"""The rows and datasets a run trains, validates and tests on, from its `DataConfig`.

Splits are either the official session files or a generated 70/10/20 split seeded
by the session (grouped by reference content for synthetic distortions). A
`DatasetConfig` with `parts > 1` trains on one content-disjoint part of a
dataset's training rows; validation and testing always use the dataset's whole
val and test parts, so `liqe evaluate --dataset synthetic` tests the same images whichever
way the training rows were divided. The synthetic set is built on first use.

The appearance task's labels (`appearance_labels`) class each attribute by the tertiles
of the session's training split and apply those thresholds to every split, so the
definition of "low" never looks at a test image.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .appearance import ATTRIBUTES, add_levels, measurements, tertile_thresholds
from .config import DataConfig, DatasetConfig
from .data.dataset import IQADataset, MultiDatasetSampler
from .data.labels import LabelRow
from .data.registry import dataset_dir, get_spec, labels_root, load_rows
from .data.splits import generated_split, load_official_split, partition_by_content
from .data.synthetic import build_synthetic
from .vocab import APPEARANCE_LEVELS

log = logging.getLogger(__name__)

SPLITS = ("official", "random")
#: Which rows define the appearance tertiles: the session's training split, or all rows (a dataset tested whole).
APPEARANCE_REFERENCES = ("train", "all")


def ensure_dataset(name: str, cfg: DataConfig) -> Path:
    """The dataset's folder. The synthetic set is built there when it is missing; any other
    missing dataset is an error that says where it was looked for and how to get it."""
    folder = dataset_dir(name, cfg.root)
    spec = get_spec(name)
    if spec.label_source == "synthetic" and not (folder / spec.label_file).is_file():
        log.info("building the synthetic set in %s (seed %d)", folder, cfg.synthetic_seed)
        build_synthetic(folder, seed=cfg.synthetic_seed)
    if not folder.is_dir():
        raise FileNotFoundError(f"{spec.title} not found at {folder}: get it from {spec.url}, unpack it there "
                                f"(or point data.root / LIQE_DATA_ROOT at its parent folder) and check it with "
                                f"`liqe data verify --dataset {name}`")
    return folder


def split_rows(name: str, cfg: DataConfig) -> dict[str, list[LabelRow]]:
    """train/val/test rows of dataset `name` in session `cfg.session`."""
    carried = carried_split(name)
    if carried is not None:
        return carried
    if cfg.split == "official":
        labels = Path(cfg.labels_root) if cfg.labels_root else labels_root(cfg.root)
        return load_official_split(name, cfg.session, labels)
    if cfg.split == "random":
        ensure_dataset(name, cfg)
        return generated_split(name, load_rows(name, cfg.root), seed=cfg.session, root=cfg.root)
    raise ValueError(f"unknown split {cfg.split!r}; choose one of {SPLITS}")


def train_rows(dataset: DatasetConfig, cfg: DataConfig) -> list[LabelRow]:
    """Training rows of a training dataset, restricted to its content part if it has one."""
    rows = split_rows(dataset.name, cfg)["train"]
    if dataset.parts == 1:
        return rows
    spec = get_spec(dataset.name)
    views = partition_by_content(rows, dataset.parts, spec.grouper(cfg.root) if spec.synthetic else None,
                                 seed=cfg.session)
    return views[dataset.part]


def make_dataset(name: str, rows: list[LabelRow], cfg: DataConfig, train: bool, seed: int = 0,
                 key: str | None = None, appearance: str | None = None) -> IQADataset:
    """An `IQADataset` of registry dataset `name` under the run's name `key` (a part's key),
    with the configured number of crops (train: `cfg.train_crop_sampler`'s windows, which a
    training run resolves from its fidelity preset, the official grid when unset; else the
    evaluation grid). `appearance` ("train" or "all", see `appearance_labels`) adds the
    appearance task's labels."""
    levels = appearance_labels(name, cfg, appearance) if appearance else None
    return IQADataset(key or name, ensure_dataset(name, cfg), rows, train=train, seed=seed,
                      n_crops=cfg.train_crops if train else cfg.eval_crops, spec=get_spec(name), appearance=levels,
                      crop_sampler=cfg.train_crop_sampler or "grid")


def train_sampler(cfg: DataConfig, seed: int, appearance: str | None = None) -> MultiDatasetSampler:
    """The multi-dataset sampler over a run's training datasets (`cfg.train`, under their keys and batch
    sizes, with `cfg.passes`, which a run resolves from its fidelity preset), crops and draws seeded by `seed`."""
    datasets = {d.key: make_dataset(d.name, train_rows(d, cfg), cfg, train=True, seed=seed, key=d.key,
                                    appearance=appearance) for d in cfg.train}
    return MultiDatasetSampler(datasets, {d.key: d.batch_size for d in cfg.train}, seed=seed, passes=cfg.passes)


def appearance_labels(name: str, cfg: DataConfig, reference: str = "train") -> dict[str, tuple[int, ...]]:
    """path -> level index (0 low, 1 medium, 2 high; -1 unmeasurable) per appearance attribute.

    The thresholds are the tertiles of the `reference` rows: "train", the session's training
    split (training and testing on a split); "all", every labelled row (a dataset tested
    whole, Table 2 style, which has no training split of its own). Attribute values are
    measured once per dataset and cached next to its labels (`appearance.measurements`).
    """
    if reference not in APPEARANCE_REFERENCES:
        raise ValueError(f"unknown appearance reference {reference!r}; choose one of {APPEARANCE_REFERENCES}")
    ensure_dataset(name, cfg)
    table = measurements(name, cfg.root, cfg.labels_root)
    chosen = table
    if reference == "train":
        chosen = table[table["path"].isin({row.path for row in split_rows(name, cfg)["train"]})]
    thresholds = {attribute: tertile_thresholds(chosen[attribute]) for attribute in ATTRIBUTES}
    log.info("%s appearance tertiles (%s rows, session %d): %s", name, reference, cfg.session,
             {a: tuple(round(t, 4) for t in pair) for a, pair in thresholds.items()})
    classed, _ = add_levels(table, thresholds)
    index = {level: i for i, level in enumerate(APPEARANCE_LEVELS)}
    levels = classed[[f"{attribute}_level" for attribute in ATTRIBUTES]].to_numpy()
    return {path: tuple(index.get(level, -1) for level in row) for path, row in zip(classed["path"], levels)}


def all_rows(name: str, cfg: DataConfig) -> list[LabelRow]:
    """Every labelled row of a dataset (cross-dataset tests, Table 2)."""
    ensure_dataset(name, cfg)
    return load_rows(name, cfg.root, cfg.labels_root)


# --- datasets registered at runtime (a user's CSV, `data.userdata`) ----------------------------------

def carried_split(name: str) -> dict[str, list[LabelRow]] | None:
    """The split a dataset registered at runtime carries (its file's `split` column, or the 70/10/20
    split made once when it was registered), whatever `cfg.split` says; None for the registry's own."""
    split = getattr(get_spec(name), "split", None)
    return {part: list(rows) for part, rows in split.items()} if split else None
