"""`liqe data standin`: a data root in every release's layout that the project's own readers accept."""
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from liqe_lib.cli import main
from liqe_lib.data.registry import (DATASETS, PARTS, dataset_dir, get_spec, labels_root, load_rows,
                                    playground_images)
from liqe_lib.data.splits import SESSIONS, load_official_split
from liqe_lib.data.standin import (MARKER, NOTE, RELEASE_SIZE, build_standin, image_size, plan_standin,
                                   standin_note)
from liqe_lib.data.verify import default_datasets, verify_dataset

IMAGES = 8
REAL = [name for name, spec in DATASETS.items() if spec.label_source != "synthetic"]
LABELLED = [name for name in REAL if DATASETS[name].label_source != "unlabelled"]
OFFICIAL = [name for name in REAL if DATASETS[name].label_source == "liqe"]


@pytest.fixture(scope="module")
def standin(shared_labels, tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    plan = build_standin(root, IMAGES, seed=0, official_labels=shared_labels, progress=False)
    return root, plan


def _written_rows(plan, name):
    return {image.path: image.row.score for image in plan[name] if image.row is not None}


def test_every_dataset_verifies_and_the_cli_exits_zero(standin, capsys):
    root, _ = standin
    for name in REAL:
        report = verify_dataset(name, root)
        assert report.ok, report.format()
        assert report.rows == IMAGES and report.found == IMAGES
    assert main(["data", "verify", "--data-root", str(root)]) == 0
    assert "10 of 10 dataset(s) complete" in capsys.readouterr().out


@pytest.mark.parametrize("name", LABELLED)
def test_each_reader_reads_back_the_written_scores_exactly(standin, name):
    root, plan = standin
    assert {row.path: row.score for row in load_rows(name, root)} == _written_rows(plan, name)


def test_release_files_sit_where_the_releases_put_them(standin):
    root, _ = standin
    expected = ["databaserelease2/refnames_all.mat", "tid2013/mos_with_names.txt",
                "SPAQ/Annotations/MOS and Image attribute scores.xlsx", "liqe_labels/CSIQ/splits2/csiq_all.txt",
                "liqe_labels/BID/splits2/bid_val_clip.txt", "liqe_labels/kadid10k/splits2/10/kadid10k_test_clip.txt"]
    assert all((root / path).is_file() for path in expected)
    assert {p.name for p in (root / "PIPAL").iterdir()} <= {"Train_Label", "Train_Ref", "Distortion_1",
                                                            "Distortion_2", "Distortion_3", "Distortion_4"}
    assert (root / "PIPAL" / "Train_Ref").is_dir() and not (root / "PIPAL" / "Train_Dist").exists()
    tid_first = (root / "tid2013" / "mos_with_names.txt").read_text().split("\n")[0].split(" ")
    assert len(tid_first) == 2 and float(tid_first[0]) >= 0 and tid_first[1].startswith("i")
    assert all(p.suffix == ".bmp" for p in (root / "exploration_database_and_code" / "pristine_images").iterdir())


@pytest.mark.parametrize("name", OFFICIAL)
def test_session_files_parse_for_all_ten_sessions_and_keep_images_in_every_part(standin, name):
    root, _ = standin
    everything = {row.path for row in load_rows(name, root)}
    smallest = []
    for session in SESSIONS:
        split = load_official_split(name, session, labels_root(root))
        assert set().union(*({row.path for row in split[part]} for part in PARTS)) == everything
        smallest.append(min(len(split[part]) for part in PARTS))
    # 8 images cannot give 2 to each of 30 (session, part) cells of the content-grouped sets
    assert min(smallest) >= (1 if get_spec(name).synthetic else 2)


def test_live_groups_images_by_the_written_refnames_all(standin):
    root, _ = standin
    spec = get_spec("live")
    contents = {spec.content_of(row.path, root) for row in load_rows("live", root)}
    assert all((dataset_dir(spec, root) / "refimgs" / content).is_file() for content in contents)


def _noise(path: Path) -> float:
    gray = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return float(np.std(gray - ndimage.gaussian_filter(gray, 2)))


@pytest.mark.parametrize("name", LABELLED)
def test_score_falls_strictly_with_the_measured_noise(standin, name):
    root, _ = standin
    rows = load_rows(name, root)
    noise = [_noise(dataset_dir(name, root) / row.path) for row in rows]
    assert stats.spearmanr([row.score for row in rows], noise)[0] == pytest.approx(-1.0)


def test_two_builds_with_one_seed_are_byte_identical(standin, shared_labels, tmp_path):
    root, _ = standin
    build_standin(tmp_path, IMAGES, seed=0, official_labels=shared_labels, progress=False)
    first = {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert first.keys() == second.keys() and len(first) > 10 * IMAGES
    assert [path for path in first if first[path] != second[path]] == []


def test_marker_and_note_say_stand_in(standin, tmp_path):
    root, _ = standin
    marker = json.loads((root / MARKER).read_text())
    assert marker["standin"] is True and marker["note"] == NOTE
    assert marker["seed"] == 0 and marker["images_per_dataset"] == IMAGES
    assert "not a result" in standin_note(root) and "8 images per dataset" in standin_note(root)
    assert standin_note(tmp_path) is None


def test_full_plan_has_every_image_of_every_release_at_its_real_size(shared_labels):
    plan = plan_standin(None, 0, shared_labels)
    for name in REAL:
        images = [image for image in plan[name] if image.row is not None or name == "waterloo"]
        assert len(images) == DATASETS[name].n_images, name
        assert {image.size for image in plan[name]} == {RELEASE_SIZE[name]}
    assert image_size("spaq", full=False) == (341, 256) and image_size("pipal", full=False) == (256, 256)


def test_playground_is_waterloo_pristine_images_and_spaq_testimage_only(standin):
    root, _ = standin
    images = playground_images(["waterloo", "spaq"], root)
    assert images == sorted(images) and len(images) == 2 * IMAGES
    assert {p.parent.name for p in images} == {"pristine_images", "TestImage"}
    with pytest.raises(ValueError, match="no single image folder"):
        playground_images(["koniq10k"], root)


def test_playground_skips_files_that_are_not_images(tmp_path):
    pristine = tmp_path / "exploration_database_and_code" / "pristine_images"
    pristine.mkdir(parents=True)
    for name in ("00002.bmp", "00001.bmp", "readme.txt"):
        (pristine / name).write_bytes(b"")
    (tmp_path / "exploration_database_and_code" / "code.m").write_bytes(b"")
    assert playground_images(["waterloo"], tmp_path) == [pristine / "00001.bmp", pristine / "00002.bmp"]
    with pytest.raises(FileNotFoundError, match="SPAQ/TestImage"):
        playground_images(["spaq"], tmp_path)


def test_splits2_inside_the_dataset_folders_is_read_when_liqe_labels_is_absent(standin, tmp_path, caplog):
    root, _ = standin
    copy = tmp_path / "root"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("liqe_labels"))
    for folder in (root / "liqe_labels").iterdir():
        shutil.copytree(folder / "splits2", copy / folder.name / "splits2")
    with caplog.at_level(logging.INFO, logger="liqe_lib.data.registry"):
        assert labels_root(copy) == copy
    assert "splits2" in caplog.text
    assert all(verify_dataset(name, copy).ok for name in OFFICIAL)
    assert len(load_official_split("csiq", 3, labels_root(copy))["train"]) > 0


def test_verify_checks_synthetic_only_when_it_is_there(tmp_path):
    assert "synthetic" not in default_datasets(tmp_path) and len(default_datasets(tmp_path)) == 10
    (tmp_path / "synthetic").mkdir()
    assert "synthetic" in default_datasets(tmp_path)


def test_verify_tells_how_to_arrange_pipal(tmp_path):
    report = verify_dataset("pipal", tmp_path)
    assert not report.ok
    assert "make PIPAL/" in report.remedy and "Distortion_1..4" in report.remedy and "Train_Ref" in report.remedy


def test_hf_home_weights_load_offline_through_load_model(tmp_path):
    """About 15-25 s: a ViT-B-32 (300 MB in fp16) written, then loaded in a fresh process."""
    from liqe_lib.data.standin import write_hf_weights

    target = write_hf_weights(tmp_path / "hf", seed=0)
    script = ("import sys, torch, liqe_lib\n"
              "from liqe_lib import backbone\n"
              "from safetensors.torch import load_file\n"
              "found = backbone.cached_pretrained('ViT-B-32', 'openai')\n"
              "written = load_file(sys.argv[1])\n"
              "state = liqe_lib.load_model('ViT-B-32', 'openai').clip.state_dict()\n"
              "assert str(found) == sys.argv[1], found\n"
              "assert written.keys() == state.keys()\n"
              "assert all(torch.equal(state[k], written[k].float()) for k in written)\n"
              "print('loaded', len(written))\n")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(target)], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded" in done.stdout
