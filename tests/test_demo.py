"""The ipywidgets demo driven programmatically: set the upload widget's value, read the result cards back."""
import datetime

import ipywidgets as widgets
import pytest

from liqe_lib import demo


def upload(name: str, content: bytes, kind: str = "image/jpeg") -> dict:
    """One entry of `FileUpload.value` as ipywidgets 8 fills it from a browser."""
    return {"name": name, "type": kind, "size": len(content), "content": memoryview(content),
            "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)}


def find(widget: widgets.Widget, css_class: str) -> list[widgets.Widget]:
    """Widgets of the tree under `widget` (itself included) that carry a CSS class."""
    found = [widget] if css_class in widget._dom_classes else []
    for child in getattr(widget, "children", ()):
        found += find(child, css_class)
    return found


@pytest.fixture(scope="module")
def app() -> demo.LIQEDemo:
    return demo.LIQEDemo(weights="none", arch="liqe-tiny", device="cpu")


def test_demo_shows_score_level_bars_scenes_and_distortion_for_an_upload(app, sample_images):
    jpeg, _ = sample_images
    app.upload.value = (upload(jpeg.name, jpeg.read_bytes()),)
    expected = app.model.score(jpeg)[0]
    card, = find(app, "liqe-result")
    thumbnail, (score, bars, details) = card.children[0], card.children[1].children
    assert f"quality score <b>{expected.score:.3f}</b>" in score.value and jpeg.name in score.value
    assert [row.children[0].value for row in bars.children] == list(expected.quality_probs)
    assert [row.children[1].value for row in bars.children] == pytest.approx(list(expected.quality_probs.values()))
    assert f"Distortion: {expected.distortion}" in details.value
    assert expected.scenes[0][0].replace("_", " ") in details.value
    assert thumbnail.format == "png" and bytes(thumbnail.value).startswith(b"\x89PNG")


def test_demo_gives_an_unreadable_upload_its_own_message(app, sample_images):
    jpeg, png = sample_images
    app.upload.value = (upload("cut.jpg", jpeg.read_bytes()[:4000]), upload(png.name, png.read_bytes(), "image/png"),
                        upload("notes.jpg", b"hello"))
    messages = [card.value for card in find(app, "liqe-error")]
    assert len(messages) == 2
    assert "cut.jpg" in messages[0] and "truncated" in messages[0]
    assert "notes.jpg" in messages[1] and "not an image" in messages[1]
    scored, = find(app, "liqe-score")
    assert png.name in scored.value


def test_demo_warns_that_random_weights_give_meaningless_scores(app):
    assert "random weights" in app.status.value and "meaningless" in app.status.value


def test_demo_reports_missing_weights_in_the_status_line_instead_of_raising(tmp_path):
    app = demo.LIQEDemo(weights=str(tmp_path / "LIQE.pt"), arch="liqe-tiny")
    assert app.model is None
    assert "Cannot load the model" in app.status.value and "LIQE.pt does not exist" in app.status.value


def test_demo_picker_loads_a_named_model_from_the_cache(tmp_path, monkeypatch, sample_images):
    from liqe_lib import load_model, pretrained

    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path))
    load_model(arch="liqe-tiny", weights=None).save(tmp_path / "tiny_release.pt", format="iqa-pytorch")
    monkeypatch.setitem(pretrained.PRETRAINED, "test-tiny", pretrained.PretrainedModel(
        "test-tiny", "a cached test release", "liqe-tiny", "quality", "prompts", "iqa-pytorch", "nothing",
        "tiny_release.pt", ("http://127.0.0.1:9/tiny_release.pt",), None, None, "test", "test"))
    app = demo.LIQEDemo(model="test-tiny", device="cpu")
    assert "test-tiny" in [value for _, value in app.picker.options] and app.weights.disabled
    assert app.model is not None and "task set quality, weights test-tiny" in app.status.value
    jpeg, _ = sample_images
    app.upload.value = (upload(jpeg.name, jpeg.read_bytes()),)
    card, = find(app, "liqe-result")
    assert [row.children[0].value for row in card.children[1].children[1].children] == \
        ["bad", "poor", "fair", "good", "perfect"]


def test_demo_picker_explains_a_release_that_needs_a_browser_download(tmp_path, monkeypatch):
    from liqe_lib import pretrained

    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path))
    app = demo.LIQEDemo(device="cpu")
    assert app.model is None and app.picker.value == demo.DEFAULT_MODEL and "Pick a model" in app.status.value
    app.picker.value = "liqe-official"
    assert not app.load()
    assert "Cannot load the model" in app.status.value and "LIQE.pt is not in the cache folder" in app.status.value
    app.picker.value = demo.FILE_CHOICE
    assert not app.weights.disabled
