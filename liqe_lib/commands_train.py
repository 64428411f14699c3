"""`liqe train` and `liqe evaluate`.

    liqe train --profile smoke [--variant frozen-text] [--set optim.lr=1e-4 ...] [--resume]
    liqe train --config run.yaml [--set ...]
    torchrun --nproc_per_node 2 -m liqe_lib.cli train --profile paper      (DDP)
    liqe evaluate --checkpoint runs/smoke/liqe/best.pt --dataset synthetic --split test [--csv out.csv]
    liqe evaluate --checkpoint runs/smoke/liqe/best.pt --dataset synthetic --probe ridge   (SLIQUE's linear probe)
    liqe evaluate --checkpoint openai --arch ViT-B-32 --dataset koniq10k --probe ridge     (plain CLIP's features)
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import yaml

from . import backbone, evaluate, runtime
from .config import PROFILES, DataConfig, apply_overrides, load_config, profile_config
from .experiments import VARIANTS, variant_config
from .model import load_model
from .probe import probe_metrics
from .score import RANDOM_WEIGHTS
from .train import train

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train LIQE (or a paper variant) from a profile or a config file",
                                   description="Train one session. The config is written to <out_dir>/config.yaml; "
                                               "checkpoints last.pt (resumable) and best.pt (selected on validation).")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="YAML or JSON config file")
    source.add_argument("--profile", choices=PROFILES, help="start from a profile (default: smoke)")
    parser.add_argument("--variant", choices=sorted(VARIANTS),
                        help="a paper variant of the profile (writes under <profile runs>/<variant>/session-<n>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=1e-4 --set data.session=2 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from <out_dir>/last.pt if it exists")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.set_defaults(func=run_train)

    parser = subparsers.add_parser("evaluate", help="test a checkpoint: SRCC, KRCC, PLCC, RMSE and accuracies",
                                   description="Metrics of a checkpoint on a dataset split, as a tidy table. "
                                               "Data settings default to those the checkpoint was trained with.")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help=f"best.pt of a run, or any weights file; with --probe also an open_clip pretrained tag "
                             f"(e.g. openai) or '{RANDOM_WEIGHTS}' (random init, tests only)")
    parser.add_argument("--dataset", required=True, action="append", help="registry dataset name (repeatable)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a data setting, e.g. --set session=2 --set root=/data (keys of DataConfig)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", type=Path, help="write the tidy table here")
    parser.add_argument("--probe", choices=("ridge",),
                        help="instead of the model's predictions, SLIQUE's linear probe of its frozen image features: "
                             "mean over the evaluation crops, ridge fitted on train, alpha chosen on val, test "
                             "SRCC and raw PLCC")
    parser.add_argument("--arch", default="ViT-B-32", choices=sorted(backbone.ARCHITECTURES),
                        help="with --probe: the architecture of weights that do not record it (default: ViT-B-32)")
    parser.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    profile = args.profile or "smoke"
    if args.config and args.variant:
        raise SystemExit("--variant applies to a profile; put the variant's settings in the config file instead")
    if args.config:
        cfg = apply_overrides(load_config(args.config), args.overrides)
    elif args.variant:
        cfg = variant_config(args.variant, profile, args.overrides)
    else:
        cfg = apply_overrides(profile_config(profile), args.overrides)
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    result = train(cfg, resume=args.resume)
    print(f"best epoch {result.best_epoch + 1} (validation score {result.best_score:.4f}): {result.best_checkpoint}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    saved = evaluate.checkpoint_config(args.checkpoint) if args.checkpoint.is_file() else None
    base = saved if saved is not None else profile_config("paper")
    data = apply_overrides(base, [f"data.{item}" for item in args.overrides]).data
    if args.probe:
        table = probe_table(args, data, saved.name if saved else args.checkpoint.stem)
    else:
        table = evaluate.evaluate_checkpoint(args.checkpoint, args.dataset, args.split, data=data,
                                             device=args.device)
    wide = table.pivot_table(index="dataset", columns="metric", values="value", sort=False)
    print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        print(f"wrote {evaluate.save_table(table, args.csv)}")
    return 0


def probe_table(args: argparse.Namespace, data: DataConfig, name: str) -> pd.DataFrame:
    """`--probe ridge`: the probe's tidy table, model named `<name> (ridge probe)`."""
    if args.split != "test":
        raise SystemExit("--probe fits on the train split, chooses alpha on val and tests on test: drop --split")
    weights = None if str(args.checkpoint) == RANDOM_WEIGHTS else str(args.checkpoint)
    model = load_model(args.arch, weights, device=runtime.resolve_device(args.device))
    return probe_metrics(model, args.dataset, data, f"{name} (ridge probe)")
