import math

import numpy as np
import pytest

from vla_planner.backbone import Backbone, BackboneOutput, check_images, check_instruction
from vla_planner.planner_core import PlannerCore, PlannerNodeConfig, default_checkpoint_dir

CAMS = ("scene", "wrist")
IM = np.zeros((16, 16, 3), np.uint8)


class MeanBackbone(Backbone):
    """A real (tiny, deterministic) backbone: latent = per-camera pixel means + text length."""
    latent_dim = 3
    cameras = CAMS
    model_id = "mean"

    def infer(self, images, instruction, proprio=None):
        imgs = check_images(images, self.cameras)
        t = check_instruction(instruction)
        z = np.array([imgs[0].mean(), imgs[1].mean(), len(t)], np.float32)
        return BackboneOutput(z, 1e-3)


def _core(**kw):
    return PlannerCore(MeanBackbone(), PlannerNodeConfig(stamp_tolerance_s=0.02, max_image_age_s=0.5, **kw))


def _feed(core, t, value=0):
    for c in CAMS:
        core.add_image(c, t, np.full((16, 16, 3), value, np.uint8))


def test_no_instruction_skips():
    core = _core()
    _feed(core, 1.0)
    r = core.step(1.0)
    assert r.latent is None and "instruction" in r.reason


def test_no_image_skips():
    core = _core()
    core.set_instruction("pick")
    r = core.step(1.0)
    assert r.latent is None and "no image" in r.reason


def test_latent_is_stamped_with_newest_image_stamp():
    core = _core()
    core.set_instruction("pick")
    _feed(core, 1.0)
    core.add_image("scene", 1.1, IM)
    core.add_image("wrist", 1.11, IM)
    r = core.step(1.2)
    assert r.latent is not None and r.stamp_s == pytest.approx(1.11)
    assert r.instruction == "pick" and r.instruction_id == 1


def test_instruction_id_increments_only_on_change():
    core = _core()
    assert core.set_instruction("pick")[2] == 1
    assert core.set_instruction("  pick ")[2] == 1
    ok, msg, iid = core.set_instruction("place")
    assert ok and iid == 2 and "changed" in msg


@pytest.mark.parametrize("bad", ["", "   ", "x" * 3000])
def test_bad_instruction_is_rejected_and_previous_kept(bad):
    core = _core()
    core.set_instruction("pick")
    ok, msg, iid = core.set_instruction(bad)
    assert not ok and "rejected" in msg and iid == 1
    assert core.instruction == ("pick", 1)


def test_instruction_change_takes_effect_next_cycle_even_with_same_images():
    core = _core()
    core.set_instruction("pick")
    _feed(core, 1.0)
    a = core.step(1.0)
    assert core.step(1.05).latent is None  # same frames, same instruction: skipped
    core.set_instruction("pick it up")
    b = core.step(1.1)
    assert b.latent is not None and b.instruction_id == 2 and b.latent[2] != a.latent[2]


def test_repeated_frames_are_reused_when_configured():
    core = _core(skip_repeated_frames=False)
    core.set_instruction("pick")
    _feed(core, 1.0)
    assert core.step(1.0).latent is not None and core.step(1.1).latent is not None


def test_rate_and_stats_use_given_times():
    core = _core()
    core.set_instruction("pick")
    for k in range(9):
        _feed(core, k * 0.125, value=k)
        assert core.step(k * 0.125).latent is not None
    st = core.stats()
    assert st["rate_hz"] == pytest.approx(8.0) and st["latents"] == 9 and st["last_reason"] == "ok"


def test_backbone_input_error_is_a_skip_not_a_crash():
    core = _core()
    core.set_instruction("pick")
    core.add_image("scene", 1.0, IM)
    core.add_image("wrist", 1.0, np.zeros((16, 16), np.uint8))  # would fail inside the model
    core.backbone = type("Strict", (MeanBackbone,), {
        "infer": lambda self, i, t, p=None: (_ for _ in ()).throw(ValueError("bad image"))})()
    r = core.step(1.0)
    assert r.latent is None and "bad image" in r.reason


@pytest.mark.parametrize("kw", [dict(rate_hz=0.0), dict(rate_hz=math.nan), dict(stamp_tolerance_s=-1.0),
                                dict(max_image_age_s=math.inf), dict(latent_dim=0), dict(torch_threads=0)])
def test_bad_node_config_raises(kw):
    with pytest.raises(ValueError):
        PlannerNodeConfig(**kw)


def test_default_checkpoint_dir_is_models_robot_planner():
    d = default_checkpoint_dir("franka")
    assert d.parts[-3:] == ("models", "franka", "planner")


class ProprioBackbone(MeanBackbone):
    proprio_dim = 2

    def infer(self, images, instruction, proprio=None):
        out = super().infer(images, instruction)
        return BackboneOutput(np.concatenate([out.latent, proprio]).astype(np.float32), 1e-3)


def test_proprio_model_gets_state_in_command_name_order():
    core = PlannerCore(ProprioBackbone(), PlannerNodeConfig(), state_names=("j1", "gripper"))
    core.set_instruction("pick")
    _feed(core, 1.0)
    assert "joint state" in core.step(1.0).reason
    core.set_joint_state(["gripper", "other", "j1"], [0.04, 9.0, 0.5])
    r = core.step(1.0)
    assert np.allclose(r.latent[3:], [0.5, 0.04])


@pytest.mark.parametrize("names, pos", [(["j1"], [0.1]), (["j1", "gripper"], [0.1]),
                                        (["j1", "gripper"], [0.1, math.nan])])
def test_bad_joint_state_raises(names, pos):
    core = PlannerCore(ProprioBackbone(), PlannerNodeConfig(), state_names=("j1", "gripper"))
    with pytest.raises(ValueError):
        core.set_joint_state(names, pos)


def test_proprio_dim_not_matching_robot_state_is_rejected():
    from vla_planner.backbone import CheckpointError
    with pytest.raises(CheckpointError, match="proprio_dim"):
        PlannerCore(ProprioBackbone(), PlannerNodeConfig(), state_names=("j1",))


class ClosedSetBackbone(MeanBackbone):
    """MeanBackbone that knows two instructions and maps 'lift ...' onto 'pick ...'."""

    def interpret_instruction(self, text):
        if text in ("pick red", "pick blue"):
            return text, 1.0
        if text.startswith("lift "):
            return "pick " + text.split()[1], 0.8
        raise ValueError("not close to any trained instruction")


def test_paraphrase_is_accepted_and_the_message_names_the_trained_instruction():
    core = PlannerCore(ClosedSetBackbone(), PlannerNodeConfig())
    ok, msg, iid = core.set_instruction("lift red")
    assert ok and iid == 1 and msg == "changed (understood as 'pick red', similarity 0.80)"
    assert core.instruction == ("lift red", 1)


def test_instruction_close_to_nothing_trained_is_rejected_and_the_previous_one_stays():
    core = PlannerCore(ClosedSetBackbone(), PlannerNodeConfig())
    core.set_instruction("pick blue")
    ok, msg, iid = core.set_instruction("sing a song")
    assert not ok and msg.startswith("rejected: not close") and iid == 1
    assert core.instruction == ("pick blue", 1)
