"""The `liqe data ...` subcommands: synth, verify, fetch-labels, standin.

Every subcommand names the data root `--data-root` (`--root` is kept as an alias) and the
official label files `--labels-root` (alias `--labels`).
"""
from __future__ import annotations

import argparse
import logging
import time

from .fetch import BASE_URL, fetch_labels
from .registry import DATASETS, data_root, dataset_dir, fetched_labels_dir, get_spec
from .standin import DEFAULT_IMAGES, build_standin
from .synthetic import LONGER_SIDE, build_synthetic, folder_sources
from .verify import default_datasets, verify_dataset

logger = logging.getLogger(__name__)

ROOT_HELP = "data root (default: $LIQE_DATA_ROOT, else ./data)"


def add_root_argument(parser: argparse.ArgumentParser) -> None:
    """--data-root (alias --root), stored as `args.root`."""
    parser.add_argument("--data-root", "--root", dest="root", default=None, help=ROOT_HELP)


def add_labels_argument(parser: argparse.ArgumentParser) -> None:
    """--labels-root (alias --labels), stored as `args.labels_root`."""
    parser.add_argument("--labels-root", "--labels", dest="labels_root", default=None,
                        help="folder of the official label files (default: <data root>/liqe_labels, else the "
                             "splits2/ folders inside the dataset folders)")


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """--dataset, --data-root and --labels-root: where a command that reads one labelled dataset finds it."""
    parser.add_argument("--dataset", required=True, help="a dataset of the registry (e.g. koniq10k, synthetic)")
    add_root_argument(parser)
    add_labels_argument(parser)


def _synth(args: argparse.Namespace) -> int:
    out = args.out or dataset_dir("synthetic", args.root)
    sources = folder_sources(args.source_dir) if args.source_dir else None
    start = time.perf_counter()
    build_synthetic(out, seed=args.seed, sources=sources, longer=args.longer, workers=args.workers)
    logger.info("built in %.1f s", time.perf_counter() - start)
    return 0


def _verify(args: argparse.Namespace) -> int:
    names = args.dataset or default_datasets(args.root)
    reports = [verify_dataset(name, args.root, args.labels_root) for name in names]
    for report in reports:
        print(report.format())
    failed = [r.name for r in reports if not r.ok]
    print(f"{len(reports) - len(failed)} of {len(reports)} dataset(s) complete under {data_root(args.root)}"
          + (f"; incomplete: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _fetch_labels(args: argparse.Namespace) -> int:
    folders = [get_spec(name).folder for name in args.dataset] if args.dataset else None
    fetch_labels(args.dest or fetched_labels_dir(args.root), folders, base_url=args.base_url)
    return 0


def _standin(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    build_standin(data_root(args.root), None if args.full else args.images_per_dataset, seed=args.seed,
                  official_labels=args.official_labels, hf_home=args.hf_home, torch_home=args.torch_home)
    logger.info("stand-in written to %s in %.1f s", data_root(args.root), time.perf_counter() - start)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: build the synthetic set, fetch labels, verify")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    synth = commands.add_parser("synth", help="build the embedded synthetic IQA dataset (offline)")
    add_root_argument(synth)
    synth.add_argument("--out", help="output folder (default: <data root>/synthetic)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--source-dir", help="pristine images to use instead of the packages' sample photos")
    synth.add_argument("--longer", type=int, default=LONGER_SIDE, help="longer image side, 224..512")
    synth.add_argument("--workers", type=int, default=2, help="processes (the output does not depend on it)")
    synth.set_defaults(func=_synth)

    verify = commands.add_parser("verify", help="check labels and images; non-zero exit when something is missing")
    add_root_argument(verify)
    add_labels_argument(verify)
    verify.add_argument("--dataset", action="append", choices=list(DATASETS),
                        help="repeatable; default: the ten real datasets (and synthetic where it is built)")
    verify.set_defaults(func=_verify)

    fetch = commands.add_parser("fetch-labels", help="download the official LIQE label and split files (sha256-checked)")
    add_root_argument(fetch)
    fetch.add_argument("--dest", help="target folder (default: <data root>/liqe_labels)")
    fetch.add_argument("--dataset", action="append", choices=[n for n, s in DATASETS.items() if s.label_source == "liqe"],
                       help="repeatable; default: all six")
    fetch.add_argument("--base-url", default=BASE_URL, help="a mirror of the repository's IQA_Database/ folder")
    fetch.set_defaults(func=_fetch_labels)

    standin = commands.add_parser("standin", help="write a stand-in of every dataset in its release layout "
                                                  "(rehearsal data, not a result)")
    add_root_argument(standin)
    size = standin.add_mutually_exclusive_group()
    size.add_argument("--images-per-dataset", type=int, default=DEFAULT_IMAGES, metavar="N",
                      help=f"images per dataset, at small sizes (default {DEFAULT_IMAGES})")
    size.add_argument("--full", action="store_true",
                      help="every image of every release at its real size (about 60 GB and 10 CPU-hours, "
                           "SPAQ's 11125 4000x3000 JPEGs most of it)")
    standin.add_argument("--seed", type=int, default=0)
    standin.add_argument("--official-labels", help="the official LIQE label files to take image names and labels "
                                                   "from (default: fetched, sha256-checked, into a cache)")
    standin.add_argument("--hf-home", help="also write a random-init ViT-B-32 as open_clip's `openai` weights "
                                           "in this Hugging Face cache (use it as HF_HOME)")
    standin.add_argument("--torch-home", help="also write a random-init ResNet-34 as torchvision's ImageNet "
                                              "weights (UNIQUE's start) in this folder (use it as TORCH_HOME)")
    standin.set_defaults(func=_standin)
