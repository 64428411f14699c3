"""gMAD pair search on hand-made scores, its figure, and the playground scorer's cache and resume."""
import json
import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from liqe_lib import gmad

# Both models span 0..10, so with band=0.05 every band is its centre +- 0.5; levels at quantiles
# 0 and 1 put the centres at each model's minimum and maximum. Known answers (better, worse, gap):
#   A defends low  (A <= 0.5:  img0 img1 img2): B = 4, 1, 2.5     -> img0, img1, 3
#   A defends high (A >= 9.5:  img7 img8 img9): B = 7, 9, 10      -> img9, img7, 3
#   B defends low  (B <= 0.5:  img3 img4 img5): A = 2, 3, 5       -> img5, img3, 3
#   B defends high (B >= 9.5:  img6 img9):      A = 6, 10         -> img9, img6, 4
IDS = [f"img{i}" for i in range(10)]
A = pd.Series([0.0, 0.3, 0.4, 2.0, 3.0, 5.0, 6.0, 9.6, 9.9, 10.0], index=IDS)
B = pd.Series([4.0, 1.0, 2.5, 0.0, 0.2, 0.45, 9.6, 7.0, 9.0, 10.0], index=IDS)
EXTREMES = {"low": 0.0, "high": 1.0}


def extreme_pairs(a: pd.Series = A, b: pd.Series = B) -> pd.DataFrame:
    return gmad.gmad_pairs({"A": a, "B": b}, levels=EXTREMES, band=0.05).set_index(["defender", "level"])


def test_gmad_finds_the_pair_the_attacker_splits_most_in_each_defender_band():
    pairs = extreme_pairs()
    found = {key: (row.better, row.worse, row.attacker_gap) for key, row in pairs.iterrows()}
    assert found == {("A", "low"): ("img0", "img1", 3.0), ("A", "high"): ("img9", "img7", 3.0),
                     ("B", "low"): ("img5", "img3", 3.0), ("B", "high"): ("img9", "img6", 4.0)}
    assert pairs["attacker"].tolist() == ["B", "B", "A", "A"]


def test_gmad_reports_defender_spread_candidates_and_relative_gap():
    pairs = extreme_pairs()
    assert pairs["defender_spread"].tolist() == pytest.approx([0.3, 0.4, 0.45, 0.4])
    assert pairs["n_candidates"].tolist() == [3, 3, 3, 2]
    assert pairs["attacker_gap_rel"].tolist() == pytest.approx([0.3, 0.3, 0.3, 0.4])
    assert pairs.loc[("B", "high"), ["attacker_better", "attacker_worse", "defender_better", "defender_worse"]
                     ].tolist() == [10.0, 6.0, 10.0, 9.6]


def test_gmad_centres_levels_on_defender_score_quantiles():
    ids = [f"i{k}" for k in range(101)]
    defender = pd.Series(np.arange(101.0), index=ids)  # quantile q is the score 100 q
    attacker = pd.Series(np.random.default_rng(0).normal(size=101), index=ids)
    pairs = gmad.gmad_pairs({"D": defender, "X": attacker}).query("defender == 'D'").set_index("level")
    assert pairs["centre"].to_dict() == {"low": 10.0, "high": 90.0}
    assert pairs["n_candidates"].tolist() == [5, 5]  # band 0.02 * range 100: centre +- 2
    low = attacker.loc[[f"i{k}" for k in range(8, 13)]]
    assert (pairs.loc["low", "better"], pairs.loc["low", "worse"]) == (low.idxmax(), low.idxmin())


def test_gmad_ignores_images_one_model_could_not_score():
    pairs = extreme_pairs(b=B.where(B.index != "img0"))  # img0, A-low's winner, unscored by B
    low = pairs.loc[("A", "low")]
    assert (low["better"], low["worse"], low["attacker_gap"], low["n_candidates"]) == ("img2", "img1", 1.5, 2)


