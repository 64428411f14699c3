"""The paper's training loop end to end (real loader, six synthetic stand-in datasets) beside the model alone.

This runs `train.train` itself, with the synthetic set split into six content-disjoint
stand-ins at the paper's batch sizes (4, 4, 4, 4, 16, 16; 3 crops each), and reads the
loop's median step time from the run's log (steps after `--warmup`), so waiting for the
loader counts. Right after each run, in the same process, `common.model_step_seconds`
times the step's compute alone on a batch of the same datasets with its crops already on
the device (same model, precision and losses): loop / model is what the loader costs, 1.0
when its workers keep up (the target on an H100: at most 1.2). One run per `--workers`
value (`data.num_workers` worker processes), each beside the loader alone
(`loader_seconds_per_step`: how fast those workers deliver steps when nothing else runs),
which tells a slow loader from workers that slow the model down by competing with it for
CPU cores.

ViT-B-32 (random weights) under bf16 autocast on a GPU is the default; on a CPU, where a
ViT-B-32 step takes about a minute, `--arch liqe-tiny` gives a small figure in fp32:

    python benchmarks/paper_loop.py [--workers 8]
    python benchmarks/paper_loop.py --arch liqe-tiny --workers 0 2 --epochs 1 --steps 8 --warmup 2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from common import model_step_seconds, write_result

from liqe_lib import rundata
from liqe_lib.batch import StepLoader
from liqe_lib.config import PAPER_TRAIN_SETS, DatasetConfig, TrainConfig, apply_overrides, paper_config
from liqe_lib.relations import training_batches
from liqe_lib.train import read_log, train

PAPER_BATCH_SIZES = tuple(batch_size for _, batch_size in PAPER_TRAIN_SETS)


def loader_seconds_per_step(cfg: TrainConfig, workers: int, warmup: int) -> float:
    """Median seconds between the batches of a run's loader with no model (an epoch of the run's
    steps, the first `warmup` left out): once the prefetch queue is full, the workers' pace."""
    cfg = cfg.resolved()
    intervals, start = [], time.perf_counter()
    for _ in StepLoader(rundata.train_sampler(cfg.data, cfg.seed), workers).epoch(cfg.steps_per_epoch):
        intervals.append(time.perf_counter() - start)
        start = time.perf_counter()
    return statistics.median(intervals[warmup:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32", help="ViT-B-32 (GPU) or liqe-tiny (small enough for a CPU)")
    parser.add_argument("--workers", type=int, nargs="+", default=[8], help="loader worker processes, one run each")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="steps per epoch")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the median")
    parser.add_argument("--repeat", type=int, default=5, help="timed model-only steps (the best counts)")
    parser.add_argument("--out", default="runs/bench/paper_loop")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu" and args.arch == "ViT-B-32":
        print("ViT-B-32 trains at about a minute a step on 2 CPU cores: run with --arch liqe-tiny on a CPU")
        return 1
    cfg = paper_config()
    cfg.model.arch, cfg.model.weights = args.arch, None
    cfg.data.train = [DatasetConfig("synthetic", b, part=i, parts=len(PAPER_BATCH_SIZES))
                      for i, b in enumerate(PAPER_BATCH_SIZES)]
    cfg = apply_overrides(cfg, ["data.split=random", f"epochs={args.epochs}", f"steps_per_epoch={args.steps}",
                                f"device={device}", f"precision={'bf16' if device.type == 'cuda' else 'fp32'}"])
    start = time.perf_counter()
    rundata.ensure_dataset("synthetic", cfg.data)
    build_s = time.perf_counter() - start
    batch = training_batches(cfg, 1)[0]
    runs = {}
    for workers in args.workers:
        cfg.data.num_workers, cfg.out_dir = workers, f"{args.out}/workers-{workers}"
        load = os.getloadavg()[0]
        start = time.perf_counter()
        train(cfg)
        train_s = time.perf_counter() - start
        steps = [r for r in read_log(cfg.out_dir, kind="step") if r["global_step"] > args.warmup]
        loop_s = statistics.median(r["seconds"] for r in steps)
        model_s = model_step_seconds(cfg, batch, device, args.repeat)  # right after the run: the same machine load
        runs[f"workers={workers}"] = {
            "loop_median_seconds_per_step": round(loop_s, 4), "model_only_seconds_per_step": round(model_s, 4),
            "loop_over_model": round(loop_s / model_s, 2),
            "loader_alone_median_seconds_per_step": round(loader_seconds_per_step(cfg, workers, args.warmup), 4),
            "median_images_per_s": round(statistics.median(r["images_per_s"] for r in steps), 1),
            "steps_in_median": len(steps), "train_seconds_with_validation": round(train_s, 1),
            "load_average_1min_at_start": round(load, 2)}
    cpu_note = {"note": f"CPU figures: {os.cpu_count()} cores shared with other work (machine.load_average_1min); "
                        "worker processes compete with the step's compute for them"} if device.type == "cpu" else {}
    write_result(f"paper_loop_{device.type}", {
        "arch": args.arch, "precision": cfg.precision, "device": str(device), **cpu_note,
        "images_per_step": sum(PAPER_BATCH_SIZES), "crops_per_image": cfg.data.train_crops,
        "steps": f"{args.epochs} x {args.steps}, median over the steps after the first {args.warmup}",
        "runs": runs,
        "synthetic_build_seconds": round(build_s, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
