"""`liqe train`, `liqe evaluate` and `liqe export`.

    liqe train --profile smoke [--variant frozen-text] [--set optim.lr=1e-4 ...] [--resume]
    liqe train --config run.yaml [--set ...]
    liqe train --data my_scores.csv [--data other.csv] [--model liqe-mix | --arch ViT-B-32] [--set epochs=10]
    torchrun --nproc_per_node 2 -m liqe_lib.cli train --profile paper      (DDP)
    liqe evaluate --checkpoint runs/smoke/liqe/best.pt --dataset synthetic --split test [--csv out.csv]
    liqe evaluate --checkpoint runs/smoke/liqe/best.pt --dataset synthetic --probe ridge   (SLIQUE's linear probe)
    liqe evaluate --checkpoint openai --arch ViT-B-32 --dataset koniq10k --probe ridge     (plain CLIP's features)
    liqe evaluate --checkpoint runs/user/my_scores/best.pt --data my_scores.csv --split test
    liqe export runs/user/my_scores/best.pt --format iqa-pytorch --out my_liqe.pt

`--data` trains on your own labelled images (`data.userdata`: a CSV with `path,mos` and
optional `std,scene,distortion,split,content` columns, or a LIQE label file): each file is
one training dataset (quality pairs within it), on the paper profile's settings (CLIP
ViT-B-32 start, AdamW 5e-6, the official cosine schedule, 80 x 200 steps) unless `--profile
smoke` or `--set` say otherwise; only the tasks its labels support are trained.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import pandas as pd
import yaml

from . import backbone, evaluate, pretrained, runtime
from .config import PROFILES, DataConfig, DatasetConfig, TrainConfig, apply_overrides, load_config, profile_config
from .data.userdata import UserDatasetSpec, check_trainable, register_csv
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
    parser.add_argument("--data", type=Path, action="append", default=[], metavar="LABELS.csv",
                        help="train on your own labelled images: a CSV (path,mos[,std,scene,distortion,split,content]) "
                             "or LIQE label file, one training dataset each (repeatable); the profile defaults to "
                             "paper")
    parser.add_argument("--model", choices=list(pretrained.PRETRAINED),
                        help="start from a named LIQE model (its architecture and task set)")
    parser.add_argument("--arch", choices=sorted(backbone.ARCHITECTURES),
                        help="the architecture, from its CLIP start (ViT-B-32: OpenAI's weights; liqe-tiny: random)")
    parser.add_argument("--resume", action="store_true", help="continue from <out_dir>/last.pt if it exists")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.set_defaults(func=run_train)

    parser = subparsers.add_parser("evaluate", help="test a checkpoint: SRCC, KRCC, PLCC, RMSE and accuracies",
                                   description="Metrics of a checkpoint on a dataset split, as a tidy table. "
                                               "Data settings default to those the checkpoint was trained with.")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help=f"best.pt of a run, or any weights file; with --probe also an open_clip pretrained tag "
                             f"(e.g. openai) or '{RANDOM_WEIGHTS}' (random init, tests only)")
    parser.add_argument("--dataset", action="append", default=[], help="registry dataset name (repeatable)")
    parser.add_argument("--data", type=Path, action="append", default=[], metavar="LABELS.csv",
                        help="your own labelled images (a CSV or LIQE label file, as for `liqe train --data`; "
                             "repeatable): split as in training, by its split column or the session's seed")
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

    parser = subparsers.add_parser(
        "export", help="write a model in a format other tools read (IQA-PyTorch, OpenAI CLIP state dict)",
        description="Read weights in any format (a best.pt, a named model, a released file) and write them as "
                    "liqe-repro, clip (OpenAI CLIP state dict, as the official LIQE.pt) or iqa-pytorch "
                    "({'params': {'clip_model.<key>': ...}} with OpenAI's fp16 split, as liqe_mix.pt).")
    parser.add_argument("checkpoint", help="weights file or named model")
    parser.add_argument("--format", required=True, choices=backbone.EXPORT_FORMATS)
    parser.add_argument("--out", required=True, type=Path, help="the file to write")
    parser.add_argument("--arch", choices=sorted(backbone.ARCHITECTURES),
                        help="architecture of weights that do not record it (default: ViT-B-32)")
    parser.add_argument("--task-set", help="task set of weights that do not record it")
    parser.add_argument("--precision", choices=backbone.EXPORT_PRECISIONS, default="openai",
                        help="iqa-pytorch: OpenAI's fp16/fp32 split as in the releases (default), or fp32 throughout "
                             "(exact scores for weights trained in fp32)")
    parser.set_defaults(func=run_export)


def run_train(args: argparse.Namespace) -> int:
    profile = args.profile or "smoke"
    if args.config and args.variant:
        raise SystemExit("--variant applies to a profile; put the variant's settings in the config file instead")
    if args.data and (args.config or args.variant):
        raise SystemExit("--data replaces the training datasets of a profile; with --config, name the datasets there")
    user_sets: list[UserDatasetSpec] = []
    if args.config:
        cfg = apply_overrides(load_config(args.config), args.overrides)
    elif args.variant:
        cfg = variant_config(args.variant, profile, args.overrides)
    elif args.data:
        cfg, user_sets = user_data_config(args.data, args.profile or "paper", args.overrides, args.model, args.arch)
    else:
        cfg = apply_overrides(profile_config(profile), args.overrides)
    if (args.model or args.arch) and not args.data:
        cfg = apply_overrides(with_start(cfg, args.model, args.arch), args.overrides)
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    if user_sets:
        out_dir = Path(cfg.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / USER_DATA_RECORD).write_text(json.dumps([spec.summary() for spec in user_sets], indent=2) + "\n")
    result = train(cfg, resume=args.resume)
    print(f"best epoch {result.best_epoch + 1} (validation score {result.best_score:.4f}): {result.best_checkpoint}")
    return 0


#: The file `liqe train --data` writes next to config.yaml: each user dataset's file, rows and split.
USER_DATA_RECORD = "user_datasets.json"


def with_start(cfg: TrainConfig, model: str | None, arch: str | None) -> TrainConfig:
    """The config starting from a named model (its architecture and task set) or from an architecture's
    CLIP start (`backbone.ARCHITECTURES`: OpenAI's weights for ViT-B-32, random init for liqe-tiny)."""
    if model:
        entry = pretrained.get_pretrained(model)
        if arch and arch != entry.arch:
            raise ValueError(f"--model {model} is a {entry.arch} model; drop --arch {arch}")
        start = dataclasses.replace(cfg.model, arch=entry.arch, weights=entry.name, task_set=entry.task_set,
                                    head=entry.head)
    elif arch:
        start = dataclasses.replace(cfg.model, arch=arch, weights=backbone.architecture(arch).pretrained_tag)
    else:
        return cfg
    return dataclasses.replace(cfg, model=start)


def user_data_config(files: list[Path], profile: str, overrides: list[str], model: str | None = None,
                     arch: str | None = None) -> tuple[TrainConfig, list[UserDatasetSpec]]:
    """The config of a fine-tune on the user's label files: the profile with its training datasets
    replaced by the files (each registered once, `userdata.register_csv`, split by the run's session),
    its start from `--model`/`--arch`, its output under runs/user/<names>; then the overrides."""
    base = profile_config(profile)
    session = apply_overrides(base, overrides).data.session
    specs = [register_csv(path, session=session) for path in files]
    for spec in specs:
        check_trainable(spec)
        log.info("dataset %s: %s, %d images (%s: %d train / %d val / %d test), batch %d", spec.name, spec.source,
                 len(spec.rows), spec.split_source, len(spec.split["train"]), len(spec.split["val"]),
                 len(spec.split["test"]), spec.batch_size)
    names = "+".join(spec.name for spec in specs)
    data = dataclasses.replace(base.data, train=[DatasetConfig(spec.name, spec.batch_size) for spec in specs])
    cfg = dataclasses.replace(base, name=f"liqe-{names}", data=data, out_dir=f"runs/user/{names}")
    return apply_overrides(with_start(cfg, model, arch), overrides), specs


def run_evaluate(args: argparse.Namespace) -> int:
    saved = evaluate.checkpoint_config(args.checkpoint) if args.checkpoint.is_file() else None
    base = saved if saved is not None else profile_config("paper")
    data = apply_overrides(base, [f"data.{item}" for item in args.overrides]).data
    args.dataset = [*args.dataset, *(register_csv(path, session=data.session).name for path in args.data)]
    if not args.dataset:
        raise SystemExit("liqe evaluate: name what to test on: --dataset NAME or --data LABELS.csv")
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


def run_export(args: argparse.Namespace) -> int:
    """`liqe export`: read weights in any format, write them in `--format`."""
    model = load_model(args.arch, args.checkpoint, task_set=args.task_set, progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out, format=args.format, precision=args.precision)
    print(f"wrote {args.out} ({args.format} format) from {args.checkpoint}: {model.arch}, task set "
          f"{model.task_set.name}")
    if args.format != backbone.CHECKPOINT_FORMAT:
        print(f"the {args.format} format does not record them: read it back with load_model(arch="
              f"{model.arch!r}, weights={str(args.out)!r}, task_set={model.task_set.name!r}) or "
              f"liqe score --weights {args.out} --task-set {model.task_set.name}")
    if args.format == "iqa-pytorch":
        metric = {"all": "liqe_mix", "quality": "liqe"}.get(model.task_set.name)
        print(f"IQA-PyTorch: pyiqa.create_metric({metric!r}, pretrained_model_path={str(args.out)!r}) after deleting "
              f"its cached text features (README, 'Export')" if metric else
              f"IQA-PyTorch reads only the task sets all (liqe_mix) and quality (liqe): this model's "
              f"{model.task_set.name!r} prompts have no IQA-PyTorch metric")
    return 0
