"""The ridge probe on features known in closed form, and end to end with a random liqe-tiny model."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageFilter

from liqe_lib.cli import main
from liqe_lib.crops import eval_crops, normalize
from liqe_lib.data.labels import LabelRow, write_labels
from liqe_lib.probe import ALPHAS, extract_features, fit_ridge, run_probe
from liqe_lib.vocab import UNKNOWN

PARTS = ("train", "val", "test")


def linear_problem(sizes=(70, 10, 20), d=32, noise=0.1, seed=0):
    """features {path: x} and splits of (path, score) with score = x . w + noise (relative to the signal)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d) / np.sqrt(d)
    features, splits, k = {}, {}, 0
    for part, n in zip(PARTS, sizes):
        splits[part] = []
        for _ in range(n):
            x = rng.normal(size=d)
            features[f"img{k}.png"] = x
            splits[part].append((f"img{k}.png", float(x @ w + noise * rng.normal())))
            k += 1
    return features, splits


def arrays(features, pairs):
    return np.stack([features[p] for p, _ in pairs]), np.array([s for _, s in pairs])


# --- ridge on known features -----------------------------------------------------------------
def test_probe_recovers_a_linear_signal_from_known_features():
    features, splits = linear_problem(noise=0.3)
    result = run_probe(None, splits, features=features)
    assert result.srcc > 0.9 and result.plcc_raw > 0.9
    assert (result.n_train, result.n_val, result.n_test) == (70, 10, 20)
    assert result.alpha in ALPHAS and list(result.curve["alpha"]) == sorted(ALPHAS)
    assert list(result.predictions.columns) == ["path", "score", "prediction"] and len(result.predictions) == 20


def test_alpha_grows_with_label_noise_when_features_outnumber_images():
    clean_features, clean = linear_problem(sizes=(200, 100, 30), d=16, noise=0.05)
    noisy_features, noisy = linear_problem(sizes=(40, 100, 30), d=200, noise=2.0)
    assert run_probe(None, clean, features=clean_features).alpha <= 10
    assert run_probe(None, noisy, features=noisy_features).alpha >= 100


def test_alpha_stays_small_when_a_nuisance_feature_must_be_cancelled():
    # x = (s + n, n, ...) with a loud nuisance n: only a weakly regularised fit subtracts it, while heavy
    # shrinkage leans on the first feature alone and ranks by the nuisance.
    rng = np.random.default_rng(3)
    features, splits, k = {}, {}, 0
    for part, n in zip(PARTS, (70, 30, 30)):
        splits[part] = []
        for _ in range(n):
            signal, nuisance = rng.normal(), 30 * rng.normal()
            features[f"{k}"] = np.r_[signal + nuisance, nuisance, rng.normal(size=6)]
            splits[part].append((f"{k}", signal))
            k += 1
    result = run_probe(None, splits, features=features)
    assert result.alpha <= 1 and result.srcc > 0.99
    assert result.curve["val_srcc"].iloc[-1] < 0.5  # alpha = 1e4 would have failed


def test_equal_validation_errors_pick_the_larger_alpha():
    # constant features: every alpha predicts the training mean, so the tie goes to the largest alpha
    x = np.zeros((6, 3))
    alpha, curve, prediction = fit_ridge((x, np.arange(6.0)), (x[:3], np.array([1.0, 2.0, 3.0])), x[:2], (0.1, 1, 10))
    assert alpha == 10 and curve["val_rmse"].nunique() == 1
    assert prediction.tolist() == pytest.approx([2.5, 2.5])


def test_images_without_features_are_skipped_and_listed():
    features, splits = linear_problem()
    del features[splits["train"][0][0]], features[splits["test"][0][0]]
    result = run_probe(None, splits, features=features)
    assert result.skipped == sorted([splits["train"][0][0], splits["test"][0][0]])
    assert (result.n_train, result.n_test) == (69, 19)


