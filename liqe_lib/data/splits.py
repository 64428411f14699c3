"""Train/val/test splits: the official ten sessions, and seeded ones generated here.

The paper reports the median over ten random 70/10/20 sessions (DESIGN.md, "Splits").
For datasets with synthetic distortions the split is over reference contents, never over
images: the same scene distorted two ways in train and test would leak. Counts are
rounded half up, which reproduces the official sessions' part sizes (e.g. CLIVE
813/116/233, CSIQ 21/3/6 contents).
"""
from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .labels import LabelRow, read_labels
from .registry import PARTS, get_spec, official_file

SESSIONS: tuple[int, ...] = tuple(range(1, 11))
FRACTIONS = (0.7, 0.1, 0.2)

Split = dict[str, list[LabelRow]]


def load_official_split(name: str, session: int, labels_root: str | os.PathLike) -> Split:
    """Session `session` (1..10) of the official LIQE splits of dataset `name`: keys train/val/test."""
    if session not in SESSIONS:
        raise ValueError(f"session {session} does not exist: the official splits are sessions 1..10")
    spec = get_spec(name)
    return {part: read_labels(official_file(spec, Path(labels_root), session, part)) for part in PARTS}


def rows_by_content(rows: Sequence[LabelRow], group_of: Callable[[str], str] | None) -> dict[str, list[LabelRow]]:
    """Rows grouped by reference content (each image its own group when `group_of` is None), sorted by key."""
    groups: dict[str, list[LabelRow]] = defaultdict(list)
    for row in rows:
        groups[group_of(row.path) if group_of else row.path].append(row)
    return dict(sorted(groups.items()))


def _part_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    if len(fractions) != len(PARTS) or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions {tuple(fractions)}: expected three non-negative numbers summing to 1")
    train = min(n, math.floor(n * fractions[0] + 0.5))
    val = min(n - train, math.floor(n * fractions[1] + 0.5))
    return [train, val, n - train - val]


def make_split(rows: Sequence[LabelRow], seed: int, group_of: Callable[[str], str] | None = None,
               fractions: Sequence[float] = FRACTIONS) -> Split:
    """A seeded random train/val/test split; with `group_of`, whole contents go to one part.

    The fractions apply to groups (contents), as in the official grouped sessions. Rows
    keep their input order within each part. The same rows and seed give the same split.
    """
    groups = rows_by_content(rows, group_of)
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    sizes = _part_sizes(len(keys), fractions)
    part_of: dict[str, str] = {}
    start = 0
    for part, size in zip(PARTS, sizes):
        part_of.update({keys[i]: part for i in order[start:start + size]})
        start += size
    split: Split = {part: [] for part in PARTS}
    for row in rows:
        split[part_of[group_of(row.path) if group_of else row.path]].append(row)
    return split


def partition_by_content(rows: Sequence[LabelRow], n_parts: int, group_of: Callable[[str], str] | None,
                         seed: int) -> list[list[LabelRow]]:
    """Deal the contents of `rows` into `n_parts` disjoint, equally sized (+-1 content) views.

    The smoke profile trains on two views of the synthetic set as two "datasets" (one
    mini-batch from each per step, like LIVE + KonIQ in the paper): no content is in both.
    """
    if n_parts < 1:
        raise ValueError(f"n_parts must be at least 1, got {n_parts}")
    groups = rows_by_content(rows, group_of)
    keys = list(groups)
    if len(keys) < n_parts:
        raise ValueError(f"{len(keys)} contents cannot fill {n_parts} disjoint views")
    order = np.random.default_rng(seed).permutation(len(keys))
    chosen = [set() for _ in range(n_parts)]
    for rank, index in enumerate(order):
        chosen[rank % n_parts].add(keys[index])
    return [[row for row in rows if (group_of(row.path) if group_of else row.path) in keys_of]
            for keys_of in chosen]


def generated_split(name: str, rows: Sequence[LabelRow], seed: int, root: str | os.PathLike | None = None,
                    fractions: Sequence[float] = FRACTIONS) -> Split:
    """A new split of dataset `name`, grouped by reference content where its distortions are synthetic."""
    spec = get_spec(name)
    return make_split(rows, seed, spec.grouper(root) if spec.synthetic else None, fractions)
