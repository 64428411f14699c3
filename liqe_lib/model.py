"""The LIQE model: CLIP crops x prompts -> joint p(c, s, d | x), its marginals and the quality score.

Paper Eqs. 3-5: logit = logit_scale.exp() * cos(crop, prompt), averaged over the U
crops of an image, softmax over the prompts of each prompt group; marginals sum
the other axes out; the quality score is q = sum_c c p(c|x), in [1, C]. With the
appearance task (`all+appearance`) each attribute's group is its own softmax over
low/medium/high, stacked into `LIQEOutput.appearance`.

Text features depend only on the prompts and the text tower, so they are cached
whenever the text tower does not train, and the cache is invalidated when any
text weight changes (tracked by the tensors' version counters, which every
in-place update such as an optimiser step or `load_state_dict` bumps). The
prompts are encoded at the length of the longest one instead of CLIP's 77 tokens:
the text tower is causal and reads the end-of-text token, so the padding after
it cannot change any feature (tests pin this to 1e-5).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Sequence

import torch
from open_clip.transformer import text_global_pool
from PIL import Image

from . import backbone, pretrained
from .crops import normalize
from .data.crop_loader import ScoreInput, crop_batches
from .data.images import ImageDecodeError
from .vocab import APPEARANCE_ATTRIBUTES, DISTORTIONS, SCENES, TaskSet, get_task_set

log = logging.getLogger(__name__)

HEADS = ("prompts", "linear")
#: Precisions of `LIQE.use_precision` ("auto": bf16 on CUDA, fp32 elsewhere).
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class LIQEOutput:
    """Probabilities for a batch. Fields of tasks the task set lacks are None."""

    groups: tuple[torch.Tensor, ...]  # per prompt group, shaped (B, *group.shape)
    quality: torch.Tensor | None  # (B, C)
    scene: torch.Tensor | None  # (B, 9)
    distortion: torch.Tensor | None  # (B, 11)
    score: torch.Tensor | None  # (B,)
    appearance: torch.Tensor | None = None  # (B, 4, 3): p(level | x) per attribute, `APPEARANCE_ATTRIBUTES` order
    uncertainty: torch.Tensor | None = None

    @property
    def joint(self) -> torch.Tensor:
        """The joint probability of a single-group task set, e.g. (B, 5, 9, 11) for all tasks."""
        if len(self.groups) != 1:
            raise ValueError("this task set has independent prompt groups; use .groups")
        return self.groups[0]


@dataclass
class ImageScore:
    """What `LIQE.score` tells about one image."""

    source: str
    score: float
    quality_probs: dict[str, float]
    scenes: list[tuple[str, float]] = field(default_factory=list)  # top 3, most likely first
    distortion: str | None = None
    distortion_prob: float | None = None


class LIQE(torch.nn.Module):
    """A CLIP model that scores images against the prompts of a task set.

    head="linear" replaces the prompts by a linear quality head on the image
    features (Table 4, variant 6, "fine-tuned visual encoder only").
    """

    def __init__(self, clip: torch.nn.Module, tokenizer, task_set: TaskSet | str = "all", *,
                 arch: str = "", head: str = "prompts", text_cache: bool = True):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
        self.clip = clip
        self.task_set = get_task_set(task_set) if isinstance(task_set, str) else task_set
        self.arch = arch
        self.head = head
        self.text_cache = text_cache
        self.quality_head = torch.nn.Linear(clip.text_projection.shape[1], 1) if head == "linear" else None
        tokens = tokenizer(self.task_set.prompts)
        self.register_buffer("prompt_tokens", tokens[:, : int(tokens.argmax(dim=-1).max()) + 1], persistent=False)
        self._cached_text: tuple[tuple, torch.Tensor] | None = None

    # --- text side -----------------------------------------------------------------
    def _text_parameters(self) -> list[torch.nn.Parameter]:
        return [p for n, p in self.clip.named_parameters() if not n.startswith(("visual.", "logit_"))]

    def encode_prompts(self, tokens: torch.Tensor) -> torch.Tensor:
        """CLIP's text tower on tokens of any length up to 77 (position embedding and mask sliced)."""
        clip, length = self.clip, tokens.shape[1]
        cast = clip.transformer.get_cast_dtype()
        x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = text_global_pool(clip.ln_final(x), tokens, clip.text_pool_type)
        return torch.nn.functional.normalize(x @ clip.text_projection, dim=-1)

    def text_features(self) -> torch.Tensor:
        """Normalised features of the task set's prompts, (P, D); cached unless the text tower trains."""
        params = self._text_parameters()
        trains_text = self.training and torch.is_grad_enabled() and any(p.requires_grad for p in params)
        if trains_text or not self.text_cache:
            self._cached_text = None
            return self.encode_prompts(self.prompt_tokens)
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
        if self._cached_text is None or self._cached_text[0] != key:
            with torch.no_grad():
                self._cached_text = (key, self.encode_prompts(self.prompt_tokens))
        return self._cached_text[1]

    # --- forward -------------------------------------------------------------------
    def forward(self, crops: torch.Tensor) -> LIQEOutput:
        """crops: CLIP-normalised, (B, U, 3, 224, 224). Crops of image b come only from crops[b]."""
        batch, views = crops.shape[:2]
        visual_dtype = self.clip.visual.conv1.weight.dtype  # fp16 with the official fp16 weights
        image = self.clip.encode_image(crops.flatten(0, 1).to(visual_dtype), normalize=True)
        if self.quality_head is not None:
            image = image.to(self.quality_head.weight.dtype)
            score = self.quality_head(image.view(batch, views, -1).mean(dim=1)).squeeze(-1)
            return LIQEOutput((), None, None, None, score)
        text = self.text_features()
        # the wider of the towers' dtypes: fp16 with the official fp16 weights, fp32 behind a bf16 image tower
        dtype = torch.promote_types(image.dtype, text.dtype)
        logits = (self.clip.logit_scale.exp() * image.to(dtype) @ text.to(dtype).T).view(batch, views, -1).mean(dim=1)
        groups, start = [], 0
        for group in self.task_set.groups:
            size = math.prod(group.shape)
            groups.append(logits[:, start:start + size].softmax(dim=-1).view(batch, *group.shape))
            start += size
        marginals = {axis: self._marginal(groups, axis) for axis in ("quality", "scene", "distortion")}
        quality = marginals["quality"]
        score = None
        if quality is not None:
            levels = torch.arange(1, quality.shape[1] + 1, dtype=quality.dtype, device=quality.device)
            score = quality @ levels
        appearance = [self._marginal(groups, attribute) for attribute in APPEARANCE_ATTRIBUTES]
        return LIQEOutput(tuple(groups), quality, marginals["scene"], marginals["distortion"], score,
                          torch.stack(appearance, dim=1) if appearance[0] is not None else None)

    def _marginal(self, groups: list[torch.Tensor], axis: str) -> torch.Tensor | None:
        for group, prob in zip(self.task_set.groups, groups):
            if axis in group.axes:
                k = group.axes.index(axis)
                others = [d + 1 for d in range(len(group.axes)) if d != k]
                return prob.sum(dim=others) if others else prob
        return None

    # --- practitioner API ----------------------------------------------------------
    def use_precision(self, precision: str) -> "LIQE":
        """Run the image tower in `precision` for inference: "fp32", "bf16", or "auto" (bf16 on CUDA, else fp32).

        Only the image tower changes: the text features are computed once and cached, so the
        text tower stays as it is, and the logits are then computed in fp32 (`forward`):
        a bf16 logit of a cosine x 100 would be off by up to 0.125 before the softmax. bf16
        weights rather than autocast skip a cast of every weight at every forward. Scores
        stay within 0.01 of fp32 (`tests/test_inference_precision.py`); "fp32" is exact. The
        conversion rounds the weights: a model turned bf16 is not made exact again by "fp32";
        reload it instead.
        """
        if precision == "auto":
            precision = "bf16" if self.device.type == "cuda" else "fp32"
        if precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"unknown inference precision {precision!r}; choose one of {INFERENCE_PRECISIONS}")
        self.clip.visual.to(torch.bfloat16 if precision == "bf16" else torch.float32)
        return self

    @property
    def device(self) -> torch.device:
        return self.clip.logit_scale.device

    def score(self, images: Sequence[ScoreInput] | ScoreInput, batch_size: int = 8,
              workers: int = 0) -> list[ImageScore]:
        """Score images given as paths, encoded bytes, PIL images or uint8/float (3, H, W) tensors.

        Each image is AdaptiveResized and cut into its own 15 evaluation crops, so the
        result of an image does not depend on the batch it is in. `workers` processes
        decode and crop ahead of the model (`data.crop_loader`; the results do not depend
        on it). An unreadable image raises `ImageDecodeError`; `score.score_sources` makes
        it an error row instead.
        """
        if isinstance(images, (str, os.PathLike, bytes, Image.Image, torch.Tensor)):
            images = [images]
        named = [(str(x) if isinstance(x, (str, os.PathLike)) else f"image-{i}", x) for i, x in enumerate(images)]
        results: list[ImageScore] = []
        for batch in crop_batches(named, batch_size, workers, pin_memory=self.device.type == "cuda"):
            for name, error in zip(batch.names, batch.errors):
                if error is not None:
                    raise ImageDecodeError(name, error)
            results += self.score_crops(batch.crops, batch.names)
        return results

    @torch.inference_mode()
    def score_crops(self, crops: torch.Tensor, names: Sequence[str]) -> list[ImageScore]:
        """`ImageScore`s of images given as their uint8 evaluation crops, (B, U, 3, 224, 224), in eval mode.

        All B images go through one forward pass on an accelerator; on CPU every
        image gets its own (its 15 crops' activations stay in cache: ViT-B-32 on 2 cores
        encodes 17.7 crops/s 15 at a time and 14.7 crops/s 120 at a time, `benchmarks/scoring.py`).
        """
        per_forward = 1 if self.device.type == "cpu" else len(crops)
        was_training = self.training
        self.eval()
        try:
            results: list[ImageScore] = []
            for start in range(0, len(crops), per_forward):
                out = self(normalize(crops[start:start + per_forward].to(self.device, non_blocking=True)))
                results += [self._describe(names[start + i], out, i) for i in range(len(out.score))]
            return results
        finally:
            self.train(was_training)

    def _describe(self, source: str, out: LIQEOutput, i: int) -> ImageScore:
        levels = self.task_set.quality_levels
        result = ImageScore(source, float(out.score[i]),
                            {c: float(p) for c, p in zip(levels, out.quality[i])} if out.quality is not None else {})
        if out.scene is not None:
            top = out.scene[i].topk(3)
            result.scenes = [(SCENES[k], float(v)) for v, k in zip(top.values, top.indices)]
        if out.distortion is not None:
            k = int(out.distortion[i].argmax())
            result.distortion, result.distortion_prob = DISTORTIONS[k], float(out.distortion[i, k])
        return result

    def save(self, path: str | os.PathLike, format: str = backbone.CHECKPOINT_FORMAT, precision: str = "openai",
             **extra) -> None:
        """Save the model; `load_model(weights=path)` reads every format back.

        `liqe-repro` (default): the whole model with its architecture, task set and head (and
        `extra` entries such as the training config). `clip`: a plain CLIP state dict in
        OpenAI's layout, as the official `LIQE.pt`. `iqa-pytorch`: `{"params": {"clip_model.<key>":
        ...}}` with OpenAI's fp16/fp32 split (`precision="fp32"`: fp32 throughout; see
        `backbone.export_weights`), which IQA-PyTorch's LIQE loads. The last two record
        neither the architecture nor the task set: read them back with `load_model(arch=...,
        task_set=...)`; a linear head has no place in them and is refused.
        """
        if format == backbone.CHECKPOINT_FORMAT:
            torch.save({"format": backbone.CHECKPOINT_FORMAT, "arch": self.arch, "task_set": self.task_set.name,
                        "head": self.head, "state_dict": self.state_dict(), **extra}, path)
            return
        if format not in backbone.EXPORT_FORMATS:
            raise ValueError(f"unknown weights format {format!r}; choose one of {backbone.EXPORT_FORMATS}")
        if self.head != "prompts":
            raise ValueError(f"a model with the {self.head} head cannot be saved in the {format} format (a CLIP "
                             f"state dict has no place for the head): save it as {backbone.CHECKPOINT_FORMAT}")
        if extra:
            raise ValueError(f"the {format} format holds weights only; {sorted(extra)} need the "
                             f"{backbone.CHECKPOINT_FORMAT} format")
        torch.save(backbone.export_weights(self.clip, format, precision), path)
        log.info("saved %s (%s format): it does not record the architecture (%s) or the task set (%s); read it "
                 "with load_model(arch=%r, weights=..., task_set=%r)", path, format, self.arch, self.task_set.name,
                 self.arch, self.task_set.name)


