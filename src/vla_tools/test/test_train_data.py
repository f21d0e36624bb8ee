"""Unit tests of the end-to-end training data pipeline (ROS-free, no model download)."""
import numpy as np
import pytest

from vla_tools.training_data import BatchConfig, DemoEpisode, DemoSampler, GraspColumns, aux_targets, \
    grasp_aux_targets, grasp_columns, resize_images
from vla_tools.training_model import _random_shift, perturb_text
from vla_tools.training_rollout import RolloutConfig, jerk_rms, substeps_until


def _action(T=50, close_at=None, open_at=None):
    a = np.zeros((T, 8), np.float32)
    a[:, :7] = np.arange(T)[:, None] * 0.01
    a[:, 7] = 0.08
    if close_at is not None:
        a[close_at:, 7] = 0.0
    if open_at is not None:
        a[open_at:, 7] = 0.08
    return a


def test_aux_targets_without_close_are_masked_out():
    tgt, mask = aux_targets(_action(), 7, 7)
    assert not mask.any() and not tgt.any()


def test_aux_targets_close_only_gives_grasp_pose():
    tgt, mask = aux_targets(_action(close_at=20), 7, 7)
    assert np.allclose(tgt[:7], 0.20) and mask[:7].all() and not mask[7:].any()


def test_aux_targets_close_then_open_gives_grasp_and_release():
    tgt, mask = aux_targets(_action(close_at=10, open_at=30), 7, 7)
    assert np.allclose(tgt[:7], 0.10) and np.allclose(tgt[7:], 0.30) and mask.all()


@pytest.mark.parametrize("bad", [np.zeros((0, 8)), np.zeros(8)])
def test_aux_targets_empty_or_1d_input_gives_mask_zero(bad):
    _, mask = aux_targets(bad, 7, 7)
    assert not mask.any()


def test_grasp_columns_of_franka_keep_the_single_arm_layout_and_threshold():
    from vla_common.config import load_robot_config
    (g,) = grasp_columns(load_robot_config("franka", "sim"))
    assert g == GraspColumns(tuple(range(7)), 7, 0.04)
    a = _action(close_at=10, open_at=30)
    for got, want in zip(grasp_aux_targets(a, (g,)), aux_targets(a, 7, 7)):
        assert np.array_equal(got, want)


def test_grasp_aux_targets_of_aloha_give_each_arm_its_own_grasp():
    from vla_common.config import load_robot_config
    left, right = grasp_columns(load_robot_config("aloha", "sim"))
    assert left == GraspColumns(tuple(range(6)), 6, pytest.approx(0.039))
    assert right.arm == tuple(range(7, 13)) and right.gripper == 13
    a = np.zeros((40, 14), np.float32)
    a[:, :] = np.arange(40)[:, None] * 0.01
    a[:, [6, 13]] = 0.057
    a[25:, 13] = 0.021    # only the right arm closes, at row 25
    tgt, mask = grasp_aux_targets(a, (left, right))
    assert tgt.shape == mask.shape == (24,)
    assert not mask[:12].any() and mask[12:18].all() and not mask[18:].any()
    assert np.allclose(tgt[12:18], 0.25)


def test_grasp_aux_targets_without_arms_is_empty():
    tgt, mask = grasp_aux_targets(_action(), ())
    assert tgt.shape == mask.shape == (0,)


