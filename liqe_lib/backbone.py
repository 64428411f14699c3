"""CLIP backbones through open_clip, and loading weights from every format LIQE is released in.

Architectures are data (open_clip's model configs); `liqe-tiny` is one more config
file registered with `open_clip.add_model_config`, not a subclass. Weight sources
are a small table of formats recognised by their keys:

| format | what it looks like |
|---|---|
| `liqe-repro` | a checkpoint this package saved: `{"format": "liqe-repro", "arch", "task_set", "head", "state_dict"}` |
| `clip` | a plain CLIP state dict in OpenAI's key layout (`visual.conv1.weight`, `transformer.resblocks.0...`, `logit_scale`): the official `LIQE.pt`, open_clip `.bin`/`.safetensors` files |
| `iqa-pytorch` | IQA-PyTorch's `liqe_mix.pt` / `liqe_koniq.pt`: `{"params": {"clip_model.visual...": ...}}` |
| `clip` (TorchScript) | OpenAI's original archive `ViT-B-32.pt`, read through `torch.jit.load` |

Keys saved from a `DataParallel`/DDP wrapper (`module.` prefix) are accepted, as IQA-PyTorch's
`clean_state_dict` accepts them. `export_weights` writes the `clip` and `iqa-pytorch` layouts
(`LIQE.save(path, format=...)`); neither records the architecture or the task set, so a reader
must be told them (`load_model(arch=..., task_set=...)`), or recognise a release by its file
(`pretrained.identify`).

OpenAI's CLIP, and so every official LIQE checkpoint, uses QuickGELU; open_clip's plain
`ViT-B-32` config uses GELU (it loads those weights silently and changes every
embedding), so the paper architecture is built as `ViT-B-32-quickgelu`.
"""
from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

log = logging.getLogger(__name__)

open_clip.add_model_config(Path(__file__).parent / "model_configs")


@dataclass(frozen=True)
class Architecture:
    open_clip_name: str
    pretrained_tag: str | None  # the tag the paper profile starts from


ARCHITECTURES: dict[str, Architecture] = {
    "ViT-B-32": Architecture("ViT-B-32-quickgelu", "openai"),
    "liqe-tiny": Architecture("liqe-tiny", None),
}

CHECKPOINT_FORMAT = "liqe-repro"
CLIP_REQUIRED_KEYS = ("visual.conv1.weight", "token_embedding.weight", "logit_scale")
IQA_PYTORCH_PREFIX = "clip_model."
#: The prefix `torch.nn.DataParallel` and DDP give every key of a wrapped model's state dict.
WRAPPER_PREFIX = "module."
#: The formats `export_weights` writes (and `read_weights` reads).
EXPORT_FORMATS = (CHECKPOINT_FORMAT, "clip", "iqa-pytorch")
#: Keys of OpenAI's state dicts that describe the model rather than hold weights.
OPENAI_META_KEYS = ("input_resolution", "context_length", "vocab_size")


class WeightsError(RuntimeError):
    """Weights could not be found or are not in a format this package reads."""


def architecture(arch: str) -> Architecture:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise KeyError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}") from None


def create_clip(arch: str, pretrained_tag: str | None = None, cache_dir: str | None = None) -> torch.nn.Module:
    """Build the open_clip model of `arch`, random or with the weights of an open_clip pretrained tag.

    A tag that cannot be fetched (no network, nothing in the cache) raises
    `WeightsError` naming the tag, the cache folder and how to supply a file,
    instead of open_clip's bare RuntimeError.
    """
    name = architecture(arch).open_clip_name
    if pretrained_tag is None:
        return open_clip.create_model(name, pretrained=None)
    if pretrained_tag not in open_clip.list_pretrained_tags_by_model(name):
        raise WeightsError(f"{pretrained_tag!r} is not an open_clip pretrained tag of {name} "
                           f"(tags: {open_clip.list_pretrained_tags_by_model(name)}) nor an existing file")
    try:
        return open_clip.create_model(name, pretrained=pretrained_tag, cache_dir=cache_dir)
    except RuntimeError as err:
        raise WeightsError(
            f"could not get the open_clip weights {name}/{pretrained_tag}: {err}\n"
            f"Looked in the Hugging Face cache ({cache_dir or hf_cache()}) and at the tag's URL.\n"
            f"Remedy: on a machine with internet run `python -c \"import open_clip; "
            f"open_clip.create_model('{name}', pretrained='{pretrained_tag}')\"` and copy the cache folder, "
            f"or download the file and pass its path as weights=/path/to/file "
            f"(an open_clip .bin/.safetensors or OpenAI's ViT-B-32.pt)."
        ) from err


