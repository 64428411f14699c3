"""Sharded, resumable `liqe score --csv`: the journal of finished rows, each process's share, the merge.

A collection bigger than one GPU scores in a day is split over processes
(`torchrun --nproc_per_node=N -m liqe_lib.cli score DIR --csv out.csv ...`) and survives
being killed. Each process appends the rows it finishes to its own file in a journal
folder next to the CSV (`out.csv.parts/rank-<k>-of-<n>.jsonl`), one JSON line per image,
written whole and flushed as its batch comes back; a kill mid-write leaves at most a
trailing partial line, which the reader ignores and the next writer of that file cuts off.

At the start every process reads all journal files, whatever number of processes wrote
them, so rerunning the command (with N processes, another number, or plain `liqe score`)
scores only the images the journal does not hold; each process takes every N-th of them,
which keeps the shares balanced where image sizes cluster by folder. Rows with an `error`
count as done: an unreadable file would fail again.

The processes meet twice, at a gloo barrier (the group only coordinates, images and rows
never cross it, so it needs no GPU): after reading the journal, so that none appends before
all have computed their shares from the same state, and at the end, after which process 0
writes the CSV in input order and removes the journal. The CSV is written to a temporary
file and renamed over `out.csv`, so a file at that path is always complete. It holds the
rows a single-process run writes: the journal keeps the records `score.to_row` made, and
JSON gives floats back bit for bit (on a GPU a score may still move in its last bits with
the other images of its batch, as it does between batch sizes in one process).

The first line of every journal file is a header saying what makes rows comparable
(`score.journal_header`: the weights label, architecture, columns and dtypes); a rerun with
a different header is refused rather than mixing two models' scores in one CSV. Weights are
known by their label (the name or path given), so a checkpoint overwritten in place is not
noticed.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import IO, Sequence

import pandas as pd

from . import runtime

log = logging.getLogger(__name__)

#: The journal of `out.csv` is the folder `out.csv.parts`.
JOURNAL_SUFFIX = ".parts"
#: How long a process waits at the final barrier for the slowest share (torch's default, 30 minutes, is
#: shorter than the spread of day-long shares); when a process dies, torchrun stops the others at once.
FINISH_TIMEOUT = timedelta(days=7)


class JournalMismatch(ValueError):
    """The journal next to the CSV was written with other settings (`score.journal_header`)."""


def journal_folder(csv: Path) -> Path:
    return csv.with_name(csv.name + JOURNAL_SUFFIX)


def complete_lines(file: Path) -> list[str]:
    """The lines of `file` that end in a newline: a line cut short by a kill is not one of them."""
    text = file.read_text(encoding="utf-8")
    return text.split("\n")[:-1]


def read_journal(folder: Path, header: dict) -> dict[str, dict]:
    """Every finished row in the journal `folder` (all files, any world size), by path.

    Raises `JournalMismatch` when a file's header differs from `header`.
    """
    rows: dict[str, dict] = {}
    for file in sorted(folder.glob("rank-*.jsonl")):
        lines = complete_lines(file)
        if not lines:
            continue
        recorded = json.loads(lines[0])
        if recorded != header:
            changed = ", ".join(f"{key} {recorded.get(key)!r} (now {header.get(key)!r})"
                                for key in dict.fromkeys([*header, *recorded]) if recorded.get(key) != header.get(key))
            raise JournalMismatch(
                f"{folder} holds rows of an unfinished run with other settings: {changed}. Delete {folder} to "
                f"start over with these settings, or write to another --csv")
        rows.update((row["path"], row) for row in map(json.loads, lines[1:]))
    return rows


def open_for_append(file: Path, header: dict | None = None) -> IO[str]:
    """`file` for appending JSON lines, its partial last line (if a kill left one) cut off, and `header`
    written first if the file is new (also gMAD's playground cache, `gmad.score_playground`)."""
    if file.exists():
        with file.open("r+b") as f:
            f.truncate(f.read().rfind(b"\n") + 1)
    out = file.open("a", encoding="utf-8")
    if out.tell() == 0 and header is not None:
        out.write(json.dumps(header) + "\n")
        out.flush()
    return out


class Journal:
    """One process's part in writing a CSV: its share of the unscored images, its journal file, the merge.

    `header` is what rows must agree on to share a CSV (see the module docstring); `ctx` is
    this process's place under torchrun (`runtime.context()`).
    """

    def __init__(self, csv: Path, header: dict, ctx: runtime.Context):
        self.csv, self.header, self.ctx = Path(csv), header, ctx
        self.folder = journal_folder(self.csv)
        self._out: IO[str] | None = None

    def start(self, paths: Sequence[str]) -> list[str]:
        """Join the other processes and return this one's share of the `paths` the journal does not hold."""
        runtime.setup(backend="gloo", timeout=FINISH_TIMEOUT)
        done = read_journal(self.folder, self.header)
        todo = [p for p in paths if p not in done]
        if len(todo) < len(paths) and self.ctx.is_main:
            log.info("%d of %d images already scored (journal %s), scoring %d", len(paths) - len(todo), len(paths),
                     self.folder, len(todo))
        runtime.barrier(self.ctx)  # every process has read the journal before any appends to it
        self.folder.mkdir(parents=True, exist_ok=True)
        self._out = open_for_append(self.folder / f"rank-{self.ctx.rank}-of-{self.ctx.world_size}.jsonl",
                                     self.header)
        return todo[self.ctx.rank::self.ctx.world_size]

    def append(self, row: dict) -> None:
        """Record a finished row (a `score.to_row` record), as one complete line on disk."""
        self._out.write(json.dumps(row) + "\n")
        self._out.flush()

    def finish(self, paths: Sequence[str], columns: Sequence[str]) -> pd.DataFrame | None:
        """Wait for every share; then process 0 writes the CSV (rows in the order of `paths`), removes the
        journal and returns the table, the others None."""
        self._out.close()
        runtime.barrier(self.ctx)
        if not self.ctx.is_main:
            return None
        done = read_journal(self.folder, self.header)
        table = pd.DataFrame([done[p] for p in paths], columns=list(columns))
        merged = self.folder / "merged.csv"
        table.to_csv(merged, index=False)
        os.replace(merged, self.csv)
        shutil.rmtree(self.folder)
        return table
