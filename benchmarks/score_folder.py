"""`liqe score` on a folder of 1024x768 JPEGs, end to end, beside its parts, in one run.

Figures on the same folder and the same ViT-B-32 (random weights:
the real compute) with 15 crops per image:

* loader: `data.crop_loader` alone (decode, AdaptiveResize, 15 windows) with 0 and N workers;
* model path: the forward on crops already on the device, per inference precision (fp32,
  bf16 weights, and on CUDA bf16 weights + `torch.compile`), with its share of the matmul
  peak of its dtype measured in the same run: images/s x FLOPs per image / peak;
* end to end: `score.score_sources` over the files (what `liqe score DIR` does), with 0 and N workers
  at the default precision;
* the loader's share: end to end / model path, to say which one sets the pace;
* bf16's cost: the largest score gap to fp32 on eight of the images.

    python benchmarks/score_folder.py                       # CPU: 16 images, workers 0 and 1
    python benchmarks/score_folder.py --device cuda         # GPU: 2048 images, batch 64, workers 0 and 8
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common import matmul_peak_gflops, seconds_per_call, write_result
from loader import photographs
from liqe_lib import load_model
from liqe_lib.crops import EVAL_CROPS, normalize
from liqe_lib.data.crop_loader import crop_batches, default_workers
from liqe_lib.score import prepare_for_inference, score_sources


def write_folder(folder: Path, count: int) -> list[tuple[str, str]]:
    """`count` distinct 1024x768 JPEGs (natural content, quality 90) as (name, path) items, read from disk."""
    items = []
    for i, data in enumerate(photographs(count)):
        path = folder / f"{i:05d}.jpg"
        path.write_bytes(data)
        items.append((str(path), str(path)))
    return items


def gflops_per_image(model) -> float:
    crops = torch.zeros(1, EVAL_CROPS, 3, 224, 224, device=model.device)
    with torch.inference_mode():
        model(crops)  # the text features, computed once and cached, are not a per-image cost
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(crops)
    return counter.get_total_flops() / 1e9


def timed(fn, device: torch.device) -> float:
    """Seconds of one call of `fn`, the GPU's queue drained before the clock stops."""
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def model_path(model, batch: int, device: torch.device, repeat: int) -> float:
    """Images/s of the forward alone on `batch` images' uint8 crops already on the device."""
    crops = torch.randint(0, 256, (batch, EVAL_CROPS, 3, 224, 224), dtype=torch.uint8, device=device)
    names = [""] * batch

    def forward() -> None:
        model.score_crops(crops, names)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return batch / seconds_per_call(forward, repeat=repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=None, help="folder size (default: 2048 on CUDA, 16 on CPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward (default: 64 CUDA, 1 CPU)")
    parser.add_argument("--workers", type=int, default=None, help="the N of 'N workers' (default: as liqe score)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    count = args.images or (2048 if cuda else 16)
    batch = args.batch_size or (64 if cuda else 1)
    workers = args.workers if args.workers is not None else max(1, default_workers(device))
    torch.manual_seed(0)
    fp32 = load_model(arch="ViT-B-32", weights=None, device=device).eval()
    with torch.no_grad():
        fp32.clip.logit_scale.fill_(math.log(100))  # CLIP's trained value, which amplifies feature errors
    variants = {"fp32": fp32, "bf16": copy.deepcopy(fp32).use_precision("bf16")}
    if cuda:
        variants["bf16+compile"] = copy.deepcopy(fp32)
        prepare_for_inference(variants["bf16+compile"], "bf16", compile=True)
    peaks = {name: matmul_peak_gflops(dtype=dtype, device=device)
             for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    gflops = gflops_per_image(fp32)
    figures = {"device": torch.cuda.get_device_name() if cuda else "cpu", "images": count, "size": "1024x768",
               "crops_per_image": EVAL_CROPS, "batch_size": batch, "workers": workers,
               "gflops_per_image": round(gflops, 2),
               "matmul_peak_gflops": {name: round(peak, 1) for name, peak in peaks.items()}}
    figures["model_path_images_per_s"], figures["model_path_share_of_its_dtype_peak"] = {}, {}
    for name, model in variants.items():
        rate = model_path(model, batch, device, args.repeat)
        figures["model_path_images_per_s"][name] = round(rate, 2)
        figures["model_path_share_of_its_dtype_peak"][name] = round(rate * gflops / peaks[name.split("+")[0]], 3)
    scoring = variants["bf16" if cuda else "fp32"]  # liqe score's default precision on this device
    with tempfile.TemporaryDirectory() as tmp:
        items = write_folder(Path(tmp), count)
        figures["loader_images_per_s"], figures["end_to_end_images_per_s"] = {}, {}
        for n in (0, workers):
            seconds = timed(lambda: [b for b in crop_batches(items, batch, n, pin_memory=cuda)], device)
            figures["loader_images_per_s"][f"{n} workers"] = round(count / seconds, 1)
            seconds = timed(lambda: list(score_sources(scoring, items, batch, workers=n)), device)
            figures["end_to_end_images_per_s"][f"{n} workers"] = round(count / seconds, 2)
        sample = items[:8]  # what bf16 costs in accuracy, on the same images (logit scale at CLIP's trained 100)
        gaps = [abs(a.score - b.score) for a, b in zip(fp32.score([p for _, p in sample]),
                                                        variants["bf16"].score([p for _, p in sample]))]
        figures["bf16_max_abs_score_gap_vs_fp32"] = round(max(gaps), 5)
    best = max(figures["end_to_end_images_per_s"].values())
    figures["end_to_end_over_model_path"] = round(best / figures["model_path_images_per_s"]
                                                  ["bf16" if cuda else "fp32"], 3)
    figures["cpu_cores"] = os.cpu_count()
    write_result(f"score_folder_{device.type}", figures)


if __name__ == "__main__":
    main()
