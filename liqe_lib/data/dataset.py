"""Loaders: a torch Dataset of crops and labels, and the sampler that draws one mini-batch per dataset.

LIQE trains on several datasets at once: every step takes one mini-batch from each
training dataset, with its own batch size (4 for LIVE, CSIQ, BID, CLIVE; 16 for KonIQ-10k
and KADID-10k), and the quality loss compares pairs within a dataset only (DESIGN.md,
"Losses"). `MultiDatasetSampler` does exactly that. Randomness is a pure function of
(seed, dataset, pass, index): the sampler's state is a few counters, so a run resumed
from a checkpoint sees the very batches and crops it would have seen.

How passes over a dataset meet epochs is a fidelity setting (`PASSES`, `data.passes`,
docs/FIDELITY.md): "epoch", as the official loop, which re-creates every DataLoader
iterator at the start of an epoch (train_unique_clip_weight.py l. 176-178, a fresh
shuffle), restarts it when it runs out mid-epoch (l. 193-197) and, with
`drop_last=False`, yields the last partial mini-batch of a pass; or "continuous",
where passes run on across epochs and a mini-batch that runs past the end of a pass
continues into the next, so every mini-batch is full.

The sampler only draws indices (`MultiDatasetSampler.plan`); `load_step` turns one step's
draws into mini-batches. Training loads the steps ahead in worker processes
(`batch.StepLoader`); `next_batch` loads one step here and now.
"""
from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from .. import crops
from ..vocab import APPEARANCE_ATTRIBUTES, DISTORTIONS, SCENES, UNKNOWN
from .images import ImageDecodeError, load_rgb
from .labels import LabelRow
from .registry import DATASETS, DatasetSpec

logger = logging.getLogger(__name__)


