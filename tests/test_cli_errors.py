"""Every `liqe` command reports a user-fixable error as one line, exit status 2, no traceback (unless -v)."""
import pytest

from liqe_lib import cli, pretrained

ROW = "distorted/chelsea/darken_{i}.png\t{score}\tdarken\tanimal\tinvalid\tinvalid\n"


@pytest.fixture
def bad_synthetic_root(tmp_path):
    """A data root whose synthetic set's labels.txt says `four` on line 5 (so it is not rebuilt, and fails to read)."""
    labels = tmp_path / "synthetic" / "labels.txt"
    labels.parent.mkdir()
    labels.write_text("".join(ROW.format(i=i, score=s) for i, s in enumerate(["4.1", "3.2", "2.5", "1.7", "four"])))
    return tmp_path


def run(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_a_bad_label_row_is_one_line_without_a_traceback(bad_synthetic_root, capsys):
    code, err = run(["train", "--profile", "smoke", "--set", f"data.root={bad_synthetic_root}"], capsys)
    labels = bad_synthetic_root / "synthetic" / "labels.txt"
    assert code == 2 and "Traceback" not in err
    assert f"liqe train: error: {labels}:5: score 'four' is not a number" in err


def test_verbose_shows_the_traceback_too(bad_synthetic_root, capsys):
    code, err = run(["-v", "train", "--profile", "smoke", "--set", f"data.root={bad_synthetic_root}"], capsys)
    assert code == 2 and "Traceback (most recent call last)" in err and "LabelFormatError" in err
    assert err.rstrip().endswith("score 'four' is not a number")


def test_a_bad_row_of_a_users_csv_is_one_line_per_problem(tmp_path, capsys):
    (tmp_path / "mine.csv").write_text("path,mos\nmissing.png,3\n")
    code, err = run(["train", "--data", str(tmp_path / "mine.csv")], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'mine.csv'}:2: image 'missing.png' not found" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "--set", "optim.lrr=1"], "liqe train: error: override 'optim.lrr': no key 'optim.lrr'"),
    (["train", "--config", "/nowhere/run.yaml"], "liqe train: error: config file /nowhere/run.yaml does not exist"),
    (["evaluate", "--checkpoint", "none", "--dataset", "nosuch", "--probe", "ridge", "--arch", "liqe-tiny"],
     "liqe evaluate: error: unknown dataset 'nosuch'; choose one of"),
    (["export", "/nowhere/best.pt", "--format", "clip", "--out", "x.pt"],
     "liqe export: error: '/nowhere/best.pt' is not an open_clip pretrained tag"),
])
def test_config_data_and_weights_errors_are_one_line(argv, message, capsys):
    code, err = run(argv, capsys)
    assert code == 2 and message in err.strip().splitlines()[-1] and "Traceback" not in err


def test_a_named_model_missing_offline_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path))
    code, err = run(["score", "photo.jpg", "--model", "liqe-official"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "LIQE.pt is not in the cache folder" in err and str(tmp_path / "LIQE.pt") in err
