"""Your own labelled images: a dataset read from a CSV file (or a LIQE label file), registered at runtime.

CSV columns (header row, any order, names case-insensitive):

| column | required | what |
|---|---|---|
| `path` | yes | the image, relative to the CSV's folder or absolute |
| `mos` | yes | its quality score, higher = better (negate a DMOS) |
| `std` | no | the score's standard deviation (checked, kept out of the loss as in the official code) |
| `scene` | no | one to three of `vocab.SCENES`, separated by `;` or `|` (`still life` = `still_life`) |
| `distortion` | no | one of the 33 fine types of `vocab.FINE_TO_COARSE` or one of the 11 classes of `vocab.DISTORTIONS` |
| `split` | no | `train`, `val` or `test`; without it a seeded 70/10/20 split is made |
| `content` | no | a group key (e.g. the reference image): a generated split keeps each content in one part |

An empty `scene` or `distortion` cell means unlabelled; a task no row is labelled for is
not trained (`train.trained_tasks`). A file that does not end in `.csv` is read in the LIQE
label format (`data.labels`). Every bad row (missing image, non-numeric score, unknown scene
or distortion, ...) is reported with its file and line, all of them in one `UserDataError`,
and nothing is dropped silently.

`register_csv` resolves the file once into a `UserDatasetSpec` (the registry's `DatasetSpec`
plus its rows and its split) and registers it (`registry.register_dataset`), so the rest of
a run (`rundata`, `train`, `evaluate`) handles it by name like any dataset of the registry.
"""
from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..vocab import DISTORTIONS, FINE_TO_COARSE, SCENES, UNKNOWN
from .labels import MAX_SCENES, LabelFormatError, LabelRow, parse_line
from .registry import DATASETS, PARTS, DatasetSpec, register_dataset
from .splits import FRACTIONS, make_split

COLUMNS = ("path", "mos", "std", "scene", "distortion", "split", "content")
REQUIRED = ("path", "mos")
SCENE_SEPARATORS = r"[;|]"
#: Problems listed in full in one error message; the rest are counted.
MAX_LISTED = 20
#: Training mini-batch by training-set size, after the paper: 4 for sets of about a thousand images, 16 for 10k.
LARGE_SET, SMALL_BATCH, LARGE_BATCH = 5000, 4, 16

#: The fine type a distortion class given in a CSV is stored as: the class name itself where it is a fine
#: type, else its first fine type. Only the class reaches training and evaluation.
CLASS_AS_FINE: dict[str, str] = {
    coarse: coarse if FINE_TO_COARSE.get(coarse) == coarse
    else next(fine for fine, of in FINE_TO_COARSE.items() if of == coarse)
    for coarse in DISTORTIONS
}


class UserDataError(ValueError):
    """Rows of a user's label file that cannot be used: every problem with its file and line."""

    def __init__(self, file: str | os.PathLike, problems: list[tuple[int, str]]):
        self.file, self.problems = str(file), problems
        listed = [f"{file}:{line}: {problem}" for line, problem in problems[:MAX_LISTED]]
        more = f"\n... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        super().__init__(f"{len(problems)} problem(s) in {file}; fix them and run again (no row is dropped "
                         f"silently):\n" + "\n".join(listed) + more)


@dataclass(frozen=True)
class UserDatasetSpec(DatasetSpec):
    """A dataset of the user's, resolved once: the registry entry plus its rows and its split."""

    source: str = ""  # the label file, absolute
    rows: tuple[LabelRow, ...] = field(default=(), compare=False, hash=False, repr=False)
    split: dict[str, tuple[LabelRow, ...]] = field(default_factory=dict, compare=False, hash=False, repr=False)
    split_source: str = ""  # "split column" or "generated 70/10/20 (seed S)"
    contents: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def grouper(self, root: str | os.PathLike | None = None):
        """path -> the `content` column's value, when the file has that column."""
        return (lambda path: self.contents.get(path, path)) if self.contents else None

    def content_of(self, path: str, root: str | os.PathLike | None = None) -> str:
        return self.contents.get(path, path)

    def summary(self) -> dict:
        """What a run records about the dataset (`liqe train` writes it next to the config)."""
        return {"name": self.name, "file": self.source, "rows": len(self.rows), "split": self.split_source,
                **{part: len(self.split[part]) for part in PARTS}, "batch_size": self.batch_size}


