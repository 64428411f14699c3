"""`liqe score`: folders, globs, error rows, exit status, the random-weights label, and agreement with LIQE.score."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from liqe_lib import cli, score


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory, sample_images):
    """Two good images (one in a subfolder), a truncated JPEG, a text file named .png, and notes.txt."""
    root = tmp_path_factory.mktemp("images")
    jpeg, png = sample_images
    shutil.copy(jpeg, root / "good.jpg")
    (root / "sub").mkdir()
    shutil.copy(png, root / "sub" / "good.png")
    (root / "sub" / "truncated.jpg").write_bytes(jpeg.read_bytes()[:5000])
    (root / "fake.png").write_text("not an image")
    (root / "notes.txt").write_text("not listed: folders keep image files only")
    return root


@pytest.fixture
def random_tiny(monkeypatch, tiny_model):
    """Make `--weights none --arch liqe-tiny` reuse the session's seeded tiny model instead of building one."""
    monkeypatch.setattr(score, "load_model", lambda arch, weights, **kwargs: tiny_model)
    return tiny_model


def run_cli(*args: str) -> int:
    return cli.main(["score", "--weights", "none", "--arch", "liqe-tiny", "--device", "cpu", *args])


def test_score_cli_writes_error_row_for_truncated_jpeg(image_dir, random_tiny, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert run_cli(str(image_dir), "--csv", str(out), "--batch-size", "3") == 0
    table = pd.read_csv(out).set_index("path")
    assert sorted(table.index) == sorted(str(image_dir / n) for n in
                                         ("good.jpg", "sub/good.png", "sub/truncated.jpg", "fake.png"))
    errors = table["error"].dropna()
    assert set(errors.index) == {str(image_dir / "sub/truncated.jpg"), str(image_dir / "fake.png")}
    assert "truncated" in errors[str(image_dir / "sub/truncated.jpg")]
    assert table.loc[errors.index, "score"].isna().all()
    stderr = capsys.readouterr().err
    assert stderr.count("liqe score: cannot read") == 2 and "Traceback" not in stderr


def test_score_cli_rows_match_python_api(image_dir, random_tiny, tmp_path):
    out = tmp_path / "scores.csv"
    run_cli(str(image_dir / "good.jpg"), str(image_dir / "sub" / "good.png"), "--csv", str(out))
    table = pd.read_csv(out)
    expected = random_tiny.score([image_dir / "good.jpg", image_dir / "sub" / "good.png"])
    assert table["score"].tolist() == pytest.approx([r.score for r in expected], abs=1e-6)
    assert table[["p_bad", "p_poor", "p_fair", "p_good", "p_perfect"]].to_numpy() == pytest.approx(
        np.array([list(r.quality_probs.values()) for r in expected]), abs=1e-6)
    assert table["scene"].tolist() == [r.scenes[0][0] for r in expected]
    assert table["distortion"].tolist() == [r.distortion for r in expected]


def test_score_cli_batches_do_not_change_scores(image_dir, random_tiny, tmp_path):
    one, many = tmp_path / "one.csv", tmp_path / "many.csv"
    run_cli(str(image_dir), "--csv", str(one), "--batch-size", "1")
    run_cli(str(image_dir), "--csv", str(many), "--batch-size", "8")
    assert pd.read_csv(one)["score"].to_numpy() == pytest.approx(pd.read_csv(many)["score"].to_numpy(),
                                                                 abs=1e-5, nan_ok=True)


def test_score_cli_says_random_weights_in_stderr_and_every_row(image_dir, random_tiny, capsys):
    assert run_cli(str(image_dir / "good.jpg"), "--json") == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [row["weights"] for row in rows] == [score.RANDOM_LABEL]
    assert "random liqe-tiny model, scores are meaningless" in captured.err


def test_score_cli_exits_non_zero_when_nothing_could_be_scored(image_dir, random_tiny, capsys):
    assert run_cli(str(image_dir / "fake.png"), str(image_dir / "missing.jpg"), "--json") == 1
    rows = json.loads(capsys.readouterr().out)
    assert [row["score"] for row in rows] == [None, None]
    assert "No such file" in rows[1]["error"]


def test_score_cli_expands_globs_and_keeps_each_file_once(image_dir):
    paths = score.expand_paths([str(image_dir / "**" / "*.jpg"), str(image_dir / "good.jpg"), str(image_dir / "x*")])
    assert paths == [str(image_dir / "good.jpg"), str(image_dir / "sub" / "truncated.jpg"), str(image_dir / "x*")]


def test_score_cli_without_weights_explains_how_to_supply_them(monkeypatch, capsys):
    monkeypatch.delenv(score.WEIGHTS_ENV, raising=False)
    assert cli.main(["score", "a.jpg"]) == 2
    err = capsys.readouterr().err
    assert "no LIQE weights given" in err and "--weights" in err and "Traceback" not in err


def test_score_cli_names_a_missing_weights_file(capsys):
    assert cli.main(["score", "a.jpg", "--weights", "/nowhere/LIQE.pt"]) == 2
    assert "weights file /nowhere/LIQE.pt does not exist" in capsys.readouterr().err


def test_score_cli_reads_a_saved_checkpoint(image_dir, tiny_model, tmp_path, capsys):
    checkpoint = tmp_path / "tiny.pt"
    tiny_model.save(checkpoint)
    assert cli.main(["score", str(image_dir / "good.jpg"), "--weights", str(checkpoint), "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    assert row["weights"] == str(checkpoint)
    assert row["score"] == pytest.approx(tiny_model.score(image_dir / "good.jpg")[0].score, abs=1e-5)
