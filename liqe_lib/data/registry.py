"""Every dataset the project reads, as data: where it lives, where its labels come from, how to get it.

One `DatasetSpec` per dataset (the open_clip habit: datasets are table rows, not code
paths). Folders are the official releases' own folder names under `LIQE_DATA_ROOT`
(default `./data`), so an unpacked download works as it is. Datasets with synthetic
distortions know how to find an image's reference content, which generated splits use
so that no content appears in two parts (DESIGN.md, "Splits").
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.io

from ..vocab import UNKNOWN
from .labels import LabelRow, read_labels
from .releases import index_images, read_pipal, read_spaq, read_tid2013

DATA_ROOT_ENV = "LIQE_DATA_ROOT"
DEFAULT_DATA_ROOT = "data"
LABELS_FOLDER = "liqe_labels"
PARTS: tuple[str, ...] = ("train", "val", "test")

#: LIVE release 2 lists its 982 images (779 distorted + 203 reference copies) in this order
#: in `refnames_all.mat`, which names each image's reference.
LIVE_ORDER: tuple[tuple[str, int], ...] = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174),
                                           ("fastfading", 174))


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset.

    label_source: `liqe` (official LIQE label and split files, `label_prefix`), `tid2013`,
    `spaq`, `pipal` (the release's own score file, `label_file`), `synthetic` (the LIQE-format
    file `liqe data synth` writes) or `unlabelled` (images only: `image_dir`).
    batch_size: the training mini-batch of the paper (0 for sets that are only tested on).
    content_pattern: a regex (case-insensitive) whose group is an image's reference content;
    content_table: instead, a release file naming each image's reference (LIVE).
    shorter_side: images are resized to this shorter side when loaded (the SPAQ protocol).
    """

    name: str
    title: str
    folder: str
    label_source: str
    synthetic: bool
    batch_size: int
    url: str
    licence: str
    n_images: int | None = None
    label_prefix: str = ""
    label_file: str = ""
    image_dir: str = ""
    content_pattern: str = ""
    content_table: str = ""
    shorter_side: int | None = None

    def grouper(self, root: str | os.PathLike | None = None) -> Callable[[str], str] | None:
        """path -> reference content, for splits that keep each content in one part; None if ungrouped."""
        if self.content_pattern:
            return self.content_of
        if self.content_table:
            table = _live_references(dataset_dir(self, root) / self.content_table)
            return lambda path: _lookup(table, path, self.name)
        return None

    def content_of(self, path: str, root: str | os.PathLike | None = None) -> str:
        """The reference content of an image path (relative to the dataset folder)."""
        if self.content_pattern:
            match = re.search(self.content_pattern, path, re.IGNORECASE)
            if not match:
                raise ValueError(f"{self.name}: cannot tell the reference content of {path!r} "
                                 f"(expected a path matching {self.content_pattern!r})")
            return match.group(1).lower()
        grouper = self.grouper(root)
        if grouper is None:
            raise ValueError(f"{self.name} has authentic distortions: its images have no reference content")
        return grouper(path)


def _lookup(table: dict[str, str], path: str, name: str) -> str:
    try:
        return table[path]
    except KeyError:
        raise ValueError(f"{name}: {path!r} is not one of the distorted images of the release") from None


@functools.lru_cache(maxsize=4)
def _live_references(mat_file: Path) -> dict[str, str]:
    """LIVE image path (`jp2k/img55.bmp`) -> reference name, from the release's `refnames_all.mat`."""
    if not mat_file.is_file():
        raise FileNotFoundError(f"{mat_file} not found: LIVE splits group images by reference with the release's "
                                "refnames_all.mat; unpack LIVE release 2 there (see `liqe data verify --dataset live`)")
    names = [str(np.asarray(n).ravel()[0]) for n in scipy.io.loadmat(mat_file)["refnames_all"].ravel()]
    expected = sum(count for _, count in LIVE_ORDER)
    if len(names) != expected:
        raise ValueError(f"{mat_file} names {len(names)} images, expected {expected} (LIVE release 2)")
    table, offset = {}, 0
    for folder, count in LIVE_ORDER:
        table.update({f"{folder}/img{i + 1}.bmp": names[offset + i] for i in range(count)})
        offset += count
    return table


