"""`liqe reproduce`: run the ordered notebooks through papermill for a profile.

Each notebook is executed with the profile's parameters into
`results/<profile>/notebooks/`; the run stops at the first failing notebook and
says which notebook and which cell. For the smoke profile the executed notebooks
are also copied back over `notebooks/`, whose committed outputs nbval checks.
Afterwards `SUMMARY.md` collects every table the notebooks wrote.

`--rehearsal` runs the paper profile's every notebook in minutes (`REHEARSAL`: 1 session,
1 epoch of 2 steps, at most 16 test images per dataset and 64 gMAD images), each also
its own flag, and `--arch liqe-tiny` swaps in a CPU-sized random backbone: the same
datasets, readers, splits, variants, tables and SUMMARY code as the real run. On a
stand-in data root (`liqe data standin`, STANDIN.json) every table and SUMMARY.md say
"stand-in rehearsal, not a result".
"""
from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

import papermill
from papermill.exceptions import PapermillExecutionError

from . import backbone
from .config import FIDELITY_MODES
from .results import PROJECT_ROOT, results_dir
from .study import Study

log = logging.getLogger(__name__)

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS: tuple[str, ...] = (
    "00_data_prep", "01_train", "02_table1", "03_table2", "04_table3", "05_table4", "06_table5",
    "07_gmad", "08_task_relationships", "09_demo", "10_beyond",
)


class ReproduceError(RuntimeError):
    """A notebook failed, or the profile's inputs are missing."""


#: What `--rehearsal` sets (each also its own flag and notebook parameter).
REHEARSAL = {"sessions": 1, "epochs": 1, "steps_per_epoch": 2, "max_eval_images": 16, "max_playground": 64}
#: The notebook parameters a run may set besides `profile` (None: the notebook's default).
PARAMETERS = ("data_root", "sessions", "epochs", "steps_per_epoch", "max_eval_images", "max_playground", "arch",
              "fidelity", "device", "out_dir", "runs_dir", "seed")


def notebook_parameters(profile: str, **values) -> dict:
    """Only what differs from the notebooks' own defaults (the smoke profile), so a smoke run's
    injected cell repeats the defaults and the committed notebooks stay what nbval re-executes."""
    unknown = set(values) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {sorted(unknown)}; choose from {PARAMETERS}")
    return {"profile": profile, **{k: v for k, v in values.items() if v is not None}}


def study_of(params: dict) -> Study:
    """The Study the notebooks build from these parameters (the same call their setup cell makes)."""
    return Study.from_parameters(**params)


def reproduce(profile: str = "smoke", only: list[str] | None = None, **values) -> list[tuple[str, float]]:
    """Run the notebooks in order with the notebook parameters `values` (`PARAMETERS`); return
    (notebook, seconds) for each."""
    selected = _select(only)
    out_dir = values.get("out_dir")
    if out_dir is not None:
        values["out_dir"] = str(Path(out_dir).resolve())
    params = notebook_parameters(profile, **values)
    study = study_of(params)
    if profile == "paper":
        missing = study.missing()
        if missing:
            raise ReproduceError("the paper profile cannot start; missing:\n  - " + "\n  - ".join(missing))
    target = results_dir(profile, out_dir)
    executed = target / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    timings = []
    for name in selected:
        start = time.perf_counter()
        log.info("running %s (%s profile)", name, profile)
        try:
            papermill.execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", executed / f"{name}.ipynb",
                                       parameters=_parameters_of(name, params, study), kernel_name="python3",
                                       progress_bar=False, cwd=str(NOTEBOOK_DIR))
        except PapermillExecutionError as err:
            raise ReproduceError(f"notebook {name} failed in cell {err.exec_count} (cell index {err.cell_index}): "
                                 f"{err.ename}: {err.evalue}\nexecuted copy: {executed / f'{name}.ipynb'}") from err
        timings.append((name, time.perf_counter() - start))
        if profile == "smoke" and out_dir is None:
            shutil.copyfile(executed / f"{name}.ipynb", NOTEBOOK_DIR / f"{name}.ipynb")
    write_summary(profile, target, study.note, rehearsal=study.is_standin)
    return timings