def test_a_split_without_test_part_is_refused():
    features, splits = linear_problem()
    del splits["test"]
    with pytest.raises(ValueError, match="lack part"):
        run_probe(None, splits, features=features)


# --- end to end with liqe-tiny -----------------------------------------------------------------
def blurred_images(folder, n, prefix="distorted") -> list[LabelRow]:
    """n 256x256 textures blurred more and more; the score is the negative blur radius."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = f"{prefix}/c{i}/img.png"
        (folder / path).parent.mkdir(parents=True)
        texture = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
        texture.filter(ImageFilter.GaussianBlur(0.3 * i)).save(folder / path)
        rows.append(LabelRow(path, -0.3 * i, UNKNOWN, ()))
    return rows


def test_features_are_the_mean_of_normalised_crop_embeddings(tmp_path, tiny_model):
    rows = blurred_images(tmp_path, 1)
    features, skipped = extract_features(tiny_model, rows, tmp_path, progress=False)
    image = Image.open(tmp_path / rows[0].path).convert("RGB")
    with torch.no_grad():
        expected = tiny_model.clip.encode_image(normalize(eval_crops(image)), normalize=True).mean(dim=0)
    assert skipped == [] and features[rows[0].path].shape == (128,)
    np.testing.assert_allclose(features[rows[0].path], expected.numpy(), atol=1e-5)


def test_a_bare_open_clip_model_gives_the_liqe_models_features_whatever_the_batch(tmp_path, tiny_model):
    rows = blurred_images(tmp_path, 3)
    wrapped, _ = extract_features(tiny_model, rows, tmp_path, batch_size=3, n_crops=2, progress=False)
    bare, _ = extract_features(tiny_model.clip, rows, tmp_path, batch_size=1, n_crops=2, progress=False)
    for row in rows:
        np.testing.assert_allclose(wrapped[row.path], bare[row.path], atol=1e-5)


def test_probe_extracts_features_itself_and_skips_an_unreadable_image(tmp_path, tiny_model):
    rows = blurred_images(tmp_path, 12)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    splits = {"train": rows[0:12:2] + [LabelRow("broken.png", 0.0, UNKNOWN, ())], "val": rows[1:7:2],
              "test": rows[7:12:2]}
    result = run_probe(tiny_model, splits, tmp_path, batch_size=8, n_crops=2, progress=False)
    assert result.skipped == ["broken.png"]
    assert (result.n_train, result.n_val, result.n_test) == (6, 3, 3)
    assert result.alpha in ALPHAS and np.isfinite(result.predictions["prediction"]).all()
    assert -1 <= result.srcc <= 1


def test_liqe_probe_end_to_end_on_twelve_images_over_two_sessions(tmp_path, capsys):
    folder = tmp_path / "synthetic"
    write_labels(blurred_images(folder, 12), folder / "labels.txt")
    out = tmp_path / "probe.csv"
    code = main(["probe", "--weights", "none", "--arch", "liqe-tiny", "--dataset", "synthetic", "--root",
                 str(tmp_path), "--session", "1", "2", "--device", "cpu", "--csv", str(out)])
    assert code == 0
    table = pd.read_csv(out)
    assert table["session"].tolist() == [1, 2] and (table["split"] == "random").all()
    assert (table[["n_train", "n_val", "n_test"]].sum(axis=1) == 12).all() and (table["n_val"] >= 1).all()
    assert set(table["alpha"]) <= set(ALPHAS) and table["srcc"].between(-1, 1).all()
    assert "median over 2 sessions" in capsys.readouterr().out


def test_liqe_probe_names_a_missing_weights_file(tmp_path, capsys):
    code = main(["probe", "--weights", str(tmp_path / "missing.pt"), "--arch", "liqe-tiny", "--dataset", "synthetic",
                 "--root", str(tmp_path)])
    assert code == 2
    assert "missing.pt" in capsys.readouterr().err