def test_gmad_picks_two_distinct_images_when_the_attacker_ties():
    flat = pd.Series(5.0, index=IDS)
    pairs = gmad.gmad_pairs({"A": A, "B": flat}, levels={"low": 0.0}, band=0.05).set_index("defender")
    assert pairs.loc["A", ["better", "worse", "attacker_gap"]].tolist() == ["img2", "img0", 0.0]


def test_a_band_too_narrow_for_a_pair_compares_the_two_images_nearest_its_centre_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="liqe_lib.gmad"):
        pairs = gmad.gmad_pairs({"A": A, "B": B}, levels=EXTREMES, band=0.01).set_index(["defender", "level"])
    assert "defender A, level low: 1 image(s) within" in caplog.text
    low = pairs.loc[("A", "low")]
    assert low["n_candidates"] == 2 and {low["better"], low["worse"]} == {"img0", "img1"}  # A = 0.0 and 0.3


def test_gmad_figure_shows_each_pair_with_both_scores(tmp_path):
    pairs = extreme_pairs().reset_index()
    colours = {i: (25 * k, 100, 200) for k, i in enumerate(IDS)}
    figure = gmad.plot_pairs(pairs, image=lambda i: Image.new("RGB", (48, 32), colours[i]),
                             path=tmp_path / "gmad.png")
    with Image.open(tmp_path / "gmad.png") as png:
        assert png.format == "PNG" and png.size == (600, 1200)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:2] == ["A: 0.000   B: 4.000", "A: 0.300   B: 1.000"]
    assert titles[6:] == ["B: 10.000   A: 10.000", "B: 9.600   A: 6.000"]


@pytest.fixture
def playground(tmp_path):
    """Four small distinct images and one truncated PNG."""
    paths = []
    for k in range(4):
        path = tmp_path / f"p{k}.png"
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(paths[0].read_bytes()[:100])
    return paths[:2] + [bad] + paths[2:]


@pytest.fixture
def counted(monkeypatch, tiny_model):
    """The tiny model, recording how many images each `score_crops` call (one per batch) receives."""
    calls: list[int] = []
    score_crops = tiny_model.score_crops
    monkeypatch.setattr(tiny_model, "score_crops", lambda crops, names: calls.append(len(names)) or
                        score_crops(crops, names))
    return tiny_model, calls


def test_playground_scores_resume_from_the_cache_without_rescoring(playground, counted, tmp_path, caplog):
    model, calls = counted
    cache = tmp_path / "scores.jsonl"
    first = gmad.score_playground(model, playground[:2], cache, batch_size=2)
    assert calls == [2]
    with caplog.at_level(logging.WARNING, logger="liqe_lib.gmad"):
        full = gmad.score_playground(model, playground, cache, batch_size=2)
    assert calls == [2, 1, 1]  # [bad.png, p2] (bad.png decoded away), then [p3]
    assert full.index.tolist() == [str(p) for p in playground if p.name != "bad.png"]
    assert full[first.index].tolist() == first.tolist()
    assert "skipped 1 unreadable of 5 images" in caplog.text
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in playground]
    assert gmad.score_playground(model, playground, cache).tolist() == full.tolist()
    assert calls == [2, 1, 1]  # everything came from the cache
    assert full.tolist() == pytest.approx([r.score for r in model.score(full.index.tolist())], abs=1e-6)


def test_playground_cache_survives_a_torn_last_line(playground, tiny_model, tmp_path):
    cache = tmp_path / "scores.jsonl"
    gmad.score_playground(tiny_model, playground[:1], cache)
    with open(cache, "a") as handle:
        handle.write('{"path": "' + str(playground[1]))  # the run was killed mid-write
    scores = gmad.score_playground(tiny_model, playground[:2], cache)
    assert scores.index.tolist() == [str(p) for p in playground[:2]]
    assert len(gmad.read_cache(cache)) == 2
