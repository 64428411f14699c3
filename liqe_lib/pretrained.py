"""Named LIQE models: the released weights as a table of data, downloaded and checked on first use.

The open_clip `pretrained.py` habit: a model is a name (`load_model("liqe-koniq")`,
`liqe score --model liqe-koniq`, the demo's picker), and each name is one row of
`PRETRAINED` that says what the file is (architecture, task set, head, file format),
what it was trained on, where it comes from, its sha256 and size where known, its
licence and what to cite. Nothing is guessed from code paths.

Files live in one cache folder, `$LIQE_CACHE` (default: `pooch.os_cache("liqe")`,
`~/.cache/liqe` on Linux), under their release file names. pooch downloads them with a
progress bar and checks the sha256 where the table records one (a mismatch is refused and
the file is not kept); offline, the error names the file, its URLs and the folder to copy
it into. `liqe models` lists the table and what is cached; `liqe models --fetch NAME`
downloads ahead of time.

The two formats released weights come in (`clip`, `iqa-pytorch`) do not record the task
set. IQA-PyTorch scores `liqe_koniq.pt` with the 5 prompts `a photo with {c} quality`
(task set `quality`) and `liqe_mix.pt` with all 495; both files have the same keys, so
reading `liqe_koniq.pt` with the 495 prompts runs and gives other scores. `identify`
recognises a release by its file (sha256 where recorded, else file name, size where
recorded, and format) so that `load_model` can take the recorded task set (see there).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pooch

from .backbone import WeightsError

log = logging.getLogger(__name__)

CACHE_ENV = "LIQE_CACHE"
CACHE_APP = "liqe"

LIQE_CITATION = ("W. Zhang, G. Zhai, Y. Wei, X. Yang, K. Ma. Blind Image Quality Assessment via Vision-Language "
                 "Correspondence: A Multitask Learning Perspective. CVPR 2023, pp. 14071-14081.")
IQA_PYTORCH_CITATION = (LIQE_CITATION + " And for the release: C. Chen, J. Mo. IQA-PyTorch: PyTorch Toolbox for "
                        "Image Quality Assessment, 2022, https://github.com/chaofengc/IQA-PyTorch.")
IQA_PYTORCH_LICENCE = ("CC BY-NC-SA 4.0 (the licence of the Hugging Face repository chaofengc/IQA-PyTorch-Weights; "
                       "IQA-PyTorch's code is under the PolyForm Noncommercial License 1.0.0): non-commercial use; "
                       "the training images keep their datasets' research-only terms")
_HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
_GITHUB_RELEASE = "https://github.com/zwx8981/IQA-PyTorch/releases/download/Weights/"


@dataclass(frozen=True)
class PretrainedModel:
    """One released LIQE model.

    format: the file's layout (`backbone` module table). browser_only: the URLs are web pages
    (Google Drive) that pooch cannot download; the file must be saved into the cache by hand.
    sha256, size: None where not published (then the download is not checked, and says so).
    """

    name: str
    title: str
    arch: str
    task_set: str
    head: str
    format: str
    training_data: str
    filename: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    licence: str
    citation: str
    browser_only: bool = False
    notes: str = ""


PRETRAINED: dict[str, PretrainedModel] = {m.name: m for m in (
    PretrainedModel(
        "liqe-official", "The official LIQE checkpoint of the paper (zwx8981/LIQE)",
        "ViT-B-32", "all", "prompts", "clip",
        "LIVE, CSIQ, KADID-10k, BID, CLIVE, KonIQ-10k: the training parts of session 1 of the official splits "
        "(Table 1), quality + scene + distortion labels",
        "LIQE.pt", ("https://drive.google.com/file/d/1GoKwUKNR-rvX11QbKRN8MuBZw2hXKHGh/view?usp=sharing",),
        None, None,
        "MIT (the zwx8981/LIQE repository's licence; the README that links the weights states no other terms); "
        "the training images keep their datasets' research-only terms",
        LIQE_CITATION, browser_only=True,
        notes="Linked from the README of https://github.com/zwx8981/LIQE (Google Drive; also Baidu Netdisk "
              "https://pan.baidu.com/s/1KHjj7T8y2H_eKE6w7HnWJA, code 2b8v). An OpenAI CLIP state dict."),
    PretrainedModel(
        "liqe-mix", "IQA-PyTorch's `liqe_mix` metric",
        "ViT-B-32", "all", "prompts", "iqa-pytorch",
        "the paper's six training sets (IQA-PyTorch: 'trained on multiple datasets as in the paper'); "
        "the split it used is not published",
        "liqe_mix.pt", (_HF + "liqe_mix.pt", _GITHUB_RELEASE + "liqe_mix.pt"),
        None, None, IQA_PYTORCH_LICENCE, IQA_PYTORCH_CITATION,
        notes="IQA-PyTorch scores it with the 495 prompts (mtl=True). Published size about 353.5 MB; "
              "the exact byte count and sha256 are not recorded here."),
    PretrainedModel(
        "liqe-koniq", "IQA-PyTorch's `liqe` metric (KonIQ-10k, quality only)",
        "ViT-B-32", "quality", "prompts", "iqa-pytorch",
        "KonIQ-10k, its official training set, MOS only (IQA-PyTorch: 're-trained on the official set of "
        "KonIQ-10k'; zwx8981/LIQE train_liqe_single.py)",
        "liqe_koniq.pt", (_HF + "liqe_koniq.pt", _GITHUB_RELEASE + "liqe_koniq.pt"),
        None, None, IQA_PYTORCH_LICENCE, IQA_PYTORCH_CITATION,
        notes="IQA-PyTorch scores it with the 5 prompts `a photo with {c} quality` (mtl=False): task set "
              "`quality`. Its keys equal liqe_mix.pt's, so the file alone cannot tell. Published size about "
              "353.5 MB; the exact byte count and sha256 are not recorded here."),
)}


def get_pretrained(name: str) -> PretrainedModel:
    try:
        return PRETRAINED[name]
    except KeyError:
        raise WeightsError(f"unknown named model {name!r}; choose one of {', '.join(PRETRAINED)}") from None


def lookup(weights) -> PretrainedModel | None:
    """The named model `weights` refers to, or None (a path, a tag, None). An existing file wins over a name."""
    if isinstance(weights, str) and weights in PRETRAINED and not os.path.exists(weights):
        return PRETRAINED[weights]
    return None


def cache_dir() -> Path:
    """The folder named models are downloaded into: $LIQE_CACHE, else pooch's per-user cache folder for `liqe`."""
    return Path(os.environ.get(CACHE_ENV) or pooch.os_cache(CACHE_APP))