def load_model(arch: str | None = None, weights: str | os.PathLike | None = "openai", *,
               task_set: str | None = None, head: str | None = None, device: str | torch.device = "cpu",
               text_cache: bool = True, progress: bool = True) -> LIQE:
    """Build a LIQE model. `weights` is one of:

    * a named model of `pretrained.PRETRAINED` (`"liqe-koniq"`, `"liqe-mix"`, `"liqe-official"`):
      downloaded into the cache on first use (progress bar unless `progress=False`), with its
      recorded architecture, task set and head (`load_model("liqe-koniq")` says the same);
    * a weights file in any format of `backbone`. A liqe-repro checkpoint brings its own
      architecture, task set and head. The `clip` and `iqa-pytorch` formats record no task set:
      the one the caller names is used; else, if the file is a known release
      (`pretrained.identify`), the release's (logged); else `all`, with a warning;
    * an open_clip pretrained tag of `arch` (e.g. "openai": plain CLIP), or None (random init).

    `arch` defaults to the named model's, or ViT-B-32; a named model of another
    architecture is refused. The returned model's `origin` (`pretrained.WeightsOrigin`) says
    where its weights and task set came from. UNIQUE (arch `unique-resnet34`, `liqe_lib.unique`) loads
    through here too, from "imagenet", None or its checkpoint.
    """
    if arch in pretrained.PRETRAINED:  # a named model in the first place: load_model("liqe-koniq")
        if weights not in ("openai", arch):
            raise backbone.WeightsError(f"{arch!r} is a named model, not an architecture: pass it as weights= "
                                        f"and drop weights={weights!r}")
        arch, weights = None, arch
    named = pretrained.lookup(weights)
    if named is not None:
        if arch is not None and arch != named.arch:
            raise backbone.WeightsError(f"named model {named.name} is a {named.arch} model, not {arch}: "
                                        f"drop the architecture or name the right one")
        path = pretrained.fetch(named, progress=progress)
        model = _from_file(path, named.arch, task_set or named.task_set, head or named.head, text_cache,
                           pretrained.WeightsOrigin(named.name, named.format, task_set or named.task_set,
                                                    "caller" if task_set else "named model"))
        return model.to(device)
    arch = arch or "ViT-B-32"
    if arch == unique.ARCH:
        return unique.load_weights(weights, device)
    if weights is None or not os.path.exists(weights):
        tag = None if weights is None else str(weights)
        if tag is None:
            log.warning("building %s with random weights (weights=None)", arch)
        model = LIQE(backbone.create_clip(arch, tag), backbone.tokenizer(arch), task_set or "all", arch=arch,
                     head=head or "prompts", text_cache=text_cache)
        model.origin = pretrained.WeightsOrigin(str(tag), None, model.task_set.name,
                                                "caller" if task_set else "default of a model without a file")
        return model.to(device)
    return _from_file(weights, arch, task_set, head or "prompts", text_cache).to(device)


