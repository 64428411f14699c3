"""`liqe data verify`: what is on disk for each dataset, what is missing, and what to do about it.

Run before a long job: a missing image should stop a reproduction at its start with a
remedy, not hours later in a data loader.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .labels import LabelFormatError
from .registry import DATASETS, dataset_dir, fetched_labels_dir, get_spec, load_rows
from .standin import standin_note

SHOWN = 5


@dataclass
class DatasetReport:
    """The state of one dataset on disk. `ok` when its labels parse and every image is there."""

    name: str
    folder: Path
    rows: int = 0
    found: int = 0
    missing: list[str] = field(default_factory=list)
    problem: str = ""
    remedy: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and not self.missing and self.rows > 0

    def format(self, shown: int = SHOWN) -> str:
        status = "ok" if self.ok else "MISSING" if self.missing or not self.rows else "BROKEN"
        lines = [f"{self.name}: {status} ({self.folder})",
                 f"  label rows: {self.rows}; images found: {self.found}; missing: {len(self.missing)}"]
        lines += [f"    missing: {path}" for path in self.missing[:shown]]
        if len(self.missing) > shown:
            lines.append(f"    ... and {len(self.missing) - shown} more")
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        if self.remedy and not self.ok:
            lines.append(f"  to do: {self.remedy}")
        return "\n".join(lines)


def _corrupt_files(folder: Path) -> list[str]:
    """Synthetic set: files whose sha256 differs from the manifest written when it was built."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return []
    files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    return [path for path, digest in files.items()
            if (folder / path).is_file() and hashlib.sha256((folder / path).read_bytes()).hexdigest() != digest]


def verify_dataset(name: str, root: str | os.PathLike | None = None,
                   labels_dir: str | os.PathLike | None = None) -> DatasetReport:
    """Check the labels and images of dataset `name` under the data root.

    A stand-in root (`liqe data standin`, marked by STANDIN.json) holds a few images per
    dataset by design, so there the release's image count is not demanded.
    """
    spec = get_spec(name)
    folder = dataset_dir(spec, root)
    report = DatasetReport(name, folder)
    get_it = f"download {spec.title} from {spec.url} ({spec.licence}) and unpack it as {folder}"
    if spec.layout:
        get_it += f" so that there is {spec.layout}"
    if spec.label_source == "synthetic":
        get_it = f"build it with `liqe data synth --data-root {folder.parent}`"
    try:
        rows = load_rows(name, root, labels_dir)
    except (FileNotFoundError, LabelFormatError) as err:
        report.problem = str(err)
        report.remedy = (f"run `liqe data fetch-labels` (official LIQE label files into {fetched_labels_dir(root)}), "
                         f"or keep the official splits2/ folder inside {folder}"
                         if spec.label_source == "liqe" else get_it)
        return report
    report.rows = len(rows)
    report.missing = [row.path for row in rows if not (folder / row.path).is_file()]
    report.found = report.rows - len(report.missing)
    if spec.n_images and report.rows != spec.n_images and standin_note(root) is None:
        report.problem = f"{report.rows} label rows, the release has {spec.n_images} images"
    if spec.label_source == "synthetic":
        corrupt = _corrupt_files(folder)
        if corrupt:
            report.problem = f"{len(corrupt)} file(s) differ from manifest.json, e.g. {corrupt[0]}"
            get_it = f"rebuild it with `liqe data synth --data-root {folder.parent}`"
    report.remedy = get_it
    return report


def default_datasets(root: str | os.PathLike | None = None) -> list[str]:
    """What `liqe data verify` checks when no dataset is named: every real dataset of the paper,
    and the smoke profile's synthetic set only where it has been built under the root."""
    return [name for name, spec in DATASETS.items()
            if spec.label_source != "synthetic" or dataset_dir(spec, root).is_dir()]
