"""The peer, measured: `liqe score` against IQA-PyTorch's `liqe_mix` on the same folder of JPEGs.

Both tools score the same twelve 1024x768 JPEGs (natural content, `loader.photographs`) from
disk, one file at a time as each scores a folder, decode included, with the same random
ViT-B-32 weights: liqe_lib through `score_sources` (the `liqe score` loop) on a model read
by `load_scoring_model` from an `iqa-pytorch`-format file, IQA-PyTorch through
`pyiqa.create_metric("liqe_mix", pretrained_model_path=that file)`. pyiqa 0.1.16 encodes the
495 prompts once at construction and caches them (`text_features`), so the comparison is
of the image path: decoding, crops and the image tower.

IQA-PyTorch cannot download here: its ViT-B/32 backbone, built from OpenAI's release before
the LIQE weights overwrite every tensor of it, is built from the same weights saved in
OpenAI's layout (`clip_model.load`'s state-dict branch, in place of `liqe_arch.load`), and its
text-feature cache, one file per metric under `$TORCH_HOME/pyiqa` whatever the weights,
lives in a fresh temporary `TORCH_HOME`. The metrics timed are built after a first one
has written that cache, as in every run of IQA-PyTorch but its first (which encodes the
prompts with autograd on and holds the graph, about 18 GB, as long as the metric lives).

The crops differ at 1024x768: IQA-PyTorch unfolds the whole image at stride 32 (468
windows, every 31st kept), the official code and liqe_lib at stride 48 when a side
reaches 1024 (204 windows, every 13th). So the check that both compute the same
scores uses `liqe_mix` with `step=48`; it is timed too. Rounds alternate the tools
(the order rotates) with the matmul peak measured between them; figures are medians
over rounds. Run in .venv-peer (benchmarks/peer_env.sh).
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import matmul_peak_gflops, write_result
from loader import photographs

SIZE = (1024, 768)


def write_folder(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for i, jpeg in enumerate(photographs(count)):
        path = folder / f"image_{i:02d}.jpg"
        path.write_bytes(jpeg)
        paths.append(str(path))
    return paths


def random_weights(folder: Path) -> tuple[Path, Path]:
    """Random ViT-B-32 LIQE weights in IQA-PyTorch's release format (fp32 throughout) and OpenAI's CLIP layout."""
    from liqe_lib import load_model

    torch.manual_seed(0)
    model = load_model(arch="ViT-B-32", weights=None)
    iqa, clip = folder / "liqe_mix_random.pt", folder / "ViT-B-32_random.pt"
    model.save(iqa, format="iqa-pytorch", precision="fp32")
    model.save(clip, format="clip", precision="fp32")
    return iqa, clip


def pyiqa_metric(iqa_weights: Path, clip_weights: Path, device: str, **options):
    import pyiqa
    from pyiqa.archs import clip_model, liqe_arch

    def load(name: str, device: str) -> torch.nn.Module:  # clip_model.load's state-dict branch, without the download
        return clip_model.build_model(torch.load(clip_weights, map_location="cpu")).to(device).float()

    liqe_arch.load = load
    return pyiqa.create_metric("liqe_mix", device=device, pretrained_model_path=str(iqa_weights), **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8,
                        help="liqe_lib's images per forward on an accelerator (`liqe score`'s default); 1 on CPU")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="liqe_peer_"))
    os.environ["TORCH_HOME"] = str(work / "torch_home")  # before pyiqa is imported: its cache dir is read then
    import pyiqa
    from pyiqa.utils.download_util import DEFAULT_CACHE_DIR
    from liqe_lib.score import load_scoring_model, score_sources

    os.makedirs(DEFAULT_CACHE_DIR)

    paths = write_folder(work / "images", args.images)
    iqa_weights, clip_weights = random_weights(work)
    ours, _ = load_scoring_model(str(iqa_weights), arch="ViT-B-32", device=args.device, task_set="all")
    # The first metric encodes the prompts and writes the cache, with autograd on: its text features keep
    # the whole graph of that encoding (about 18 GB here). Later ones, as every later run, load the cache.
    pyiqa_metric(iqa_weights, clip_weights, args.device)
    gc.collect()
    peers = {"pyiqa_liqe_mix": pyiqa_metric(iqa_weights, clip_weights, args.device),
             "pyiqa_liqe_mix_step48": pyiqa_metric(iqa_weights, clip_weights, args.device, step=48)}
    dtypes = {"liqe_lib": sorted({str(p.dtype) for p in ours.parameters()}),
              "pyiqa": sorted({str(p.dtype) for p in peers["pyiqa_liqe_mix"].net.parameters()})}

    def run_ours() -> list[float]:
        return [s.result.score for s in score_sources(ours, ((p, p) for p in paths), args.batch_size)]

    def run_peer(name: str):
        return lambda: [float(peers[name](p)) for p in paths]

    runners = {"liqe_lib": run_ours, **{name: run_peer(name) for name in peers}}
    scores = {name: torch.tensor(run(), dtype=torch.float64) for name, run in runners.items()}  # also the warm-up
    dq = {name: float((scores[name] - scores["liqe_lib"]).abs().max()) for name in peers}
    print(f"max |dq| vs liqe_lib: {dq}  dtypes: {dtypes}", file=sys.stderr)

    names = list(runners)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    peaks = []
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            runners[name]()
            seconds[name].append(time.perf_counter() - start)
        if args.device == "cpu":
            peaks.append(matmul_peak_gflops())
        print(f"round {r}: " + ", ".join(f"{n} {len(paths) / seconds[n][-1]:.3f} images/s" for n in names)
              + (f", peak {peaks[-1]:.0f} GFLOP/s" if peaks else "") + f", load {os.getloadavg()[0]:.2f}",
              file=sys.stderr)
    rate = {name: len(paths) / statistics.median(t) for name, t in seconds.items()}
    figures = {
        "device": args.device,
        "pyiqa": pyiqa.__version__,
        "images": len(paths), "size": f"{SIZE[0]}x{SIZE[1]}", "rounds": args.rounds,
        "scored": "one file at a time, decode included" if args.device == "cpu" else
                  f"liqe_lib {args.batch_size} files per forward, pyiqa one at a time, decode included",
        "parameter_dtypes": dtypes,
        "max_abs_score_difference_vs_liqe_lib": {
            "pyiqa_liqe_mix_step48 (same crops)": dq["pyiqa_liqe_mix_step48"],
            "pyiqa_liqe_mix (default step 32: other crops)": dq["pyiqa_liqe_mix"]},
        "images_per_s": {name: round(v, 3) for name, v in rate.items()},
        "images_per_s_each_round": {name: [round(len(paths) / t, 3) for t in ts] for name, ts in seconds.items()},
        "speedup_vs_pyiqa_liqe_mix": round(rate["liqe_lib"] / rate["pyiqa_liqe_mix"], 2),
        "speedup_vs_pyiqa_liqe_mix_step48": round(rate["liqe_lib"] / rate["pyiqa_liqe_mix_step48"], 2),
    }
    if peaks:
        figures["matmul_peak_gflops"] = round(statistics.median(peaks), 1)
        figures["matmul_peak_gflops_each_round"] = [round(p, 1) for p in peaks]
    shutil.rmtree(work)
    write_result("peer" if args.device == "cpu" else f"peer_{args.device}", figures)


if __name__ == "__main__":
    main()
