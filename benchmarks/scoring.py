"""Scoring throughput of ViT-B-32 LIQE (random weights: the real compute) on 15 crops per image.

Compares, in one run, `liqe_lib` (text features cached) against IQA-PyTorch's approach of
re-encoding all 495 prompts, padded to 77 tokens, on every forward (`text_cache=False` with
77-token prompts, otherwise the same code), at 512x384 and 1024x768. On CPU both score
one image per forward pass (what `LIQE.score` does there, and how IQA-PyTorch scores a
folder). It also reports the image tower's utilisation of the machine's fp32 matmul
peak: crops/s x FLOPs per crop / peak, with the tower fed as `score` feeds it (one
image's 15 crops, under `torch.inference_mode`). The peak and the tower are measured in
alternating rounds and the utilisation is the median of the rounds' ratios, so a change
of load on a shared machine between the two measurements does not move it.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from common import matmul_peak_gflops, padded_to_77, seconds_per_call, write_result
from liqe_lib import load_model
from liqe_lib.score import prepare_for_inference
from liqe_lib.crops import EVAL_CROPS


def image_tower_gflops_per_crop(model) -> float:
    crops = torch.zeros(1, 3, 224, 224)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.clip.encode_image(crops)
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of matmul peak and image tower")
    args = parser.parse_args()
    torch.manual_seed(0)
    cached = load_model(arch="ViT-B-32", weights=None).eval()
    uncached = load_model(arch="ViT-B-32", weights=None, text_cache=False).eval()
    uncached.load_state_dict(cached.state_dict())
    uncached.prompt_tokens = padded_to_77(uncached.prompt_tokens)
    rng = np.random.default_rng(0)
    figures = {"batch_size": args.batch_size, "crops_per_image": EVAL_CROPS}
    gflops = image_tower_gflops_per_crop(cached)
    crops = torch.randn(EVAL_CROPS, 3, 224, 224)  # one image's crops: a forward of `score` on CPU
    compiled = copy.deepcopy(cached)  # `liqe score --compile`: inductor, frozen weights on CPU
    prepare_for_inference(compiled, "fp32", compile=True)
    with torch.inference_mode():
        compiled.clip.encode_image(crops)  # compile outside the timed rounds
    rounds = []
    for _ in range(args.rounds):
        peak = matmul_peak_gflops()
        record = {"matmul_peak_gflops": round(peak, 1)}
        for name, model in (("image_tower", cached), ("compiled_image_tower", compiled)):
            with torch.inference_mode():
                rate = len(crops) / seconds_per_call(lambda: model.clip.encode_image(crops), repeat=args.repeat)
            record.update({f"{name}_crops_per_s": round(rate, 2), f"{name}_utilisation": round(rate * gflops / peak, 3)})
        rounds.append({**record, "load_average_1min": round(os.getloadavg()[0], 2)})
        print(rounds[-1])
    peak = statistics.median(r["matmul_peak_gflops"] for r in rounds)
    figures.update(matmul_peak_gflops=peak, image_tower_gflops_per_crop=round(gflops, 3), **{name: {
        "crops_per_s": statistics.median(r[f"{name}_crops_per_s"] for r in rounds),
        "utilisation_of_peak": statistics.median(r[f"{name}_utilisation"] for r in rounds)}
        for name in ("image_tower", "compiled_image_tower")}, rounds=rounds)
    for width, height in ((512, 384), (1024, 768)):
        images = [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(args.batch_size)]
        t_cached = seconds_per_call(lambda: cached.score(images, batch_size=args.batch_size), repeat=args.repeat)
        t_uncached = seconds_per_call(lambda: uncached.score(images[:1], batch_size=1), repeat=1, warmup=0)
        figures[f"{width}x{height}"] = {
            "images_per_s_cached": round(args.batch_size / t_cached, 3),
            "images_per_s_reencode_495_prompts_77_tokens": round(1 / t_uncached, 4),
            "speedup": round(t_uncached / (t_cached / args.batch_size), 1),
            "end_to_end_utilisation_of_peak": round(args.batch_size * EVAL_CROPS / t_cached * gflops / peak, 3),
        }
    write_result("scoring", figures)


if __name__ == "__main__":
    main()