@dataclass
class _Parsed:
    rows: list[LabelRow]
    parts: dict[str, str]  # path -> split part, when the file has a split column
    contents: dict[str, str]


def read_user_labels(path: str | os.PathLike) -> _Parsed:
    """Read and check a CSV (or LIQE-format) label file; every problem is collected into one `UserDataError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} not found")
    return _read_csv(path) if path.suffix.lower() == ".csv" else _read_liqe(path)


def _read_liqe(path: Path) -> _Parsed:
    rows, problems, seen = [], [], {}
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = parse_line(text, path, number)
            except LabelFormatError as err:
                problems.append((number, str(err).split(": ", 1)[1]))
                continue
            problems += _common_problems(path, row, number, seen)
            rows.append(row)
    if problems:
        raise UserDataError(path, problems)
    return _Parsed(rows, {}, {})


def _read_csv(path: Path) -> _Parsed:
    rows, problems, seen = [], [], {}
    parts, contents = {}, {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise UserDataError(path, [(1, f"empty file: expected a header row with columns {', '.join(REQUIRED)}")])
        columns = [name.strip().lower() for name in header]
        unknown = [name for name in columns if name not in COLUMNS]
        missing = [name for name in REQUIRED if name not in columns]
        if unknown or missing or len(set(columns)) != len(columns):
            found = f"found {', '.join(header)}"
            raise UserDataError(path, [(1, f"header: missing column(s) {missing}, unknown column(s) {unknown}; "
                                           f"expected {', '.join(REQUIRED)} and optionally "
                                           f"{', '.join(c for c in COLUMNS if c not in REQUIRED)} ({found})")])
        for values in reader:
            number = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                problems.append((number, f"{len(values)} fields, expected {len(columns)} ({', '.join(columns)})"))
                continue
            cells = {name: value.strip() for name, value in zip(columns, values)}
            row, row_problems = _csv_row(cells)
            problems += [(number, p) for p in row_problems]
            if row is None:
                continue
            problems += _common_problems(path, row, number, seen)
            rows.append(row)
            if "split" in cells:
                parts[row.path] = cells["split"].lower()
            if cells.get("content"):
                contents[row.path] = cells["content"]
    if problems:
        raise UserDataError(path, problems)
    if not rows:
        raise UserDataError(path, [(1, "no rows: add one row per image under the header")])
    return _Parsed(rows, parts, contents)


def _csv_row(cells: dict[str, str]) -> tuple[LabelRow | None, list[str]]:
    problems = []
    image = cells["path"]
    if not image:
        problems.append("empty path")
    try:
        score = float(cells["mos"])
        if not math.isfinite(score):
            raise ValueError
    except ValueError:
        problems.append(f"mos {cells['mos']!r} is not a finite number")
        score = math.nan
    if cells.get("std"):
        try:
            std = float(cells["std"])
            if not math.isfinite(std) or std < 0:
                raise ValueError
        except ValueError:
            problems.append(f"std {cells['std']!r} is not a non-negative number")
    scenes = tuple(s.strip().lower().replace(" ", "_") for s in re.split(SCENE_SEPARATORS, cells.get("scene", ""))
                   if s.strip())
    bad = [s for s in scenes if s not in SCENES]
    if bad:
        problems.append(f"unknown scene {', '.join(map(repr, bad))}: expected one to {MAX_SCENES} of "
                        f"{', '.join(SCENES)}, separated by ';'")
    elif len(scenes) > MAX_SCENES or len(set(scenes)) != len(scenes):
        problems.append(f"scenes {scenes}: expected one to {MAX_SCENES} different scenes")
    distortion = cells.get("distortion", "").lower()
    if not distortion or distortion == UNKNOWN:
        fine = UNKNOWN
    elif distortion in FINE_TO_COARSE:
        fine = distortion
    elif distortion in CLASS_AS_FINE:
        fine = CLASS_AS_FINE[distortion]
    else:
        fine = UNKNOWN
        problems.append(f"unknown distortion {distortion!r}: expected one of the 11 classes ({', '.join(DISTORTIONS)}) "
                        f"or one of the 33 fine types ({', '.join(sorted(FINE_TO_COARSE))}), or an empty cell")
    if "split" in cells and cells["split"].lower() not in PARTS:
        problems.append(f"split {cells['split']!r}: expected one of {', '.join(PARTS)}")
    if problems:
        return None, problems
    return LabelRow(image, score, fine, scenes), []


def _common_problems(file: Path, row: LabelRow, number: int, seen: dict[str, int]) -> list[tuple[int, str]]:
    problems = []
    if row.path in seen:
        problems.append((number, f"duplicate image {row.path!r} (first on line {seen[row.path]})"))
    else:
        seen[row.path] = number
    image = file.parent / row.path
    if not image.is_file():
        problems.append((number, f"image {row.path!r} not found (looked for {image})"))
    return problems


def dataset_name(path: Path) -> str:
    """A registry name for a label file: its stem (`csv-<stem>` if the registry has a dataset of that name),
    numbered when another file of the same stem is registered in this process."""
    stem = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "mine"
    base = f"csv-{stem}" if stem in DATASETS and not isinstance(DATASETS[stem], UserDatasetSpec) else stem
    name, index = base, 1
    while name in DATASETS and getattr(DATASETS[name], "source", None) != str(path):
        index += 1
        name = f"{base}-{index}"
    return name


def register_csv(path: str | os.PathLike, session: int = 1) -> UserDatasetSpec:
    """Read a user's label file, split it and register it; return the resolved dataset.

    The split is the file's `split` column, or a 70/10/20 split seeded by `session` (as the
    generated splits of `rundata`), grouped by the `content` column when the file has one.
    """
    path = Path(path).resolve()
    parsed = read_user_labels(path)
    if parsed.parts:
        split = {part: tuple(r for r in parsed.rows if parsed.parts[r.path] == part) for part in PARTS}
        how = "split column"
    else:
        group_of = (lambda p: parsed.contents.get(p, p)) if parsed.contents else None
        made = make_split(parsed.rows, seed=session, group_of=group_of, fractions=FRACTIONS)
        split = {part: tuple(rows) for part, rows in made.items()}
        how = f"generated 70/10/20 (seed {session}{', by content' if parsed.contents else ''})"
    n_train = len(split["train"])
    spec = UserDatasetSpec(
        name=dataset_name(path), title=f"your labelled images ({path.name})", folder=str(path.parent),
        label_source="csv", synthetic=bool(parsed.contents),  # grouped by content, as the synthetic-distortion sets
        batch_size=max(1, min(LARGE_BATCH if n_train >= LARGE_SET else SMALL_BATCH, n_train)),
        url=str(path), licence="yours", n_images=len(parsed.rows), label_file=str(path),
        source=str(path), rows=tuple(parsed.rows), split=split, split_source=how, contents=parsed.contents)
    return register_dataset(spec)


def check_trainable(spec: UserDatasetSpec) -> None:
    """Refuse a dataset a run cannot train and select on: the quality loss needs pairs in the training
    part, and model selection an SRCC on at least two validation images with different scores."""
    problems = []
    for part in ("train", "val"):
        scores = {row.score for row in spec.split[part]}
        if len(spec.split[part]) < 2 or len(scores) < 2:
            problems.append((1, f"the {part} part ({spec.split_source}) has {len(spec.split[part])} image(s) with "
                                f"{len(scores)} different score(s); training needs at least 2 with different scores "
                                "in train and in val: add rows, or a split column"))
    if problems:
        raise UserDataError(spec.source, problems)
