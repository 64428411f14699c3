"""Parsers for the label files that the cross-dataset sets ship in their own release formats.

TID2013, SPAQ and the PIPAL training set are only tested on (paper Table 2), so they have
no LIQE label files: these parsers turn each release's own score file into `LabelRow`s with
`unknown` distortion and scenes. Where the images are on disk, file names are matched
against them case-insensitively and wherever they sit under the dataset folder, because
releases differ in case (TID2013: the official reader, ImageDataset.py `ImageDataset_TID.__getitem__`,
capitalises `i01_01_1.bmp` to `I01_01_1.bmp` and `i01_11_1.bmp` to `I01_11_1.BMP`) and in folder
layout (the NTIRE 2022 PIPAL training images come in `Distortion_1/` ... `Distortion_4/`, the
2021 ones in one folder).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..vocab import UNKNOWN
from .labels import LabelFormatError, LabelRow

IMAGE_SUFFIXES = frozenset({".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
SPAQ_NAME_COLUMN = "Image name"
SPAQ_SCORE_COLUMN = "MOS"


def index_images(folder: Path) -> dict[str, str]:
    """Lower-cased file name -> path relative to `folder`, for every image below it ({} if absent)."""
    if not folder.is_dir():
        return {}
    return {p.name.lower(): p.relative_to(folder).as_posix()
            for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}


def _row(path: str, score: float) -> LabelRow:
    return LabelRow(path, float(score), UNKNOWN, ())


def _score(text: object, file: Path, line: int) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise LabelFormatError(file, line, f"score {text!r} is not a number") from None
    if value != value:
        raise LabelFormatError(file, line, "score is empty")
    return value


def read_tid2013(mos_file: str | os.PathLike, image_dir: str = "distorted_images") -> list[LabelRow]:
    """TID2013 `mos_with_names.txt` (`5.51429 I01_01_1.bmp` per line; MOS 0-9, higher better).

    Paths are `distorted_images/<name>`, with the case of the file on disk when the
    images sit next to the MOS file (the release lists `I01_01_1.bmp` for `i01_01_1.bmp`).
    """
    mos_file = Path(mos_file)
    on_disk = index_images(mos_file.parent / image_dir)
    rows = []
    with open(mos_file, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            fields = text.split()
            if len(fields) != 2:
                raise LabelFormatError(mos_file, number, f"{len(fields)} fields, expected 2 (MOS, image name)")
            score, name = fields
            rows.append(_row(f"{image_dir}/{on_disk.get(name.lower(), name)}", _score(score, mos_file, number)))
    return rows


def read_spaq(spreadsheet: str | os.PathLike, image_dir: str = "TestImage") -> list[LabelRow]:
    """SPAQ's `MOS and Image attribute scores.xlsx` (or a CSV export of it): MOS 0-100, higher better.

    The SPAQ protocol resizes every image so its shorter side is 512 pixels: that is the
    `shorter_side` of the `spaq` spec, applied when the images are loaded.
    """
    spreadsheet = Path(spreadsheet)
    table = pd.read_csv(spreadsheet) if spreadsheet.suffix.lower() == ".csv" else pd.read_excel(spreadsheet)
    missing = {SPAQ_NAME_COLUMN, SPAQ_SCORE_COLUMN} - set(table.columns)
    if missing:
        raise LabelFormatError(spreadsheet, 1, f"missing column(s) {sorted(missing)}; found {list(table.columns)}")
    return [_row(f"{image_dir}/{name}", _score(score, spreadsheet, index + 2))  # line 1 is the header
            for index, (name, score) in enumerate(zip(table[SPAQ_NAME_COLUMN], table[SPAQ_SCORE_COLUMN]))]


def read_pipal(label_dir: str | os.PathLike) -> list[LabelRow]:
    """PIPAL training labels: one `A0001.txt` per reference, lines `A0001_00_00.bmp,1491.3` (Elo, higher better).

    Image paths are found under the dataset folder (the parent of `label_dir`) wherever
    the release put them (`Distortion_1/` ... `Distortion_4/` in the NTIRE 2022 download);
    images not on disk get their bare name, which `liqe data verify` reports as missing
    with the layout to unpack (`registry.PIPAL_LAYOUT`).
    """
    label_dir = Path(label_dir)
    files = sorted(label_dir.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no PIPAL label files (*.txt) in {label_dir}")
    on_disk = index_images(label_dir.parent)
    rows = []
    for file in files:
        with open(file, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                fields = [f.strip() for f in text.split(",")]
                if len(fields) != 2:
                    raise LabelFormatError(file, number, f"{len(fields)} comma-separated fields, "
                                                         "expected 2 (image name, score)")
                name, score = fields
                rows.append(_row(on_disk.get(name.lower(), name), _score(score, file, number)))
    return rows
