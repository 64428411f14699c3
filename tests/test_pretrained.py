"""Named models: the table, downloads from a local server (hash checked, wrong hash refused, offline error),
and the task set of files that do not record it (the liqe_koniq.pt trap)."""
import functools
import hashlib
import http.server
import json
import logging
import shutil
import socket
import threading

import pytest
import torch

from liqe_lib import cli, load_model, pretrained
from liqe_lib.backbone import WeightsError, tokenizer
from liqe_lib.crops import normalize
from liqe_lib.pretrained import PRETRAINED, PretrainedModel
from liqe_lib.vocab import QUALITY_LEVELS, TASK_SETS

FILE = "liqe_tiny_test.pt"


@pytest.fixture
def serve():
    """Serve a folder on localhost; return its base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def crops():
    g = torch.Generator().manual_seed(0)
    return normalize(torch.randint(0, 256, (2, 3, 3, 224, 224), generator=g, dtype=torch.uint8))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A random liqe-tiny saved in IQA-PyTorch's layout, as a release would be: (folder, file, sha256)."""
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("served")
    load_model(arch="liqe-tiny", weights=None).save(folder / FILE, format="iqa-pytorch")
    return folder, folder / FILE, hashlib.sha256((folder / FILE).read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def entry(urls, sha256=None, size=None, name="test-tiny", **changes) -> PretrainedModel:
    fields = dict(name=name, title="a test release", arch="liqe-tiny", task_set="quality", head="prompts",
                  format="iqa-pytorch", training_data="nothing", filename=FILE, urls=tuple(urls), sha256=sha256,
                  size=size, licence="test", citation="test")
    return PretrainedModel(**{**fields, **changes})


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{FILE}"


def test_table_records_what_each_release_is():
    assert list(PRETRAINED) == ["liqe-official", "liqe-mix", "liqe-koniq"]
    koniq, mix, official = PRETRAINED["liqe-koniq"], PRETRAINED["liqe-mix"], PRETRAINED["liqe-official"]
    assert (koniq.task_set, mix.task_set, official.task_set) == ("quality", "all", "all")
    assert (koniq.format, mix.format, official.format) == ("iqa-pytorch", "iqa-pytorch", "clip")
    assert koniq.urls[0] == "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/liqe_koniq.pt"
    assert official.browser_only and official.filename == "LIQE.pt"
    for model in PRETRAINED.values():
        assert model.arch == "ViT-B-32" and model.task_set in TASK_SETS and model.licence and model.citation
        assert model.sha256 is None or len(model.sha256) == 64  # never invented: None where not published


def test_named_model_downloads_into_the_cache_checks_its_hash_and_loads(release, serve, cache, monkeypatch, crops):
    folder, file, digest = release
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry([serve(folder) + FILE], digest, file.stat().st_size))
    model = load_model("test-tiny", progress=False).eval()
    assert (cache / FILE).read_bytes() == file.read_bytes()
    assert model.arch == "liqe-tiny" and model.task_set.name == "quality"
    assert model.origin.task_set_from == "named model" and model.origin.label() == "test-tiny"
    reference = load_model(arch="liqe-tiny", weights=file, task_set="quality").eval()
    with torch.no_grad():
        assert torch.equal(model(crops).score, reference(crops).score)
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry([closed_port_url()], digest))
    assert load_model("test-tiny", progress=False).task_set.name == "quality"  # cached: no download


def test_named_model_with_a_wrong_hash_is_refused_and_not_kept(release, serve, cache, monkeypatch):
    folder, _, _ = release
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry([serve(folder) + FILE], "0" * 64))
    with pytest.raises(WeightsError, match=r"(?s)test-tiny.*is not the release.*hash.*It was not kept"):
        load_model("test-tiny", progress=False)
    assert not (cache / FILE).exists()


def test_offline_error_names_the_file_the_url_and_the_folder(cache, monkeypatch):
    url = closed_port_url()
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry([url]))
    with pytest.raises(WeightsError) as info:
        load_model("test-tiny", progress=False)
    message = str(info.value)
    assert f"cannot download {FILE}" in message and url in message and str(cache) in message
    assert "copy the file into" in message and pretrained.CACHE_ENV in message


def test_a_browser_only_release_says_where_to_save_it(cache, monkeypatch):
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry(["https://drive.example/view"], browser_only=True))
    with pytest.raises(WeightsError, match=f"(?s)cannot be downloaded automatically.*{cache / FILE}"):
        load_model("test-tiny")


def test_named_model_of_another_architecture_is_refused(release, cache, monkeypatch):
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry(["http://unused/"]))
    with pytest.raises(WeightsError, match="is a liqe-tiny model, not ViT-B-32"):
        load_model(arch="ViT-B-32", weights="test-tiny")


