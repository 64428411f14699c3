"""Scoring many images: the `liqe score` command and the batch loop it shares with gMAD and the demo.

Every image goes through `data.crop_loader` and `LIQE.score_crops`, the path of the
Python API's `LIQE.score`: worker processes decode and crop the next batches while the
model encodes the current one, and one unreadable file becomes a row with an `error`
instead of aborting its batch; only the decoded images reach the model. On CUDA the
image tower runs in bf16 unless `--precision fp32` asks for exact scores.

Weights are never chosen silently: open_clip's `openai` tag is plain CLIP, not a
LIQE model, so there is no default checkpoint. `--model` names a released model
(`pretrained.PRETRAINED`: downloaded into the cache on first use); `--weights` (or
`$LIQE_WEIGHTS`) names a LIQE checkpoint file (the official `LIQE.pt`, IQA-PyTorch's
`liqe_mix.pt`, or a liqe-repro checkpoint); `--weights none` builds a random model for
tests (seeded, so that every process of a sharded run builds the same one) and every
output row says so. `--task-set` names the prompts of a file whose format does not
record them; when a known release or nothing decides it, the `weights` column says
which task set was used and why (`pretrained.WeightsOrigin.label`).

With `--csv`, scoring is resumable and can be shared by `torchrun` processes (`sharding`).
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from . import backbone, pretrained, runtime, sharding
from .vocab import TASK_SETS
from .data.crop_loader import crop_batches, default_workers
from .data.images import ImageSource
from .model import INFERENCE_PRECISIONS, LIQE, ImageScore, load_model

log = logging.getLogger(__name__)

#: The `--weights` value that asks for a randomly initialised model.
RANDOM_WEIGHTS = "none"
#: What the `weights` column says for a random model.
RANDOM_LABEL = "none (random init: scores are meaningless)"
WEIGHTS_ENV = "LIQE_WEIGHTS"
GLOB_CHARS = "*?["


@dataclass
class Scored:
    """One input of `score_sources`: its name and either its `ImageScore` or the reason it failed."""

    name: str
    result: ImageScore | None = None
    error: str | None = None


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_scoring_model(weights: str | None, arch: str | None = None, device: str | None = None, *,
                       model: str | None = None, task_set: str | None = None) -> tuple[LIQE, str]:
    """The model to score with, from `--model` / `--weights` values (see the module docstring), and
    its label for the `weights` column: the named model, the checkpoint as given (plus how its task
    set was chosen when the file does not record it), or `RANDOM_LABEL`.

    A value that looks like a path but names no file is reported as a missing file,
    not as an unknown open_clip tag.
    """
    if model and weights:
        raise backbone.WeightsError(f"give --model or --weights, not both (--model {model}, --weights {weights})")
    weights = model or weights or os.environ.get(WEIGHTS_ENV)
    if not weights:
        raise backbone.WeightsError(
            f"no LIQE weights given. Pass --model NAME (one of {', '.join(pretrained.PRETRAINED)}: downloaded on "
            f"first use), or --weights /path/to/checkpoint (the official LIQE.pt, IQA-PyTorch's liqe_mix.pt or "
            f"liqe_koniq.pt, or a checkpoint `liqe train` saved), or set ${WEIGHTS_ENV}; --weights "
            f"{RANDOM_WEIGHTS} builds a random model (for tests only).")
    if model and pretrained.lookup(model) is None:
        raise backbone.WeightsError(f"unknown named model {model!r}; choose one of {', '.join(pretrained.PRETRAINED)}")
    device = device or default_device()
    if weights == RANDOM_WEIGHTS:
        with torch.random.fork_rng(devices=[]):  # seeded: every process of a sharded or resumed run gets the same
            torch.manual_seed(0)
            return load_model(arch or "ViT-B-32", None, task_set=task_set, device=device).eval(), RANDOM_LABEL
    if not os.path.exists(weights) and pretrained.lookup(weights) is None:
        if os.sep in weights or Path(weights).suffix:
            raise backbone.WeightsError(f"weights file {weights} does not exist")
        log.warning("weights %r is an open_clip tag: plain CLIP read through LIQE's prompts (zero-shot), "
                    "not a trained LIQE model", weights)
    loaded = load_model(arch, weights, task_set=task_set, device=device).eval()
    origin = getattr(loaded, "origin", None)
    return loaded, origin.label() if origin is not None else str(weights)


def score_sources(model: LIQE, items: Iterable[tuple[str, ImageSource]], batch_size: int = 8,
                  progress: tqdm | None = None, workers: int = 0) -> Iterator[Scored]:
    """Score (name, source) pairs in batches, yielding one `Scored` per input in input order.

    `workers` processes decode and crop ahead of the model (`data.crop_loader`), so only
    a few batches of images are ever held, whatever the number of inputs; an unreadable
    source becomes a `Scored` with its error and the rest of its batch is scored. The
    results do not depend on `workers` or `batch_size`. `progress`, if given, is advanced
    once per input.
    """
    for batch in crop_batches(list(items), batch_size, workers, pin_memory=model.device.type == "cuda"):
        readable = [name for name, error in zip(batch.names, batch.errors) if error is None]
        results = iter(model.score_crops(batch.crops, readable) if readable else [])
        for name, error in zip(batch.names, batch.errors):
            yield Scored(name, error=error) if error is not None else Scored(name, next(results))
        if progress is not None:
            progress.update(len(batch.names))


def prepare_for_inference(model: LIQE, precision: str = "auto", compile: bool = False) -> None:
    """The image tower in `precision` (`LIQE.use_precision`), compiled if asked. UNIQUE has no
    bf16 path: it scores in fp32, and asking it for bf16 is an error.

    On CPU the compiled tower is also frozen (inductor's `freezing`: weights folded in as constants
    and pre-packed for oneDNN), which measured 8-10 % faster than plain compiling on ViT-B-32;
    the weights must not change afterwards, which scoring never does.
    """
    if isinstance(model, LIQE):
        model.use_precision(precision)
    elif precision == "bf16":
        raise ValueError(f"the {model.arch} model scores in fp32 only: drop --precision bf16")
    if compile:
        (model.clip.visual if isinstance(model, LIQE) else model).compile(
            options={"freezing": model.device.type == "cpu"})


def expand_paths(specs: Sequence[str]) -> list[str]:
    """Files, folders (recursively, image files only) and glob patterns -> file paths, in order, once each.

    A named file is always kept, whatever its extension, so that a bad file the user
    asked for gets an error row; a pattern that matches nothing is kept as given and
    fails as a missing file.
    """
    suffixes = {s.lower() for s in Image.registered_extensions()}
    paths: list[str] = []
    for spec in specs:
        matches = [spec] if os.path.exists(spec) or not any(c in spec for c in GLOB_CHARS) \
            else sorted(glob.glob(spec, recursive=True)) or [spec]
        for match in matches:
            if os.path.isdir(match):
                paths.extend(str(p) for p in sorted(Path(match).rglob("*"))
                             if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))
            else:
                paths.append(match)
    return list(dict.fromkeys(paths))


def columns(model: LIQE) -> list[str]:
    """The columns of `liqe score`'s table, the same whether or not any image could be read."""
    levels = [f"p_{level}" for level in model.task_set.quality_levels]
    return ["path", "score", *levels, "scene", "scene_prob", "distortion", "distortion_prob", "weights", "error"]


