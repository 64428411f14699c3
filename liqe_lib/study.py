"""What the notebooks share: a profile's parameters resolved once, and the runs and tables they read.

A notebook's `parameters` cell holds plain values (profile, data root, sessions,
epochs, device, output folder, seed); `Study.from_parameters` turns them into
the overrides every training run of the profile receives, the folders results and
runs go to, and the sessions to train. Runs resume: a notebook re-executed after
`01_train` reuses the trained sessions instead of training again.

Rehearsal switches (`liqe reproduce --rehearsal`): fewer sessions, epochs and steps, at
most `max_eval_images` test images per dataset and `max_playground` gMAD images, and
`arch` (e.g. liqe-tiny) for a CPU-sized backbone; with `arch` every model starts from
random weights. Nothing else changes: the same datasets, readers, splits, variants,
tables and SUMMARY code paths as the real run. A data root holding a `STANDIN.json`
(`liqe data standin`) is stand-in data: every table says so (`note`).

Session counts: the paper profile trains every variant in all ten sessions. The
smoke profile trains LIQE in two sessions (Table 1 needs a median and a std) and
each other variant in one session of 3 epochs x 8 steps, to keep `liqe reproduce`
within ten minutes on 2 cores. LIQE + appearance is trained for as long as LIQE itself
(notebook 10 compares the two directly), in the variants' sessions: notebook 10 compares
them on the sessions they share (smoke: session 1).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from . import backbone, evaluate, experiments, probe, realign, report, rundata, unique
from .config import FIDELITY_MODES, DataConfig, TrainConfig, profile_config
from .data.labels import LabelRow
from .data.registry import get_spec, load_rows, playground_images
from .data.standin import standin_note
from .data.verify import verify_dataset
from .model import load_model
from .results import PROJECT_ROOT, default_runs_dir, results_dir
from .train import build_model, read_log

DEFAULT_SESSIONS = {"smoke": (1, 2), "paper": tuple(range(1, 11))}
DEFAULT_VARIANT_SESSIONS = {"smoke": (1,), "paper": tuple(range(1, 11))}
#: Table 2's cross-dataset test sets; the smoke profile's stand-in is the synthetic set's held-out contents.
#: Extra overrides of every variant but LIQE itself (the smoke profile's shorter runs).
VARIANT_OVERRIDES = {"smoke": ("steps_per_epoch=8",), "paper": ()}
CROSS_DATASETS = {"smoke": ("synthetic",), "paper": ("tid2013", "spaq", "pipal")}
#: Variants trained for as long as LIQE itself (compared with LIQE directly in notebook 10).
LIQE_SIZED = ("liqe", "liqe+appearance")
#: gMAD playground images when `max_playground` is not given: the smoke profile samples 48 of its 880 synthetic
#: images (UNIQUE's ResNet-34 scores an image's 15 crops in about 1.8 s on 2 CPU cores); the paper scores all.
DEFAULT_MAX_PLAYGROUND = {"smoke": 48, "paper": None}
#: Crops per image of the ridge probe's features: None is the run's evaluation crops (the protocol's 15 in
#: the paper profile); the smoke profile takes one, to probe three models on all 880 synthetic images quickly.
PROBE_CROPS = {"smoke": 1, "paper": None}


@dataclass(frozen=True)
class Study:
    profile: str
    sessions: tuple[int, ...]
    variant_sessions: tuple[int, ...]
    overrides: tuple[str, ...]
    data_root: Path
    out_dir: Path
    runs_dir: Path
    fidelity: str = "official"
    forced: tuple[str, ...] = ()  # applied after a variant's own settings (random weights in a rehearsal)
    max_eval_images: int | None = None
    max_playground: int | None = None
    arch: str | None = None

    @classmethod
    def from_parameters(cls, profile: str = "smoke", data_root: str | None = None, sessions: int | None = None,
                        epochs: int | None = None, device: str | None = None, out_dir: str | None = None,
                        seed: int | None = None, *, steps_per_epoch: int | None = None,
                        max_eval_images: int | None = None, max_playground: int | None = None,
                        arch: str | None = None, fidelity: str = "official",
                        runs_dir: str | None = None) -> "Study":
        """Resolve a notebook's parameters; None means the profile's default."""
        if fidelity not in FIDELITY_MODES:
            raise ValueError(f"unknown fidelity {fidelity!r}; choose one of {FIDELITY_MODES}")
        root = Path(data_root or os.environ.get("LIQE_DATA_ROOT") or PROJECT_ROOT / "data")
        overrides = [f"data.root={root}", f"fidelity={fidelity}"]
        for key, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch), ("device", device),
                           ("seed", seed), ("model.arch", arch)):
            overrides += [f"{key}={value}"] if value is not None else []
        chosen = tuple(range(1, sessions + 1)) if sessions else DEFAULT_SESSIONS[profile]
        variant_sessions = chosen if sessions else DEFAULT_VARIANT_SESSIONS[profile]
        # a rehearsal's CPU-sized backbone starts from random weights, whatever the variant says
        forced = ("model.weights=null",) if arch else ()
        playground = max_playground if max_playground is not None else DEFAULT_MAX_PLAYGROUND[profile]
        return cls(profile, chosen, variant_sessions, tuple(overrides), root, results_dir(profile, out_dir),
                   default_runs_dir(profile, runs_dir), fidelity, forced, max_eval_images, playground, arch)

    @property
    def statistic(self) -> str:
        """How sessions aggregate in this study's tables (`evaluate.SESSION_STATISTIC`)."""
        return evaluate.SESSION_STATISTIC[self.fidelity]

    @property
    def is_standin(self) -> bool:
        """Whether the data root is a stand-in (`liqe data standin`): its numbers are never a result."""
        return standin_note(self.data_root) is not None

    @property
    def note(self) -> str | None:
        """What every table and figure of this study must say: smoke, stand-in data, and the session statistic."""
        parts = [report.SMOKE_NOTE] if self.profile == "smoke" else []
        standin = standin_note(self.data_root)
        parts += [standin.rstrip(".") + "."] if standin else []
        parts += [f"Sessions aggregate by their {self.statistic} ({self.fidelity} fidelity, docs/FIDELITY.md)."]
        return " ".join(parts)

    @property
    def train_datasets(self) -> list[str]:
        """The registry datasets the profile trains on (and tests, Table 1)."""
        return list(dict.fromkeys(d.name for d in profile_config(self.profile).data.train))

    @property
    def cross_datasets(self) -> tuple[str, ...]:
        return CROSS_DATASETS[self.profile]

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys([*self.train_datasets, *self.cross_datasets]))

    def missing(self) -> list[str]:
        """What the profile needs and does not find: datasets (with the remedy) and, for the paper, CLIP weights."""
        reports = [verify_dataset(name, self.data_root) for name in self.datasets
                   if get_spec(name).label_source != "synthetic"]
        problems = [r.format() for r in reports if not r.ok]
        if self.profile == "paper" and not self.arch and backbone.cached_pretrained("ViT-B-32", "openai") is None:
            problems.append(f"CLIP ViT-B-32 'openai' weights are not in the Hugging Face cache ({backbone.hf_cache()}): "
                            f"run `python -c \"import open_clip; open_clip.create_model('ViT-B-32-quickgelu', "
                            f"pretrained='openai')\"` once with internet access")
        if self.profile == "paper" and not self.arch and not unique.imagenet_weights_file().is_file():
            problems.append(f"UNIQUE's ImageNet ResNet-34 weights are not in torch.hub's cache "
                            f"({unique.imagenet_weights_file()}): run `python -c \"import torchvision; "
                            f"torchvision.models.resnet34(weights='IMAGENET1K_V1')\"` once with internet access")
        return problems

    def prepare_data(self) -> pd.DataFrame:
        """Build the synthetic set if the profile uses it, then verify every dataset; one row per dataset.

        Raises `FileNotFoundError` listing what is missing and how to get it.
        """
        data = DataConfig(root=str(self.data_root))
        for name in self.datasets:
            if get_spec(name).label_source == "synthetic":
                rundata.ensure_dataset(name, data)
        reports = [verify_dataset(name, self.data_root) for name in self.datasets]
        broken = [r.format() for r in reports if not r.ok]
        if broken:
            raise FileNotFoundError("datasets missing or incomplete:\n" + "\n".join(broken))
        return pd.DataFrame([{"dataset": r.name, "label rows": r.rows, "images found": r.found} for r in reports])

    def rows(self, dataset: str) -> list[LabelRow]:
        return load_rows(dataset, self.data_root)

    def sessions_of(self, variant: str) -> tuple[int, ...]:
        return self.sessions if variant == "liqe" else self.variant_sessions

    def overrides_of(self, variant: str) -> tuple[str, ...]:
        return self.overrides if variant in LIQE_SIZED else (*VARIANT_OVERRIDES[self.profile], *self.overrides)

    def run(self, variant: str, split: str = "test", sessions: tuple[int, ...] | None = None) -> pd.DataFrame:
        """Train (or resume) `variant` in its sessions (or `sessions`) and return its tidy test metrics."""
        return experiments.run_variant(variant, self.profile, sessions or self.sessions_of(variant),
                                       self.overrides_of(variant), out_root=self.runs_dir, split=split,
                                       forced=self.forced, max_images=self.max_eval_images)

    def config(self, variant: str, session: int) -> TrainConfig:
        return experiments.variant_config(variant, self.profile, self.overrides_of(variant), self.runs_dir, session,
                                          forced=self.forced)

    def run_dir(self, variant: str, session: int) -> Path:
        return Path(self.config(variant, session).out_dir)

    def checkpoint(self, variant: str, session: int) -> Path:
        path = self.run_dir(variant, session) / "best.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: train {variant} session {session} first (notebook 01_train)")
        return path

    def evaluate(self, variant: str, datasets: list[str] | tuple[str, ...], split: str) -> pd.DataFrame:
        """Tidy metrics of the trained sessions of `variant` on other datasets or splits (Table 2)."""
        return pd.concat([evaluate.evaluate_checkpoint(self.checkpoint(variant, s), list(datasets), split,
                                                       model_name=variant, max_images=self.max_eval_images)
                          for s in self.sessions_of(variant)], ignore_index=True)

    def probe(self, variant: str = "liqe", sessions: tuple[int, ...] | None = None) -> pd.DataFrame:
        """SLIQUE's ridge probe (tidy, `probe.probe_metrics`) of the image features `variant` starts from
        (model "initial": pretrained CLIP, the smoke profile's random init; one model for all sessions, as
        the training seed does not depend on the session) and of each trained session's (model `variant`),
        each session probed on its own split. Sessions default to the variant's."""
        sessions = sessions or self.sessions_of(variant)
        first = self.config(variant, sessions[0])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(first.seed)  # the weights the training run started from
            initial = build_model(first.model)
        crops = PROBE_CROPS[self.profile]
        tables = [probe.probe_metrics(initial, self.train_datasets, first.data, "initial", sessions=sessions,
                                      n_crops=crops)]
        for session in sessions:
            trained = load_model(weights=self.checkpoint(variant, session))
            tables.append(probe.probe_metrics(trained, self.train_datasets, self.config(variant, session).data, variant,
                                              n_crops=crops))
        return pd.concat(tables, ignore_index=True)

    def predictions(self, variant: str, session: int, dataset: str, split: str = "test") -> pd.DataFrame:
        """Per-image predictions of one trained session (scatter plots, Table 3)."""
        checkpoint = self.checkpoint(variant, session)
        data = evaluate.checkpoint_config(checkpoint).data
        rows = rundata.all_rows(dataset, data) if split == "all" else rundata.split_rows(dataset, data)[split]
        rows = rows[:self.max_eval_images] if self.max_eval_images else rows
        frame = evaluate.predict(load_model(weights=checkpoint), rundata.make_dataset(dataset, rows, data, train=False),
                                 data.eval_batch_size)
        return frame.assign(session=session)

    def save_metrics(self, table: pd.DataFrame, name: str) -> Path:
        """Keep a tidy metrics table as results/<profile>/metrics/<name>.csv."""
        return evaluate.save_table(table, self.out_dir / "metrics" / f"{name}.csv")

    def realignment_betas(self) -> dict:
        """Table 3's betas per dataset; the smoke profile's one dataset is its own common scale (None: identity)."""
        return {"synthetic": None} if self.profile == "smoke" else realign.load_betas()

    def epoch_log(self, variant: str) -> pd.DataFrame:
        """One row per session x epoch x task of the run logs: mean loss and the DWA weight used."""
        rows = []
        for session in self.sessions_of(variant):
            for record in read_log(self.run_dir(variant, session), kind="epoch"):
                rows += [{"variant": variant, "session": session, "epoch": record["epoch"] + 1, "task": task,
                          "loss": loss, "weight": record["weights"][task]}
                         for task, loss in record["losses"].items()]
        return pd.DataFrame(rows)

    def playground(self) -> list[Path]:
        """gMAD's unlabelled images: Waterloo Exploration's pristine images and SPAQ's test images (paper);
        every synthetic image, distorted or pristine, in the smoke profile. With `max_playground`, that many
        spread evenly over the sorted list (both sources stay in it)."""
        if self.profile == "smoke":
            suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
            paths = sorted(p for p in self.image_root("synthetic").rglob("*") if p.suffix.lower() in suffixes)
        else:
            paths = playground_images(("waterloo", "spaq"), self.data_root)
        if self.max_playground and len(paths) > self.max_playground:
            paths = [paths[(i * len(paths)) // self.max_playground] for i in range(self.max_playground)]
        return paths

    def image_root(self, dataset: str) -> Path:
        return self.data_root / get_spec(dataset).folder