def _seed(*values: int) -> int:
    """A 63-bit seed mixed from integers (numpy's SeedSequence: nearby inputs give unrelated seeds)."""
    return int(np.random.SeedSequence(list(values)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode())


class IQADataset(torch.utils.data.Dataset):
    """Images of one dataset as crops plus labels.

    root: the dataset folder (row paths are relative to it). train: 3 random 224x224 crops
    with random flips (`crops.train_crops`), else the 15-window evaluation grid
    (`crops.eval_crops`); only the chosen windows are copied out. An unreadable image
    yields an item with an `error` instead of crops, for `collate` to skip and count.
    spec: the registry entry, for per-dataset loading rules (SPAQ's 512 shorter side);
    looked up by `name` when omitted, so views of a dataset may pass their parent's spec.
    appearance: path -> level index (0 low, 1 medium, 2 high, -1 unknown) per attribute of
    `vocab.APPEARANCE_ATTRIBUTES`, for the appearance task (`rundata.appearance_labels`);
    images without an entry, and every image when it is None, are unknown (-1).
    crop_sampler: how training windows are drawn (`crops.TRAIN_CROP_SAMPLERS`).
    """

    def __init__(self, name: str, root: str | os.PathLike, rows: Sequence[LabelRow], train: bool, seed: int = 0,
                 n_crops: int | None = None, spec: DatasetSpec | None = None,
                 appearance: Mapping[str, Sequence[int]] | None = None, crop_sampler: str = "grid"):
        self.name = name
        self.root = Path(root)
        self.rows = list(rows)
        self.train = train
        self.seed = seed
        self.n_crops = n_crops if n_crops is not None else (crops.TRAIN_CROPS if train else crops.EVAL_CROPS)
        self.spec = spec if spec is not None else DATASETS.get(name)
        self.appearance = dict(appearance) if appearance is not None else {}
        if crop_sampler not in crops.TRAIN_CROP_SAMPLERS:
            raise ValueError(f"unknown train crop sampler {crop_sampler!r}; choose one of {crops.TRAIN_CROP_SAMPLERS}")
        self.crop_sampler = crop_sampler
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_appearance(self) -> bool:
        """Whether some row has an appearance label (else the appearance task has nothing to learn here)."""
        return any(level >= 0 for row in self.rows for level in self.appearance.get(row.path, ()))

    def set_epoch(self, epoch: int) -> None:
        """Select the train crops of this epoch (they depend on seed, epoch and index only)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        return self.get(index, self.epoch)

    def get(self, index: int, epoch: int) -> dict:
        """Item `index` with the train crops of `epoch` (evaluation crops do not depend on it)."""
        row = self.rows[index]
        item = {"path": row.path, "dataset": self.name, "fine": row.distortion}
        try:
            image = self._load(row.path)
        except ImageDecodeError as err:
            return {**item, "error": str(err)}
        if self.train:
            generator = torch.Generator().manual_seed(_seed(self.seed, _name_key(self.name), epoch, index))
            item["crops"] = crops.train_crops(image, generator, self.n_crops, self.crop_sampler)
        else:
            item["crops"] = crops.eval_crops(image, self.n_crops)
        coarse = row.coarse_distortion
        item["score"] = torch.tensor(row.score, dtype=torch.float32)
        item["distortion"] = torch.tensor(DISTORTIONS.index(coarse) if coarse != UNKNOWN else -1, dtype=torch.int64)
        item["scenes"] = torch.tensor([float(s in row.scenes) for s in SCENES], dtype=torch.float32)
        item["appearance"] = torch.tensor(self.appearance.get(row.path, _NO_APPEARANCE), dtype=torch.int64)
        return item

    def _load(self, path: str) -> Image.Image:
        image = load_rgb(self.root / path)
        shorter = self.spec.shorter_side if self.spec else None
        if shorter and min(image.size) != shorter:
            scale = shorter / min(image.size)
            image = image.resize((max(shorter, round(image.width * scale)), max(shorter, round(image.height * scale))),
                                 Image.BICUBIC)
        return image


_NO_APPEARANCE = (-1,) * len(APPEARANCE_ATTRIBUTES)
_TENSORS = ("crops", "score", "distortion", "scenes", "appearance")
_LISTS = ("path", "dataset", "fine")


def collate(items: list[dict]) -> dict:
    """Stack the tensors of readable items, keep path/dataset/fine lists; unreadable items are
    left out, logged with their path, and listed under `skipped` so the caller can count them."""
    good = [item for item in items if "error" not in item]
    skipped = [item["path"] for item in items if "error" in item]
    for item in items:
        if "error" in item:
            logger.warning("skipping unreadable image (%s): %s", item["dataset"], item["error"])
    if good:
        batch = {key: torch.stack([item[key] for item in good]) for key in _TENSORS}
    else:
        size = crops.CROP_SIZE
        batch = {"crops": torch.empty(0, 0, 3, size, size, dtype=torch.uint8), "score": torch.empty(0),
                 "distortion": torch.empty(0, dtype=torch.int64), "scenes": torch.empty(0, len(SCENES)),
                 "appearance": torch.empty(0, len(APPEARANCE_ATTRIBUTES), dtype=torch.int64)}
    batch.update({key: [item[key] for item in good] for key in _LISTS})
    batch["skipped"] = skipped
    return batch


PASSES = ("epoch", "continuous")

#: One image of a step: (dataset key, index in the dataset, pass), the pass choosing its train crops.
Job = tuple[str, int, int]


def load_step(datasets: Mapping[str, IQADataset], jobs: Sequence[Job]) -> dict[str, dict]:
    """{dataset key: collated mini-batch} of one step's jobs (`MultiDatasetSampler.plan`), in the
    order of `datasets`. A pure function of its arguments, so any process may run it."""
    items = [(name, datasets[name].get(index, epoch)) for name, index, epoch in jobs]
    return {name: collate([item for key, item in items if key == name]) for name in datasets}


class MultiDatasetSampler:
    """One collated mini-batch from each training dataset per step, each dataset cycling on its own.

    Dataset `name` is read in passes; pass p visits its images in the order of a permutation
    seeded by (seed, name, p), and its train crops are those of epoch p. With `passes`
    "continuous" a mini-batch that runs past the end of a pass continues into the next;
    with "epoch" it ends there (a partial mini-batch) and `start_epoch` begins a fresh
    pass of every dataset that is part-way through one (see the module docstring).
    `state_dict()` holds only the pass and position of each dataset (plus the skipped
    paths), which is all an exact resume needs. `skipped` lists the unreadable images in the
    order the steps that held them were consumed.
    """

    def __init__(self, datasets: dict[str, IQADataset], batch_sizes: dict[str, int], seed: int,
                 passes: str = "continuous"):
        missing = set(datasets) - set(batch_sizes)
        if missing:
            raise ValueError(f"no batch size for dataset(s) {sorted(missing)}")
        empty = [name for name, dataset in datasets.items() if len(dataset) == 0]
        if empty:
            raise ValueError(f"dataset(s) {empty} have no images")
        if passes not in PASSES:
            raise ValueError(f"unknown passes {passes!r}; choose one of {PASSES}")
        self.datasets = datasets
        self.passes_mode = passes
        self.batch_sizes = {name: int(batch_sizes[name]) for name in datasets}
        self.seed = seed
        self.passes = {name: 0 for name in datasets}
        self.positions = {name: 0 for name in datasets}
        self.skipped: list[str] = []
        self._orders: dict[tuple[str, int], list[int]] = {}

    def _order(self, name: str, epoch: int) -> list[int]:
        key = (name, epoch)
        if key not in self._orders:
            generator = torch.Generator().manual_seed(_seed(self.seed, _name_key(name), epoch))
            self._orders = {k: v for k, v in self._orders.items() if k[0] != name}  # keep one pass per dataset
            self._orders[key] = torch.randperm(len(self.datasets[name]), generator=generator).tolist()
        return self._orders[key]

    def start_epoch(self) -> None:
        """With "epoch" passes, begin a fresh pass of every dataset that is part-way through one
        (the official loop's `iter(loader)` at the start of each epoch); else nothing."""
        if self.passes_mode != "epoch":
            return
        for name, position in self.positions.items():
            if position:
                self.passes[name] += 1
                self.positions[name] = 0

    def _draw(self, name: str) -> list[tuple[int, int]]:
        """The next (index, epoch) pairs of dataset `name`, advancing its counters."""
        picks = []
        for _ in range(self.batch_sizes[name]):
            order = self._order(name, self.passes[name])
            picks.append((order[self.positions[name]], self.passes[name]))
            self.positions[name] += 1
            if self.positions[name] == len(order):
                self.passes[name] += 1
                self.positions[name] = 0
                if self.passes_mode == "epoch":  # the DataLoader's last, partial batch
                    break
        return picks

    def plan(self, steps: int) -> list[list[Job]]:
        """The jobs of the next `steps` steps, advancing the counters as if they were loaded.

        Drawing is cheap (indices only) and independent of loading, so a whole epoch can be
        planned at its start and loaded ahead by worker processes; checkpoints are written at
        epoch ends only, when the counters are those of an uninterrupted run."""
        return [[(name, index, epoch) for name in self.datasets for index, epoch in self._draw(name)]
                for _ in range(steps)]

    def next_batch(self) -> dict[str, dict]:
        """{dataset key: collated mini-batch} of the next step, loaded in this process
        (for a few batches outside the training loop, e.g. `relations.training_batches`)."""
        batches = load_step(self.datasets, self.plan(1)[0])
        self.skipped += [path for batch in batches.values() for path in batch["skipped"]]
        return batches

    def state_dict(self) -> dict:
        return {"seed": self.seed, "mode": self.passes_mode, "passes": dict(self.passes),
                "positions": dict(self.positions),
                "batch_sizes": dict(self.batch_sizes), "sizes": {n: len(d) for n, d in self.datasets.items()},
                "skipped": list(self.skipped)}

    def load_state_dict(self, state: dict) -> None:
        """Restore counters saved by `state_dict`; refuses a state from other datasets or another seed."""
        mine = {"seed": self.seed, "mode": self.passes_mode, "batch_sizes": self.batch_sizes,
                "sizes": {n: len(d) for n, d in self.datasets.items()}}
        for key, value in mine.items():
            if state.get(key) != value:
                raise ValueError(f"sampler state does not match: {key} is {state.get(key)} in the checkpoint, "
                                 f"{value} here")
        self.passes = dict(state["passes"])
        self.positions = dict(state["positions"])
        self.skipped = list(state["skipped"])