def cached_file(model: PretrainedModel) -> Path | None:
    path = cache_dir() / model.filename
    return path if path.is_file() else None


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(model: PretrainedModel | str, progress: bool = True) -> Path:
    """The local file of a named model: from the cache, else downloaded into it (each URL in turn).

    With a recorded sha256, a cached file that does not match is downloaded again and a
    download that does not match is refused (and not kept). Without one, the download is
    accepted and its sha256 logged. Errors are `WeightsError`s that say what to do.
    """
    model = get_pretrained(model) if isinstance(model, str) else model
    folder = cache_dir()
    target = folder / model.filename
    if model.browser_only:
        if target.is_file():
            _check_cached(model, target)
            return target
        raise WeightsError(
            f"named model {model.name}: {model.filename} is not in the cache folder {folder}, and it cannot be "
            f"downloaded automatically ({model.urls[0]} is a web page). Download it in a browser and save it as "
            f"{target} (or set ${CACHE_ENV} to the folder holding it). {model.notes}")
    known_hash = f"sha256:{model.sha256}" if model.sha256 else None
    failures = []
    for url in model.urls:
        try:
            path = Path(pooch.retrieve(url, known_hash=known_hash, fname=model.filename, path=folder,
                                       progressbar=progress))
        except ValueError as err:  # pooch: the downloaded file's hash differs from the recorded one
            raise WeightsError(
                f"named model {model.name}: the file downloaded from {url} is not the release: {err}. It was not "
                f"kept. The server's file changed, or the download was corrupted: try again, or download "
                f"{model.filename} by hand, check its sha256 is {model.sha256} and put it in {folder}.") from err
        except OSError as err:  # requests' errors are OSErrors: no network, refused, HTTP 404
            failures.append(f"{url}: {type(err).__name__}: {err}")
            continue
        _check_size(model, path)
        if model.sha256 is None:
            log.info("%s: %s has sha256 %s (no hash is recorded for this release, so it was not checked)",
                     model.name, path, sha256_of(path))
        return path
    raise WeightsError(
        f"cannot download {model.filename} (named model {model.name}). Tried:\n  " + "\n  ".join(failures) +
        f"\nOffline? On a machine with internet download {model.urls[0]} and copy the file into {folder} "
        f"as {model.filename} (or set ${CACHE_ENV} to the folder holding it); `liqe models` lists the cache.")