def _parameters_of(name: str, params: dict, study: Study) -> dict:
    """A notebook's parameters: the study's, except for the demo, which takes a model (in the paper
    profile the session-1 LIQE model the run just trained) and the device."""
    if name != "09_demo":
        return params
    demo = {k: params[k] for k in ("profile", "device", "arch") if k in params}
    if study.profile == "paper":
        demo["weights"] = str(study.checkpoint("liqe", study.sessions[0]))
    return demo


def _select(only: list[str] | None) -> list[str]:
    if not only:
        return list(NOTEBOOKS)
    unknown = [n for n in only if n not in NOTEBOOKS]
    if unknown:
        raise ReproduceError(f"unknown notebook(s) {unknown}; choose from {list(NOTEBOOKS)}")
    return [n for n in NOTEBOOKS if n in only]


#: Table-file prefixes in the order of the notebooks that write them (SUMMARY.md follows it).
TABLE_ORDER = ("table1", "table2", "table3", "table4", "table5", "gmad", "task_gradient", "beyond")


def _table_rank(path: Path) -> tuple[int, str]:
    ranks = [i for i, prefix in enumerate(TABLE_ORDER) if path.stem.startswith(prefix)]
    return (ranks[0] if ranks else len(TABLE_ORDER), path.stem)


def write_summary(profile: str, target: Path, note: str | None = None, rehearsal: bool = False) -> Path:
    """SUMMARY.md: `note`, then every table (reproduced next to the paper) in notebook order, then the figures.
    A run on stand-in data is titled a rehearsal, never a reproduction."""
    tables = sorted((target / "tables").glob("*.md"), key=_table_rank)
    figures = sorted((target / "figures").glob("*.png"))
    title = "stand-in rehearsal, not a result" if rehearsal else "reproduction"
    lines = [f"# LIQE {title}: {profile} profile", ""]
    if note:
        lines += [f"> {note}", ""]
    lines += [f"## {t.stem.replace('_', ' ').capitalize()}\n\n{t.read_text().strip()}\n" for t in tables]
    if figures:
        lines += ["## Figures", ""] + [f"- [{f.stem}](figures/{f.name})" for f in figures]
    path = target / "SUMMARY.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reproduce", help="run the paper's notebooks through papermill",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("smoke", "paper"), default="smoke")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help=f"a subset of {', '.join(NOTEBOOKS)}")
    parser.add_argument("--out", dest="out_dir", help="output folder (default results/<profile>)")
    parser.add_argument("--data-root", help="datasets folder (default $LIQE_DATA_ROOT)")
    parser.add_argument("--runs-dir", help="where trained runs go (default $LIQE_RUNS_DIR, else ./runs)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the profile's)")
    parser.add_argument("--fidelity", choices=FIDELITY_MODES,
                        help="official (default: as the official LIQE code) or paper (the paper's words); "
                             "see docs/FIDELITY.md")
    parser.add_argument("--rehearsal", action="store_true",
                        help="every notebook in minutes: " + ", ".join(f"{k}={v}" for k, v in REHEARSAL.items()))
    for key in ("sessions", "epochs", "steps_per_epoch", "max_eval_images", "max_playground"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, metavar="N")
    parser.add_argument("--arch", choices=sorted(backbone.ARCHITECTURES),
                        help="another backbone with random weights (liqe-tiny: a CPU-sized rehearsal)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    values = {key: getattr(args, key) for key in PARAMETERS if key != "seed"}
    if args.rehearsal:
        values.update({k: v for k, v in REHEARSAL.items() if values[k] is None})
    try:
        timings = reproduce(args.profile, args.only, **values)
    except ReproduceError as err:
        print(f"liqe reproduce: {err}")
        return 1
    for name, seconds in timings:
        print(f"{name:<24} {seconds:7.1f} s")
    print(f"{'total':<24} {sum(s for _, s in timings):7.1f} s")
    return 0
