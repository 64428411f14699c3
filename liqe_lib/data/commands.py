"""The `liqe data ...` subcommands: synth, verify, fetch-labels."""
from __future__ import annotations

import argparse
import logging
import time

from .fetch import BASE_URL, fetch_labels
from .registry import DATASETS, data_root, dataset_dir, get_spec, labels_root
from .synthetic import LONGER_SIDE, build_synthetic, folder_sources
from .verify import verify_dataset

logger = logging.getLogger(__name__)

ROOT_HELP = "data root (default: $LIQE_DATA_ROOT, else ./data)"


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """--dataset, --root and --labels-root: where a command that reads one labelled dataset finds it."""
    parser.add_argument("--dataset", required=True, help="a dataset of the registry (e.g. koniq10k, synthetic)")
    parser.add_argument("--root", default=None, help=ROOT_HELP)
    parser.add_argument("--labels-root", default=None,
                        help="folder of the official label files (default: <root>/liqe_labels)")


def _synth(args: argparse.Namespace) -> int:
    out = args.out or dataset_dir("synthetic", args.root)
    sources = folder_sources(args.source_dir) if args.source_dir else None
    start = time.perf_counter()
    build_synthetic(out, seed=args.seed, sources=sources, longer=args.longer, workers=args.workers)
    logger.info("built in %.1f s", time.perf_counter() - start)
    return 0


def _verify(args: argparse.Namespace) -> int:
    reports = [verify_dataset(name, args.root, args.labels) for name in (args.dataset or list(DATASETS))]
    for report in reports:
        print(report.format())
    failed = [r.name for r in reports if not r.ok]
    print(f"{len(reports) - len(failed)} of {len(reports)} dataset(s) complete under {data_root(args.root)}"
          + (f"; incomplete: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _fetch_labels(args: argparse.Namespace) -> int:
    folders = [get_spec(name).folder for name in args.dataset] if args.dataset else None
    fetch_labels(args.dest or labels_root(args.root), folders, base_url=args.base_url)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: build the synthetic set, fetch labels, verify")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    synth = commands.add_parser("synth", help="build the embedded synthetic IQA dataset (offline)")
    synth.add_argument("--root", help=ROOT_HELP)
    synth.add_argument("--out", help="output folder (default: <data root>/synthetic)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--source-dir", help="pristine images to use instead of the packages' sample photos")
    synth.add_argument("--longer", type=int, default=LONGER_SIDE, help="longer image side, 224..512")
    synth.add_argument("--workers", type=int, default=2, help="processes (the output does not depend on it)")
    synth.set_defaults(func=_synth)

    verify = commands.add_parser("verify", help="check labels and images; non-zero exit when something is missing")
    verify.add_argument("--root", help=ROOT_HELP)
    verify.add_argument("--labels", help="official label files (default: <data root>/liqe_labels)")
    verify.add_argument("--dataset", action="append", choices=list(DATASETS), help="repeatable; default: all")
    verify.set_defaults(func=_verify)

    fetch = commands.add_parser("fetch-labels", help="download the official LIQE label and split files (sha256-checked)")
    fetch.add_argument("--root", help=ROOT_HELP)
    fetch.add_argument("--dest", help="target folder (default: <data root>/liqe_labels)")
    fetch.add_argument("--dataset", action="append", choices=[n for n, s in DATASETS.items() if s.label_source == "liqe"],
                       help="repeatable; default: all six")
    fetch.add_argument("--base-url", default=BASE_URL, help="a mirror of the repository's IQA_Database/ folder")
    fetch.set_defaults(func=_fetch_labels)