def test_liqe_score_model_option_uses_the_named_model(release, serve, cache, monkeypatch, sample_images, capsys):
    folder, file, digest = release
    monkeypatch.setitem(PRETRAINED, "test-tiny", entry([serve(folder) + FILE], digest))
    jpeg, _ = sample_images
    assert cli.main(["score", str(jpeg), "--model", "test-tiny", "--device", "cpu", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    assert row["weights"] == "test-tiny" and set(row) >= {f"p_{c}" for c in QUALITY_LEVELS}
    expected = load_model(arch="liqe-tiny", weights=file, task_set="quality").score(jpeg)[0].score
    assert row["score"] == pytest.approx(expected, abs=1e-5)


# --- the koniq trap: same keys, different prompts ----------------------------------------------------

def five_prompt_scores(model, crops) -> torch.Tensor:
    """IQA-PyTorch's reading of liqe_koniq.pt, by hand: softmax over `a photo with {c} quality`, c = 1..5."""
    clip = model.clip
    with torch.no_grad():
        text = torch.nn.functional.normalize(
            clip.encode_text(tokenizer("liqe-tiny")([f"a photo with {c} quality" for c in QUALITY_LEVELS])), dim=-1)
        image = clip.encode_image(crops.flatten(0, 1), normalize=True)
        logits = (clip.logit_scale.exp() * image @ text.T).view(*crops.shape[:2], -1).mean(dim=1)
        return logits.softmax(dim=-1) @ torch.arange(1.0, 6.0)


def test_liqe_koniq_file_is_scored_with_the_five_quality_prompts(release, tmp_path, crops, caplog):
    _, file, _ = release
    koniq = tmp_path / "liqe_koniq.pt"
    shutil.copy(file, koniq)
    named = load_model(arch="liqe-tiny", weights=koniq, task_set="quality").eval()
    with caplog.at_level(logging.INFO, logger="liqe_lib.model"):
        recognised = load_model(arch="liqe-tiny", weights=koniq).eval()
    assert "is the release liqe-koniq (matched by file name and format" in caplog.text
    assert recognised.task_set.name == "quality" and len(recognised.task_set.prompts) == 5
    assert "task set quality of release liqe-koniq" in recognised.origin.label()
    reference = five_prompt_scores(named, crops)
    with torch.no_grad():
        assert torch.allclose(named(crops).score, reference, atol=1e-5)
        assert torch.equal(recognised(crops).score, named(crops).score)


def test_an_unknown_file_without_a_task_set_uses_all_and_says_so(release, tmp_path, crops, caplog):
    _, file, _ = release
    mine = tmp_path / "my_weights.pt"
    shutil.copy(file, mine)
    with caplog.at_level(logging.WARNING, logger="liqe_lib.model"):
        model = load_model(arch="liqe-tiny", weights=mine).eval()
    assert caplog.text.count("does not record its task set") == 1 and "--task-set" in caplog.text
    assert model.task_set.name == "all" and model.origin.assumed
    assert model.origin.label() == f"{mine} (task set all assumed: the file does not record it)"
    with torch.no_grad():  # the trap: the same weights, other prompts, other scores
        assert not torch.allclose(model(crops).score, five_prompt_scores(model, crops), atol=1e-3)


def test_liqe_score_names_an_assumed_task_set_in_the_weights_column(release, tmp_path, sample_images, capsys):
    _, file, _ = release
    mine = tmp_path / "my_weights.pt"
    shutil.copy(file, mine)
    jpeg, _ = sample_images
    base = ["score", str(jpeg), "--weights", str(mine), "--arch", "liqe-tiny", "--device", "cpu", "--json"]
    assert cli.main(base) == 0
    assert json.loads(capsys.readouterr().out)[0]["weights"].endswith("(task set all assumed: the file does not "
                                                                       "record it)")
    assert cli.main([*base, "--task-set", "quality"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["weights"] == str(mine)


@pytest.mark.parametrize("layout", ["iqa-pytorch", "clip"])
def test_keys_with_the_data_parallel_prefix_are_accepted(release, tmp_path, crops, layout):
    _, file, _ = release
    params = torch.load(file, weights_only=True)["params"]
    wrapped = {"params": {f"module.{k}": v for k, v in params.items()}} if layout == "iqa-pytorch" else \
        {f"module.{k[len('clip_model.'):]}": v for k, v in params.items()}
    torch.save(wrapped, tmp_path / "wrapped.pt")
    reference = load_model(arch="liqe-tiny", weights=file, task_set="all").eval()
    loaded = load_model(arch="liqe-tiny", weights=tmp_path / "wrapped.pt", task_set="all").eval()
    with torch.no_grad():
        assert torch.equal(loaded(crops).score, reference(crops).score)


def test_liqe_models_lists_the_table_and_the_cache(cache, capsys):
    cache.mkdir()
    (cache / "liqe_mix.pt").write_bytes(b"x")
    assert cli.main(["models"]) == 0
    out = capsys.readouterr()
    for model in PRETRAINED.values():
        assert f"{model.name}: {model.title}" in out.out and model.urls[0] in out.out
    assert f"cached: {cache / 'liqe_mix.pt'}" in out.out and "sha256: not recorded" in out.out
    assert str(cache) in out.err
