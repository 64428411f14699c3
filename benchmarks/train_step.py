"""Images/s of one LIQE training step: liqe-tiny (smoke) and ViT-B-32 at the paper's batch sizes.

A step is what `train.train` does per step: one mini-batch per dataset (paper: 4 images
for LIVE, CSIQ, BID, CLIVE and 16 for KonIQ-10k, KADID-10k = 48 images x 3 crops),
forward, the three fidelity losses, backward through both encoders, AdamW. Random
uint8 crops stand in for the loader (timed separately in loader.py), random
weights have the real compute. On CUDA the step runs under bf16 autocast. Scoring is
timed in score_folder.py.
"""
from __future__ import annotations

import argparse

import torch

from common import model_step_seconds, write_result
from liqe_lib.batch import Batch
from liqe_lib.config import paper_config, smoke_config


def random_batch(batch_sizes: list[int], crops: int, generator: torch.Generator) -> Batch:
    n = sum(batch_sizes)
    return Batch(crops=torch.randint(0, 256, (n, crops, 3, 224, 224), dtype=torch.uint8, generator=generator),
                 score=torch.rand(n, generator=generator), distortion=torch.randint(0, 11, (n,), generator=generator),
                 scenes=torch.nn.functional.one_hot(torch.randint(0, 9, (n,), generator=generator), 9).float(),
                 appearance=torch.full((n, 4), -1),
                 group=torch.cat([torch.full((b,), i) for i, b in enumerate(batch_sizes)]), paths=[""] * n)


def step_seconds(cfg, device: torch.device, repeat: int) -> tuple[float, int]:
    sizes = [d.batch_size for d in cfg.data.train]
    batch = random_batch(sizes, cfg.data.train_crops, torch.Generator().manual_seed(0))
    return model_step_seconds(cfg, batch, device, repeat), sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    figures = {"device": str(device)}
    for name, cfg in (("liqe-tiny smoke", smoke_config()), ("ViT-B-32 paper", paper_config())):
        cfg.device = str(device)
        if device.type == "cuda":  # bf16 autocast, as the module docstring says; on CPU the profiles' fp32
            cfg.precision = "bf16"
        seconds, images = step_seconds(cfg, device, args.repeat)
        figures[name] = {"images_per_step": images, "crops_per_image": cfg.data.train_crops,
                         "seconds_per_step": round(seconds, 3), "images_per_s": round(images / seconds, 2)}
    write_result("train_step" if device.type == "cpu" else f"train_step_{device.type}", figures)


if __name__ == "__main__":
    main()
