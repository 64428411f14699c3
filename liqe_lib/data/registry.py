"""Every dataset the project reads, as data: where it lives, where its labels come from, how to get it.

One `DatasetSpec` per dataset (the open_clip habit: datasets are table rows, not code
paths). Folders are the official releases' own folder names under `LIQE_DATA_ROOT`
(default `./data`), so an unpacked download works as it is. Datasets with synthetic
distortions know how to find an image's reference content, which generated splits use
so that no content appears in two parts (DESIGN.md, "Splits").
"""
from __future__ import annotations

import functools
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import scipy.io

from ..vocab import UNKNOWN
from .labels import LabelRow, read_labels
from .releases import IMAGE_SUFFIXES, index_images, read_pipal, read_spaq, read_tid2013

logger = logging.getLogger(__name__)

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
    image_dir: the release's folder of (distorted) images, where it has a single one.
    batch_size: the training mini-batch of the paper (0 for sets that are only tested on).
    content_pattern: a regex (case-insensitive) whose group is an image's reference content;
    content_table: instead, a release file naming each image's reference (LIVE).
    shorter_side: images are resized to this shorter side when loaded (the SPAQ protocol).
    layout: how the unpacked release sits in `folder`, for the remedy of `liqe data verify`.
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
    layout: str = ""

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


#: The NTIRE 2022 training download is several archives without a common top folder.
PIPAL_LAYOUT = ("PIPAL/Train_Label/A0001.txt ..., PIPAL/Train_Ref/A0001.bmp ... and PIPAL/Distortion_1/ ... "
                "PIPAL/Distortion_4/ (the distorted images, e.g. A0001_00_00.bmp): the training download has no "
                "top folder, so make PIPAL/ and unpack Train_Label, Train_Ref and Distortion_1..4 inside it, "
                "each as its own subfolder")

_RESEARCH_ONLY = "free for non-commercial research use; see the official page for the terms and the citation"

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("live", "LIVE Image Quality Assessment Database, release 2", "databaserelease2", "liqe", True, 4,
                "https://live.ece.utexas.edu/research/Quality/subjective.htm",
                "free for non-commercial research use, after the request form on the official page",
                n_images=779, label_prefix="live", content_table="refnames_all.mat",
                layout="databaserelease2/{jp2k,jpeg,wn,gblur,fastfading,refimgs}/imgN.bmp and "
                       "databaserelease2/refnames_all.mat (the release's own top folder)"),
    DatasetSpec("csiq", "CSIQ", "CSIQ", "liqe", True, 4,
                "https://s2.smu.edu/~eclarson/csiq.html", _RESEARCH_ONLY,
                n_images=866, label_prefix="csiq", content_pattern=r"([^/.]+)\.[^/]*$",
                layout="CSIQ/dst_imgs/<type>/<image>.<TYPE>.<level>.png (and CSIQ/src_imgs/)"),
    DatasetSpec("kadid10k", "KADID-10k", "kadid10k", "liqe", True, 16,
                "https://database.mmsp-kn.de/kadid-10k-database.html",
                "images under the Pixabay licence, ratings for research use; see the official page",
                n_images=10125, label_prefix="kadid10k", content_pattern=r"(I\d+)_\d+_\d+\.png$",
                layout="kadid10k/images/I01_01_01.png ... (the zip's own top folder)"),
    DatasetSpec("bid", "BID (Blurred Image Database)", "BID", "liqe", False, 4,
                "https://qualinet.github.io/databases/image/blurred_image_database_bid/", _RESEARCH_ONLY,
                n_images=586, label_prefix="bid", layout="BID/ImageDatabase/DatabaseImage0001.JPG ..."),
    DatasetSpec("clive", "LIVE In the Wild Image Quality Challenge (CLIVE)", "ChallengeDB_release", "liqe", False, 4,
                "https://live.ece.utexas.edu/research/ChallengeDB/index.html", _RESEARCH_ONLY,
                n_images=1162, label_prefix="clive",
                layout="ChallengeDB_release/Images/*.bmp|*.JPG (the zip's own top folder)"),
    DatasetSpec("koniq10k", "KonIQ-10k", "koniq-10k", "liqe", False, 16,
                "https://database.mmsp-kn.de/koniq-10k-database.html",
                "images from YFCC100m under Creative Commons licences, ratings for research use; see the page",
                n_images=10073, label_prefix="koniq10k",
                layout="koniq-10k/1024x768/*.jpg (koniq10k_1024x768.zip unpacks as 1024x768/: "
                       "make koniq-10k/ and unpack it inside)"),
    DatasetSpec("tid2013", "TID2013", "tid2013", "tid2013", True, 0,
                "https://www.ponomarenko.info/tid2013.htm", _RESEARCH_ONLY,
                n_images=3000, label_file="mos_with_names.txt", image_dir="distorted_images",
                content_pattern=r"(i\d+)_\d+_\d+\.bmp$",
                layout="tid2013/mos_with_names.txt, tid2013/distorted_images/ and tid2013/reference_images/ "
                       "(unpack tid2013.rar inside tid2013/)"),
    DatasetSpec("spaq", "SPAQ (Smartphone Photography Attribute and Quality)", "SPAQ", "spaq", False, 0,
                "https://github.com/h4nwei/SPAQ", _RESEARCH_ONLY,
                n_images=11125, label_file="Annotations/MOS and Image attribute scores.xlsx", image_dir="TestImage",
                shorter_side=512,
                layout="SPAQ/TestImage/00001.jpg ... and SPAQ/Annotations/MOS and Image attribute scores.xlsx"),
    DatasetSpec("pipal", "PIPAL training set (NTIRE 2022 perceptual IQA challenge)", "PIPAL", "pipal", True, 0,
                "https://www.jasongt.com/projectpages/pipal.html", _RESEARCH_ONLY,
                n_images=23200, label_file="Train_Label", content_pattern=r"(A\d+)_\d+_\d+\.\w+$",
                layout=PIPAL_LAYOUT),
    DatasetSpec("waterloo", "Waterloo Exploration Database (pristine images, unlabelled; gMAD playground)",
                "exploration_database_and_code", "unlabelled", False, 0,
                "https://ece.uwaterloo.ca/~k29ma/exploration/", _RESEARCH_ONLY,
                n_images=4744, image_dir="pristine_images",
                layout="exploration_database_and_code/pristine_images/00001.bmp ... (the archive's own top folder)"),
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


