"""`liqe reproduce`: run the ordered notebooks through papermill for a profile.

Each notebook is executed with the profile's parameters into
`results/<profile>/notebooks/`; the run stops at the first failing notebook and
says which notebook and which cell. For the smoke profile the executed notebooks
are also copied back over `notebooks/`, whose committed outputs nbval checks.
Afterwards `SUMMARY.md` collects every table the notebooks wrote.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

import papermill
from papermill.exceptions import PapermillExecutionError

from .report import SMOKE_NOTE
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


def notebook_parameters(profile: str, out_dir: Path | None, data_root: str | None, device: str | None) -> dict:
    """Only what differs from the notebooks' own defaults (the smoke profile), so a smoke run's
    injected cell repeats the defaults and the committed notebooks stay what nbval re-executes."""
    params: dict = {"profile": profile}
    if out_dir is not None:
        params["out_dir"] = str(out_dir)
    if data_root is not None:
        params["data_root"] = data_root
    if device is not None:
        params["device"] = device
    return params


def reproduce(profile: str = "smoke", only: list[str] | None = None, out_dir: str | Path | None = None,
              data_root: str | None = None, device: str | None = None) -> list[tuple[str, float]]:
    """Run the notebooks in order; return (notebook, seconds) for each."""
    selected = _select(only)
    if profile == "paper":
        missing = Study.from_parameters("paper", data_root).missing()
        if missing:
            raise ReproduceError("the paper profile cannot start; missing:\n  - " + "\n  - ".join(missing))
    target = results_dir(profile, out_dir)
    executed = target / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    params = notebook_parameters(profile, Path(out_dir).resolve() if out_dir else None, data_root, device)
    timings = []
    for name in selected:
        start = time.perf_counter()
        log.info("running %s (%s profile)", name, profile)
        try:
            papermill.execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", executed / f"{name}.ipynb", parameters=params,
                                       kernel_name="python3", progress_bar=False, cwd=str(NOTEBOOK_DIR))
        except PapermillExecutionError as err:
            raise ReproduceError(f"notebook {name} failed in cell {err.exec_count} (cell index {err.cell_index}): "
                                 f"{err.ename}: {err.evalue}\nexecuted copy: {executed / f'{name}.ipynb'}") from err
        timings.append((name, time.perf_counter() - start))
        if profile == "smoke" and out_dir is None:
            shutil.copyfile(executed / f"{name}.ipynb", NOTEBOOK_DIR / f"{name}.ipynb")
    write_summary(profile, target)
    return timings


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


def write_summary(profile: str, target: Path) -> Path:
    """SUMMARY.md: every table (reproduced next to the paper) in notebook order, then the figures."""
    tables = sorted((target / "tables").glob("*.md"), key=_table_rank)
    figures = sorted((target / "figures").glob("*.png"))
    lines = [f"# LIQE reproduction: {profile} profile", ""]
    if profile == "smoke":
        lines += [f"> {SMOKE_NOTE}", ""]
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
    parser.add_argument("--out", help="output folder (default results/<profile>)")
    parser.add_argument("--data-root", help="datasets folder (default $LIQE_DATA_ROOT)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the profile's)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        timings = reproduce(args.profile, args.only, args.out, args.data_root, args.device)
    except ReproduceError as err:
        print(f"liqe reproduce: {err}")
        return 1
    for name, seconds in timings:
        print(f"{name:<24} {seconds:7.1f} s")
    print(f"{'total':<24} {sum(s for _, s in timings):7.1f} s")
    return 0
