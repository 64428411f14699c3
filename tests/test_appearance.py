"""Appearance attributes against closed-form values, tertile classes by hand, `liqe appearance`, and the
appearance task's labels (training-split tertiles, cached measurements)."""
import logging
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter
from train_fakes import write_fake_synthetic

from liqe_lib import appearance as ap
from liqe_lib import rundata
from liqe_lib.cli import main
from liqe_lib.config import DataConfig
from liqe_lib.data.labels import LabelRow, write_labels
from liqe_lib.vocab import UNKNOWN


def solid(rgb, size=(64, 64)) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (*size, 3)).copy()


def halves(left, right, size=64) -> np.ndarray:
    image = solid(left, (size, size))
    image[:, size // 2:] = right
    return image


def texture(seed=0, size=128) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


# --- attributes ----------------------------------------------------------------------------
def test_constant_grey_has_no_contrast_sharpness_or_colour():
    values = ap.appearance(solid((128, 128, 128)))
    assert values == {"brightness": pytest.approx(128 / 255), "contrast": 0.0, "sharpness": 0.0,
                      "colorfulness": 0.0}


def test_brightness_is_bt601_luma_on_unit_range():
    assert ap.brightness(solid((0, 0, 0))) == 0.0
    assert ap.brightness(solid((255, 255, 255))) == pytest.approx(1.0)
    assert ap.brightness(solid((0, 255, 0))) == pytest.approx(0.587)


def test_half_black_half_white_has_rms_contrast_one_half():
    image = halves((0, 0, 0), (255, 255, 255))
    assert ap.brightness(image) == pytest.approx(0.5)
    assert ap.contrast(image) == pytest.approx(0.5)


def test_saturated_red_colorfulness_is_hasler_suesstrunk_mean_term():
    # rg = 255, yb = 127.5 everywhere: no spread, M = 0.3 * sqrt(255^2 + 127.5^2)
    assert ap.colorfulness(solid((255, 0, 0))) == pytest.approx(0.3 * math.hypot(255, 127.5))
    assert ap.colorfulness(solid((255, 0, 0))) > ap.colorfulness(solid((90, 90, 90))) == 0.0


def test_red_green_halves_colorfulness_has_spread_and_mean_terms():
    # rg = +-255 (mean 0, sd 255); yb = 127.5 everywhere (mean 127.5, sd 0): M = 255 + 0.3 * 127.5
    assert ap.colorfulness(halves((255, 0, 0), (0, 255, 0))) == pytest.approx(293.25)


def test_sharpness_falls_as_blur_grows():
    image = texture()
    scores = [ap.sharpness(image)] + [ap.sharpness(image.filter(ImageFilter.GaussianBlur(s))) for s in (0.7, 1.5, 3)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    assert scores[0] > 5 * scores[-1]


def test_sharpness_ignores_a_uniform_brightness_offset():
    # the CDF 9/7 high-pass filters sum to zero, so a constant added to luma changes no sub-band
    image = np.asarray(texture(1), dtype=np.float64) * 0.5
    assert ap.sharpness(image + 60.0) == pytest.approx(ap.sharpness(image), rel=1e-9)


def test_sharpness_rejects_images_too_small_for_three_wavelet_levels():
    with pytest.raises(ValueError, match="at least 8 pixels"):
        ap.sharpness(solid((1, 2, 3), (4, 64)))


def test_cdf97_filters_are_normalised_like_bior44():
    assert ap.CDF97_LOW.sum() == pytest.approx(math.sqrt(2))
    assert ap.CDF97_HIGH.sum() == pytest.approx(0.0, abs=1e-11)


def test_non_rgb_arrays_are_refused():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        ap.appearance(np.zeros((16, 16)))


# --- tertiles ------------------------------------------------------------------------------
def test_tertiles_of_one_to_nine_split_three_three_three():
    classes, thresholds = ap.tertiles(np.arange(1, 10))
    assert thresholds == pytest.approx((11 / 3, 19 / 3))
    assert list(classes) == ["low"] * 3 + ["medium"] * 3 + ["high"] * 3


def test_values_on_a_threshold_are_medium():
    classes, thresholds = ap.tertiles([1.0, 2.0, 3.0, 4.0])
    assert thresholds == (2.0, 3.0)
    assert list(classes) == ["low", "medium", "medium", "high"]


def test_a_constant_attribute_is_all_medium():
    classes, _ = ap.tertiles([0.4] * 5)
    assert list(classes) == ["medium"] * 5


def test_test_split_is_classed_with_training_thresholds():
    _, train_thresholds = ap.tertiles(np.arange(1, 10))
    assert list(ap.classify([0.0, 5.0, 100.0], train_thresholds)) == ["low", "medium", "high"]


def test_unreadable_values_get_no_class_and_do_not_move_thresholds():
    classes, thresholds = ap.tertiles([1.0, 2.0, math.nan, 3.0, 4.0])
    assert thresholds == (2.0, 3.0)
    assert classes[2] is None


def test_add_levels_uses_given_thresholds_per_attribute():
    table = pd.DataFrame({name: [0.0, 1.0, 2.0] for name in ap.ATTRIBUTES})
    given = {name: (0.5, 1.5) for name in ap.ATTRIBUTES}
    out, used = ap.add_levels(table, given)
    assert used == given
    assert list(out["sharpness_level"]) == ["low", "medium", "high"]


# --- datasets and the command --------------------------------------------------------------
def make_dataset(folder, n=6) -> list[LabelRow]:
    """n solid-colour images of rising grey level plus one corrupt file, with synthetic-format labels."""
    rows = []
    for i in range(n):
        path = f"distorted/c{i}/img.png"
        (folder / path).parent.mkdir(parents=True)
        Image.fromarray(solid((40 * i, 40 * i, 40 * i))).save(folder / path)
        rows.append(LabelRow(path, float(i), UNKNOWN, ()))
    (folder / "distorted/broken").mkdir(parents=True)
    (folder / "distorted/broken/img.png").write_bytes(b"not a png")
    rows.append(LabelRow("distorted/broken/img.png", 0.0, UNKNOWN, ()))
    write_labels(rows, folder / "labels.txt")
    return rows


def test_unreadable_images_keep_a_row_and_are_reported(tmp_path, caplog):
    rows = make_dataset(tmp_path)
    with caplog.at_level(logging.WARNING, logger="liqe_lib.appearance"):
        table = ap.measure_rows(rows, tmp_path, progress=False)
    assert list(table["path"]) == [row.path for row in rows]
    assert table["error"].notna().sum() == 1 and math.isnan(table["brightness"].iloc[-1])
    assert "1 of 7 images" in caplog.text and "broken/img.png" in caplog.text
    assert table["brightness"].iloc[:6].tolist() == pytest.approx([40 * i / 255 for i in range(6)])


def test_liqe_appearance_writes_levels_next_to_the_labels(tmp_path, capsys):
    make_dataset(tmp_path / "synthetic")
    assert main(["appearance", "--dataset", "synthetic", "--root", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "synthetic" / "labels_appearance.csv")
    assert list(table.columns) == ["path", "score", *ap.ATTRIBUTES, *(f"{a}_level" for a in ap.ATTRIBUTES), "error"]
    assert table["brightness_level"].tolist()[:6] == ["low", "low", "medium", "medium", "high", "high"]
    assert table["brightness_level"].isna().iloc[-1]
    assert "6 of 7 images measured, 1 unreadable" in capsys.readouterr().err


def test_appearance_file_of_an_official_set_sits_beside_its_all_labels(tmp_path):
    assert ap.appearance_file("csiq", labels_dir=tmp_path) == tmp_path / "CSIQ/splits2/csiq_all_clip_appearance.csv"


def test_liqe_appearance_names_a_missing_label_file(tmp_path, capsys):
    (tmp_path / "synthetic").mkdir()
    assert main(["appearance", "--dataset", "synthetic", "--root", str(tmp_path)]) == 2
    assert "labels.txt" in capsys.readouterr().err


# --- labels of the appearance task ---------------------------------------------------------
def test_task_labels_class_every_split_by_the_training_splits_tertiles(tmp_path):
    data = DataConfig(root=str(write_fake_synthetic(tmp_path)), split="random", session=1)
    labels = rundata.appearance_labels("synthetic", data)
    table = pd.read_csv(ap.appearance_file("synthetic", data.root))  # measured once, cached next to the labels
    splits = rundata.split_rows("synthetic", data)
    train = table[table["path"].isin({r.path for r in splits["train"]})]
    for i, attribute in enumerate(ap.ATTRIBUTES):
        low, high = ap.tertile_thresholds(train[attribute])
        for path, value in zip(table["path"], table[attribute]):
            assert labels[path][i] == (0 if value < low else 2 if value > high else 1)
    train_levels = [labels[r.path] for r in splits["train"]]
    assert all(sum(level[i] == k for level in train_levels) >= 5 for i in range(4) for k in range(3))  # 16 rows
    assert rundata.appearance_labels("synthetic", data, "all") != labels  # the whole set's tertiles differ


def test_measurements_are_read_from_the_cache_until_the_labels_change(tmp_path, monkeypatch):
    rows = make_dataset(tmp_path / "synthetic")
    first = ap.measurements("synthetic", tmp_path)
    monkeypatch.setattr(ap, "annotate_dataset", lambda *a, **k: pytest.fail("measured again"))
    cached = ap.measurements("synthetic", tmp_path)
    pd.testing.assert_frame_equal(cached[list(ap.ATTRIBUTES)], first[list(ap.ATTRIBUTES)])
    monkeypatch.undo()
    write_labels([LabelRow(r.path, r.score + 1, r.distortion, r.scenes) for r in rows],
                 tmp_path / "synthetic" / "labels.txt")
    assert ap.measurements("synthetic", tmp_path)["score"].tolist() == [r.score + 1 for r in rows]


def test_an_unmeasurable_image_has_no_appearance_label(tmp_path):
    make_dataset(tmp_path / "synthetic")
    labels = rundata.appearance_labels("synthetic", DataConfig(root=str(tmp_path), split="random"), "all")
    assert labels["distorted/broken/img.png"] == (-1, -1, -1, -1)
    assert [labels[f"distorted/c{i}/img.png"][0] for i in range(6)] == [0, 0, 1, 1, 2, 2]  # brightness


def test_a_cache_without_an_attribute_column_is_measured_again(tmp_path):
    """A file written before an attribute was renamed (colourfulness -> colorfulness) is stale, not a KeyError."""
    make_dataset(tmp_path / "synthetic")
    path, first = ap.annotate_dataset("synthetic", tmp_path, progress=False)
    first.rename(columns={"colorfulness": "colourfulness"}).to_csv(path, index=False)
    again = ap.measurements("synthetic", tmp_path)
    pd.testing.assert_series_equal(again["colorfulness"], first["colorfulness"])
    assert "colorfulness" in pd.read_csv(path).columns
