"""Weight loading in every supported format, clear errors for everything else."""
import pytest
import torch
from safetensors.torch import save_file

from liqe_lib import load_model
from liqe_lib.backbone import WeightsError, read_weights
from liqe_lib.crops import normalize


@pytest.fixture(scope="module")
def reference():
    """A random liqe-tiny with non-default weights everywhere, and its output on fixed crops."""
    torch.manual_seed(7)
    model = load_model(arch="liqe-tiny", weights=None).eval()
    g = torch.Generator().manual_seed(0)
    crops = normalize(torch.randint(0, 256, (2, 2, 3, 224, 224), generator=g, dtype=torch.uint8))
    with torch.no_grad():
        return model, crops, model(crops).joint


def _same_outputs(path, reference, **kwargs):
    model, crops, joint = reference
    loaded = load_model(weights=path, **kwargs).eval()
    with torch.no_grad():
        assert torch.equal(loaded(crops).joint, joint)
    return loaded


def test_liqe_repro_checkpoint_round_trips_with_its_architecture_and_task_set(reference, tmp_path):
    reference[0].save(tmp_path / "model.pt")
    loaded = _same_outputs(tmp_path / "model.pt", reference, arch="ViT-B-32")  # the checkpoint's arch wins
    assert loaded.arch == "liqe-tiny" and loaded.task_set.name == "all"
    assert read_weights(tmp_path / "model.pt").format == "liqe-repro"


def test_official_liqe_pt_layout_loads(reference, tmp_path):
    torch.save(reference[0].clip.state_dict(), tmp_path / "LIQE.pt")
    assert read_weights(tmp_path / "LIQE.pt").format == "clip"
    _same_outputs(tmp_path / "LIQE.pt", reference, arch="liqe-tiny")


def test_official_fp16_weights_load_into_fp32_model(reference, tmp_path):
    torch.save({k: v.half() for k, v in reference[0].clip.state_dict().items()}, tmp_path / "LIQE16.pt")
    model = load_model(arch="liqe-tiny", weights=tmp_path / "LIQE16.pt").eval()
    assert model.clip.visual.conv1.weight.dtype == torch.float32
    with torch.no_grad():
        assert torch.allclose(model(reference[1]).joint, reference[2], atol=1e-3)


def test_iqa_pytorch_release_layout_loads(reference, tmp_path):
    params = {f"clip_model.{k}": v for k, v in reference[0].clip.state_dict().items()}
    torch.save({"params": params}, tmp_path / "liqe_mix.pt")
    assert read_weights(tmp_path / "liqe_mix.pt").format == "iqa-pytorch"
    _same_outputs(tmp_path / "liqe_mix.pt", reference, arch="liqe-tiny")


def test_open_clip_safetensors_loads(reference, tmp_path):
    state = {k: v.contiguous() for k, v in reference[0].clip.state_dict().items()}
    save_file(state, str(tmp_path / "open_clip_model.safetensors"))
    _same_outputs(tmp_path / "open_clip_model.safetensors", reference, arch="liqe-tiny")


def test_unknown_state_dict_names_expected_and_found_keys(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2), "head.bias": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match=r"visual\.conv1\.weight.*found 2 keys.*encoder\.weight"):
        load_model(arch="liqe-tiny", weights=tmp_path / "other.pt")


def test_iqa_pytorch_file_without_clip_keys_is_refused(tmp_path):
    torch.save({"params": {"backbone.weight": torch.zeros(1)}}, tmp_path / "liqe_koniq.pt")
    with pytest.raises(WeightsError, match="clip_model"):
        load_model(arch="liqe-tiny", weights=tmp_path / "liqe_koniq.pt")


def test_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="not a torch checkpoint"):
        load_model(arch="liqe-tiny", weights=tmp_path / "notes.pt")


def test_weights_of_another_architecture_are_refused_with_the_mismatch(reference, tmp_path):
    state = dict(reference[0].clip.state_dict())
    state["visual.conv1.weight"] = torch.zeros(1, 3, 8, 8)
    torch.save(state, tmp_path / "wrong.pt")
    with pytest.raises(WeightsError, match="(?s)do not fit this architecture.*conv1"):
        load_model(arch="liqe-tiny", weights=tmp_path / "wrong.pt")
    state = dict(reference[0].clip.state_dict())
    del state["ln_final.weight"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(WeightsError, match=r"missing \['ln_final\.weight'\]"):
        load_model(arch="liqe-tiny", weights=tmp_path / "partial.pt")


def test_unfetchable_pretrained_tag_says_how_to_supply_weights(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        load_model(arch="ViT-B-32", weights="openai")
    message = str(info.value)
    assert "ViT-B-32-quickgelu/openai" in message and "weights=/path/to/file" in message and "cache" in message


def test_a_name_that_is_neither_file_nor_tag_is_refused():
    with pytest.raises(WeightsError, match="not an open_clip pretrained tag"):
        load_model(arch="liqe-tiny", weights="checkpoints/missing.pt")
