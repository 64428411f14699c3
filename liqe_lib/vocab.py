"""Label spaces, the 33 -> 11 distortion map and the prompt sets of every task combination.

The textual vocabulary is LIQE's interface between labels and CLIP: the prompts
`a photo of a {s} with {d} artifacts, which is of {c} quality` (paper Eq. 2)
enumerated quality-major, then scene, then distortion, so that the 495 logits of
the all-task set reshape to (5, 9, 11). Every other task combination of the
paper (Tables 4 and 5) is a `TaskSet` built from the same label spaces.

Beyond the paper, `all+appearance` adds a fourth task: SLIQUE's appearance attributes
(`appearance`), one prompt group per attribute, `a photo with {low, medium, high}
{attribute}`, so that each attribute has its own softmax over its three levels.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

QUALITY_LEVELS: tuple[str, ...] = ("bad", "poor", "fair", "good", "perfect")
TWO_QUALITY_LEVELS: tuple[str, ...] = ("bad", "good")
SCENES: tuple[str, ...] = (
    "animal", "cityscape", "human", "indoor", "landscape", "night", "plant", "still_life", "others",
)
DISTORTIONS: tuple[str, ...] = (
    "jpeg2000 compression", "jpeg compression", "noise", "blur", "color", "contrast",
    "overexposure", "underexposure", "spatial", "quantization", "other",
)

#: The 33 fine-grained distortion names used in the official label files, mapped onto the
#: paper's 11 classes (DESIGN.md, "Label spaces").
FINE_TO_COARSE: dict[str, str] = {
    "jpeg2000 compression": "jpeg2000 compression",
    "fastfading": "jpeg2000 compression",
    "jpeg compression": "jpeg compression",
    "white noise": "noise",
    "fnoise": "noise",
    "white with color": "noise",
    "impulse": "noise",
    "multiplicative": "noise",
    "white noise with denoise": "noise",
    "realistic noise": "noise",
    "gaussian blur": "blur",
    "lens": "blur",
    "motion": "blur",
    "shifting": "blur",
    "realistic blur": "blur",
    "diffusion": "color",
    "oversaturation": "color",
    "desaturation": "color",
    "contrast": "contrast",
    "sharpness": "contrast",
    "realistic contrast change": "contrast",
    "brighten": "overexposure",
    "overexposure": "overexposure",
    "darken": "underexposure",
    "underexposure": "underexposure",
    "jitter": "spatial",
    "noneccentricity patch": "spatial",
    "pixelate": "spatial",
    "color blocking": "spatial",
    "color quantization": "quantization",
    "quantization": "quantization",
    "shifting the mean": "other",
    "other realistic": "other",
}

#: Label used for rows of datasets that carry no scene or distortion annotation.
UNKNOWN = "unknown"

AXES: tuple[str, ...] = ("quality", "scene", "distortion")

#: SLIQUE's appearance attributes (`appearance` measures them under these names) and their levels.
APPEARANCE_ATTRIBUTES: tuple[str, ...] = ("brightness", "contrast", "sharpness", "colorfulness")
APPEARANCE_LEVELS: tuple[str, ...] = ("low", "medium", "high")
#: Every task a task set can train: the three of the paper, then appearance (one task of four attributes).
TASKS: tuple[str, ...] = (*AXES, "appearance")


def coarse_distortion(fine: str) -> str:
    """Map a fine distortion name to its class; `unknown` stays `unknown`."""
    if fine == UNKNOWN:
        return UNKNOWN
    try:
        return FINE_TO_COARSE[fine]
    except KeyError:
        raise KeyError(f"unknown fine distortion type {fine!r}; expected one of {sorted(FINE_TO_COARSE)}") from None


@dataclass(frozen=True)
class PromptGroup:
    """Prompts that share one softmax: the product of the named axes, in axis order."""

    template: str
    axes: tuple[str, ...]
    quality_levels: tuple[str, ...] = QUALITY_LEVELS

    def labels(self, axis: str) -> tuple[str, ...]:
        if axis in APPEARANCE_ATTRIBUTES:
            return APPEARANCE_LEVELS
        return {"quality": self.quality_levels, "scene": SCENES, "distortion": DISTORTIONS}[axis]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.labels(a)) for a in self.axes)

    @property
    def prompts(self) -> list[str]:
        keys = {"quality": "c", "scene": "s", "distortion": "d", **{a: "l" for a in APPEARANCE_ATTRIBUTES}}
        combos = itertools.product(*(self.labels(a) for a in self.axes))
        return [self.template.format(**{keys[a]: v for a, v in zip(self.axes, combo)}) for combo in combos]


@dataclass(frozen=True)
class TaskSet:
    """A task combination: its prompt groups (one softmax each) and the tasks it learns."""

    name: str
    groups: tuple[PromptGroup, ...]

    def __post_init__(self):
        present = {a for g in self.groups for a in g.axes}
        if present & set(APPEARANCE_ATTRIBUTES) and not present >= set(APPEARANCE_ATTRIBUTES):
            raise ValueError(f"task set {self.name!r}: the appearance task needs all of {APPEARANCE_ATTRIBUTES}")

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks it learns, in `TASKS` order (appearance when it has the attribute groups)."""
        present = {a for g in self.groups for a in g.axes}
        return tuple(t for t in TASKS if t in present or (t == "appearance" and APPEARANCE_ATTRIBUTES[0] in present))

    @property
    def quality_levels(self) -> tuple[str, ...]:
        for g in self.groups:
            if "quality" in g.axes:
                return g.quality_levels
        return ()

    @property
    def prompts(self) -> list[str]:
        return [p for g in self.groups for p in g.prompts]


