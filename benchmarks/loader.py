"""Evaluation crops of 1024x768 JPEGs: cut out only the 15 chosen windows vs copy out the whole grid.

The official dataset code unfolds the whole window grid (stride 48 at this size: 204
windows) into a float tensor and then selects 15; `liqe_lib.crops.eval_crops` cuts
the 15 windows directly from the uint8 image. Both run on the same decoded JPEGs;
peak memory per image is the largest block of tensor memory each approach holds
(measured with torch's profiler), and crops/s includes the JPEG decode.
"""
from __future__ import annotations

import io

import torch
from PIL import Image
from torch.profiler import ProfilerActivity, profile

from common import seconds_per_call, write_result
from liqe_lib.crops import EVAL_CROPS, adaptive_resize, eval_crop_positions, eval_crops, eval_grid_stride, to_tensor
from liqe_lib.data.images import load_rgb


def unfold_all(image: Image.Image) -> torch.Tensor:
    """The official approach: float tensor, unfold the whole grid, make it contiguous, pick 15."""
    tensor = to_tensor(adaptive_resize(image)).float().div(255)
    stride = eval_grid_stride(*tensor.shape[1:])
    grid = tensor.unfold(1, 224, stride).unfold(2, 224, stride).permute(1, 2, 0, 3, 4).reshape(-1, 3, 224, 224)
    step = grid.shape[0] // EVAL_CROPS
    return grid[torch.arange(EVAL_CROPS) * step].clone()


def peak_tensor_bytes(fn, image) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(image)
    return max(e.cpu_memory_usage for e in prof.key_averages())


def photographs(count: int) -> list[bytes]:
    """1024x768 JPEGs of natural content: crops of skimage's photographs, upscaled, re-encoded at quality 90."""
    from skimage import data

    sources = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in ("astronaut", "chelsea", "coffee", "rocket")]
    jpegs = []
    for i in range(count):
        buffer = io.BytesIO()
        source = sources[i % len(sources)]
        source.resize((1024 + 8 * i, 768 + 6 * i), Image.BICUBIC).crop((0, 0, 1024, 768)).save(buffer, "JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    return jpegs


def main(count: int = 24) -> None:
    jpegs = photographs(count)
    sample = load_rgb(jpegs[0])
    decoded = [load_rgb(data) for data in jpegs]
    ours, official = eval_crops(sample), unfold_all(sample)
    h, w = adaptive_resize(sample).size[1], adaptive_resize(sample).size[0]
    top, left = eval_crop_positions(h, w)[3]
    assert torch.equal(official[3], ours[3].float().div(255)) and (top, left) == (96, 240)
    figures = {"images": count, "size": "1024x768",
               "grid_windows": len(range(0, h - 223, 48)) * len(range(0, w - 223, 48))}
    for name, fn in (("cut_chosen_windows", eval_crops), ("unfold_all_then_select", unfold_all)):
        with_decode = seconds_per_call(lambda: [fn(load_rgb(data)) for data in jpegs], repeat=3)
        crops_only = seconds_per_call(lambda: [fn(image) for image in decoded], repeat=3)
        figures[name] = {"crops_per_s_with_decode": round(count * EVAL_CROPS / with_decode, 1),
                         "crops_per_s_decoded_images": round(count * EVAL_CROPS / crops_only, 1),
                         "peak_tensor_mb_per_image": round(peak_tensor_bytes(fn, sample) / 2**20, 2)}
    a, b = figures["cut_chosen_windows"], figures["unfold_all_then_select"]
    figures["speedup_with_decode"] = round(a["crops_per_s_with_decode"] / b["crops_per_s_with_decode"], 2)
    figures["speedup_decoded_images"] = round(a["crops_per_s_decoded_images"] / b["crops_per_s_decoded_images"], 2)
    figures["memory_ratio"] = round(b["peak_tensor_mb_per_image"] / a["peak_tensor_mb_per_image"], 1)
    write_result("loader", figures)


if __name__ == "__main__":
    main()
