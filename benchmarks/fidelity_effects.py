"""What the `fidelity` switch changes, measured where it can be measured without a GPU or the images.

Figures for the "measured effect" column of docs/FIDELITY.md, one function per effect:

* `pair_probability`: the quality loss and its gradient w.r.t. d = qhat_i - qhat_j under the
  official p = Phi(d) (MNL_Loss.py loss_m4) and the paper's p = Phi(d / sqrt 2) (Eq. 5), and
  what the 0.5 tie target changes;
* `qd_distortion_loss`: the Quality+Distortion variant's distortion loss, official multi-label vs Eq. 9;
* `quality_loss_shares`: each dataset's share of the quality loss, official (mean per dataset,
  `loss / len(per_num)`) against Eq. 10 (mean over all pairs);
* `fp16_rounding`: the share of ViT-B-32 weights whose first AdamW update is rounded away when
  the weight is stored in fp16 (the official `convert_models_to_fp32` / `convert_weights` step);
* `epoch_passes`, `scene_accuracy_inflation`: from the official label files, the loader
  bookkeeping of `data.passes=epoch`, tied scores, and BIQA_benchmark.py's scene accuracy;
* `adaptive_resize`: torchvision's truncating Resize(768) against rounding, per dataset size;
* `fp16_scores`, `train_vs_eval_mode`: fp16 score resolution; `model.eval()` during training;
* `schedule_matches_official`: the official CosineAnnealingLR loop against `train.lr_factor`.

Run from the repository root: `python benchmarks/fidelity_effects.py` (about a minute on 2
cores; `--labels` points at the official label files, default ../shared/liqe_labels).
Writes results/benchmarks/fidelity_effects.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # this checkout's liqe_lib, then common.py

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from common import RESULTS, machine  # noqa: E402
from liqe_lib.backbone import create_clip  # noqa: E402
from liqe_lib.config import PAPER_TRAIN_SETS, paper_config  # noqa: E402
from liqe_lib.crops import CROP_SIZE, RESIZE_SHORTER, eval_crop_positions, eval_grid_stride  # noqa: E402
from liqe_lib.data.splits import SESSIONS, load_official_split  # noqa: E402
from liqe_lib.losses import EPS  # noqa: E402
from liqe_lib.train import lr_factor  # noqa: E402

STEPS = 200  # official num_steps_per_epoch
EPOCHS = 80


# --- losses ----------------------------------------------------------------------------------

def _fidelity(p: torch.Tensor, g: float) -> torch.Tensor:
    return 1 - torch.sqrt(p * g + EPS) - torch.sqrt((1 - p) * (1 - g) + EPS)


def _phi(d: torch.Tensor, scale: float) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(d / scale))  # scale sqrt 2: Phi(d); scale 2: Phi(d / sqrt 2)


def pair_probability() -> dict:
    """Loss and dL/dd at d = 0..3: Phi(d) against Phi(d/sqrt 2) (target 1), and a tied pair (target 0.5 vs 1)."""
    rows, ties = [], []
    for d0 in (0.0, 1.0, 2.0, 3.0):
        row = {"d": d0}
        for name, scale in (("phi", math.sqrt(2)), ("phi_sqrt2", 2.0)):
            d = torch.tensor(d0, dtype=torch.float64, requires_grad=True)
            loss = _fidelity(_phi(d, scale), 1.0)
            loss.backward()
            row.update({f"p_{name}": _phi(d, scale).item(), f"loss_{name}": loss.item(), f"grad_{name}": d.grad.item()})
        row["grad_ratio_phi_over_phi_sqrt2"] = row["grad_phi"] / row["grad_phi_sqrt2"]
        rows.append(row)
    for d0 in (0.0, 0.5, 1.0):  # a pair with equal MOS under Phi(d)
        row = {"d": d0}
        for target in (0.5, 1.0):
            d = torch.tensor(d0, dtype=torch.float64, requires_grad=True)
            loss = _fidelity(_phi(d, math.sqrt(2)), target)
            loss.backward()
            row.update({f"loss_target_{target}": loss.item(), f"grad_target_{target}": d.grad.item()})
        ties.append(row)
    return {"target_1": rows, "tied_pair_phi": ties}


def qd_distortion_loss() -> list[dict]:
    """Quality+Distortion variant: p(d|x) in the official multi-label loss (mean of 11 binary fidelity terms,
    M:42-59) vs Eq. 9's multi-class loss; loss and gradient norm w.r.t. the 11 distortion logits."""
    rows = []
    for lead in (0.0, 2.0, 4.0):  # the target logit above the ten others
        row = {"target_logit_lead": lead}
        for name in ("multi_label", "multi_class"):
            z = torch.zeros(11, dtype=torch.float64)
            z[0] = lead
            z.requires_grad_(True)
            prob, g = torch.softmax(z, 0), torch.nn.functional.one_hot(torch.tensor(0), 11).double()
            loss = _fidelity(prob, g).mean() if name == "multi_label" else 1 - torch.sqrt(prob * g + EPS).sum()
            loss.backward()
            row.update({"p_target": prob[0].item(), f"loss_{name}": loss.item(), f"grad_norm_{name}": z.grad.norm().item()})
        row["grad_ratio_multi_class_over_multi_label"] = row["grad_norm_multi_class"] / row["grad_norm_multi_label"]
        rows.append(row)
    return rows