def test_resize_images_matches_the_planner_preprocessing():
    from vla_planner.image_utils import images_to_tensor
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 128, 128, 3), dtype=np.uint8)
    ours = resize_images(frames, 64)
    ref = (images_to_tensor(list(frames), 64).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
    assert ours.shape == (3, 64, 64, 3)
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1


def test_resize_images_empty_gives_empty():
    assert resize_images(np.zeros((0, 128, 128, 3), np.uint8), 32).shape == (0, 32, 32, 3)


@pytest.mark.parametrize("kw", [{"frames": 0}, {"repeats": 0}, {"horizon": 0},
                                {"delay_min_s": 0.3, "delay_max_s": 0.1}, {"delay_min_s": -0.1}])
def test_batch_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        BatchConfig(**kw)


class _Table:
    def __init__(self, texts):
        self.index = {t: i for i, t in enumerate(texts)}


def _episode(T=100, n_img=20):
    frames = np.arange(0, T, 5)[:n_img]
    return DemoEpisode(state=np.tile(np.arange(T, dtype=np.float32)[:, None], (1, 8)),
                       action=_action(T, close_at=40), task="pick_cube",
                       instruction="pick up the red cube", params={"color": "red"},
                       img_frames=frames, images=np.zeros((len(frames), 2, 16, 16, 3), np.uint8),
                       aux=np.zeros(14, np.float32), aux_mask=np.ones(14, np.float32))


def test_sampler_latent_is_older_than_the_state_by_the_configured_delay():
    from vla_tools.training_data import instruction_variants
    ep = _episode()
    table = _Table(instruction_variants(ep))
    cfg = BatchConfig(frames=8, repeats=4, horizon=4, delay_min_s=0.1, delay_max_s=0.3)
    b = DemoSampler([ep], table, cfg).sample(np.random.default_rng(0))
    assert b["images"].shape == (8, 2, 16, 16, 3)
    assert b["state"].shape == (32, 8) and b["actions"].shape == (32, 4, 8)
    # state value = its frame index; age must be (state frame - image frame) / fps
    age = b["latent_age_s"]
    end_clipped = b["state"][:, 0] == 99
    assert np.all((age[~end_clipped] >= 0.1 - 1e-6) & (age[~end_clipped] <= 0.3 + 1e-6))
    assert np.all(b["frame_of"] == np.repeat(np.arange(8), 4))


def test_sampler_masks_rows_past_the_episode_end():
    from vla_tools.training_data import instruction_variants
    ep = _episode(T=20, n_img=4)
    cfg = BatchConfig(frames=16, repeats=2, horizon=16)
    b = DemoSampler([ep], _Table(instruction_variants(ep)), cfg).sample(np.random.default_rng(1))
    last_rows = b["state"][:, 0][:, None] + np.arange(16)[None, :]
    assert np.array_equal(b["mask"] > 0, last_rows < 20)


def test_instruction_variants_use_training_phrasings_only():
    from vla_sim.instructions import HELDOUT_TEMPLATES
    from vla_tools.training_data import instruction_variants
    v = instruction_variants(_episode())
    assert "grab the red cube" in v
    held = {t.format(color="red") for t in HELDOUT_TEMPLATES["pick_cube"]}
    assert not held & set(v)


def test_extra_phrasings_add_the_training_only_paraphrases_and_never_heldout_ones():
    from vla_sim.instructions import AUGMENT_TEMPLATES, HELDOUT_TEMPLATES
    from vla_tools.training_data import instruction_variants
    params = {"from_arm": "left", "to_arm": "right", "color": "red"}
    ep = DemoEpisode(state=np.zeros((4, 14), np.float32), action=np.zeros((4, 14), np.float32),
                     task="transfer_cube", instruction="transfer the cube from the left arm to the right arm",
                     params=params, img_frames=np.zeros(1, int), images=np.zeros((1, 3, 8, 8, 3), np.uint8),
                     aux=np.zeros(1, np.float32), aux_mask=np.zeros(1, np.float32))
    base, extra = instruction_variants(ep), instruction_variants(ep, extra_phrasings=True)
    assert extra[:len(base)] == base
    assert set(extra) - set(base) == {t.format(**params) for t in AUGMENT_TEMPLATES["transfer_cube"]}
    assert not {t.format(**params) for t in HELDOUT_TEMPLATES["transfer_cube"]} & set(extra)


def test_text_noise_zero_returns_the_embedding_unchanged():
    import torch
    t = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    assert perturb_text(t, 0.0, torch.Generator().manual_seed(0)) is t


def test_text_noise_keeps_unit_norm_and_replays_with_the_same_generator():
    import torch
    t = torch.nn.functional.normalize(torch.randn(64, 384), dim=-1)
    a = perturb_text(t, 0.02, torch.Generator().manual_seed(5))
    b = perturb_text(t, 0.02, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.allclose(a.norm(dim=-1), torch.ones(64), atol=1e-5)
    small = (perturb_text(t, 0.005, torch.Generator().manual_seed(5)) - t).norm(dim=-1).mean()
    assert 0 < small < (a - t).norm(dim=-1).mean()


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_text_noise_rejects_negative_or_non_finite_std(bad):
    import torch
    with pytest.raises(ValueError, match="noise_std"):
        perturb_text(torch.ones(1, 4), bad, torch.Generator())


def test_random_shift_keeps_shape_and_zero_shift_is_identity():
    import torch
    x = torch.rand(3, 2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    assert _random_shift(x, 2, g).shape == x.shape
    assert torch.equal(_random_shift(x, 0, g), x)


@pytest.mark.parametrize("dt", [0.0, -1.0, float("nan"), float("inf")])
def test_jerk_rms_rejects_bad_period(dt):
    with pytest.raises(ValueError):
        jerk_rms(np.zeros((10, 2)), dt)


def test_jerk_rms_of_constant_and_short_signals_is_zero():
    assert jerk_rms(np.ones((10, 3)), 0.02) == 0.0
    assert jerk_rms(np.zeros((3, 3)), 0.02) == 0.0


def test_jerk_rms_of_a_cubic_is_its_constant_third_derivative():
    t = np.arange(50) * 0.02
    q = (t ** 3)[:, None]          # third derivative 6
    assert jerk_rms(q, 0.02) == pytest.approx(6.0, rel=1e-6)


@pytest.mark.parametrize("kw", [{"mode": "fast"}, {"stream_rate_hz": 0.0}, {"planner_rate_hz": -1.0}])
def test_rollout_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        RolloutConfig(**kw)


@pytest.mark.parametrize("robot", ["franka", "aloha"])
def test_rollout_config_from_params_takes_the_nodes_rates(robot):
    """The in-process evaluation runs at the rates the graph's nodes read (one source)."""
    from vla_common.config import load_yaml
    from vla_common.stack import params_file
    raw = load_yaml(params_file(robot, "sim"))
    sim, ex = raw["vla_sim"]["ros__parameters"], raw["vla_action_expert"]["ros__parameters"]
    c = RolloutConfig.from_params(robot, "sync")
    assert c.mode == "sync"
    assert c.stream_rate_hz == ex["stream_rate_hz"]
    assert c.inference_rate_hz == ex["inference_rate_hz"]
    assert c.planner_rate_hz == raw["vla_planner"]["ros__parameters"]["rate_hz"]
    assert c.camera_rate_hz == sim["camera_rate_hz"][0]
    assert c.image_size_px == sim["camera_width_px"][0]
    assert RolloutConfig.from_params(robot, inference_rate_hz=3.0).inference_rate_hz == 3.0


@pytest.mark.parametrize("edit,msg", [
    (lambda d: d["vla_sim"]["ros__parameters"].update(camera_rate_hz=[10.0, 5.0, 10.0]),
     "one value for every camera"),
    (lambda d: d["vla_sim"]["ros__parameters"].update(camera_width_px=[96]), "renders square"),
    (lambda d: d.pop("vla_planner"), "no 'vla_planner: ros__parameters:' section"),
])
def test_rollout_config_from_params_rejects_what_it_cannot_run(tmp_path, edit, msg):
    import shutil

    import yaml

    from vla_common.config import ConfigError, find_config_dir
    cdir = tmp_path / "config"
    shutil.copytree(find_config_dir(), cdir)
    path = cdir / "aloha_sim.yaml"
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=msg):
        RolloutConfig.from_params("aloha", config_dir=cdir)


def test_rollout_config_from_params_of_unknown_robot_is_a_config_error():
    from vla_common.config import ConfigError
    with pytest.raises(ConfigError, match="no parameter file"):
        RolloutConfig.from_params("ur5")


def test_whitened_text_projection_gives_unit_variance_components():
    import torch
    from vla_tools.training_model import whiten_text_projection
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 16, generator=g)
    table = base + 0.01 * torch.randn(6, 16, generator=g)   # near-identical "instructions"
    proj = torch.nn.Linear(16, 8)
    k = whiten_text_projection(proj, table, max_components=4)
    y = proj(table).detach()
    assert k == 4
    assert torch.allclose(y[:, :4].mean(0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(y[:, :4].std(0), torch.ones(4), atol=1e-3)
    assert torch.all(y[:, 4:] == 0)


def test_whitening_with_one_string_leaves_the_layer_unchanged():
    import torch
    from vla_tools.training_model import whiten_text_projection
    proj = torch.nn.Linear(4, 4)
    w = proj.weight.detach().clone()
    assert whiten_text_projection(proj, torch.ones(1, 4)) == 0
    assert torch.equal(proj.weight, w)


def test_task_aux_targets_give_named_cube_and_plate_xy():
    from vla_tools.training_data import task_aux_targets
    params = {"target": "cube_2", "plate": "plate_1",
              "xy": {"cube_2": [0.5, -0.1], "plate_1": [0.6, 0.2], "cube_0": [0.4, 0.0]}}
    tgt, mask = task_aux_targets(params)
    np.testing.assert_allclose(tgt, [0.5, -0.1, 0.6, 0.2], atol=1e-6)
    assert mask.tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("params", [{}, {"target": "cube_9", "xy": {"cube_0": [0.1, 0.2]}},
                                    {"target": "cube_0", "xy": {"cube_0": [float("nan"), 0.2]}},
                                    {"target": "cube_0", "xy": {"cube_0": [0.1]}}])
def test_task_aux_targets_missing_or_bad_entries_are_masked(params):
    from vla_tools.training_data import task_aux_targets
    tgt, mask = task_aux_targets(params)
    assert mask.tolist() == [0, 0, 0, 0] and np.all(np.isfinite(tgt))


def test_single_object_scene_xy_list_is_the_target():
    from vla_tools.training_data import task_aux_targets
    tgt, mask = task_aux_targets({"from_arm": "left", "color": "red", "xy": [-0.12, 0.5]})
    np.testing.assert_allclose(tgt, [-0.12, 0.5, 0.0, 0.0], atol=1e-6)
    assert mask.tolist() == [1, 1, 0, 0]


def test_pick_episode_masks_the_plate_only():
    from vla_tools.training_data import task_aux_targets
    _, mask = task_aux_targets({"target": "cube_0", "xy": {"cube_0": [0.5, 0.0]}})
    assert mask.tolist() == [1, 1, 0, 0]


def test_aux_stats_use_only_masked_entries_and_floor_the_std():
    from vla_tools.training_data import aux_stats
    aux = np.array([[1.0, 5.0, 7.0], [3.0, 99.0, 7.0]])
    mask = np.array([[1, 1, 1], [1, 0, 1]], float)
    mean, std = aux_stats(aux, mask, min_std=1e-3)
    np.testing.assert_allclose(mean, [2.0, 5.0, 7.0])
    np.testing.assert_allclose(std, [1.0, 1e-3, 1e-3])


def test_aux_stats_of_never_set_dimension_are_neutral():
    from vla_tools.training_data import aux_stats
    mean, std = aux_stats(np.ones((3, 2)), np.array([[1, 0]] * 3, float))
    assert mean[1] == 0.0 and std[1] == 1.0


@pytest.mark.parametrize("rate_hz,dt_s", [(200.0, 0.002), (200.0, 0.001), (250.0, 0.002), (150.0, 0.002)])
def test_stream_substeps_keep_the_configured_rate_on_a_physics_grid(rate_hz, dt_s):
    # 200 Hz over 2 ms physics alternates 2 and 3 steps: 200 ticks in 1 s, not 250
    t, next_tick, ticks = 0.0, 0.0, 0
    while t < 1.0 - 1e-9:
        next_tick += 1.0 / rate_hz
        n = substeps_until(next_tick, t, dt_s)
        assert n >= 1
        t += n * dt_s
        ticks += 1
        assert abs(t - next_tick) <= dt_s / 2 + 1e-9  # every tick within half a physics step
    assert ticks == round(rate_hz)


def test_stream_substeps_take_at_least_one_step_when_the_tick_is_due():
    assert substeps_until(0.010, 0.010, 0.002) == 1
    assert substeps_until(0.009, 0.010, 0.002) == 1


def test_sampler_wrist_image_is_the_newest_frame_at_each_state_row():
    from vla_tools.training_data import instruction_variants
    ep = _episode()
    ep.images[:, 1] = (ep.img_frames % 256).astype(np.uint8)[:, None, None, None]  # pixel = frame
    cfg = BatchConfig(frames=8, repeats=4, horizon=4, wrist_camera_indices=(1,))
    b = DemoSampler([ep], _Table(instruction_variants(ep)), cfg).sample(np.random.default_rng(2))
    assert b["wrist"].shape == (32, 16, 16, 3) and b["wrist"].dtype == np.uint8
    state_row = b["state"][:, 0].astype(int)
    newest = ep.img_frames[np.searchsorted(ep.img_frames, state_row, side="right") - 1]
    np.testing.assert_array_equal(b["wrist"][:, 0, 0, 0], newest)
    # newer than the System 2 frame of the same sample whenever a frame arrived in between
    assert np.all(b["wrist"][:, 0, 0, 0] >= b["images"][b["frame_of"], 1, 0, 0, 0])


def test_sampler_without_wrist_camera_draws_the_same_batches_as_before():
    from vla_tools.training_data import instruction_variants
    ep = _episode()
    table = _Table(instruction_variants(ep))
    a = DemoSampler([ep], table, BatchConfig(frames=4, repeats=2, horizon=4)).sample(np.random.default_rng(5))
    b = DemoSampler([ep], table, BatchConfig(frames=4, repeats=2, horizon=4, wrist_camera_indices=(1,))
                    ).sample(np.random.default_rng(5))
    assert "wrist" not in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_sampler_stacks_several_wrist_cameras_along_channels_in_the_given_order():
    from vla_tools.training_data import instruction_variants
    ep = _episode()
    ep.images[:, 0] = 10
    ep.images[:, 1] = 20
    cfg = BatchConfig(frames=4, repeats=2, horizon=4, wrist_camera_indices=(1, 0))
    b = DemoSampler([ep], _Table(instruction_variants(ep)), cfg).sample(np.random.default_rng(1))
    assert b["wrist"].shape == (8, 16, 16, 6)
    assert np.all(b["wrist"][..., :3] == 20) and np.all(b["wrist"][..., 3:] == 10)


def test_stacked_wrist_frames_at_run_time_equal_the_stacked_training_frames():
    """Two raw camera frames -> the runtime's stacked wrist input == the sampler's stacked cache."""
    from vla_action_expert.runtime import stack_wrist_frames
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    cached = resize_images(raw, 16)                                   # [2, 16, 16, 3], per camera
    trained = cached.transpose(1, 2, 0, 3).reshape(16, 16, 6)         # the sampler's stacking
    np.testing.assert_array_equal(stack_wrist_frames(list(raw), 16), trained)


def test_wrist_image_at_run_time_gets_the_pixels_training_used():
    """The policy's wrist preprocessing of a raw camera frame == the cached training frame."""
    from vla_action_expert.configuration import ActionExpertConfig
    from vla_action_expert.policy import wrist_image_tensor
    cfg = ActionExpertConfig(robot="franka", action_names=("a", "b"), latent_dim=8, wrist_image_size=32)
    raw = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    run_time = wrist_image_tensor(raw, cfg).numpy().transpose(1, 2, 0)
    trained = resize_images(raw[None], 32)[0].astype(np.float32) / 255.0
    np.testing.assert_allclose(run_time, trained, atol=1e-6)
