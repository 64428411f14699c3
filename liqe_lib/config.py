"""The configuration of a training run: one dataclass tree, YAML/JSON round trip, two profiles.

A run is fully described by a `TrainConfig`; it is written next to the
checkpoints (`config.yaml`) and inside them, so a result can always be traced
back to the settings that produced it. Profiles (DESIGN.md, "Profiles"):

* `paper`: the paper's and the official code's values (ViT-B-32 `openai`, the
  six datasets at batch sizes 4/16, AdamW 5e-6 / wd 1e-3, per-epoch cosine with
  the official `T_max=5`, 80 x 200 steps, 3 train / 15 eval crops, DWA T=2,
  frozen logit scale, bf16 autocast on CUDA).
* `smoke`: `liqe-tiny` from random init on the embedded synthetic set split into
  two training "datasets", on CPU, sized so that one session trains in about a
  minute. Its optimiser settings come from the learnability search recorded in
  `results/benchmarks/learn_search.md`.

Overrides use dotted keys (`--set optim.lr=1e-4`, `--set data.train.0.batch_size=8`);
values are parsed as YAML and checked against the field's type.

Fidelity (docs/FIDELITY.md): `fidelity: official | paper` is a preset over the settings
where the official code (zwx8981/LIQE a64655f) and the paper disagree. Each of them is
None unless set, and None takes the preset's value (`FIDELITY_PRESETS`), so
`--set fidelity=paper` switches all of them and `--set loss.tie_target=1.0` just one.
`resolved` fills them in; a run saves the resolved config, so its config.yaml says
what it did.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

PROFILES = ("smoke", "paper")
FIDELITY_MODES = ("official", "paper")
#: The settings of each fidelity mode (dotted keys, as `--set` writes them); see docs/FIDELITY.md.
FIDELITY_PRESETS: dict[str, dict[str, Any]] = {
    "official": {
        "loss.pair_probability": "phi",  # MNL_Loss.py loss_m4: 0.5 (1 + erf(d / sqrt 2)) = Phi(d)
        "loss.tie_target": 0.5,  # loss_m4: g = 0.5 (sign(q_i - q_j) + 1)
        "loss.qd_distortion_loss": "multi-label",  # train_unique_clip_weight.py: calc_loss2 for mtl == 2
        "selection": "quality",  # BIQA_benchmark.py loads quality_best_ckpt.pt (best mean validation SRCC)
        "data.train_crop_sampler": "grid",  # _preprocess3 flips the image; ImageDataset2 draws grid windows
        "data.passes": "epoch",  # every epoch re-iterates each DataLoader (shuffle, drop_last=False)
    },
    "paper": {
        "loss.pair_probability": "phi-sqrt2",  # Eq. 5: Phi((q_x - q_y) / sqrt 2)
        "loss.tie_target": 1.0,  # Eq. 4: 1 if q(x) >= q(y)
        "loss.qd_distortion_loss": "multi-class",  # Eq. 9
        "selection": "average",  # the three tasks' mean validation metric (the official avg_best)
        "data.train_crop_sampler": "random",  # "randomly sample 3 patches" (Sec. 4.1), each flipped on its own
        "data.passes": "continuous",  # passes continue across epochs, full mini-batches
    },
}


@dataclass
class ModelConfig:
    """Backbone, weights and what trains."""

    arch: str = "ViT-B-32"
    weights: str | None = "openai"  # open_clip tag, a weights file, or None for random init
    task_set: str = "all"  # a name of vocab.TASK_SETS
    head: str = "prompts"  # "linear": Table 4 (6), a linear quality head on the image features
    train_visual: bool = True
    train_text: bool = True
    train_logit_scale: bool = False  # the official code freezes it
    logit_scale: float | None = None  # set exp(logit_scale) to this value before training; None keeps the backbone's


@dataclass
class DatasetConfig:
    """One training dataset: a registry name, its mini-batch size and, optionally, a part of it.

    `parts > 1` divides the dataset's training rows into that many content-disjoint
    parts and trains on part `part` as if it were a dataset of its own (the smoke
    profile turns the synthetic set into two training datasets this way).
    """

    name: str
    batch_size: int
    part: int = 0
    parts: int = 1

    @property
    def key(self) -> str:
        """The name the run uses for this dataset in batches, logs and metrics."""
        return self.name if self.parts == 1 else f"{self.name}-{self.part + 1}of{self.parts}"


@dataclass
class DataConfig:
    """Where the images and the splits come from."""

    train: list[DatasetConfig] = field(default_factory=list)
    root: str | None = None  # None: LIQE_DATA_ROOT; for "synthetic", the folder it is built in
    split: str = "official"  # "official": the session's label files; "random": a 70/10/20 split seeded by the session
    labels_root: str | None = None  # folder of the official label files (None: <root>/liqe_labels)
    session: int = 1  # 1..10
    train_crops: int = 3
    eval_crops: int = 15
    eval_batch_size: int = 16
    num_workers: int = 0  # loader worker processes, training and evaluation (0: load in the run's own process)
    synthetic_seed: int = 0  # the seed the synthetic set is built with when it is missing
    train_crop_sampler: str | None = None  # "grid" | "random"; None: from `fidelity`
    passes: str | None = None  # "epoch" | "continuous"; None: from `fidelity`


@dataclass
class OptimConfig:
    """AdamW (decoupled weight decay, paper Sec. 4.1)."""

    lr: float = 5e-6
    weight_decay: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, a function of the step (see `train.lr_factor`).

    `t_max` is the length in epochs of the cosine half wave: 5 as in the official
    code (`CosineAnnealingLR(T_max=5)`, a wave that repeats every 10 epochs), or
    None for the paper's plain reading (one half wave over the whole run).
    `skip_zero_lr` copies the official loop, which steps the scheduler once more
    when an epoch would start at learning rate 0.
    """

    name: str = "cosine"  # "cosine" or "constant"
    t_max: int | None = 5
    skip_zero_lr: bool = True
    warmup_steps: int = 0  # linear warm-up over the first steps (not in the paper; the smoke profile uses it)


