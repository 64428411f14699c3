"""`liqe data standin`: every dataset of the registry in its real release layout, with stand-in pixels.

A paper rehearsal (`liqe reproduce --profile paper` without the downloads) needs a data root
that looks exactly like the unpacked releases: same folders, file names, image formats and
score files, read by the same readers. This module writes one, with cheap images (a smooth
random field per reference content plus blockwise Gaussian noise) whose score is a strictly monotone
function of the noise strength, on each dataset's own score scale, so tables are not
degenerate. It is rehearsal data, never a result: `STANDIN.json` at the root says so and
`standin_note(root)` gives reports the sentence to print.

Where each layout comes from (image names are never invented where a list exists):

- live: `databaserelease2/<jp2k,jpeg,wn,gblur,fastfading>/imgN.bmp`, `refimgs/<reference>.bmp`,
  `refnames_all.mat` (variable `refnames_all`, a 1x982 cell in the folder order of
  `registry.LIVE_ORDER`): LIVE release 2 readme; image names from the official label files
  (`databaserelease2/splits2`), references from the images that share their part in all ten sessions.
- csiq: `CSIQ/dst_imgs/<type>/<image>.<TYPE>.<level>.png`, `src_imgs/<image>.png`: names from `CSIQ/splits2`.
- kadid10k: `kadid10k/images/I01_01_01.png`, references `images/I01.png`: names from `kadid10k/splits2`.
- bid: `BID/ImageDatabase/DatabaseImage0001.JPG`: names from `BID/splits2`.
- clive: `ChallengeDB_release/Images/<n>.bmp|<n>.JPG`: names from `ChallengeDB_release/splits2`.
- koniq10k: `koniq-10k/1024x768/<id>.jpg`: names from `koniq-10k/splits2`.
- tid2013: `tid2013/mos_with_names.txt` (`5.51429 i01_01_1.bmp`), `distorted_images/`,
  `reference_images/I01.BMP`: the TID2013 readme; the on-disk case (`I01_01_1.bmp`, `I01_11_1.BMP`,
  `I01_13_1.BMP`, else lower case) is what the official reader expects, ImageDataset.py
  `ImageDataset_TID.__getitem__`.
- spaq: `SPAQ/TestImage/00001.jpg`, `Annotations/MOS and Image attribute scores.xlsx` with the columns
  `Image name, MOS, Brightness, Colorfulness, Contrast, Noisiness, Sharpness`: the SPAQ README; the
  official reader `ImageDataset_SPAQ` takes columns 0 and 1 of that sheet.
- pipal: `PIPAL/Train_Label/A0001.txt` (`A0001_00_00.bmp,1491.3`), `Train_Ref/A0001.bmp`,
  `Distortion_1/` ... `Distortion_4/`: the NTIRE 2022 training download (`registry.PIPAL_LAYOUT`);
  50 references per `Distortion_k` and the `_GG_KK` numbering are this stand-in's choice.
- waterloo: `exploration_database_and_code/pristine_images/00001.bmp`: the database's page.

The official label files (`liqe_labels/`, as `liqe data fetch-labels` lays them out) are
restricted to the images written, their score column replaced by the stand-in score; with N
images per dataset the rows are chosen so that every session's train, val and test keep at
least two images where N allows. With `--hf-home`, a random-init ViT-B-32 is stored where
open_clip looks for the `openai` tag in a Hugging Face cache, so the paper profile loads
offline. Same seed, same bytes: images, spreadsheets (fixed zip times and document dates),
.mat files (fixed header) and weights.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..vocab import UNKNOWN
from .labels import LabelRow
from .registry import (DATASETS, LABELS_FOLDER, LIVE_ORDER, PARTS, DatasetSpec, data_root, dataset_dir, get_spec,
                       load_rows, official_file)
from .releases import SPAQ_NAME_COLUMN, SPAQ_SCORE_COLUMN

logger = logging.getLogger(__name__)

MARKER = "STANDIN.json"
NOTE = "stand-in rehearsal, not a result"
DEFAULT_IMAGES = 12
MIN_PER_PART = 2
#: Noise std (gray levels) of the worst image; the best has none. Score falls strictly with it.
MAX_NOISE = 40.0
#: Side (pixels) of the cells of the random grid that is upsampled into a smooth pristine field.
FIELD_CELL = 16
#: The noise is constant over 8x8 blocks (JPEG's DCT blocks): pixel noise would make `--full`
#: SPAQ (11125 JPEGs of 4000x3000) about 120 GB instead of a few.
NOISE_BLOCK = 8
SMALL_SHORTER_SIDE = 256
SCORE_DECIMALS = 4
JPEG_QUALITY = 95

#: (worst, best) score on each dataset's scale, as its label column holds it (higher is better:
#: the official code ranks every label column that way, so LIVE's DMOS arrives inverted).
SCORE_RANGE: dict[str, tuple[float, float]] = {
    "live": (0.0, 110.0), "csiq": (0.0, 1.0), "kadid10k": (1.0, 5.0), "bid": (0.0, 5.0), "clive": (0.0, 100.0),
    "koniq10k": (1.0, 5.0), "tid2013": (0.0, 9.0), "spaq": (0.0, 100.0), "pipal": (900.0, 1850.0)}
#: (width, height) of each release's images (the typical size where they vary: BID, SPAQ, Waterloo).
RELEASE_SIZE: dict[str, tuple[int, int]] = {
    "live": (768, 512), "csiq": (512, 512), "kadid10k": (512, 384), "bid": (1280, 960), "clive": (500, 500),
    "koniq10k": (1024, 768), "tid2013": (512, 384), "spaq": (4000, 3000), "pipal": (288, 288),
    "waterloo": (512, 384)}
#: LIVE release 2's 29 reference images (`refimgs/`).
LIVE_REFERENCES: tuple[str, ...] = tuple(f"{n}.bmp" for n in (
    "bikes", "building2", "buildings", "caps", "carnivaldolls", "cemetry", "churchandcapitol", "coinsinfountain",
    "dancers", "flowersonih35", "house", "lighthouse", "lighthouse2", "manfishing", "monarch", "ocean",
    "paintedhouse", "parrots", "plane", "rapids", "sailing1", "sailing2", "sailing3", "sailing4", "statue",
    "stream", "studentsculpture", "woman", "womanhat"))
#: Where each synthetic-distortion release keeps the reference of a content (lower-cased, as `content_of` gives it).
REFERENCE_PATH: dict[str, Callable[[str], str]] = {
    "live": lambda content: f"refimgs/{content}",
    "csiq": lambda content: f"src_imgs/{content}.png",
    "kadid10k": lambda content: f"images/{content.upper()}.png",
    "tid2013": lambda content: f"reference_images/{content.upper()}.BMP",
    "pipal": lambda content: f"Train_Ref/{content.upper()}.bmp",
}
TID_REFERENCES, TID_TYPES, TID_LEVELS = 25, 24, 5
PIPAL_REFERENCES, PIPAL_PER_REFERENCE, PIPAL_PER_FOLDER = 200, 116, 50
SPAQ_ATTRIBUTES = ("Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness")
#: The snapshot revision of the stand-in weights in the Hugging Face cache (any 40 hex digits do).
HF_REVISION = hashlib.sha1(b"liqe-repro stand-in weights").hexdigest()
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class StandinImage:
    """One file to write. `noise` (std, gray levels) is the measurable property the score follows;
    `row` is the label row (None for references and unlabelled images)."""

    path: str
    size: tuple[int, int]
    content: str
    noise: float
    row: LabelRow | None


def standin_note(root: str | os.PathLike | None = None) -> str | None:
    """The sentence a report prints when the data root is a stand-in; None for real data."""
    marker = data_root(root) / MARKER
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text(encoding="utf-8"))
    if not info.get("standin"):
        return None
    count = info.get("images_per_dataset") or "all"
    return (f"{info.get('note', NOTE)}: data under {data_root(root)} is a stand-in written by "
            f"`liqe data standin` (seed {info.get('seed')}, {count} images per dataset)")


def image_size(name: str, full: bool) -> tuple[int, int]:
    """The release's size with `full`, else scaled so that the shorter side is at most 256 pixels."""
    width, height = RELEASE_SIZE[name]
    scale = min(1.0, SMALL_SHORTER_SIDE / min(width, height)) if not full else 1.0
    return round(width * scale), round(height * scale)


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _scored(name: str, items: list, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(score, noise) per item: evenly spaced qualities in a seeded order, so the score is a strictly
    monotone function of the noise std and ties cannot happen."""
    worst, best = SCORE_RANGE[name]
    qualities = (rng.permutation(len(items)) + 0.5) / max(len(items), 1)
    return [(round(float(worst + q * (best - worst)), SCORE_DECIMALS), float(MAX_NOISE * (1.0 - q))) for q in qualities]


def _session_parts(name: str, official_labels: Path) -> dict[str, tuple[str, ...]]:
    """path -> its part (train/val/test) in each of the ten official sessions."""
    from .splits import SESSIONS, load_official_split

    parts: dict[str, list[str]] = {}
    for session in SESSIONS:
        for part, rows in load_official_split(name, session, official_labels).items():
            for row in rows:
                parts.setdefault(row.path, []).append(part)
    return {path: tuple(found) for path, found in parts.items()}


def _choose_rows(rows: list[LabelRow], parts_of: dict[str, tuple[str, ...]], n: int | None,
                 rng: np.random.Generator) -> list[LabelRow]:
    """All rows, or n of them such that each (session, part) keeps MIN_PER_PART rows where n allows.

    A small integer program (scipy's HiGHS): how many rows to take from each group of rows that
    share their part in all ten sessions, minimising the shortfall below MIN_PER_PART (a missing
    second row costs 1, a missing first row 3, so shortfalls spread); a tiny seeded cost per group
    picks among equal solutions. Rows within a group are drawn with `rng`.
    """
    if n is None or n >= len(rows):
        return list(rows)
    from scipy.optimize import Bounds, LinearConstraint, milp

    groups: dict[tuple[str, ...], list[LabelRow]] = {}
    for row in rows:
        groups.setdefault(parts_of[row.path], []).append(row)
    signatures = list(groups)
    cells = [(session, part) for session in range(len(signatures[0])) for part in PARTS]
    cover = np.array([[float(sig[session] == part) for sig in signatures] for session, part in cells])
    n_groups, n_cells = len(signatures), len(cells)
    cost = np.concatenate([rng.uniform(0, 1e-3, n_groups), np.ones(n_cells), np.full(n_cells, 3.0)])
    take_n = LinearConstraint(np.concatenate([np.ones(n_groups), np.zeros(2 * n_cells)])[None], n, n)
    fill = LinearConstraint(np.hstack([cover, np.eye(n_cells), np.eye(n_cells)]), MIN_PER_PART, np.inf)
    upper = np.concatenate([[len(groups[sig]) for sig in signatures], np.ones(2 * n_cells)])
    result = milp(cost, constraints=[take_n, fill], bounds=Bounds(0, upper),
                  integrality=np.concatenate([np.ones(n_groups), np.zeros(2 * n_cells)]))
    if not result.success:
        raise RuntimeError(f"choosing {n} rows failed: {result.message}")
    chosen: set[str] = set()
    for sig, count in zip(signatures, np.rint(result.x[:n_groups]).astype(int)):
        members = groups[sig]
        chosen.update(members[i].path for i in rng.choice(len(members), count, replace=False))
    return [row for row in rows if row.path in chosen]


def _live_contents(parts_of: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """LIVE path -> reference name. The official sessions split LIVE by reference, so the images that
    share their part in all ten sessions share a reference (29 groups, as LIVE has 29 references)."""
    groups: dict[tuple[str, ...], int] = {}
    for signature in parts_of.values():
        groups.setdefault(signature, len(groups))
    return {path: (LIVE_REFERENCES[groups[s]] if groups[s] < len(LIVE_REFERENCES) else f"ref{groups[s]}.bmp")
            for path, s in parts_of.items()}


def _tid_names() -> list[tuple[str, str]]:
    """(name as mos_with_names.txt lists it, name on disk) of TID2013's 3000 distorted images."""
    names = []
    for ref in range(1, TID_REFERENCES + 1):
        for kind in range(1, TID_TYPES + 1):
            for level in range(1, TID_LEVELS + 1):
                listed = f"i{ref:02d}_{kind:02d}_{level}.bmp"
                on_disk = listed
                if level == 1 and kind == 1:
                    on_disk = "I" + listed[1:]
                elif level == 1 and kind in (11, 13):
                    on_disk = "I" + listed[1:-3] + "BMP"
                names.append((listed, on_disk))
    return names


def _release_paths(name: str) -> list[str]:
    """Every image path (relative to the dataset folder) of a release without official LIQE label files."""
    if name == "tid2013":
        return [f"distorted_images/{on_disk}" for _, on_disk in _tid_names()]
    if name == "spaq":
        return [f"TestImage/{i:05d}.jpg" for i in range(1, get_spec("spaq").n_images + 1)]
    if name == "pipal":
        return [f"Distortion_{(ref - 1) // PIPAL_PER_FOLDER + 1}/A{ref:04d}_{k // 10:02d}_{k % 10:02d}.bmp"
                for ref in range(1, PIPAL_REFERENCES + 1) for k in range(PIPAL_PER_REFERENCE)]
    if name == "waterloo":
        return [f"pristine_images/{i:05d}.bmp" for i in range(1, get_spec("waterloo").n_images + 1)]
    raise ValueError(f"{name}: no release file list (its images are named by the official label files)")


def plan_dataset(name: str, images_per_dataset: int | None, seed: int, official_labels: Path) -> list[StandinImage]:
    """The files of one dataset, without writing them: labelled images first, then references."""
    spec = get_spec(name)
    rng = np.random.default_rng([seed, _key(name)])
    size = image_size(name, images_per_dataset is None)
    contents: dict[str, str] = {}
    if spec.label_source == "liqe":
        parts_of = _session_parts(name, official_labels)
        rows = _choose_rows(load_rows(name, labels_dir=official_labels), parts_of, images_per_dataset, rng)
        if spec.content_table:
            contents = _live_contents(parts_of)
    else:
        paths = _release_paths(name)
        if images_per_dataset is not None and images_per_dataset < len(paths):
            paths = [paths[i] for i in sorted(rng.choice(len(paths), images_per_dataset, replace=False))]
        rows = [LabelRow(path, 0.0, UNKNOWN, ()) for path in paths]
    if spec.label_source == "unlabelled":
        return [StandinImage(row.path, size, row.path, float(noise), None)
                for row, noise in zip(rows, rng.uniform(0.0, MAX_NOISE, len(rows)))]
    images = []
    for row, (score, noise) in zip(rows, _scored(name, rows, rng)):
        content = contents.get(row.path) or (spec.content_of(row.path) if spec.content_pattern else row.path)
        images.append(StandinImage(row.path, size, content, noise,
                                   LabelRow(row.path, score, row.distortion, row.scenes)))
    if name in REFERENCE_PATH:
        for content in sorted({image.content for image in images}):
            images.append(StandinImage(REFERENCE_PATH[name](content), size, content, 0.0, None))
    return images


def plan_standin(images_per_dataset: int | None, seed: int, official_labels: str | os.PathLike
                 ) -> dict[str, list[StandinImage]]:
    """Every file the stand-in would write, per dataset (None: every image of every release)."""
    return {name: plan_dataset(name, images_per_dataset, seed, Path(official_labels))
            for name, spec in DATASETS.items() if spec.label_source != "synthetic"}


def _pixels(name: str, image: StandinImage, seed: int) -> np.ndarray:
    """A smooth random field (the same for every image of one reference content) plus Gaussian noise of std
    `noise`, constant over NOISE_BLOCK x NOISE_BLOCK blocks."""
    width, height = image.size
    field_rng = np.random.default_rng([seed, _key(name), _key(image.content)])
    grid = field_rng.integers(48, 208, size=(height // FIELD_CELL + 2, width // FIELD_CELL + 2, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    if image.noise > 0:
        noise_rng = np.random.default_rng([seed, _key(name), _key(image.path)])
        blocks = noise_rng.standard_normal((-(-height // NOISE_BLOCK), -(-width // NOISE_BLOCK), 3), dtype=np.float32)
        noise = np.repeat(np.repeat(blocks, NOISE_BLOCK, axis=0), NOISE_BLOCK, axis=1)[:height, :width]
        field += noise * np.float32(image.noise)
    return np.clip(np.rint(field), 0, 255).astype(np.uint8)


def _save_image(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    formats = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP"}
    options = {"quality": JPEG_QUALITY} if formats[suffix] == "JPEG" else {}
    Image.fromarray(pixels).save(path, format=formats[suffix], **options)


def _deterministic_zip(data: bytes) -> bytes:
    """The same zip with every entry dated FIXED_TIME (openpyxl stamps the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(zipfile.ZipInfo(info.filename, FIXED_TIME), source.read(info.filename),
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _write_spaq(folder: Path, spec: DatasetSpec, rows: list[LabelRow], seed: int) -> None:
    """`Annotations/MOS and Image attribute scores.xlsx`: one sheet, the release's seven columns."""
    import datetime

    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    attributes = np.round(np.random.default_rng([seed, _key("spaq attributes")]).uniform(
        0, 100, (len(rows), len(SPAQ_ATTRIBUTES))), 2)
    book = Workbook()
    sheet = book.active
    sheet.append([SPAQ_NAME_COLUMN, SPAQ_SCORE_COLUMN, *SPAQ_ATTRIBUTES])
    for row, values in zip(rows, attributes):
        sheet.append([row.path.rsplit("/", 1)[-1], row.score, *map(float, values)])
    book.properties.created = book.properties.modified = datetime.datetime(*FIXED_TIME)
    buffer = io.BytesIO()
    ExcelWriter(book, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    target = folder / spec.label_file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_deterministic_zip(buffer.getvalue()))


def _write_tid2013(folder: Path, spec: DatasetSpec, rows: list[LabelRow], seed: int) -> None:
    """`mos_with_names.txt`: `<MOS> <name>` per line, names lower-case as the release lists them."""
    listed = {on_disk: name for name, on_disk in _tid_names()}
    lines = [f"{row.score:.{SCORE_DECIMALS + 1}f} {listed[row.path.rsplit('/', 1)[-1]]}\n" for row in rows]
    (folder / spec.label_file).write_text("".join(lines), encoding="utf-8", newline="\n")


def _write_pipal(folder: Path, spec: DatasetSpec, rows: list[LabelRow], seed: int) -> None:
    """`Train_Label/<reference>.txt`: `<name>,<Elo score>` per line."""
    by_reference: dict[str, list[str]] = {}
    for row in rows:
        name = row.path.rsplit("/", 1)[-1]
        by_reference.setdefault(name.split("_")[0], []).append(f"{name},{row.score!r}\n")
    (folder / spec.label_file).mkdir(parents=True, exist_ok=True)
    for reference, lines in by_reference.items():
        (folder / spec.label_file / f"{reference}.txt").write_text("".join(lines), encoding="utf-8", newline="\n")


def _write_live_references(folder: Path, spec: DatasetSpec, images: list[StandinImage]) -> None:
    """`refnames_all.mat`: the reference name of each of LIVE's 982 images, in the release's folder order."""
    import scipy.io

    named = {image.path: image.content for image in images if image.row is not None}
    names = np.empty((1, sum(count for _, count in LIVE_ORDER)), dtype=object)
    index = 0
    for kind, count in LIVE_ORDER:
        for i in range(count):
            names[0, index] = named.get(f"{kind}/img{i + 1}.bmp", LIVE_REFERENCES[i % len(LIVE_REFERENCES)])
            index += 1
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"refnames_all": names})
    data = bytearray(buffer.getvalue())
    header = b"MATLAB 5.0 MAT-file, written by liqe-repro data standin"  # scipy stamps the time here
    data[:116] = header.ljust(116, b" ")
    (folder / spec.content_table).write_bytes(bytes(data))


SCORE_WRITERS = {"tid2013": _write_tid2013, "spaq": _write_spaq, "pipal": _write_pipal}


def _write_liqe_labels(root: Path, spec: DatasetSpec, rows: list[LabelRow], official_labels: Path) -> None:
    """The official label files of `spec`, restricted to `rows`, score column replaced (LIQE and `_all.txt`
    rows alike: path, score, then the official columns)."""
    scores = {row.path: row.score for row in rows}
    source = official_file(spec, official_labels).parent
    for file in sorted(source.rglob("*.txt")):
        kept = []
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            path, _, *rest = line.split("\t")
            if path in scores:
                kept.append("\t".join([path, repr(scores[path]), *rest]) + "\n")
        target = root / LABELS_FOLDER / file.relative_to(official_labels)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(kept), encoding="utf-8", newline="\n")


def write_hf_weights(hf_home: str | os.PathLike, seed: int = 0) -> Path:
    """A random-init ViT-B-32 (QuickGELU, fp16) where open_clip looks for the `openai` tag in the
    Hugging Face cache `<hf_home>/hub` (open_clip 3.3 pretrained.py: hf_hub
    `timm/vit_base_patch32_clip_224.openai/`, `open_clip_model.safetensors` tried first)."""
    import open_clip
    import torch
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME
    from safetensors.torch import save_file

    from ..backbone import architecture, create_clip

    repo = open_clip.get_pretrained_cfg(architecture("ViT-B-32").open_clip_name, "openai")["hf_hub"].strip("/")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in create_clip("ViT-B-32").state_dict().items()}
    cache = Path(hf_home) / "hub" / f"models--{repo.replace('/', '--')}"
    target = cache / "snapshots" / HF_REVISION / HF_SAFE_WEIGHTS_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    (cache / "refs").mkdir(exist_ok=True)
    (cache / "refs" / "main").write_text(HF_REVISION, encoding="ascii")
    save_file(state, str(target))
    logger.info("random-init ViT-B-32 weights written as open_clip's `openai` tag: %s", target)
    return target


def write_torch_weights(torch_home: str | os.PathLike, seed: int = 0) -> Path:
    """A random-init ResNet-34 where torchvision keeps its ImageNet weights (`$TORCH_HOME/hub/checkpoints/`,
    `unique.imagenet_weights_file`), so UNIQUE's paper start loads offline in a rehearsal."""
    import torch
    import torchvision

    from ..unique import IMAGENET_WEIGHTS

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        state = torchvision.models.resnet34().state_dict()
    target = Path(torch_home) / "hub" / "checkpoints" / Path(IMAGENET_WEIGHTS.url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, target)
    logger.info("random-init ResNet-34 written as torchvision's ImageNet weights: %s", target)
    return target


def official_labels_source(official_labels: str | os.PathLike | None) -> Path:
    """The official label files to take names and labels from: the given folder, else fetched (sha256-checked)."""
    if official_labels is not None:
        return Path(official_labels)
    import pooch

    from .fetch import fetch_labels

    return fetch_labels(Path(pooch.os_cache("liqe-repro")) / LABELS_FOLDER)


def build_standin(root: str | os.PathLike, images_per_dataset: int | None = DEFAULT_IMAGES, seed: int = 0,
                  official_labels: str | os.PathLike | None = None, hf_home: str | os.PathLike | None = None,
                  torch_home: str | os.PathLike | None = None, progress: bool = True) -> dict[str, list[StandinImage]]:
    """Write the stand-in of every dataset under `root` (None images: every image at real size)."""
    if images_per_dataset is not None and images_per_dataset < 1:
        raise ValueError(f"images per dataset must be at least 1, got {images_per_dataset}")
    root = Path(root)
    labels = official_labels_source(official_labels)
    plan = plan_standin(images_per_dataset, seed, labels)
    for name, images in plan.items():
        spec = get_spec(name)
        folder = dataset_dir(spec, root)
        for image in tqdm(images, desc=f"stand-in {name}", unit="image", disable=not progress):
            _save_image(_pixels(name, image, seed), folder / image.path)
        rows = [image.row for image in images if image.row is not None]
        if spec.label_source == "liqe":
            _write_liqe_labels(root, spec, rows, labels)
        if spec.label_source in SCORE_WRITERS:
            SCORE_WRITERS[spec.label_source](folder, spec, rows, seed)
        if spec.content_table:
            _write_live_references(folder, spec, images)
    marker = {"standin": True, "note": NOTE, "seed": seed, "images_per_dataset": images_per_dataset,
              "created_by": "liqe data standin (liqe_lib.data.standin)"}
    (root / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if hf_home is not None:
        write_hf_weights(hf_home, seed)
    if torch_home is not None:
        write_torch_weights(torch_home, seed)
    logger.info("stand-in of %d datasets written under %s (%s)", len(plan), root, NOTE)
    return plan