def cached_pretrained(arch: str, tag: str) -> Path | None:
    """The locally cached file of an open_clip pretrained tag, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(architecture(arch).open_clip_name, tag)
    repo = cfg.get("hf_hub", "").strip("/")
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename) if repo else None
        if isinstance(found, str):
            return Path(found)
    return None


def hf_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


@dataclass
class LoadedWeights:
    """Weights read from a file: its format, a state dict and, for our checkpoints, what the model was."""

    format: str
    state_dict: dict[str, torch.Tensor]
    meta: dict


def read_weights(path: str | os.PathLike) -> LoadedWeights:
    """Read a weights file and tell its format from its keys (see the module table)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    obj = _load_file(path)
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        meta = {k: v for k, v in obj.items() if k != "state_dict"}
        return LoadedWeights(CHECKPOINT_FORMAT, obj["state_dict"], meta)
    if isinstance(obj, dict) and isinstance(obj.get("params"), dict):
        params = strip_wrapper_prefix(obj["params"])
        clip_keys = {k[len(IQA_PYTORCH_PREFIX):]: v for k, v in params.items() if k.startswith(IQA_PYTORCH_PREFIX)}
        if all(k in clip_keys for k in CLIP_REQUIRED_KEYS):
            return LoadedWeights("iqa-pytorch", clip_keys, {})
        raise _unknown_format(path, params, f"keys prefixed {IQA_PYTORCH_PREFIX!r}")
    obj = strip_wrapper_prefix(obj) if isinstance(obj, dict) else obj
    if isinstance(obj, dict) and all(k in obj for k in CLIP_REQUIRED_KEYS):
        state = {k: v for k, v in obj.items() if k not in OPENAI_META_KEYS}
        return LoadedWeights("clip", state, {})
    raise _unknown_format(path, obj if isinstance(obj, dict) else {}, "a plain CLIP state dict")


def strip_wrapper_prefix(state: dict) -> dict:
    """Drop the `module.` prefix a DataParallel/DDP wrapper gives keys (IQA-PyTorch's `clean_state_dict` rule)."""
    return {(k[len(WRAPPER_PREFIX):] if isinstance(k, str) and k.startswith(WRAPPER_PREFIX) else k): v
            for k, v in state.items()}


def openai_fp16_keys(clip: torch.nn.Module) -> set[str]:
    """State-dict keys of the tensors OpenAI's `clip.model.convert_weights` stores in fp16.

    Its rule, by module: weights and biases of Conv1d/Conv2d/Linear (the attention's
    `out_proj` is a Linear), a MultiheadAttention's `in_proj_weight` / `in_proj_bias` (and
    `q/k/v_proj_weight`, `bias_k`, `bias_v` where present), and any `text_projection` or
    `proj` tensor (the text and visual projections). Everything else (embeddings, layer
    norms, `logit_scale`) stays fp32. open_clip's CLIP has the same modules and keys.
    """
    keys: set[str] = set()
    for prefix, module in clip.named_modules():
        dot = f"{prefix}." if prefix else ""
        names: list[str] = []
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            names += ["weight", "bias"]
        if isinstance(module, torch.nn.MultiheadAttention):
            names += ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                      "bias_k", "bias_v"]
        names += ["text_projection", "proj"]
        keys.update(dot + name for name in names if isinstance(getattr(module, name, None), torch.Tensor))
    return keys