def to_row(scored: Scored, weights: str) -> dict:
    """A flat record: score, one `p_<level>` column per quality level, top scene and distortion, error."""
    row: dict = {"path": scored.name}
    result = scored.result
    if result is not None:
        row["score"] = result.score
        row.update({f"p_{level}": p for level, p in result.quality_probs.items()})
        if result.scenes:
            row["scene"], row["scene_prob"] = result.scenes[0]
        if result.distortion is not None:
            row["distortion"], row["distortion_prob"] = result.distortion, result.distortion_prob
    row["weights"] = weights
    row["error"] = scored.error
    return row


def journal_header(model: LIQE, label: str) -> dict:
    """What rows must agree on to share one CSV (`sharding`): the weights, the architecture, the columns and
    the dtypes of the weights (`--precision` bf16 scores differ from fp32 ones by up to 0.01)."""
    return {"weights": label, "arch": model.arch, "columns": columns(model),
            "dtypes": sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score images with a LIQE model",
        description="Score image files, folders (recursive) or glob patterns. Unreadable files get a row with "
                    "an error; the exit status is non-zero only if no image could be scored.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image file, folder or glob pattern")
    parser.add_argument("--model", default=None, choices=list(pretrained.PRETRAINED),
                        help="a named LIQE model, downloaded into $LIQE_CACHE on first use (`liqe models` lists them)")
    parser.add_argument("--weights", default=None,
                        help=f"LIQE checkpoint file (default: ${WEIGHTS_ENV}); '{RANDOM_WEIGHTS}' = random init, "
                             "for tests only")
    parser.add_argument("--task-set", default=None, choices=sorted(TASK_SETS),
                        help="the prompts of weights whose file does not record them (clip or iqa-pytorch format); "
                             "default: a known release's, else all (said in the weights column)")
    parser.add_argument("--arch", default=None, choices=sorted(backbone.ARCHITECTURES),
                        help="architecture for weights that do not record it (default: ViT-B-32)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: 8)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that decode and crop images ahead of the model (default: up to 8 on CUDA, "
                             "0 on CPU, where the model needs every core); the scores do not depend on it")
    parser.add_argument("--precision", default="auto", choices=INFERENCE_PRECISIONS,
                        help="the image tower's precision: auto = bf16 on CUDA (scores within 0.01 of fp32), fp32 "
                             "elsewhere; fp32 for exact scores")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the image tower (pays on a GPU over many images; the first batches wait "
                             "for the compiler)")
    parser.add_argument("--csv", type=Path, metavar="OUT",
                        help="write the rows to this CSV file; rows are journaled in OUT.parts/ until all are done, "
                             "so a rerun after a kill scores only the rest")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`liqe score`: stdout gets the table or JSON, stderr the progress, warnings and one line per bad file.

    With `--csv` the rows go through a journal (`sharding`), so that a killed run resumes and
    `torchrun` processes share the images; process 0 alone reports, the others print nothing.
    """
    ctx = runtime.context()
    if ctx.enabled and not args.csv:
        return _error(ctx, f"{ctx.world_size} processes write one table: pass --csv OUT")
    device = runtime.process_device(torch.device(args.device or default_device()), ctx)
    try:
        model, label = load_scoring_model(args.weights, args.arch, str(device), model=args.model,
                                          task_set=args.task_set)
    except backbone.WeightsError as err:
        return _error(ctx, str(err))
    try:
        prepare_for_inference(model, args.precision, args.compile)
    except ValueError as err:
        return _error(ctx, str(err))
    if label == RANDOM_LABEL and ctx.is_main:
        print(f"liqe score: warning: --weights {RANDOM_WEIGHTS}: random {model.arch} model, scores are meaningless",
              file=sys.stderr)
    paths = expand_paths(args.paths)
    journal = sharding.Journal(args.csv, journal_header(model, label), ctx) if args.csv else None
    try:
        todo = journal.start(paths) if journal else paths
    except sharding.JournalMismatch as err:
        return _error(ctx, str(err))
    rows = []
    with tqdm(total=len(todo), unit="image", desc=f"liqe score {ctx.rank}" if ctx.enabled else "liqe score",
              position=ctx.rank, file=sys.stderr, disable=None) as bar:
        for scored in score_sources(model=model, items=[(p, p) for p in todo], batch_size=args.batch_size,
                                    progress=bar,
                                    workers=default_workers(model.device) if args.workers is None else args.workers):
            if scored.error:
                bar.write(f"liqe score: cannot read {scored.name}: {scored.error}", file=sys.stderr)
            row = to_row(scored, label)
            if journal:
                journal.append(row)
            else:
                rows.append(row)
    table = journal.finish(paths, columns(model)) if journal else pd.DataFrame(rows, columns=columns(model))
    if table is None:  # another process of a torchrun writes the CSV and reports
        return 0
    if args.json:
        print(json.dumps(table.astype(object).where(table.notna(), None).to_dict("records"), indent=2))
    else:
        print(table.drop(columns="weights").to_string(index=False, float_format="%.4f", na_rep=""))
    scored_count = int(table["error"].isna().sum())
    print(f"liqe score: {scored_count} of {len(paths)} images scored", file=sys.stderr)
    return 0 if scored_count else 1


def _error(ctx: runtime.Context, message: str) -> int:
    """The CLI's one-line error, printed once however many processes hit it (all of them exit non-zero)."""
    if ctx.is_main:
        print(f"liqe score: error: {message}", file=sys.stderr)
    return 2
