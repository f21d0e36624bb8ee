"""End-to-end smoke test of the training pipeline on 2 recorded demonstrations: record -> train
S2+S1 together (a few steps, tiny sizes) -> deployable checkpoints -> resume -> one short
closed-loop in-process episode. Behaviour only (no accuracy or timing claims)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

TINY = ["--image-size-px", "32", "--cnn-channels", "8,16", "--d-model", "32", "--fusion-layers", "1",
        "--hidden-dim", "64", "--num-blocks", "1", "--frames", "2", "--repeats", "2",
        "--horizon", "8", "--torch-threads", "1", "--no-progress", "--ckpt-every", "2",
        # two demonstrations know two cube colours: the tests below ask for others
        "--instruction-match", "off"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from vla_tools.train_default import main
    root = tmp_path_factory.mktemp("train")
    data, out, run = root / "data", root / "models", root / "run"
    rc = main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "2", "--data-dir", str(data),
               "--steps", "3", "--out", str(out), "--run-dir", str(run), *TINY])
    assert rc == 0
    return data, out, run


@pytest.mark.slow
def test_training_records_demos_and_writes_loadable_checkpoints(trained):
    from vla_action_expert.policy import ActionExpertPolicy
    from vla_common.config import load_robot_config
    from vla_planner.backbone import load_backbone
    data, out, run = trained
    assert (data / "franka_pick_cube" / "meta" / "info.json").is_file()
    cfg = load_robot_config("franka", "sim")
    bb = load_backbone(out / "planner", cfg.cameras, latent_dim=128)
    pol = ActionExpertPolicy.from_pretrained(out / "action_expert", cfg.command_names, 128)
    assert bb.latent_dim == pol.config.latent_dim
    meta = json.loads((out / "action_expert" / "training.json").read_text())
    assert meta["command"].startswith("python -m vla_tools.train_default") and meta["step"] == 3
    s = json.loads((run / "train_summary.json").read_text())
    assert s["steps"] == 3 and np.isfinite(s["final_flow_loss"] or 0.0)
    img = np.zeros((128, 128, 3), np.uint8)
    z = bb.infer({"scene": img, "wrist": img}, "pick up the red cube").latent
    chunk = pol.predict_action_chunk({"latent": z, "latent_age_s": 0.2,
                                      "state": pol.norm.state_mean.astype(float)})
    assert chunk.shape == (8, 8) and np.all(np.isfinite(chunk))


@pytest.mark.slow
def test_training_resumes_from_its_run_directory(trained):
    from vla_tools.train_default import main
    data, out, run = trained
    rc = main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "2", "--data-dir", str(data),
               "--steps", "4", "--out", str(out), "--run-dir", str(run), "--resume", *TINY])
    assert rc == 0
    assert json.loads((run / "train_summary.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_init_from_a_checkpoint_root_starts_from_its_weights_and_normalization(trained, tmp_path):
    """One step at learning rate 0 from a deployable root: the new run's checkpoints equal the root's (the trained
    text projection is kept, not re-whitened) and its normalization is the root's."""
    from safetensors.torch import load_file
    from vla_tools.train_default import main
    data, out, _ = trained
    out2 = tmp_path / "models"
    rc = main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "2", "--data-dir", str(data),
               "--steps", "1", "--lr", "0", "--out", str(out2), "--run-dir", str(tmp_path / "run"),
               "--init-from", str(out), *TINY])
    assert rc == 0
    for part in ("planner", "action_expert"):
        a, b = load_file(str(out / part / "model.safetensors")), load_file(str(out2 / part / "model.safetensors"))
        assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert (json.loads((out / "action_expert" / "normalization.json").read_text())
            == json.loads((out2 / "action_expert" / "normalization.json").read_text()))


def test_init_from_a_missing_path_is_a_clear_error(tmp_path, capsys):
    from vla_tools.train_default import main
    rc = main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "1", "--max-load-episodes", "1",
               "--data-dir", str(tmp_path / "none"), "--steps", "1", "--out", str(tmp_path / "m"),
               "--run-dir", str(tmp_path / "r"), "--init-from", str(tmp_path / "nothing"), *TINY])
    assert rc == 2 and "--init-from" in capsys.readouterr().err