#: Precisions of the `iqa-pytorch` export: OpenAI's fp16/fp32 split (the releases' layout), or fp32 throughout.
EXPORT_PRECISIONS = ("openai", "fp32")


def export_weights(clip: torch.nn.Module, format: str, precision: str = "openai") -> dict:
    """The object to `torch.save` for a CLIP model in a released layout.

    `clip`: a plain CLIP state dict in OpenAI's key layout (the official `LIQE.pt`'s), at the
    model's own precision. `iqa-pytorch`: exactly `{"params": {"clip_model.<key>": tensor}}`,
    which IQA-PyTorch's `load_pretrained_network(net, path, True, "params")` loads into its
    LIQE; with `precision="openai"` the tensors of `openai_fp16_keys` are fp16, as in the
    releases. IQA-PyTorch computes in fp32 on CPU and GPU alike, so that rounding is the only
    thing the split changes: none for weights trained as the official code trains them (kept in
    fp16), a few 1e-4 on the score for fp32-trained ones (logged); `precision="fp32"` keeps every
    tensor fp32 and the scores exact.
    """
    state = {k: v.detach().cpu() for k, v in clip.state_dict().items()}
    if format == "clip":
        return state
    if format != "iqa-pytorch":
        raise ValueError(f"unknown weights format {format!r}; choose one of {EXPORT_FORMATS}")
    if precision not in EXPORT_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {EXPORT_PRECISIONS}")
    half = openai_fp16_keys(clip) if precision == "openai" else set()
    rounded = [k for k in half if not torch.equal(state[k].half().float(), state[k].float())]
    if rounded:
        log.warning("iqa-pytorch export: %d of %d tensors OpenAI keeps in fp16 are rounded to fp16 (these weights "
                    "were trained in fp32); scores move by a few 1e-4. precision='fp32' (liqe export --precision "
                    "fp32) keeps them exact", len(rounded), len(half))
    return {"params": {IQA_PYTORCH_PREFIX + k: (v.half() if k in half else v.float()) for k, v in state.items()}}


def _load_file(path: Path):
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if zipfile.is_zipfile(path) and any(n.endswith("constants.pkl") for n in zipfile.ZipFile(path).namelist()):
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for files that are not checkpoints
        raise WeightsError(f"weights file {path} is not a torch checkpoint ({type(err).__name__}: {err})") from err


def _unknown_format(path: Path, found: dict, expected_layout: str) -> WeightsError:
    keys = list(found)[:8]
    return WeightsError(
        f"weights file {path} is in no format this package reads. Expected {expected_layout} with keys "
        f"{list(CLIP_REQUIRED_KEYS)}, a liqe-repro checkpoint (key 'format'), or an IQA-PyTorch file (key 'params'); "
        f"found {len(found)} keys, first {keys}"
    )


def load_clip_state(clip: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load a CLIP state dict strictly, with an error that lists missing and unexpected keys."""
    try:
        result = clip.load_state_dict(_match_logit_scale(clip, state_dict), strict=False)
    except RuntimeError as err:  # tensors of the wrong shape: another architecture's weights
        raise WeightsError(f"weights from {source} do not fit this architecture: {err}") from err
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"weights from {source} do not fit this architecture: missing {result.missing_keys[:6]} "
            f"({len(result.missing_keys)} in all), unexpected {result.unexpected_keys[:6]} "
            f"({len(result.unexpected_keys)} in all)"
        )


def _match_logit_scale(clip: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenAI stores logit_scale as a 0-d tensor, open_clip as 0-d too, some exports as (1,): align them."""
    scale = state.get("logit_scale")
    if scale is not None and scale.shape != clip.logit_scale.shape:
        state = {**state, "logit_scale": scale.reshape(clip.logit_scale.shape)}
    return state


def tokenizer(arch: str):
    """The CLIP BPE tokenizer (77-token context) of the architecture."""
    return open_clip.get_tokenizer(architecture(arch).open_clip_name)
