"""The embedded synthetic dataset: generators, pseudo-MOS, a tiny deterministic build, and training on it."""
import hashlib
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

from liqe_lib.cli import main
from liqe_lib.data.dataset import IQADataset, MultiDatasetSampler
from liqe_lib.data.distortions import GENERATORS, LEVELS
from liqe_lib.data.labels import read_labels
from liqe_lib.data.pseudo_mos import full_reference_scores, ms_ssim_scales, pseudo_mos, to_batch
from liqe_lib.data.registry import get_spec
from liqe_lib.data.splits import partition_by_content
from liqe_lib.data.synthetic import PRISTINE, build_synthetic, fit, load_pristine, package_sources
from liqe_lib.vocab import DISTORTIONS, FINE_TO_COARSE, SCENES

TINY = ("camera", "chelsea")  # one grey photograph (toned), one colour one


def _tiny_sources():
    return [s for s in package_sources() if s.name in TINY]


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """Two contents at the smallest size (shorter side 224): 110 distorted images."""
    return build_synthetic(tmp_path_factory.mktemp("root") / "synthetic", seed=0, sources=_tiny_sources(), longer=224,
                           workers=1, progress=False)


def test_one_generator_per_distortion_class_in_vocab_order():
    assert tuple(g.coarse for g in GENERATORS) == DISTORTIONS
    assert all(g.fine in FINE_TO_COARSE and len(g.params) == LEVELS for g in GENERATORS)


def test_every_generator_departs_further_from_the_reference_at_each_level():
    reference, _ = load_pristine(_tiny_sources()[1], longer=224)
    pixels = np.asarray(reference, dtype=np.float64)
    for index, generator in enumerate(GENERATORS):
        errors = []
        for level in range(1, LEVELS + 1):
            image = generator(reference, level, np.random.default_rng(index))
            assert image.mode == "RGB" and image.size == reference.size
            errors.append(np.mean((np.asarray(image, dtype=np.float64) - pixels) ** 2))
        assert errors[0] > 0 and errors == sorted(errors), generator.fine
    with pytest.raises(ValueError, match="level 6"):
        GENERATORS[0](reference, 6, np.random.default_rng(0))


def test_package_sample_photographs_are_available_offline_with_scenes():
    sources = package_sources()
    assert len(sources) == len(PRISTINE) >= 15
    assert all(s.path.is_file() and s.scenes and set(s.scenes) <= set(SCENES) for s in sources)
    assert {scene for s in sources for scene in s.scenes} == set(SCENES)


def test_fit_keeps_longer_side_at_most_512_and_shorter_at_least_224():
    assert fit(Image.new("RGB", (1000, 872))).size == (384, 335)
    assert fit(Image.new("RGB", (451, 300))).size == (384, 255)
    assert fit(Image.new("RGB", (100, 80))).size == (384, 307)  # small images grow to the longer side
    assert fit(Image.new("RGB", (2000, 500)), longer=512).size == (512, 224)  # panorama: centre crop
    with pytest.raises(ValueError):
        fit(Image.new("RGB", (100, 80)), longer=600)


@pytest.mark.parametrize("side, scales", [(161, 5), (160, 4), (81, 4), (80, 3), (11, 1)])
def test_ms_ssim_uses_the_scales_that_fit_the_image(side, scales):
    assert ms_ssim_scales(side) == scales


def test_full_reference_metrics_run_on_images_too_small_for_five_ms_ssim_scales():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    noisy = np.clip(reference + rng.normal(0, 25, reference.shape), 0, 255).astype(np.uint8)
    scores = full_reference_scores(to_batch([reference, noisy]), to_batch([reference]))
    assert scores["ssim"][0] == pytest.approx(1.0, abs=1e-4) and scores["ssim"][1] < 0.99
    assert scores["gmsd"][0] == pytest.approx(0.0, abs=1e-4) and scores["gmsd"][1] > 0.01


def test_pseudo_mos_flips_distances_and_spans_one_to_five():
    scores = {"ssim": np.array([1.0, 0.5, 0.0]), "ms_ssim": np.array([1.0, 0.5, 0.0]),
              "fsim": np.array([0.9, 0.6, 0.3]), "vsi": np.array([1.0, 0.99, 0.98]),
              "gmsd": np.array([0.0, 0.1, 0.2]), "mdsi": np.array([0.1, 0.3, 0.5])}
    assert pseudo_mos(scores) == pytest.approx([5.0, 3.0, 1.0])


def test_tiny_build_labels_every_image_with_class_scene_and_pseudo_mos(tiny_set):
    rows = read_labels(tiny_set / "labels.txt")
    assert len(rows) == len(TINY) * len(DISTORTIONS) * LEVELS
    assert all((tiny_set / r.path).is_file() and 1.0 <= r.score <= 5.0 for r in rows)
    assert {r.coarse_distortion for r in rows} == set(DISTORTIONS)
    assert {r.scenes for r in rows} == {("human", "landscape"), ("animal",)}
    assert (tiny_set / "reference" / "camera.png").is_file()
    with Image.open(tiny_set / "reference" / "camera.png") as camera:
        red, _, blue = np.asarray(camera, dtype=np.float64).mean(axis=(0, 1))
    assert camera.size == (224, 224) and red > 1.2 * blue  # a grey source, toned warm


def test_pseudo_mos_falls_with_the_distortion_level_in_every_class(tiny_set):
    rows = read_labels(tiny_set / "labels.txt")
    for generator in GENERATORS:
        for content in TINY:
            scores = [r.score for r in rows if r.distortion == generator.fine and f"/{content}/" in r.path]
            assert spearmanr(range(LEVELS), scores).statistic <= -0.8, (generator.fine, content, scores)


def test_same_seed_gives_the_same_bytes(tiny_set, tmp_path):
    again = build_synthetic(tmp_path / "again", seed=0, sources=_tiny_sources(), longer=224, workers=1,
                            progress=False)
    assert _digest(again) == _digest(tiny_set)


def test_verify_passes_on_a_build_and_flags_a_changed_file(tiny_set, tmp_path, capsys):
    assert main(["data", "verify", "--root", str(tiny_set.parent), "--dataset", "synthetic"]) == 0
    copy = tmp_path / "synthetic"
    shutil.copytree(tiny_set, copy)
    (copy / "distorted" / "camera" / "contrast_1.png").write_bytes(b"changed")
    (copy / "distorted" / "camera" / "contrast_2.png").unlink()
    assert main(["data", "verify", "--root", str(tmp_path), "--dataset", "synthetic"]) == 1
    out = capsys.readouterr().out
    assert "missing: distorted/camera/contrast_2.png" in out and "differ from manifest.json" in out
    assert "liqe data synth" in out


def test_one_epoch_over_two_content_views_with_the_multi_dataset_sampler(tiny_set):
    rows = read_labels(tiny_set / "labels.txt")
    views = partition_by_content(rows, 2, get_spec("synthetic").content_of, seed=0)
    datasets = {f"synthetic-{i}": IQADataset(f"synthetic-{i}", tiny_set, view, train=True, spec=get_spec("synthetic"))
                for i, view in enumerate(views)}
    sampler = MultiDatasetSampler(datasets, {name: 4 for name in datasets}, seed=0)
    seen = {name: set() for name in datasets}
    for _ in range(-(-len(views[0]) // 4)):
        batches = sampler.next_batch()
        for name, batch in batches.items():
            assert batch["crops"].shape == (4, 3, 3, 224, 224) and batch["crops"].dtype == torch.uint8
            seen[name].update(batch["path"])
    assert all(seen[name] == {r.path for r in view} for name, view in zip(datasets, views))
    assert sampler.skipped == []