@pytest.mark.slow
def test_aloha_transfer_trains_with_both_wrist_cameras_and_runs_in_the_loop(tmp_path):
    """ALOHA: System 1 reads both wrist cameras stacked along channels; the checkpoint names
    them, loads, and an in-process episode feeds each camera to its slot."""
    from vla_action_expert.policy import ActionExpertPolicy
    from vla_common.config import load_robot_config
    from vla_planner.backbone import load_backbone
    from vla_sim.factory import make_env
    from vla_tools.train_default import main
    from vla_tools.training_rollout import InprocStack, RolloutConfig
    out = tmp_path / "models"
    rc = main(["--robot", "aloha", "--tasks", "transfer_cube", "--episodes", "2",
               "--data-dir", str(tmp_path / "data"), "--steps", "2", "--out", str(out),
               "--run-dir", str(tmp_path / "run"), *TINY, "--wrist-image-size", "32",
               "--wrist-camera", "left_wrist,right_wrist", "--extra-phrasings",
               "--text-noise-std", "0.02"])
    assert rc == 0
    cfg = load_robot_config("aloha", "sim")
    bb = load_backbone(out / "planner", cfg.cameras, latent_dim=128)
    pol = ActionExpertPolicy.from_pretrained(out / "action_expert", cfg.command_names, 128)
    assert pol.config.wrist_cameras == ("left_wrist", "right_wrist")
    assert pol.config.wrist_image_channels == 6
    img = np.zeros((128, 128, 3), np.uint8)
    z = bb.infer({c: img for c in cfg.cameras}, "transfer the cube from the left arm to the right arm").latent
    chunk = pol.predict_action_chunk({"latent": z, "latent_age_s": 0.2,
                                      "state": pol.norm.state_mean.astype(float),
                                      "wrist_image": np.zeros((128, 128, 6), np.uint8)})
    assert chunk.shape == (8, len(cfg.command_names)) and np.all(np.isfinite(chunk))
    env = make_env(cfg)
    try:
        r = InprocStack(env, bb, pol).run_episode(
            "transfer_cube", 100000, None, RolloutConfig(mode="async", max_duration_s=0.3,
                                                         image_size_px=32))
    finally:
        env.close()
    assert r.chunk_rate_hz > 0 and r.action_rate_hz > 0


@pytest.mark.slow
@pytest.mark.parametrize("through_controller", [True, False])
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_inproc_rollout_runs_both_modes_on_an_eval_seed(trained, mode, through_controller):
    from vla_action_expert.policy import ActionExpertPolicy
    from vla_common.config import load_robot_config
    from vla_controller.config_file import make_controller
    from vla_planner.backbone import load_backbone
    from vla_sim.factory import make_env
    from vla_tools.training_rollout import InprocStack, RolloutConfig
    _, out, _ = trained
    cfg = load_robot_config("franka", "sim")
    env = make_env(cfg)
    try:
        factory = (lambda: make_controller(cfg)) if through_controller else None
        stack = InprocStack(env, load_backbone(out / "planner", cfg.cameras),
                            ActionExpertPolicy.from_pretrained(out / "action_expert"),
                            controller_factory=factory)
        r = stack.run_episode("pick_cube", 100000, None,
                              RolloutConfig(mode=mode, max_duration_s=0.6, image_size_px=64,
                                            fixed_delays_s=(0.03, 0.005)))
    finally:
        env.close()
    assert r.mode == mode and r.task == "pick_cube" and r.seed == 100000
    assert r.chunk_rate_hz > 0 and r.latent_rate_hz > 0 and r.duration_s >= 0.6
    assert "yellow" in r.instruction  # the sim's sampled phrasing of this seed
    # wrong-object picks come from the sim's lift tracking (the graph evaluation's source too)
    assert r.wrong_object_picks == len(r.extra["wrong_objects"])
    assert set(r.extra["wrong_objects"]) <= set(r.extra["lifted_objects"])


def test_demonstrations_of_another_command_path_are_refused_not_mixed(tmp_path):
    from vla_sim.record_demos import main as record
    from vla_tools.train_default import plan_demos
    d = tmp_path / "franka_pick_cube"
    assert record(["--task", "pick_cube", "--episodes", "1", "--out", str(d), "--no-images",
                   "--command-path", "direct"]) == 0
    assert plan_demos("franka", ["pick_cube"], 1, tmp_path, command_path="direct") == ([d], [])
    with pytest.raises(RuntimeError, match="command path"):
        plan_demos("franka", ["pick_cube"], 2, tmp_path, command_path="controller")


def test_unknown_task_is_a_clear_error_and_trains_nothing(tmp_path, capsys):
    from vla_tools.train_default import main
    rc = main(["--robot", "franka", "--tasks", "no_such_task", "--episodes", "1",
               "--data-dir", str(tmp_path), "--steps", "1", "--out", str(tmp_path / "o"),
               "--run-dir", str(tmp_path / "r"), *TINY])
    assert rc == 2
    assert not (tmp_path / "o").exists()
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--retry-episodes", "900"], ["--retry-episodes", "-1"],
                                  ["--episodes", "1700", "--retry-episodes", "10"]])