def fetched_labels_dir(root: str | os.PathLike | None = None) -> Path:
    """Where `liqe data fetch-labels` puts the official LIQE label files: <data root>/liqe_labels."""
    return data_root(root) / LABELS_FOLDER


def labels_root(root: str | os.PathLike | None = None) -> Path:
    """Where the official LIQE label files are read from.

    `<data root>/liqe_labels` (what `liqe data fetch-labels` writes) when it exists. Otherwise,
    when some dataset folder holds a `splits2/` folder, the data root itself: the official code
    keeps each dataset's `splits2/` inside its image folder (train_unique_clip_weight.py lines
    682-704 read `../IQA_Database/<folder>/splits2/<session>/<prefix>_train_clip.txt`), which
    `official_file(spec, <data root>)` finds as `<dataset folder>/splits2/...`.
    """
    fetched = fetched_labels_dir(root)
    base = data_root(root)
    inside = not fetched.is_dir() and any((base / spec.folder / "splits2").is_dir()
                                          for spec in DATASETS.values() if spec.label_source == "liqe")
    chosen = base if inside else fetched
    _log_labels_choice(chosen.resolve(), inside)
    return chosen


@functools.lru_cache(maxsize=None)
def _log_labels_choice(folder: Path, inside: bool) -> None:
    if inside:
        logger.info("official LIQE label files: <dataset folder>/splits2/ under %s (no %s there)",
                    folder, LABELS_FOLDER)
    else:
        logger.info("official LIQE label files: %s", folder)


def official_file(spec: DatasetSpec, labels_dir: Path, session: int | None = None, part: str = "all") -> Path:
    """`<folder>/splits2/[<session>/]<prefix>_<part>_clip.txt` of the official LIQE label files."""
    if spec.label_source != "liqe":
        raise ValueError(f"{spec.name} has no official LIQE label files (its labels: {spec.label_source})")
    base = Path(labels_dir) / spec.folder / "splits2"
    return (base / str(session) if session is not None else base) / f"{spec.label_prefix}_{part}_clip.txt"


def playground_images(names: Iterable[str], root: str | os.PathLike | None = None) -> list[Path]:
    """The image files (sorted, image suffixes only) of the image folders of datasets `names`: gMAD's playground.

    The paper's playground (DESIGN.md, "gMAD") is Waterloo's `pristine_images/` and SPAQ's
    `TestImage/`, never the releases' code, references or annotations; the smoke profile's
    synthetic set plays with all its images, distorted and pristine.
    """
    images: list[Path] = []
    for name in names:
        spec = get_spec(name)
        if not spec.image_dir and spec.label_source != "synthetic":
            raise ValueError(f"{name} has no single image folder to play gMAD on; choose among "
                             f"{', '.join(n for n, s in DATASETS.items() if s.image_dir)}")
        folder = dataset_dir(spec, root) / spec.image_dir
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found: get {spec.title} from {spec.url} and unpack it so that "
                                    f"there is {spec.layout or folder}")
        images += [path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(images)


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
                                    f"{all_file} or session 1's files); run `liqe data fetch-labels`, or keep "
                                    f"the official splits2/ folder inside {folder} as the official code does")
        return [row for part in PARTS for row in read_labels(official_file(spec, labels_dir, 1, part))]
    if spec.label_source == "tid2013":
        return read_tid2013(folder / spec.label_file, spec.image_dir)
    if spec.label_source == "spaq":
        return read_spaq(folder / spec.label_file, spec.image_dir)
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