_RESEARCH_ONLY = "free for non-commercial research use; see the official page for the terms and the citation"

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("live", "LIVE Image Quality Assessment Database, release 2", "databaserelease2", "liqe", True, 4,
                "https://live.ece.utexas.edu/research/Quality/subjective.htm",
                "free for non-commercial research use, after the request form on the official page",
                n_images=779, label_prefix="live", content_table="refnames_all.mat"),
    DatasetSpec("csiq", "CSIQ", "CSIQ", "liqe", True, 4,
                "https://s2.smu.edu/~eclarson/csiq.html", _RESEARCH_ONLY,
                n_images=866, label_prefix="csiq", content_pattern=r"([^/.]+)\.[^/]*$"),
    DatasetSpec("kadid10k", "KADID-10k", "kadid10k", "liqe", True, 16,
                "https://database.mmsp-kn.de/kadid-10k-database.html",
                "images under the Pixabay licence, ratings for research use; see the official page",
                n_images=10125, label_prefix="kadid10k", content_pattern=r"(I\d+)_\d+_\d+\.png$"),
    DatasetSpec("bid", "BID (Blurred Image Database)", "BID", "liqe", False, 4,
                "https://qualinet.github.io/databases/image/blurred_image_database_bid/", _RESEARCH_ONLY,
                n_images=586, label_prefix="bid"),
    DatasetSpec("clive", "LIVE In the Wild Image Quality Challenge (CLIVE)", "ChallengeDB_release", "liqe", False, 4,
                "https://live.ece.utexas.edu/research/ChallengeDB/index.html", _RESEARCH_ONLY,
                n_images=1162, label_prefix="clive"),
    DatasetSpec("koniq10k", "KonIQ-10k", "koniq-10k", "liqe", False, 16,
                "https://database.mmsp-kn.de/koniq-10k-database.html",
                "images from YFCC100m under Creative Commons licences, ratings for research use; see the page",
                n_images=10073, label_prefix="koniq10k"),
    DatasetSpec("tid2013", "TID2013", "tid2013", "tid2013", True, 0,
                "https://www.ponomarenko.info/tid2013.htm", _RESEARCH_ONLY,
                n_images=3000, label_file="mos_with_names.txt", content_pattern=r"(i\d+)_\d+_\d+\.bmp$"),
    DatasetSpec("spaq", "SPAQ (Smartphone Photography Attribute and Quality)", "SPAQ", "spaq", False, 0,
                "https://github.com/h4nwei/SPAQ", _RESEARCH_ONLY,
                n_images=11125, label_file="Annotations/MOS and Image attribute scores.xlsx", shorter_side=512),
    DatasetSpec("pipal", "PIPAL training set (NTIRE 2022 perceptual IQA challenge)", "PIPAL", "pipal", True, 0,
                "https://www.jasongt.com/projectpages/pipal.html", _RESEARCH_ONLY,
                n_images=23200, label_file="Train_Label", content_pattern=r"(A\d+)_\d+_\d+\.\w+$"),
    DatasetSpec("waterloo", "Waterloo Exploration Database (pristine images, unlabelled; gMAD playground)",
                "exploration_database_and_code", "unlabelled", False, 0,
                "https://ece.uwaterloo.ca/~k29ma/exploration/", _RESEARCH_ONLY,
                n_images=4744, image_dir="pristine_images"),
    DatasetSpec("synthetic", "Embedded synthetic IQA set (built offline by `liqe data synth`)", "synthetic",
                "synthetic", True, 4,
                "built locally from images that scikit-image, scikit-learn and matplotlib ship",
                "pristine images under the licences of those packages' sample data (public domain or CC)",
                label_file="labels.txt", content_pattern=r"^distorted/([^/]+)/"),
)}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding every dataset: `root`, else $LIQE_DATA_ROOT, else ./data."""
    return Path(root if root is not None else os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)


def dataset_dir(spec: DatasetSpec | str, root: str | os.PathLike | None = None) -> Path:
    spec = get_spec(spec) if isinstance(spec, str) else spec
    return data_root(root) / spec.folder


def labels_root(root: str | os.PathLike | None = None) -> Path:
    """Where `liqe data fetch-labels` puts the official LIQE label files: <data root>/liqe_labels."""
    return data_root(root) / LABELS_FOLDER


def official_file(spec: DatasetSpec, labels_dir: Path, session: int | None = None, part: str = "all") -> Path:
    """`<folder>/splits2/[<session>/]<prefix>_<part>_clip.txt` of the official LIQE label files."""
    if spec.label_source != "liqe":
        raise ValueError(f"{spec.name} has no official LIQE label files (its labels: {spec.label_source})")
    base = Path(labels_dir) / spec.folder / "splits2"
    return (base / str(session) if session is not None else base) / f"{spec.label_prefix}_{part}_clip.txt"


def load_rows(name: str, root: str | os.PathLike | None = None,
              labels_dir: str | os.PathLike | None = None) -> list[LabelRow]:
    """All label rows of a dataset, from its label source.

    Official sets read `<prefix>_all_clip.txt`; BID and KADID-10k have none, so the union
    of session 1's three parts (which partition the set) stands in. Unlabelled sets get
    one row per image with a NaN score.
    """
    spec = get_spec(name)
    folder = dataset_dir(spec, root)
    if spec.label_source == "liqe":
        labels_dir = Path(labels_dir) if labels_dir is not None else labels_root(root)
        all_file = official_file(spec, labels_dir)
        if all_file.is_file():
            return read_labels(all_file)
        if not official_file(spec, labels_dir, 1, "train").is_file():
            raise FileNotFoundError(f"official label files of {name} not found under {labels_dir} (expected "
                                    f"{all_file} or session 1's files); run `liqe data fetch-labels`")
        return [row for part in PARTS for row in read_labels(official_file(spec, labels_dir, 1, part))]
    if spec.label_source == "tid2013":
        return read_tid2013(folder / spec.label_file)
    if spec.label_source == "spaq":
        return read_spaq(folder / spec.label_file)
    if spec.label_source == "pipal":
        return read_pipal(folder / spec.label_file)
    if spec.label_source == "synthetic":
        return read_labels(folder / spec.label_file)
    images = index_images(folder / spec.image_dir)
    if not images:
        raise FileNotFoundError(f"no images under {folder / spec.image_dir}; get {spec.title} from {spec.url}")
    return [LabelRow(f"{spec.image_dir}/{path}", math.nan, UNKNOWN, ()) for path in images.values()]


# --- datasets registered at runtime: a user's labelled images (`data.userdata`) -----------------

#: Label sources of datasets registered at runtime; `csv`: a user's CSV or LIQE-format label file,
#: resolved once into a spec that carries its rows and split (`userdata.UserDatasetSpec`).
RUNTIME_LABEL_SOURCES: tuple[str, ...] = ("csv",)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the registry of this process (`userdata.register_csv` does it for a user's file),
    so a run handles it by name like the datasets above. A dataset of the table above cannot be replaced;
    one registered at runtime can (the same file registered again, e.g. for another session's split)."""
    if spec.label_source not in RUNTIME_LABEL_SOURCES:
        raise ValueError(f"dataset {spec.name!r}: label source {spec.label_source!r} cannot be registered at runtime "
                         f"(choose one of {RUNTIME_LABEL_SOURCES})")
    old = DATASETS.get(spec.name)
    if old is not None and old.label_source not in RUNTIME_LABEL_SOURCES:
        raise ValueError(f"dataset name {spec.name!r} belongs to {old.title}: register yours under another name")
    DATASETS[spec.name] = spec
    return spec


_load_table_rows = load_rows


def load_rows(name: str, root: str | os.PathLike | None = None,  # noqa: F811 (adds the runtime label sources)
              labels_dir: str | os.PathLike | None = None) -> list[LabelRow]:
    """All label rows of a dataset: those a `csv` dataset was registered with, else `_load_table_rows`'s."""
    spec = get_spec(name)
    if spec.label_source == "csv":
        return list(spec.rows)
    return _load_table_rows(name, root, labels_dir)
