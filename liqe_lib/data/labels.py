"""The LIQE label format: one image per line, six tab-separated columns.

`path  score  fine-distortion  scene1  scene2  scene3` (see `shared/liqe_labels/README.md`),
with `invalid` for absent second and third scenes. Rows of datasets without auxiliary
labels (TID2013, SPAQ, PIPAL, Waterloo) carry `unknown` distortion and scene, and the
evaluation leaves them out of the scene and distortion accuracies. Every error names the
file and line, what was found and what was expected, so a hand-edited label file can be
fixed without reading this code.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..vocab import FINE_TO_COARSE, SCENES, UNKNOWN

#: Placeholder of the official files for an absent second or third scene label.
INVALID = "invalid"
COLUMNS = 6
MAX_SCENES = 3


class LabelFormatError(ValueError):
    """A label file line that cannot be read: the message names the file and the line."""

    def __init__(self, file: str | os.PathLike, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file = str(file)
        self.line = line


@dataclass(frozen=True)
class LabelRow:
    """One labelled image.

    path: relative to the dataset folder; score: the dataset's own quality score, higher
    better; distortion: a fine type (a key of `vocab.FINE_TO_COARSE`) or `vocab.UNKNOWN`;
    scenes: 1 to 3 names from `vocab.SCENES`, or () when unknown.
    """

    path: str
    score: float
    distortion: str
    scenes: tuple[str, ...]

    @property
    def coarse_distortion(self) -> str:
        """The distortion class (one of `vocab.DISTORTIONS`) or `vocab.UNKNOWN`."""
        return FINE_TO_COARSE.get(self.distortion, UNKNOWN)


def row_problem(row: LabelRow) -> str | None:
    """What is wrong with a row, in words, or None. Shared by the reader and the writer."""
    if not row.path or "\t" in row.path or "\n" in row.path:
        return f"bad image path {row.path!r}: expected a non-empty path without tabs or newlines"
    if isinstance(row.score, bool) or not isinstance(row.score, (int, float)) or not math.isfinite(row.score):
        return f"bad score {row.score!r}: expected a finite number"
    if row.distortion != UNKNOWN and row.distortion not in FINE_TO_COARSE:
        return (f"unknown distortion type {row.distortion!r}: expected one of the 33 fine types "
                f"({', '.join(sorted(FINE_TO_COARSE))}) or {UNKNOWN!r}")
    if len(row.scenes) > MAX_SCENES:
        return f"{len(row.scenes)} scene labels: expected at most {MAX_SCENES}"
    for scene in row.scenes:
        if scene not in SCENES:
            return f"unknown scene {scene!r}: expected one of {', '.join(SCENES)}"
    if len(set(row.scenes)) != len(row.scenes):
        return f"repeated scene label in {row.scenes}"
    return None


def parse_line(text: str, file: str | os.PathLike = "<labels>", line: int = 0) -> LabelRow:
    """One line of a label file -> LabelRow, or LabelFormatError naming file and line."""
    fields = text.rstrip("\r\n").split("\t")
    if len(fields) != COLUMNS:
        raise LabelFormatError(file, line, f"{len(fields)} tab-separated columns, expected {COLUMNS} "
                                           "(path, score, distortion, scene1, scene2, scene3)")
    path, score_text, distortion, *scene_fields = fields
    try:
        score = float(score_text)
    except ValueError:
        raise LabelFormatError(file, line, f"score {score_text!r} is not a number") from None
    if scene_fields[0] == UNKNOWN:
        if any(s != INVALID for s in scene_fields[1:]):
            raise LabelFormatError(file, line, f"scene {UNKNOWN!r} must be followed by {INVALID!r} twice")
        scenes: tuple[str, ...] = ()
    else:
        if scene_fields[0] == INVALID:
            raise LabelFormatError(file, line, f"first scene is {INVALID!r}: expected a scene name or {UNKNOWN!r}")
        scenes = tuple(s for s in scene_fields if s != INVALID)
    row = LabelRow(path, score, distortion, scenes)
    problem = row_problem(row)
    if problem:
        raise LabelFormatError(file, line, problem)
    return row


def read_labels(path: str | os.PathLike) -> list[LabelRow]:
    """Read and validate a label file; blank lines are skipped, a duplicate image path is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} not found; official files come with `liqe data fetch-labels`, "
                                "the synthetic set with `liqe data synth`")
    rows: list[LabelRow] = []
    first_seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            row = parse_line(text, path, number)
            if row.path in first_seen:
                raise LabelFormatError(path, number, f"duplicate image path {row.path!r} "
                                                     f"(first on line {first_seen[row.path]})")
            first_seen[row.path] = number
            rows.append(row)
    return rows


def format_row(row: LabelRow) -> str:
    """A row in the LIQE format (no newline); `repr` of the score round-trips exactly."""
    scenes = list(row.scenes) if row.scenes else [UNKNOWN]
    scenes += [INVALID] * (MAX_SCENES - len(scenes))
    return "\t".join([row.path, repr(float(row.score)), row.distortion, *scenes])


def write_labels(rows: Iterable[LabelRow], path: str | os.PathLike) -> None:
    """Write rows in the LIQE format, refusing (ValueError naming the row) anything `read_labels` would reject."""
    lines = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        problem = row_problem(row) or (f"duplicate image path {row.path!r}" if row.path in seen else None)
        if problem:
            raise ValueError(f"row {index} ({row.path!r}) cannot be written to {path}: {problem}")
        seen.add(row.path)
        lines.append(format_row(row) + "\n")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(lines)