def test_retry_seed_range_overlapping_another_is_refused(args, capsys):
    from vla_tools.train_default import parse_args
    with pytest.raises(SystemExit):
        parse_args(args)
    assert "--retry-episodes" in capsys.readouterr().err


@pytest.mark.slow
def test_training_with_retry_demonstrations_records_them_apart_and_trains(tmp_path):
    from vla_common.dataset import DatasetReader
    from vla_tools.train_default import RETRY_SEED_OFFSET, main
    data, out = tmp_path / "data", tmp_path / "models"
    rc = main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "1", "--retry-episodes", "1",
               "--data-dir", str(data), "--steps", "2", "--out", str(out), "--run-dir",
               str(tmp_path / "run"), *TINY])
    assert rc == 0
    retry = DatasetReader(data / "franka_pick_cube_retry")
    assert retry.num_episodes == 1 and retry.episodes[0]["seed"] >= RETRY_SEED_OFFSET
    assert "train_from_frame" in retry.episodes[0]["extra"]
    meta = json.loads((out / "planner" / "training.json").read_text())
    assert meta["retry_episodes_per_task"] == 1 and len(meta["datasets"]) == 2


def _waits_for_peer(me: Path, peer: Path) -> list[str]:
    # exits 0 once the peer has started, 3 if it never does: only passes when both run at once
    code = (f"import pathlib, sys, time; pathlib.Path({str(me)!r}).touch(); "
            f"t = time.monotonic() + 120\n"
            f"while not pathlib.Path({str(peer)!r}).exists():\n"
            f"    time.sleep(0.05)\n"
            f"    if time.monotonic() > t: sys.exit(3)\n")
    return [sys.executable, "-c", code]


def test_two_recordings_run_at_once_with_two_jobs(tmp_path):
    from vla_tools.train_default import run_recordings
    a, b = tmp_path / "a", tmp_path / "b"
    run_recordings([_waits_for_peer(a, b), _waits_for_peer(b, a)], jobs=2, log=lambda m: None)
    assert a.exists() and b.exists()


@pytest.mark.parametrize("code, raises", [(0, False), (1, False), (2, True), (-9, True)])
def test_recording_exit_code_other_than_0_or_1_is_an_error(code, raises):
    from vla_tools.train_default import run_recordings
    cmd = [sys.executable, "-c",
           f"import os, signal, sys; os.kill(os.getpid(), signal.SIGKILL) if {code} < 0 else sys.exit({code})"]
    if raises:
        with pytest.raises(RuntimeError, match="record_demos failed"):
            run_recordings([cmd, [sys.executable, "-c", "pass"]], jobs=2, log=lambda m: None)
    else:
        run_recordings([cmd], jobs=2, log=lambda m: None)


@pytest.mark.slow
def test_wrist_image_fine_tune_starts_from_the_loaded_policy_and_runs_in_the_loop(trained, tmp_path):
    """--wrist-image-size from a root without a wrist branch: the new branch starts silent, so
    one step at learning rate 0 predicts exactly the root's chunks whatever the wrist image; the
    checkpoint loads and drives an in-process episode that feeds it the wrist camera."""
    from vla_action_expert.policy import ActionExpertPolicy
    from vla_common.config import load_robot_config
    from vla_planner.backbone import load_backbone
    from vla_sim.factory import make_env
    from vla_tools.train_default import main
    from vla_tools.training_rollout import InprocStack, RolloutConfig
    data, out, _ = trained
    out2 = tmp_path / "models"
    rc = main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "2", "--data-dir", str(data),
               "--steps", "1", "--lr", "0", "--out", str(out2), "--run-dir", str(tmp_path / "run"),
               "--init-from", str(out), *TINY, "--wrist-image-size", "32"])
    assert rc == 0
    old = ActionExpertPolicy.from_pretrained(out / "action_expert")
    new = ActionExpertPolicy.from_pretrained(out2 / "action_expert")
    assert old.config.wrist_image_size == 0 and new.config.wrist_image_size == 32
    obs = {"latent": np.linspace(-1, 1, 128), "latent_age_s": 0.2,
           "state": old.norm.state_mean.astype(float)}
    rng = np.random.default_rng(0)
    for _ in range(2):
        img = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        np.testing.assert_array_equal(old.predict_action_chunk(obs, seed=3),
                                      new.predict_action_chunk({**obs, "wrist_image": img}, seed=3))
    cfg = load_robot_config("franka", "sim")
    env = make_env(cfg)
    try:
        r = InprocStack(env, load_backbone(out2 / "planner", cfg.cameras), new).run_episode(
            "pick_cube", 100000, None, RolloutConfig(max_duration_s=0.6, image_size_px=64,
                                                     fixed_delays_s=(0.03, 0.005)))
    finally:
        env.close()
    assert r.chunk_rate_hz > 0


