"""transformers backbones on tiny random-init checkpoints written here with save_pretrained
(model + processor/tokenizer) and loaded back through the same path as a user's checkpoint."""
import json
import shutil

import numpy as np
import pytest
import torch

from vla_planner import tiny_hf
from vla_planner.backbone import CheckpointError, load_backbone
from vla_planner.hf_backbone import HFBackboneConfig, pool_hidden, write_hf_checkpoint
from vla_planner.init_checkpoint import main as init_main

CAMS = ("scene", "wrist")
WRITERS = {"paligemma": tiny_hf.write_paligemma, "idefics3": tiny_hf.write_idefics3}


@pytest.fixture(scope="module", params=sorted(WRITERS))
def vlm_dir(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param) / "vlm"
    WRITERS[request.param](d)
    return d


@pytest.fixture(scope="module")
def ckpt(vlm_dir):
    out = vlm_dir.parent / "planner"
    write_hf_checkpoint(out, HFBackboneConfig(latent_dim=48, cameras=CAMS, hf_model_dir=str(vlm_dir),
                                              hidden_layers=(-1, -2), pooling="mean"), seed=0)
    return out


@pytest.fixture(scope="module")
def backbone(ckpt):
    return load_backbone(ckpt, CAMS, latent_dim=48)


def _images(seed=0):
    rng = np.random.default_rng(seed)
    return {c: rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for c in CAMS}


def test_tiny_checkpoint_holds_model_and_processor_files(vlm_dir):
    names = {p.name for p in vlm_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= names


def test_loads_and_gives_latent_of_configured_size(backbone, vlm_dir):
    out = backbone.infer(_images(), "pick up the red cube")
    assert out.latent.shape == (48,) and out.latent.dtype == np.float32
    assert np.all(np.isfinite(out.latent))
    assert vlm_dir.parent.name.rstrip("0123456789") in backbone.model_id  # architecture named


def test_same_inputs_give_same_latent(backbone):
    a = backbone.infer(_images(), "pick up the red cube").latent
    assert np.array_equal(a, backbone.infer(_images(), "pick up the red cube").latent)


def test_different_instruction_gives_different_latent(backbone):
    a = backbone.infer(_images(), "pick up the red cube").latent
    b = backbone.infer(_images(), "open the drawer").latent
    assert np.abs(a - b).max() > 1e-5


def test_empty_instruction_and_missing_camera_raise(backbone):
    with pytest.raises(ValueError, match="empty"):
        backbone.infer(_images(), " ")
    with pytest.raises(ValueError, match="wrist"):
        backbone.infer({"scene": _images()["scene"]}, "pick")


def test_gradient_reaches_projection_and_backbone(backbone):
    inp = backbone.inputs([_images()[c] for c in CAMS], "pick")
    m = backbone.model
    m.zero_grad()
    m(inp).sum().backward()
    assert m.projection.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.vlm.parameters())
    m.zero_grad()


@pytest.mark.parametrize("pooling", ["last", "max"])
def test_other_poolings_and_bfloat16_load(vlm_dir, tmp_path, pooling):
    out = tmp_path / "p"
    write_hf_checkpoint(out, HFBackboneConfig(latent_dim=8, cameras=CAMS, hf_model_dir=str(vlm_dir),
                                              pooling=pooling, dtype="bfloat16"))
    z = load_backbone(out, CAMS).infer(_images(), "pick").latent
    assert z.shape == (8,) and np.all(np.isfinite(z))


def test_init_checkpoint_cli_writes_hf_checkpoint(vlm_dir, tmp_path):
    rc = init_main(["--robot", "franka", "--out", str(tmp_path / "c"), "--hf-model-dir", str(vlm_dir),
                    "--latent-dim", "16", "--hidden-layers", "-1", "1"])
    assert rc == 0
    assert load_backbone(tmp_path / "c", CAMS).infer(_images(), "pick").latent.shape == (16,)


def test_relative_backbone_dir_inside_checkpoint(vlm_dir, tmp_path):
    shutil.copytree(vlm_dir, tmp_path / "c" / "backbone")
    write_hf_checkpoint(tmp_path / "c", HFBackboneConfig(latent_dim=8, cameras=CAMS))
    assert load_backbone(tmp_path / "c", CAMS).latent_dim == 8


def test_missing_backbone_dir_is_a_clear_error(ckpt, tmp_path):
    shutil.copytree(ckpt, tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["hf_model_dir"] = str(tmp_path / "nowhere")
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="no config.json"):
        load_backbone(tmp_path / "c", CAMS)


def test_incompatible_backbone_dir_is_a_clear_error(vlm_dir, ckpt, tmp_path):
    shutil.copytree(vlm_dir, tmp_path / "vlm")
    (tmp_path / "vlm" / "model.safetensors").write_bytes(b"not weights")
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["hf_model_dir"] = str(tmp_path / "vlm")
    shutil.copytree(ckpt, tmp_path / "c")
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="cannot load transformers"):
        load_backbone(tmp_path / "c", CAMS)


def test_projection_of_wrong_shape_is_a_clear_error(ckpt, tmp_path):
    shutil.copytree(ckpt, tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["hidden_layers"] = [-1]  # projection was written for two layers
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="projection"):
        load_backbone(tmp_path / "c", CAMS)


def test_hidden_layer_out_of_range_raises(ckpt, tmp_path):
    shutil.copytree(ckpt, tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["hidden_layers"] = [50, -1]
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="out of range"):
        load_backbone(tmp_path / "c", CAMS).infer(_images(), "pick")


@pytest.mark.parametrize("kw", [dict(pooling="cls"), dict(dtype="int8"), dict(hidden_layers=()),
                                dict(prompt="no placeholder"), dict(latent_dim=0)])
def test_bad_hf_config_raises(kw):
    with pytest.raises(ValueError):
        HFBackboneConfig(**kw)


def test_pooling_respects_attention_mask():
    h = torch.tensor([[[1.0], [3.0], [100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert pool_hidden(h, m, "mean").item() == pytest.approx(2.0)
    assert pool_hidden(h, m, "max").item() == pytest.approx(3.0)
    assert pool_hidden(h, m, "last").item() == pytest.approx(3.0)