def _check_cached(model: PretrainedModel, path: Path) -> None:
    if model.sha256 and sha256_of(path) != model.sha256:
        raise WeightsError(f"{path} is not the release {model.name}: its sha256 is {sha256_of(path)}, expected "
                           f"{model.sha256}. Delete it and download the file again from {model.urls[0]}.")
    _check_size(model, path)


def _check_size(model: PretrainedModel, path: Path) -> None:
    if model.size is not None and path.stat().st_size != model.size:
        raise WeightsError(f"{path} is not the release {model.name}: {path.stat().st_size} bytes, expected "
                           f"{model.size}. Delete it and download the file again from {model.urls[0]}.")


def identify(path: str | os.PathLike, format: str) -> tuple[PretrainedModel, str] | None:
    """The release a weights file is, and how it was matched; None when it is no known release.

    A release whose sha256 is recorded is matched by its hash alone (a renamed copy is still
    recognised); otherwise by file name and format, and size where recorded.
    """
    path = Path(path)
    size = path.stat().st_size
    digest = None
    for model in PRETRAINED.values():
        if model.format != format or (model.size is not None and model.size != size):
            continue
        if model.sha256:
            digest = digest or sha256_of(path)
            if digest == model.sha256:
                return model, "sha256"
        elif path.name == model.filename:
            return model, "file name, format and size" if model.size else \
                "file name and format (no size or hash is recorded for it)"
    return None


@dataclass(frozen=True)
class WeightsOrigin:
    """Where a loaded model's weights and task set came from, for logs and the `weights` column of `liqe score`.

    task_set_from: "named model", "checkpoint" (a liqe-repro file records it), "caller",
    "release <name> (<how matched>)", or "default" (nothing recorded it: `all` was assumed).
    """

    weights: str
    format: str | None
    task_set: str
    task_set_from: str

    @property
    def assumed(self) -> bool:
        return self.task_set_from == "default"

    def label(self) -> str:
        """The weights as given, plus how the task set was chosen when no record or caller named it."""
        if self.assumed:
            return f"{self.weights} (task set {self.task_set} assumed: the file does not record it)"
        if self.task_set_from.startswith("release"):
            return f"{self.weights} (task set {self.task_set} of {self.task_set_from})"
        return self.weights


# --- `liqe models` -------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list the named LIQE models and the cache; download one ahead of time",
        description=f"Named models: what each is, where it comes from, whether it is cached in ${CACHE_ENV} "
                    f"(now {cache_dir()}).")
    parser.add_argument("--fetch", metavar="NAME", choices=sorted(PRETRAINED), help="download a named model now")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.fetch:
        print(fetch(args.fetch))
        return 0
    for model in PRETRAINED.values():
        cached = cached_file(model)
        print(f"{model.name}: {model.title}\n"
              f"  arch {model.arch}, task set {model.task_set}, head {model.head}, file {model.filename} "
              f"({model.format} format)\n"
              f"  trained on: {model.training_data}\n"
              f"  url: {model.urls[0]}{' (download in a browser)' if model.browser_only else ''}\n"
              f"  sha256: {model.sha256 or 'not recorded'}; size: {model.size or 'not recorded'}\n"
              f"  licence: {model.licence}\n"
              f"  cached: {cached or 'no'}")
    print(f"cache folder: {cache_dir()} (${CACHE_ENV})", file=sys.stderr)
    return 0