@dataclass
class LossConfig:
    weighting: str = "dwa"  # "dwa" (paper Eq. 11) or "equal" (Table 4 (5))
    temperature: float = 2.0  # tau_2 of DWA
    pair_probability: str | None = None  # "phi" | "phi-sqrt2" (`losses.PAIR_PROBABILITIES`); None: from `fidelity`
    tie_target: float | None = None  # the pair target of equal scores; None: from `fidelity`
    qd_distortion_loss: str | None = None  # "multi-label" | "multi-class": the Quality + Distortion variant's loss


@dataclass
class TrainConfig:
    """One training run (one session of one variant)."""

    name: str = "liqe"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 80
    steps_per_epoch: int = 200
    seed: int = 20200626  # the official script's seed
    device: str = "auto"  # "auto": CUDA when available, else CPU
    precision: str = "auto"  # "auto": on CUDA fp16-weights (official) or bf16 (paper), fp32 on CPU; or set one
    fidelity: str = "official"  # "official" | "paper": the preset of every None setting (docs/FIDELITY.md)
    selection: str | None = None  # "quality" | "average": how the epoch is selected; None: from `fidelity`
    out_dir: str = "runs/liqe"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self) -> "TrainConfig":
        """A copy with every fidelity setting left at None taken from the `fidelity` preset."""
        if self.fidelity not in FIDELITY_PRESETS:
            raise ValueError(f"unknown fidelity {self.fidelity!r}; choose one of {FIDELITY_MODES}")
        data = self.to_dict()
        for key, value in FIDELITY_PRESETS[self.fidelity].items():
            *parents, last = key.split(".")
            node = data
            for part in parents:
                node = node[part]
            if node[last] is None:
                node[last] = value
        return from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write as YAML (.yaml/.yml) or JSON (any other suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        text = yaml.safe_dump(data, sort_keys=False) if path.suffix in (".yaml", ".yml") else json.dumps(data, indent=2)
        path.write_text(text)


# --- reading ---------------------------------------------------------------------------

def from_dict(data: dict[str, Any], cls: type = TrainConfig, where: str = "config"):
    """Build a config dataclass from plain data, checking every key and type.

    Unknown keys and values of the wrong type raise `ValueError` naming the key
    path, what was expected and what was found.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping for {cls.__name__}, found {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; {cls.__name__} has {names}")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, where)
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(value, hint, where)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, found {value!r}")
        return [_coerce(v, args[0], f"{where}.{i}") for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ValueError(f"{where}: expected {hint.__name__}, found {type(value).__name__} {value!r}")
    return value


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML or JSON config file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = yaml.safe_load(path.read_text())  # YAML is a superset of JSON
    return from_dict(data or {}, TrainConfig, where=str(path))


def apply_overrides(cfg: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Return a copy of `cfg` with `key=value` overrides applied (dotted keys, YAML values)."""
    data = cfg.to_dict()
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value (e.g. optim.lr=1e-4)")
        _set_path(data, key.strip(), yaml.safe_load(text))
    return from_dict(data)


def _set_path(data: Any, key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = data
    for i, part in enumerate(parents + [last]):
        here = ".".join(([*parents, last])[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"override {key!r}: {here} is not an index of a list of {len(node)}")
            part = int(part)
        elif not isinstance(node, dict) or part not in node:
            choices = sorted(node) if isinstance(node, dict) else []
            raise ValueError(f"override {key!r}: no key {here!r}; choose one of {choices}")
        if i == len(parents):
            node[part] = value
        else:
            node = node[part]


# --- profiles --------------------------------------------------------------------------

#: The six training datasets of the paper and their mini-batch sizes (Sec. 4.1).
PAPER_TRAIN_SETS: tuple[tuple[str, int], ...] = (
    ("live", 4), ("csiq", 4), ("bid", 4), ("clive", 4), ("koniq10k", 16), ("kadid10k", 16),
)


def paper_config() -> TrainConfig:
    """The paper's training run (DESIGN.md, "Optimisation (paper profile)")."""
    return TrainConfig(
        name="liqe",
        # 8 loader workers, as the official script (train_unique_clip_weight.py l. 621): a step of 48 images
        # x 3 crops decodes too slowly in one process to keep up with a GPU (results/benchmarks/paper_loop_*.json)
        data=DataConfig(train=[DatasetConfig(n, b) for n, b in PAPER_TRAIN_SETS], num_workers=8),
        out_dir="runs/paper/liqe",
    )


def smoke_config() -> TrainConfig:
    """liqe-tiny from random init on the synthetic set, CPU, about a minute a session.

    Random-init CLIP needs settings the pretrained model does not (see
    `results/benchmarks/learn_search.md`): a learnable logit scale, a much
    higher learning rate with warm-up, and a constant schedule.
    """
    return TrainConfig(
        name="liqe",
        model=ModelConfig(arch="liqe-tiny", weights=None, train_logit_scale=True),
        data=DataConfig(
            train=[DatasetConfig("synthetic", 8, part=0, parts=2), DatasetConfig("synthetic", 8, part=1, parts=2)],
            split="random", train_crops=1, eval_crops=3, eval_batch_size=16,
        ),
        optim=OptimConfig(lr=1e-3, weight_decay=1e-3),
        schedule=ScheduleConfig(name="constant", t_max=None, skip_zero_lr=False, warmup_steps=20),
        epochs=3, steps_per_epoch=20, seed=0, device="cpu", precision="fp32",
        out_dir="runs/smoke/liqe",
    )


def profile_config(profile: str) -> TrainConfig:
    if profile == "paper":
        return paper_config()
    if profile == "smoke":
        return smoke_config()
    raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
