"""Sharded, resumable `liqe score --csv`: torchrun processes, killed and resumed runs write the single-process CSV.

The model is `--weights none --arch liqe-tiny`, seeded in `load_scoring_model`, so the
torchrun processes and this one build the same random model; on CPU each image has its
own forward pass, so the CSVs agree byte for byte.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_module
from PIL import Image

from liqe_lib import cli, score, sharding

REPO = Path(__file__).resolve().parents[1]
MODEL_ARGS = ("--weights", "none", "--arch", "liqe-tiny", "--device", "cpu")
SIZES = ((64, 48), (300, 200), (128, 128), (500, 333))  # (width, height): upscaled, cropped and square images
IMAGES = 20  # and one corrupt file: 10 per process, so a run killed after its first rows has most left


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    """`IMAGES` noise images of four sizes, JPEG and PNG, a third in a subfolder, and a text file named .jpg."""
    root = tmp_path_factory.mktemp("collection")
    (root / "sub").mkdir()
    rng = np.random.default_rng(0)
    for i in range(IMAGES):
        width, height = SIZES[i % len(SIZES)]
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / ("sub" if i % 3 == 0 else "") / f"im{i:02d}.{'png' if i % 2 else 'jpg'}")
    (root / "corrupt.jpg").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def reference(image_dir, tmp_path_factory) -> Path:
    """The CSV of one uninterrupted single-process `liqe score`."""
    out = tmp_path_factory.mktemp("reference") / "scores.csv"
    assert run_cli(image_dir, out) == 0
    assert not sharding.journal_folder(out).exists()
    return out


@pytest.fixture(scope="module")
def random_model():
    """The model and label `--weights none --arch liqe-tiny` gives, for writing journals by hand."""
    return score.load_scoring_model(score.RANDOM_WEIGHTS, "liqe-tiny", "cpu")


def run_cli(image_dir: Path, out: Path, *args: str) -> int:
    return cli.main(["score", *MODEL_ARGS, str(image_dir), "--csv", str(out), *args])


def torchrun(nproc: int, image_dir: Path, out: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                             str(nproc), "-m", "liqe_lib.cli", "score", *MODEL_ARGS, str(image_dir), "--csv", str(out),
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process: subprocess.Popen) -> tuple[str, str]:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stdout, stderr


def write_journal_file(file: Path, header: dict, rows: list[dict], tail: str = "") -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(json.dumps(line) + "\n" for line in [header, *rows]) + tail)


def scored_rows(model, label: str, paths: list[str]) -> list[dict]:
    """The records `liqe score` journals for `paths`."""
    return [score.to_row(s, label) for s in score.score_sources(model=model, items=((p, p) for p in paths))]


def test_two_processes_write_the_single_process_csv(image_dir, reference, tmp_path):
    out = tmp_path / "scores.csv"
    stdout, stderr = finish(torchrun(2, image_dir, out, "--batch-size", "3"))
    assert out.read_bytes() == reference.read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(reference), check_exact=True)
    assert not sharding.journal_folder(out).exists()
    assert stdout.count("p_bad") == 1, "only process 0 prints the table"
    assert stderr.count("cannot read") == 1 and f"{IMAGES} of {IMAGES + 1} images scored" in stderr


def test_killed_run_resumes_scoring_only_the_unscored_images(image_dir, reference, random_model, tmp_path):
    psutil = require_module("psutil", "to kill torchrun's workers, which it starts in sessions of their own")
    out = tmp_path / "scores.csv"
    journal, header, total = sharding.journal_folder(out), score.journal_header(*random_model), IMAGES + 1
    run = torchrun(2, image_dir, out, "--batch-size", "1")
    deadline = time.monotonic() + 120
    while not (journal.exists() and sharding.read_journal(journal, header)):
        assert run.poll() is None and time.monotonic() < deadline, "no row was journaled before the run ended"
        time.sleep(0.02)
    processes = [psutil.Process(run.pid), *psutil.Process(run.pid).children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs(processes, timeout=30)
    run.communicate()

    assert not out.exists()
    done = len(sharding.read_journal(journal, header))
    assert 0 < done < total
    stdout, stderr = finish(torchrun(2, image_dir, out, "--batch-size", "1"))
    assert f"{done} of {total} images already scored" in stderr and f"scoring {total - done}" in stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not journal.exists()


def test_journal_reader_skips_a_line_cut_short_by_a_kill(random_model, tmp_path):
    header = score.journal_header(*random_model)
    rows = [{"path": "a.jpg", "score": 1.25}, {"path": "b.jpg", "score": None, "error": "cannot read"}]
    file = tmp_path / "out.csv.parts" / "rank-1-of-2.jsonl"
    write_journal_file(file, header, rows, tail='{"path": "c.jpg", "sco')
    assert sharding.read_journal(file.parent, header) == {"a.jpg": rows[0], "b.jpg": rows[1]}


def test_resume_with_another_number_of_processes_scores_only_the_rest(image_dir, reference, random_model, tmp_path,
                                                                     monkeypatch, capsys):
    """One process finishes what a killed single process (its last line cut short) and then three killed
    processes left, appending to its own earlier file after the last complete line."""
    model, label = random_model
    header = score.journal_header(model, label)
    paths = score.expand_paths([str(image_dir)])
    done = paths[:1] + paths[4:6]
    rows = scored_rows(model, label, done)
    out = tmp_path / "scores.csv"
    journal = sharding.journal_folder(out)
    write_journal_file(journal / "rank-0-of-1.jsonl", header, rows[:1], tail='{"path": "half a line')
    for rank in range(3):
        write_journal_file(journal / f"rank-{rank}-of-3.jsonl", header, rows[1 + rank::3])
    original, scored = score.score_sources, []

    def spy(**kwargs):
        for result in original(**kwargs):
            scored.append(result.name)
            yield result

    monkeypatch.setattr(score, "score_sources", spy)
    assert run_cli(image_dir, out) == 0
    assert f"3 of {len(paths)} images already scored (journal {journal}), scoring {len(paths) - 3}" \
        in capsys.readouterr().err
    assert scored == [p for p in paths if p not in done]
    assert out.read_bytes() == reference.read_bytes()


def test_rerun_with_other_weights_is_refused_and_keeps_the_journal(image_dir, tiny_model, tmp_path, capsys):
    weights = tmp_path / "tuned.pt"
    tiny_model.save(weights)
    model, label = score.load_scoring_model(str(weights), None, "cpu")
    out = tmp_path / "scores.csv"
    journal_file = sharding.journal_folder(out) / "rank-0-of-1.jsonl"
    write_journal_file(journal_file, score.journal_header(model, label),
                       scored_rows(model, label, [str(image_dir / "im01.png")]))
    before = journal_file.read_bytes()
    assert run_cli(image_dir, out) == 2
    err = capsys.readouterr().err
    assert f"liqe score: error: {sharding.journal_folder(out)} holds rows of an unfinished run with other settings: " \
           f"weights {str(weights)!r} (now {score.RANDOM_LABEL!r})" in err
    assert "Delete" in err and "another --csv" in err and "Traceback" not in err
    assert journal_file.read_bytes() == before and not out.exists()


@pytest.mark.parametrize("rank", [0, 1])
def test_several_processes_without_csv_are_refused_once(image_dir, rank, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))
    assert cli.main(["score", *MODEL_ARGS, str(image_dir)]) == 2
    captured = capsys.readouterr()
    expected = "liqe score: error: 2 processes write one table: pass --csv OUT\n" if rank == 0 else ""
    assert (captured.out, captured.err) == ("", expected)