def _from_file(weights: str | os.PathLike, arch: str, task_set: str | None, head: str, text_cache: bool,
               origin: pretrained.WeightsOrigin | None = None) -> LIQE:
    """A LIQE model from a weights file (see `load_model` for how the task set is chosen)."""
    loaded = backbone.read_weights(weights)
    if loaded.format == backbone.CHECKPOINT_FORMAT and loaded.meta.get("arch") == unique.ARCH:
        model = unique.load_unique(weights)
        model.origin = pretrained.WeightsOrigin(str(weights), loaded.format, model.task_set.name, "checkpoint")
        return model
    if loaded.format == backbone.CHECKPOINT_FORMAT:
        arch, recorded = loaded.meta["arch"], loaded.meta["task_set"]
        if task_set is not None and task_set != recorded:
            log.warning("%s records task set %r; it is used instead of %r", weights, recorded, task_set)
        model = LIQE(backbone.create_clip(arch), backbone.tokenizer(arch), recorded, arch=arch,
                     head=loaded.meta["head"], text_cache=text_cache)
        try:
            model.load_state_dict(loaded.state_dict)
        except RuntimeError as err:
            raise backbone.WeightsError(f"checkpoint {weights} does not match its recorded model: {err}") from err
        model.origin = origin or pretrained.WeightsOrigin(str(weights), loaded.format, recorded, "checkpoint")
        return model
    if origin is None:
        origin = _task_set_origin(weights, loaded.format, task_set)
    model = LIQE(backbone.create_clip(arch), backbone.tokenizer(arch), origin.task_set, arch=arch, head=head,
                 text_cache=text_cache)
    backbone.load_clip_state(model.clip, loaded.state_dict, f"{weights} ({loaded.format} format)")
    model.origin = origin
    return model


def _task_set_origin(weights: str | os.PathLike, format: str, task_set: str | None) -> pretrained.WeightsOrigin:
    """The task set of a file whose format does not record it: the caller's, a known release's, or `all`."""
    if task_set is not None:
        return pretrained.WeightsOrigin(str(weights), format, task_set, "caller")
    match = pretrained.identify(weights, format)
    if match is not None:
        release, how = match
        log.info("%s is the release %s (matched by %s): task set %r, as %s", weights, release.name, how,
                 release.task_set, release.title)
        return pretrained.WeightsOrigin(str(weights), format, release.task_set, f"release {release.name}")
    log.warning("%s (%s format) does not record its task set and is no known release: using task set 'all' "
                "(495 prompts). A model trained with other prompts scores differently under them: name its task "
                "set (load_model(task_set=...), liqe score --task-set ...)", weights, format)
    return pretrained.WeightsOrigin(str(weights), format, "all", "default")


from . import unique  # noqa: E402  (UNIQUE builds on LIQE; load_model dispatches to it)
