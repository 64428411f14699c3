"""The paper's training loop end to end on a GPU: real loader, six synthetic stand-in datasets.

`train_step.py` times the step's compute on crops already in memory; this runs `train.train`
itself on ViT-B-32 (random weights) with the synthetic set split into six content-disjoint
stand-ins at the paper's batch sizes (4, 4, 4, 4, 16, 16; 3 crops each), bf16 autocast, for
2 epochs x 30 steps, and reports the median step time from the run's log (steps after the
fifth), so decoding and cropping count. GPU only: on 2 CPU cores one step takes about a minute.

    python benchmarks/paper_loop.py [--workers 8]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from common import write_result

from liqe_lib import rundata
from liqe_lib.config import PAPER_TRAIN_SETS, DatasetConfig, apply_overrides, paper_config
from liqe_lib.train import read_log, train

PAPER_BATCH_SIZES = tuple(batch_size for _, batch_size in PAPER_TRAIN_SETS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="loader threads")
    parser.add_argument("--out", default="runs/bench/paper_loop")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("paper_loop.py needs a CUDA GPU (ViT-B-32 trains at about a minute a step on 2 CPU cores)")
        return 1
    cfg = paper_config()
    cfg.model.weights = None
    cfg.data.train = [DatasetConfig("synthetic", b, part=i, parts=len(PAPER_BATCH_SIZES))
                      for i, b in enumerate(PAPER_BATCH_SIZES)]
    cfg = apply_overrides(cfg, ["data.split=random", f"data.num_workers={args.workers}", "epochs=2",
                                "steps_per_epoch=30", f"out_dir={args.out}", "device=cuda"])
    start = time.perf_counter()
    rundata.ensure_dataset("synthetic", cfg.data)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    train(cfg)
    train_s = time.perf_counter() - start
    steps = [r for r in read_log(args.out, kind="step") if r["global_step"] > 5]
    write_result("paper_loop_cuda", {
        "loader_threads": args.workers, "images_per_step": sum(PAPER_BATCH_SIZES),
        "crops_per_image": cfg.data.train_crops,
        "median_seconds_per_step": round(statistics.median(r["seconds"] for r in steps), 4),
        "median_images_per_s": round(statistics.median(r["images_per_s"] for r in steps), 1),
        "train_seconds_with_validation": round(train_s, 1), "synthetic_build_seconds": round(build_s, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