def quality_loss_shares() -> list[dict]:
    """Share of the quality loss per dataset: official mean of per-dataset means vs Eq. 10's mean over all pairs."""
    pairs = {name: b * (b - 1) // 2 for name, b in PAPER_TRAIN_SETS}
    total = sum(pairs.values())
    return [{"dataset": name, "batch": b, "pairs": pairs[name], "official_share": 1 / len(pairs),
             "eq10_share": pairs[name] / total} for name, b in PAPER_TRAIN_SETS]


# --- fp16 weights ---------------------------------------------------------------------------

def fp16_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors OpenAI's `clip.model.convert_weights` stores in fp16: weights and biases of Conv/Linear
    layers, MultiheadAttention's in_proj (q/k/v) weights and biases, and `proj` / `text_projection`.
    LayerNorms, embeddings, class and positional embeddings and logit_scale stay fp32."""
    found = {}
    for prefix, module in model.named_modules():
        names = []
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            names = ["weight", "bias"]
        if isinstance(module, torch.nn.MultiheadAttention):
            names = ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k",
                     "bias_v"]
        names += [n for n in ("proj", "text_projection") if isinstance(getattr(module, n, None), torch.nn.Parameter)]
        for name in names:
            tensor = getattr(module, name, None)
            if tensor is not None:
                found[f"{prefix}.{name}".lstrip(".")] = tensor.detach()
    return found


def lost_share(tensors: list[torch.Tensor], lr: float, wd: float) -> float:
    """Share of fp16 weights that AdamW's first step leaves unchanged once rounded back to fp16.

    Adam's first update is lr * g / (|g| + eps) ~ lr * sign(g); AdamW first decays w by lr * wd * w.
    The step runs in fp32 on the fp16 value (official: convert to fp32, step, convert back); the
    update is lost when the result rounds back to the same fp16 number. Both signs of g, averaged.
    """
    lost, count = 0, 0
    for w in tensors:
        w16 = w.flatten().half()
        decayed = w16.float() * (1 - lr * wd)
        for sign in (1.0, -1.0):
            lost += int(((decayed - sign * lr).half() == w16).sum())
        count += 2 * w16.numel()
    return lost / count


def fp16_rounding(model: torch.nn.Module) -> dict:
    """The share of rounded-away first updates at lr 5e-6 and at the other rates of the schedule."""
    cfg = paper_config()
    lr, wd = cfg.optim.lr, cfg.optim.weight_decay
    converted = fp16_tensors(model)
    n_converted = sum(t.numel() for t in converted.values())
    n_all = sum(p.numel() for p in model.parameters())
    magnitudes = torch.cat([t.flatten().abs() for t in converted.values()])
    factors = [lr_factor(e * STEPS, cfg.schedule, STEPS, EPOCHS) for e in range(EPOCHS)]
    single_wave = cfg.schedule.__class__(name="cosine", t_max=None, skip_zero_lr=False)
    rates = {f"epoch 1 ({lr:g})": lr}
    for f in sorted(set(round(x, 4) for x in factors[-10:]), reverse=True):
        epochs = [e + 1 for e in range(EPOCHS - 10, EPOCHS) if round(factors[e], 4) == f]
        rates[f"x{f} (epochs {','.join(map(str, epochs))} of 71-80)"] = lr * f
    rates["epoch 80, t_max=None"] = lr * lr_factor((EPOCHS - 1) * STEPS, single_wave, STEPS, EPOCHS)
    rows = []
    for label, rate in rates.items():
        share = lost_share(list(converted.values()), rate, wd)
        threshold = 2.0 ** (math.floor(math.log2(rate)) + 12)  # smallest |w| whose half ulp exceeds the rate
        rows.append({"rate": label, "lr": rate, "lost_if_abs_w_at_least": threshold,
                     "lost_share_fp16_tensors": share, "lost_share_all_weights": share * n_converted / n_all,
                     "abs_w_share_above_threshold": float((magnitudes >= threshold).float().mean())})
    return {"init": "random (open_clip ViT-B-32-quickgelu, pretrained=None); OpenAI's pretrained magnitudes differ",
            "fp16_tensors": n_converted, "all_weights": n_all,
            "abs_w_quantiles_fp16_tensors": {q: float(np.quantile(magnitudes[::16].numpy(), q))  # every 16th
                                             for q in (0.1, 0.5, 0.9)},
            "rates": rows}


def train_vs_eval_mode(model: torch.nn.Module) -> float:
    """Largest difference between the image embeddings in train() and eval() mode (official trains in eval()).
    CLIP has no dropout or batch norm; what remains is MultiheadAttention's inference fast path (rounding)."""
    x = torch.randn(2, 3, CROP_SIZE, CROP_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = model.train().encode_image(x)
        b = model.eval().encode_image(x)
    return float((a - b).abs().max())


def fp16_scores(labels: Path) -> dict:
    """fp16 resolution of q in [1, 5] (official evaluation runs on fp16 weights, so scores are fp16) and the
    SRCC change on KonIQ-10k's session-1 test split for predictions with SRCC ~0.92 (MOS + noise, illustrative)."""
    mos = np.array([r.score for r in load_official_split("koniq10k", 1, labels)["test"]])
    rng = np.random.default_rng(0)
    pred = 1 + 4 * (mos - mos.min()) / (mos.max() - mos.min())
    pred = np.clip(pred + rng.normal(0, 0.25, len(pred)), 1, 5)
    half = pred.astype(np.float16).astype(np.float64)
    return {"ulp_1_2": 2.0 ** -10, "ulp_2_4": 2.0 ** -9, "ulp_4_5": 2.0 ** -8, "images": len(mos),
            "distinct_scores_fp64": int(np.unique(pred).size), "distinct_scores_fp16": int(np.unique(half).size),
            "srcc_fp64": float(stats.spearmanr(pred, mos).statistic),
            "srcc_fp16": float(stats.spearmanr(half, mos).statistic)}


def schedule_matches_official() -> dict:
    """The official per-epoch rates (CosineAnnealingLR(T_max=5) stepped after each epoch, plus the extra step
    when an epoch would start at lr 0) against `train.lr_factor` with the paper profile's schedule."""
    cfg = paper_config()
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=cfg.optim.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    official = []
    for _ in range(EPOCHS):
        if optimizer.param_groups[0]["lr"] == 0:
            scheduler.step()
        official.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    ours = [cfg.optim.lr * lr_factor(e * STEPS, cfg.schedule, STEPS, EPOCHS) for e in range(EPOCHS)]
    return {"max_abs_difference": max(abs(a - b) for a, b in zip(official, ours)),
            "official_factors_last_10_epochs": [round(x / cfg.optim.lr, 4) for x in official[-10:]]}


# --- data bookkeeping -------------------------------------------------------------------------

def _epoch_steps(n: int, b: int) -> tuple[list[int], int, int]:
    """Official `epoch` passes: a fresh shuffled loader each epoch, last batch partial, restarted when
    exhausted. Returns the batch sizes of the 200 steps, and distinct images and draws of the epoch."""
    per_pass = [b] * (n // b) + ([n % b] if n % b else [])
    sizes = (per_pass * (STEPS // len(per_pass) + 1))[:STEPS]
    return sizes, min(n, sum(sizes)), sum(sizes)


def epoch_passes(labels: Path) -> dict:
    """Per dataset and session: split size, last partial batch, one-image batches (NaN steps), coverage, ties."""
    rows, skipped = [], []
    for session in SESSIONS:
        nan_steps = set()
        for name, b in PAPER_TRAIN_SETS:
            scores = np.array([r.score for r in load_official_split(name, session, labels)["train"]])
            n = len(scores)
            sizes, distinct, draws = _epoch_steps(n, b)
            ones = [s for s, size in enumerate(sizes) if size == 1]
            nan_steps.update(ones)
            _, counts = np.unique(scores, return_counts=True)
            rows.append({"dataset": name, "session": session, "train": n, "batch": b, "last_batch": n % b or b,
                         "batches_per_pass": math.ceil(n / b), "partial_batches_per_epoch": sizes.count(n % b) if n % b else 0,
                         "one_image_batches_per_epoch": len(ones), "seen_share_epoch": distinct / n,
                         "draws_per_image_epoch": draws / n, "draws_per_image_continuous": STEPS * b / n,
                         "tied_pair_share": float((counts * (counts - 1)).sum() / (n * (n - 1)))})
        skipped.append({"session": session, "skipped_steps_per_epoch": len(nan_steps),
                        "skipped_steps_per_session": len(nan_steps) * EPOCHS})
    return {"per_session": rows, "skipped_steps": skipped}


def scene_accuracy_inflation(labels: Path, hit_rate: float = 0.9) -> list[dict]:
    """BIQA_benchmark.py counts a single-label image in the denominator only when it is right. For a model
    whose top-k rule finds each label with probability `hit_rate`: reported = a (n1 + Km) / (a n1 + Km)."""
    rows = []
    for name, _ in PAPER_TRAIN_SETS:
        for session in SESSIONS:
            test = load_official_split(name, session, labels)["test"]
            n1 = sum(len(r.scenes) == 1 for r in test)
            km = sum(len(r.scenes) for r in test if len(r.scenes) > 1)
            reported = hit_rate * (n1 + km) / (hit_rate * n1 + km)
            rows.append({"dataset": name, "session": session, "single_label_share": n1 / len(test),
                         "true_acc": hit_rate, "official_acc": reported})
    return rows


# --- resizing ----------------------------------------------------------------------------------

SIZES = {  # (width, height) as the crops see them; SPAQ after its 512 shorter-side resize
    "LIVE": [(768, 512), (634, 438)], "CSIQ": [(512, 512)], "BID": [(1280, 960), (2816, 2112)],
    "CLIVE": [(500, 500)], "KonIQ-10k": [(1024, 768)], "KADID-10k": [(512, 384)], "TID2013": [(512, 384)],
    "SPAQ (512)": [(683, 512), (682, 512), (910, 512)], "PIPAL": [(288, 288)],
    "photos": [(1920, 1080), (4032, 3024), (2047, 1536), (1600, 1199), (1205, 964)],
}


def _resized(w: int, h: int, rule: str) -> tuple[int, int]:
    short, long = min(w, h), max(w, h)
    if short < RESIZE_SHORTER:
        return w, h  # AdaptiveResize leaves it alone unless both sides are >= 768
    exact = RESIZE_SHORTER * long / short
    new_long = {"trunc": int(exact),  # torchvision: int(requested_new_short * long / short)
                "round": round(exact),
                "trunc_of_float_scale": int(long * (RESIZE_SHORTER / short))}[rule]
    return (RESIZE_SHORTER, new_long)[::1 if w == short else -1]


def adaptive_resize() -> dict:
    """Per size: resized size, stride and the 15 windows under truncation and rounding; where the stride flips."""
    rows = []
    for dataset, sizes in SIZES.items():
        for w, h in sizes:
            (tw, th), (rw, rh), (fw, fh) = (_resized(w, h, r) for r in ("trunc", "round", "trunc_of_float_scale"))
            rows.append({"dataset": dataset, "size": f"{w}x{h}", "trunc": f"{tw}x{th}", "round": f"{rw}x{rh}",
                         "float_scale_trunc_differs": (fw, fh) != (tw, th),
                         "stride_trunc": eval_grid_stride(th, tw), "stride_round": eval_grid_stride(rh, rw),
                         "same_15_windows": eval_crop_positions(th, tw) == eval_crop_positions(rh, rw)})
    # images with both sides >= 768: the long side is 768 r; rounding gives M where truncation gives M - 1
    # whenever 768 r is in [M - 0.5, M). The grid (and the 15 windows) differ when that changes its size.
    def grid(long: int) -> int:
        s = eval_grid_stride(RESIZE_SHORTER, long)
        return ((RESIZE_SHORTER - CROP_SIZE) // s + 1) * ((long - CROP_SIZE) // s + 1)
    intervals = [((m - 0.5) / RESIZE_SHORTER, m / RESIZE_SHORTER, eval_grid_stride(RESIZE_SHORTER, m - 1),
                  eval_grid_stride(RESIZE_SHORTER, m))
                 for m in range(RESIZE_SHORTER + 1, int(2.5 * RESIZE_SHORTER)) if grid(m) != grid(m - 1)]
    flips = [(lo, hi) for lo, hi, s0, s1 in intervals if s0 != s1]
    return {"sizes": rows, "stride_flips_for_aspect": flips,
            "grid_differs_for_aspect_in_1_to_2.5": [(round(lo, 6), round(hi, 6)) for lo, hi, _, _ in intervals],
            "grid_differs_measure_in_1_to_2.5": sum(hi - lo for lo, hi, _, _ in intervals) / 1.5}


# --- report ------------------------------------------------------------------------------------

def _print(title: str, frame: pd.DataFrame, index: bool = False) -> None:
    print(f"\n## {title}\n")
    print(frame.to_string(index=index, float_format=lambda x: f"{x:.4g}"))


def summarise_passes(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    spans = {c: (lambda s: f"{s.min():.4g}" if s.min() == s.max() else f"{s.min():.4g}-{s.max():.4g}")
             for c in frame.columns if c not in ("dataset", "session")}
    return frame.groupby("dataset", sort=False).agg(spans).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=ROOT.parent / "shared" / "liqe_labels",
                        help="folder of the official LIQE label files")
    args = parser.parse_args()
    torch.manual_seed(0)
    figures: dict = {}

    figures["pair_probability"] = pair_probability()
    _print("Quality loss, target 1: official Phi(d) vs paper Phi(d/sqrt 2) (Eq. 5)",
           pd.DataFrame(figures["pair_probability"]["target_1"]))
    _print("Tied pair under Phi(d): official target 0.5 vs Eq. 4's 1", pd.DataFrame(figures["pair_probability"]["tied_pair_phi"]))

    figures["qd_distortion_loss"] = qd_distortion_loss()
    _print("Quality+Distortion: distortion loss, official multi-label vs Eq. 9 multi-class (one-hot target)",
           pd.DataFrame(figures["qd_distortion_loss"]))

    figures["quality_loss_shares"] = quality_loss_shares()
    _print("Share of the quality loss per dataset: official mean of dataset means vs Eq. 10 mean over pairs",
           pd.DataFrame(figures["quality_loss_shares"]))

    figures["schedule"] = schedule_matches_official()
    print(f"\nLR schedule: official CosineAnnealingLR loop vs lr_factor, max |difference| "
          f"{figures['schedule']['max_abs_difference']:.3g}; factors of epochs 71-80: "
          f"{figures['schedule']['official_factors_last_10_epochs']}")

    model = create_clip("ViT-B-32")
    figures["fp16_rounding"] = fp16_rounding(model)
    info = figures["fp16_rounding"]
    print(f"\n## fp16 weights: first AdamW update (wd 1e-3) rounded away; {info['init']}\n"
          f"fp16 tensors {info['fp16_tensors']:,} of {info['all_weights']:,} weights; "
          f"|w| quantiles (10/50/90%) {', '.join(f'{v:.3g}' for v in info['abs_w_quantiles_fp16_tensors'].values())}")
    _print("share lost per learning rate", pd.DataFrame(info["rates"]))
    figures["train_vs_eval_mode_max_abs_diff"] = train_vs_eval_mode(model)
    print(f"\nmodel.eval() during training: max |train() - eval()| of image embeddings = "
          f"{figures['train_vs_eval_mode_max_abs_diff']:.3g}")
    del model

    if args.labels.is_dir():
        figures["epoch_passes"] = epoch_passes(args.labels)
        _print("Official `epoch` passes per 200-step epoch (range over the 10 sessions)",
               summarise_passes(figures["epoch_passes"]["per_session"]))
        _print("Steps skipped (NaN loss from a one-image batch) under the official code",
               pd.DataFrame(figures["epoch_passes"]["skipped_steps"]).set_index("session").T, index=True)
        figures["scene_accuracy_inflation"] = scene_accuracy_inflation(args.labels)
        _print("Scene accuracy as BIQA_benchmark.py counts it, for a true top-k accuracy of 0.9 (test splits)",
               summarise_passes(figures["scene_accuracy_inflation"]))
        figures["fp16_scores"] = fp16_scores(args.labels)
        _print("fp16 quality scores (official evaluation), KonIQ-10k session 1 test, illustrative predictions",
               pd.DataFrame([figures["fp16_scores"]]))
    else:
        print(f"\n(no label files at {args.labels}: dataset figures skipped)")

    figures["adaptive_resize"] = adaptive_resize()
    _print("AdaptiveResize(768): torchvision truncation vs rounding", pd.DataFrame(figures["adaptive_resize"]["sizes"]))
    resize = figures["adaptive_resize"]
    print(f"\nstride flips (32 truncated, 48 rounded) for long/short in "
          f"{[f'[{lo:.6f}, {hi:.6f})' for lo, hi in resize['stride_flips_for_aspect']]}; the grid differs on "
          f"{len(resize['grid_differs_for_aspect_in_1_to_2.5'])} intervals of long/short in [1, 2.5] "
          f"({100 * resize['grid_differs_measure_in_1_to_2.5']:.3f}% of that range)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "fidelity_effects.json"
    path.write_text(json.dumps({"benchmark": "fidelity_effects", "machine": machine(), "figures": figures},
                               indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
