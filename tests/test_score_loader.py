"""The scoring loader (`data.crop_loader`): worker processes change nothing but the speed.

A mixed folder (real photographs, distorted copies, PNG/grey/alpha/palette modes, a tiny
and an EXIF-rotated image, a truncated JPEG, a text file named .jpg) is scored in the
main process and with two worker processes: names, order, errors and every probability
must be identical, and equal to scoring each image alone through `LIQE.score`.
"""
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from liqe_lib import cli, score
from liqe_lib.crops import eval_crops
from liqe_lib.data.crop_loader import EvalCropDataset, crop_batches, default_workers
from liqe_lib.data.distortions import GENERATORS
from liqe_lib.data.images import ImageDecodeError, load_rgb


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, sample_images):
    root = tmp_path_factory.mktemp("mixed")
    jpeg, png = sample_images
    shutil.copy(jpeg, root / "a_real.jpg")
    shutil.copy(png, root / "b_real.png")
    photo = Image.open(jpeg).convert("RGB")
    rng = np.random.default_rng(0)
    for k, distortion in enumerate(GENERATORS[:4]):
        distortion(photo, 4, rng).save(root / f"c_{distortion.slug}.jpg", quality=95)
    photo.convert("L").resize((640, 480)).save(root / "d_grey.png")
    rgba = photo.resize((300, 500)).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "e_alpha.png")
    photo.resize((400, 300)).convert("P").save(root / "f_palette.gif")
    photo.resize((100, 80)).save(root / "g_tiny.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    photo.resize((800, 600)).save(root / "h_rotated.jpg", exif=exif)
    (root / "i_truncated.jpg").write_bytes(jpeg.read_bytes()[:4000])
    (root / "j_text.jpg").write_text("not an image")
    return root


def _items(folder):
    return [(p, p) for p in score.expand_paths([str(folder)])]


def test_worker_processes_give_the_scores_errors_and_order_of_the_main_process(mixed_folder, tiny_model):
    items = _items(mixed_folder)
    alone = list(score.score_sources(tiny_model, items, batch_size=3, workers=0))
    workers = list(score.score_sources(tiny_model, items, batch_size=3, workers=2))
    assert [s.name for s in workers] == [s.name for s in alone] == [name for name, _ in items]
    assert [s.error for s in workers] == [s.error for s in alone]
    assert [s.name.rsplit("/", 1)[1] for s in alone if s.error] == ["i_truncated.jpg", "j_text.jpg"]
    scored = [(a.result, w.result) for a, w in zip(alone, workers) if a.error is None]
    assert len(scored) == 11
    for a, w in scored:
        assert (a.score, a.quality_probs, a.scenes, a.distortion) == (w.score, w.quality_probs, w.scenes, w.distortion)
    # and each equals the image scored on its own through the Python API, bit for bit
    for name, result in [(s.name, s.result) for s in alone if s.error is None]:
        assert tiny_model.score(name)[0].score == result.score


def test_scores_do_not_depend_on_the_batch_size(mixed_folder, tiny_model):
    items = _items(mixed_folder)
    by_one = [s.result.score if s.result else s.error for s in score.score_sources(tiny_model, items, batch_size=1)]
    by_five = [s.result.score if s.result else s.error for s in score.score_sources(tiny_model, items, batch_size=5)]
    assert by_one == by_five


def test_a_batch_carries_the_exact_evaluation_crops_and_one_reason_per_bad_file(mixed_folder):
    items = _items(mixed_folder)[9:]  # g_tiny, h_rotated, i_truncated, j_text
    batch = next(crop_batches(items, batch_size=4, workers=1))
    assert [n.rsplit("/", 1)[1] for n in batch.names] == ["g_tiny.jpg", "h_rotated.jpg", "i_truncated.jpg",
                                                         "j_text.jpg"]
    assert batch.errors[:2] == [None, None]
    assert "truncated" in batch.errors[2] and "identify" in batch.errors[3]
    assert batch.crops.dtype == torch.uint8 and batch.crops.shape == (2, 15, 3, 224, 224)
    assert torch.equal(batch.crops[0], eval_crops(load_rgb(items[0][1])))
    rotated = load_rgb(items[1][1])
    assert rotated.size == (600, 800)  # EXIF orientation applied in the worker
    assert torch.equal(batch.crops[1], eval_crops(rotated))


def test_an_all_unreadable_batch_has_no_crops(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    item = EvalCropDataset([("bad", str(bad)), ("bytes", b"nope")])
    assert item[0][1] is None and item[1][1] is None
    batch = next(crop_batches([("bad", str(bad))], batch_size=2))
    assert batch.crops is None and batch.names == ["bad"] and batch.errors[0]


def test_score_raises_for_an_unreadable_input_and_names_it(tiny_model):
    with pytest.raises(ImageDecodeError, match="image-1"):
        tiny_model.score([Image.new("RGB", (300, 300)), b"not an image"])


def test_score_accepts_bytes_and_pil_in_workers(sample_images, tiny_model):
    jpeg, _ = sample_images
    data = jpeg.read_bytes()
    inputs = [data, Image.open(io.BytesIO(data)), str(jpeg)]
    in_process = [r.score for r in tiny_model.score(inputs)]
    assert [r.score for r in tiny_model.score(inputs, workers=2)] == in_process
    assert in_process[0] == in_process[1] == in_process[2]


def test_default_workers_leave_the_cpu_to_the_model_and_share_the_cores_between_processes(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert default_workers("cpu") == 0
    assert default_workers("cuda") == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # four torchrun processes on this machine: 4 cores each
    assert default_workers("cuda:2") == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert default_workers("cuda") == 1


def test_score_cli_with_workers_writes_the_rows_of_the_main_process(mixed_folder, tmp_path, monkeypatch, tiny_model):
    monkeypatch.setattr(score, "load_model", lambda arch, weights, **kwargs: tiny_model)
    tables = {}
    for workers in ("0", "2"):
        out = tmp_path / f"w{workers}.csv"
        assert cli.main(["score", str(mixed_folder), "--weights", "none", "--arch", "liqe-tiny", "--device", "cpu",
                         "--workers", workers, "--batch-size", "4", "--csv", str(out)]) == 0
        tables[workers] = out.read_text()
    assert tables["0"] == tables["2"]
    assert tables["0"].count("\n") == 14  # header + 13 rows
