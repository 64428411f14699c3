"""`liqe data fetch-labels`: the official LIQE label and split files, pinned and checked.

The files live in the public repository zwx8981/LIQE, folder `IQA_Database/`, at commit
a64655f; pooch downloads each one from its raw URL at that commit and accepts it only if
its sha256 is the one recorded in `label_hashes.LABEL_SHA256` (computed from exact copies
of the files), so a moved branch or a corrupted download cannot slip through. Files land
in the same layout (`<dataset folder>/splits2/...`) under `<data root>/liqe_labels`.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pooch
from tqdm import tqdm

from .label_hashes import LABEL_SHA256
from .registry import fetched_labels_dir

logger = logging.getLogger(__name__)

REPOSITORY = "zwx8981/LIQE"
COMMIT = "a64655f"
BASE_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/IQA_Database/"


def sha256_tree(folder: str | os.PathLike) -> dict[str, str]:
    """sha256 of every label file (`*.txt` below a dataset folder) under `folder`, keyed by relative path.

    This is how `label_hashes.py` was made from the exact copies in `shared/liqe_labels`.
    """
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("*/splits2/**/*.txt"))}


def label_fetcher(dest: str | os.PathLike, base_url: str = BASE_URL) -> pooch.Pooch:
    """A pooch that knows every official label file and its hash."""
    return pooch.create(path=Path(dest), base_url=base_url, registry=dict(LABEL_SHA256), retry_if_failed=2)


def fetch_labels(dest: str | os.PathLike | None = None, datasets: list[str] | None = None,
                 base_url: str = BASE_URL, progress: bool = True) -> Path:
    """Download (or verify, when present) the official label files into `dest` (default <data root>/liqe_labels).

    `datasets` limits the download to some dataset folders (e.g. ["CSIQ", "koniq-10k"]).
    A file whose hash differs is downloaded again; a download whose hash differs is an error.
    """
    dest = Path(dest) if dest is not None else fetched_labels_dir()
    fetcher = label_fetcher(dest, base_url)
    names = [n for n in fetcher.registry if datasets is None or n.split("/", 1)[0] in datasets]
    if not names:
        raise ValueError(f"no official label files for {datasets}; folders: "
                         f"{sorted({n.split('/', 1)[0] for n in LABEL_SHA256})}")
    for name in tqdm(names, desc="LIQE label files", unit="file", disable=not progress):
        fetcher.fetch(name)
    logger.info("%d official label files from %s@%s are in %s", len(names), REPOSITORY, COMMIT, dest)
    return dest
