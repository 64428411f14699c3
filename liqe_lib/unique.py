"""UNIQUE, LIQE's opponent in gMAD (paper Fig. 3) and Table 3: W. Zhang, K. Ma, G. Zhai, X. Yang,
"Uncertainty-aware blind image quality assessment in the laboratory and wild", IEEE TIP 30, 2021
(Sec. III; official code github.com/zwx8981/UNIQUE at 908f528, files named below).

Model (`BaseCNN.py`, `BCNN.py`): an ImageNet ResNet-34 up to its last convolution block, whose global
average pooling is replaced by bilinear pooling: the 512 x 512 Gram matrix of the 512 x (h w) features
divided by h w, signed square root sign(z) sqrt(|z| + 1e-8), flattened and L2-normalised. One linear
layer 512^2 -> 2 (Kaiming-normal weight, zero bias) gives the image's quality mean f(x) and, through
softplus, its standard deviation sigma(x). Loss (`TrainModel.py`, `MNL_Loss.py`): the fidelity loss
between p = Phi((f(x) - f(y)) / sqrt(sigma(x)^2 + sigma(y)^2)) and the pair's target, sigma detached
there, plus the hinge max(0, xi - t (sigma(x) - sigma(y))), t = sign(std(x) - std(y)) of the human
opinion scores, xi = 0.025 (`Main.py --margin`), weight 1.

Shared with LIQE's pipeline on purpose (an assumption for docs/FIDELITY.md): the datasets and the ten
sessions' splits, AdaptiveResize(768) and the 224x224 crops (3 random crops with flips in training,
the 15-window grid in evaluation, predictions averaged over an image's crops), one mini-batch per
dataset a step with all pairs i < j inside it and the binary/0.5 target of `losses.quality_fidelity_loss`,
the trainer's schedule machinery, validation-based selection and evaluation. UNIQUE's own recipe
differs: fixed pre-sampled pairs per session (`IQA_database/data_all.m`: 25k LIVE, 35k CSIQ, 50k
KADID-10k, 20k BID, 40k CLIVE, 90k KonIQ-10k), each image AdaptiveResize(512) and one random 384x384
crop with a flip; the target Phi((mos_x - mos_y) / sqrt(std_x^2 + std_y^2)) (`GT_Gaussian.m`); Adam,
weight decay 5e-4, lr 1e-4, first the linear layer alone (backbone frozen, 128 pairs a batch, 3 epochs),
then the whole network (32 pairs a batch, up to epoch 12, lr x0.1 every 3 epochs); testing on the whole
image after AdaptiveResize(768), no crops. The label files here carry no opinion-score std: without
`score_std` the hinge is left out (and with sigma detached, sigma then does not train).

Inputs arrive CLIP-normalised like LIQE's; the model maps them exactly (per channel, affine) to the
ImageNet normalisation its backbone was trained with.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision

from . import backbone
from .crops import CLIP_MEAN, CLIP_STD
from .losses import _binary_fidelity, _phi
from .model import LIQE, LIQEOutput
from .vocab import get_task_set

log = logging.getLogger(__name__)

ARCH = "unique-resnet34"
HEAD = "unique"
IMAGENET_WEIGHTS = torchvision.models.ResNet34_Weights.IMAGENET1K_V1
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MARGIN = 0.025  # xi of the hinge on sigma (`Main.py --margin`)
SQRT_EPS = 1e-8  # under the signed square root of bilinear pooling (`BCNN.py`)
VAR_EPS = 1e-8  # added to sigma(x)^2 + sigma(y)^2 (`TrainModel.py`)
THURSTONE_EPS = 2.220446049250313e-16  # MATLAB's eps after the square root (`GT_Gaussian.m`)


def bilinear_pool(features: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, C*C): Gram matrix / (h w), signed square root, L2 normalisation (`BCNN.py`)."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    gram = flat.bmm(flat.transpose(1, 2)) / (h * w)
    return torch.nn.functional.normalize((gram.sign() * torch.sqrt(gram.abs() + SQRT_EPS)).reshape(n, -1), dim=1)


class UNIQUE(torch.nn.Module):
    """ResNet-34 + bilinear pooling -> quality mean and standard deviation per image (see module docstring)."""

    def __init__(self, resnet: torchvision.models.ResNet):
        super().__init__()
        self.features = torch.nn.Sequential(OrderedDict(
            (name, module) for name, module in resnet.named_children() if name not in ("avgpool", "fc")))
        self.fc = torch.nn.Linear(512 * 512, 2)
        torch.nn.init.kaiming_normal_(self.fc.weight)
        torch.nn.init.zeros_(self.fc.bias)
        self.task_set = get_task_set("quality")
        self.arch, self.head = ARCH, HEAD
        # CLIP-normalised x -> ImageNet-normalised: x * clip_std / in_std + (clip_mean - in_mean) / in_std
        clip_mean, clip_std, in_mean, in_std = (torch.tensor(v).view(3, 1, 1) for v in
                                                (CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD))
        self.register_buffer("input_scale", clip_std / in_std, persistent=False)
        self.register_buffer("input_shift", (clip_mean - in_mean) / in_std, persistent=False)

    def forward(self, crops: torch.Tensor) -> LIQEOutput:
        """crops: CLIP-normalised, (B, U, 3, H, W). Mean and std are predicted per crop and averaged
        over the U crops of each image (crops of image b come only from crops[b]; in training mode
        BatchNorm uses the whole batch's statistics, as in the official code)."""
        batch, views = crops.shape[:2]
        x = crops.flatten(0, 1) * self.input_scale + self.input_shift
        out = self.fc(bilinear_pool(self.features(x))).view(batch, views, 2)
        mean, std = out[..., 0], torch.nn.functional.softplus(out[..., 1])
        return LIQEOutput(groups=(), quality=None, scene=None, distortion=None, score=mean.mean(dim=1),
                          appearance=None, uncertainty=std.mean(dim=1))

    @property
    def device(self) -> torch.device:
        return self.fc.weight.device

    # The practitioner API of LIQE, reused as is: per-image evaluation crops, ImageScore results
    # (score only: quality_probs stays empty; the std is in `forward(...).uncertainty`).
    score = LIQE.score
    score_crops = LIQE.score_crops
    _describe = LIQE._describe

    def save(self, path: str | os.PathLike, **extra) -> None:
        """A `liqe-repro` checkpoint (arch unique-resnet34) that `load_unique` reads back."""
        torch.save({"format": backbone.CHECKPOINT_FORMAT, "arch": self.arch, "task_set": self.task_set.name,
                    "head": self.head, "state_dict": self.state_dict(), **extra}, path)


def imagenet_weights_file() -> Path:
    """Where torchvision keeps ResNet-34's ImageNet weights: $TORCH_HOME/hub/checkpoints/resnet34-b627a593.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(IMAGENET_WEIGHTS.url).path).name


def build_unique(pretrained: bool = True) -> UNIQUE:
    """UNIQUE with ImageNet-initialised ResNet-34 (torchvision IMAGENET1K_V1, as UNIQUE's `pretrained=True`).

    The weights are read from torch.hub's cache only: an absent file is a `WeightsError` naming the
    file, its URL and the folder to copy it into, never a download or a silent random init.
    `pretrained=False` gives random weights (smoke profile, tests).
    """
    resnet = torchvision.models.resnet34()
    if not pretrained:
        log.warning("building %s with random weights (pretrained=False)", ARCH)
        return UNIQUE(resnet)
    path = imagenet_weights_file()
    if not path.is_file():
        raise backbone.WeightsError(
            f"the ImageNet weights of ResNet-34 ({IMAGENET_WEIGHTS}) are not in torch.hub's cache: {path} "
            f"does not exist.\nRemedy: download {IMAGENET_WEIGHTS.url} and copy {path.name} into {path.parent} "
            f"(or set TORCH_HOME to a folder whose hub/checkpoints holds it); on a machine with internet "
            f"`python -c \"import torchvision; torchvision.models.resnet34(weights='IMAGENET1K_V1')\"` fills "
            f"that cache. build_unique(pretrained=False) builds random weights.")
    resnet.load_state_dict(IMAGENET_WEIGHTS.get_state_dict(progress=False, model_dir=str(path.parent),
                                                           map_location="cpu", weights_only=True))
    return UNIQUE(resnet)


def load_weights(weights: str | os.PathLike | None, device: str | torch.device = "cpu") -> UNIQUE:
    """UNIQUE from `weights`: "imagenet" (the paper's start, `build_unique`), None (random, logged) or a
    checkpoint file (`load_unique`); `model.load_model` dispatches here for arch unique-resnet34."""
    if weights is None or str(weights) == "imagenet":
        return build_unique(pretrained=weights is not None).to(device)
    if not os.path.isfile(weights):
        raise backbone.WeightsError(f"{ARCH} weights {weights!r}: expected 'imagenet', None or a checkpoint file")
    return load_unique(weights, device)


def load_unique(weights: str | os.PathLike, device: str | torch.device = "cpu") -> UNIQUE:
    """Read back a checkpoint written by `UNIQUE.save` (or the trainer's best.pt of a UNIQUE run)."""
    loaded = backbone.read_weights(weights)
    if loaded.format != backbone.CHECKPOINT_FORMAT or loaded.meta.get("arch") != ARCH:
        raise backbone.WeightsError(f"{weights} is not a {ARCH} checkpoint (format {loaded.format!r}, arch "
                                    f"{loaded.meta.get('arch')!r}); write one with UNIQUE.save")
    model = UNIQUE(torchvision.models.resnet34())
    try:
        model.load_state_dict(loaded.state_dict)
    except RuntimeError as err:
        raise backbone.WeightsError(f"checkpoint {weights} does not match {ARCH}: {err}") from err
    return model.to(device)


def unique_loss(out: LIQEOutput, score: torch.Tensor, group: torch.Tensor, *, score_std: torch.Tensor | None = None,
                margin: float = MARGIN, detach_sigma: bool = True, target: str = "binary") -> torch.Tensor:
    """UNIQUE's uncertainty-aware fidelity loss (Sec. III), pairs i < j only within a group, as LIQE's Eq. 6.

    p = Phi((f_i - f_j) / sqrt(sigma_i^2 + sigma_j^2 + 1e-8)) against g = 1, 0 or 0.5 as score_i >, < or
    = score_j (target="binary", this project's pairs), or g = Phi((score_i - score_j) / sqrt(std_i^2 +
    std_j^2)) (target="thurstone", UNIQUE's own, needs `score_std`). sigma is detached in p, as in the
    official code, unless `detach_sigma=False`. With `score_std`, the hinge max(0, margin - sign(std_i -
    std_j) (sigma_i - sigma_j)) is added (a tie in std costs the constant margin, as torch's
    MarginRankingLoss does there). Each term is the mean over a group's pairs, then over the groups that
    have a pair; a group of one image contributes nothing; no pair at all gives 0, still attached.
    """
    if target not in ("binary", "thurstone") or (target == "thurstone" and score_std is None):
        raise ValueError(f"target must be 'binary' or 'thurstone' (the latter with score_std), got {target!r}")
    dtype = torch.promote_types(out.score.dtype, torch.float32)
    mean, sigma = out.score.to(dtype), out.uncertainty.to(dtype)
    fidelity, hinge = [], []
    for g in torch.unique(group):
        members = (group == g).nonzero(as_tuple=True)[0]
        if len(members) < 2:
            continue
        i, j = torch.triu_indices(len(members), len(members), offset=1, device=mean.device)
        f, s, t = mean[members], sigma[members], score[members].to(dtype)
        s_p = s.detach() if detach_sigma else s
        p = _phi((f[i] - f[j]) / torch.sqrt(s_p[i] ** 2 + s_p[j] ** 2 + VAR_EPS))
        std = score_std[members].to(dtype) if score_std is not None else None
        if target == "thurstone":
            g_target = _phi((t[i] - t[j]) / (torch.sqrt(std[i] ** 2 + std[j] ** 2) + THURSTONE_EPS))
        else:
            g_target = (torch.sign(t[i] - t[j]) + 1) / 2
        fidelity.append(_binary_fidelity(p, g_target).mean())
        if std is not None:
            hinge.append(torch.clamp(margin - torch.sign(std[i] - std[j]) * (s[i] - s[j]), min=0).mean())
    if not fidelity:
        return mean.sum() * 0 + sigma.sum() * 0
    loss = torch.stack(fidelity).mean()
    return loss + torch.stack(hinge).mean() if hinge else loss