def test_wrist_image_size_other_than_the_planner_input_is_refused(tmp_path):
    from vla_tools.train_default import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--image-size-px", "64", "--wrist-image-size", "48"])


@pytest.mark.parametrize("std", ["-0.01", "1.5", "nan"])
def test_text_noise_outside_zero_to_one_is_refused(std):
    from vla_tools.train_default import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--text-noise-std", std])


@pytest.mark.slow
def test_checkpoint_names_its_training_instructions_and_the_cli_rebuilds_them(trained, tmp_path):
    """By default the trainer writes planner/instructions.json (match nearest, one meaning per
    cube colour); vla_tools.instruction_set rebuilds the same set from the checkpoint's
    training.json, as for checkpoints made before the file existed."""
    from vla_planner.instruction_match import read_instruction_set
    from vla_tools.train_default import main
    from vla_tools.instruction_set import main as iset_main
    data, first, _ = trained
    assert read_instruction_set(first / "planner") is None  # --instruction-match off
    out = tmp_path / "models"
    assert main(["--robot", "franka", "--tasks", "pick_cube", "--episodes", "2", "--data-dir", str(data),
                 "--steps", "1", "--out", str(out), "--run-dir", str(tmp_path / "run"), *TINY,
                 "--instruction-match", "nearest"]) == 0
    written = read_instruction_set(out / "planner")
    assert written.match == "nearest" and written.min_similarity == 0.5
    colours = {s.split()[-2] for s in written.instructions if s.startswith("pick up the")}
    assert len(set(written.groups)) == len(colours) >= 1
    (out / "planner" / "instructions.json").unlink()
    assert iset_main([str(out), "--min-similarity", "0.6"]) == 0
    rebuilt = read_instruction_set(out / "planner")
    assert rebuilt.instructions == written.instructions and rebuilt.groups == written.groups
    assert rebuilt.min_similarity == 0.6


def test_instruction_set_cli_without_training_metadata_is_a_clear_error(tmp_path, capsys):
    from vla_tools.instruction_set import main as iset_main
    (tmp_path / "planner").mkdir()
    assert iset_main([str(tmp_path)]) == 2
    assert "training.json" in capsys.readouterr().err


def _inproc_episode_with_instructions(trained, tmp_path, match: str, text: str, duration_s: float):
    """One in-process Franka episode of the trained checkpoint, whose planner knows only
    "pick up the green cube" (``match``: exact / nearest), given ``text``."""
    import shutil

    from vla_action_expert.policy import ActionExpertPolicy
    from vla_common.config import load_robot_config
    from vla_planner.backbone import load_backbone
    from vla_planner.instruction_match import InstructionSet, write_instruction_set
    from vla_sim.factory import make_env
    from vla_tools.training_rollout import InprocStack, RolloutConfig
    _, out, _ = trained
    models = tmp_path / "models"
    shutil.copytree(out, models)
    write_instruction_set(models / "planner", InstructionSet(("pick up the green cube",), match))
    cfg = load_robot_config("franka", "sim")
    env = make_env(cfg)
    try:
        stack = InprocStack(env, load_backbone(models / "planner", cfg.cameras),
                            ActionExpertPolicy.from_pretrained(models / "action_expert"))
        return stack.run_episode("pick_cube", 100000, text,
                                 RolloutConfig(mode="async", max_duration_s=duration_s, image_size_px=64))
    finally:
        env.close()


@pytest.mark.slow
def test_inproc_episode_with_a_refused_instruction_fails_without_moving(trained, tmp_path):
    """A planner checkpoint that accepts only its trained phrasings refuses another text: the
    in-process episode ends at once as a failure naming the reason, as the graph's planner node
    refuses it (no latent, the arm holds)."""
    r = _inproc_episode_with_instructions(trained, tmp_path, "exact", "please juggle three cubes", 0.6)
    assert not r.success and r.duration_s == 0.0
    assert "not a trained instruction" in r.extra["instruction_refused"]
    assert r.action_rate_hz is None and r.jerk_rms_rad_s3 is None


@pytest.mark.slow
def test_inproc_episode_records_how_the_planner_understood_a_paraphrase(trained, tmp_path):
    r = _inproc_episode_with_instructions(trained, tmp_path, "nearest", "please pick up the green cube", 0.2)
    assert r.duration_s > 0.0 and "instruction_refused" not in r.extra
    assert "understood as 'pick up the green cube'" in r.extra["planner_message"]