JOINT_TEMPLATE = "a photo of a {s} with {d} artifacts, which is of {c} quality"
QUALITY_TEMPLATE = "a photo with {c} quality"
SCENE_TEMPLATE = "a photo of a {s}"
DISTORTION_TEMPLATE = "a photo with {d} artifacts"
#: One group (one softmax over the three levels) per appearance attribute: 4 x 3 = 12 prompts.
APPEARANCE_GROUPS: tuple[PromptGroup, ...] = tuple(PromptGroup(f"a photo with {{l}} {a}", (a,))
                                                   for a in APPEARANCE_ATTRIBUTES)

TASK_SETS: dict[str, TaskSet] = {
    ts.name: ts
    for ts in (
        TaskSet("all", (PromptGroup(JOINT_TEMPLATE, AXES),)),
        TaskSet("quality+scene", (PromptGroup("a photo of a {s}, which is of {c} quality", ("quality", "scene")),)),
        TaskSet("quality+distortion",
                (PromptGroup("a photo with {d} artifacts, which is of {c} quality", ("quality", "distortion")),)),
        TaskSet("quality", (PromptGroup(QUALITY_TEMPLATE, ("quality",)),)),
        TaskSet("scene", (PromptGroup(SCENE_TEMPLATE, ("scene",)),)),
        TaskSet("distortion", (PromptGroup(DISTORTION_TEMPLATE, ("distortion",)),)),
        TaskSet("two-level", (PromptGroup(QUALITY_TEMPLATE, ("quality",), TWO_QUALITY_LEVELS),)),
        TaskSet("separate", (
            PromptGroup(QUALITY_TEMPLATE, ("quality",)),
            PromptGroup(SCENE_TEMPLATE, ("scene",)),
            PromptGroup(DISTORTION_TEMPLATE, ("distortion",)),
        )),
        TaskSet("all+appearance", (PromptGroup(JOINT_TEMPLATE, AXES), *APPEARANCE_GROUPS)),
    )
}


def get_task_set(name: str) -> TaskSet:
    try:
        return TASK_SETS[name]
    except KeyError:
        raise KeyError(f"unknown task set {name!r}; choose one of {sorted(TASK_SETS)}") from None
