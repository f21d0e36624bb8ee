"""record_demos CLI writes a readable dataset (small, real expert episodes)."""
import numpy as np
import pytest

from vla_common.dataset import DatasetReader
from vla_sim.record_demos import main


def test_record_demos_writes_successful_episodes_with_images(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["--robot", "franka", "--task", "pick_cube", "--episodes", "2", "--seed-start", "5",
               "--out", str(out), "--width", "32", "--height", "24"])
    assert rc == 0
    r = DatasetReader(out)
    assert r.num_episodes == 2
    assert r.info.state_names == r.info.action_names and r.info.action_names[-1] == "gripper"
    ep = r.episode(1)
    assert ep.success and ep.seed == 6 and ep.extra["params"]["color"] in ep.instruction
    assert ep.extra["command_path"] == "controller"   # the default: as deployed
    idx, frames = ep.images["wrist"]
    assert idx[0] == 0 and np.all(np.diff(idx) == 5) and frames.shape[1:] == (24, 32, 3)
    assert np.allclose(np.diff(ep.timestamp), 0.02, atol=1e-5)
    rc = main(["--robot", "franka", "--task", "push_cube", "--episodes", "1", "--seed-start", "9",
               "--out", str(out), "--append", "--no-images"])
    assert rc == 2  # camera set differs from the existing dataset: refused, not mixed
    assert "cannot append" in capsys.readouterr().err


def test_no_progress_writes_no_progress_bar_but_the_summary(tmp_path, capsys):
    rc = main(["--robot", "franka", "--task", "pick_cube", "--episodes", "1", "--seed-start", "5",
               "--out", str(tmp_path / "d"), "--no-images", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0 and "demos:" not in out.err and "wrote 1 episodes" in out.out


def test_record_demos_unknown_task_exits_2(tmp_path, capsys):
    assert main(["--task", "juggle", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown task" in capsys.readouterr().err


def test_retry_demonstrations_mark_where_the_demonstration_starts(tmp_path):
    from vla_tools.training_data import grasp_columns, load_demos
    from vla_common.config import load_robot_config
    out = tmp_path / "retry"
    rc = main(["--robot", "franka", "--task", "pick_cube", "--episodes", "1", "--seed-start", "3300",
               "--out", str(out), "--width", "32", "--height", "32", "--miss-first"])
    assert rc == 0
    ep = DatasetReader(out).episode(0)
    start = ep.extra["train_from_frame"]
    assert 0 < start < len(ep.state) - 50 and 0.02 <= ep.extra["miss_first"]["offset_m"] <= 0.04
    assert ep.action[start - 1, -1] < 0.04 < ep.action[start, -1]  # empty grasp, then open
    cfg = load_robot_config("franka", "sim")
    (demo,) = load_demos([out], cfg.cameras, cfg.command_names, 16, grasp_columns(cfg))
    # no System 2 observation from the planned miss; the grasp target is the retry's grasp
    assert demo.train_from_frame == start and demo.img_frames.min() >= start
    assert demo.aux_mask[:7].all()
    k = start + int(np.argmax(ep.action[start:, -1] < 0.04))
    assert np.allclose(demo.aux[:7], ep.action[k, :7])


def test_aloha_retry_demonstrations_start_after_the_empty_grasp(tmp_path):
    out = tmp_path / "retry"
    rc = main(["--robot", "aloha", "--task", "transfer_cube", "--episodes", "1", "--seed-start", "3302",
               "--out", str(out), "--width", "32", "--height", "32", "--miss-first"])
    assert rc == 0
    ep = DatasetReader(out).episode(0)
    start = ep.extra["train_from_frame"]
    miss = ep.extra["miss_first"]
    assert ep.success and 0.012 <= miss["offset_m"] <= 0.035 and 0.01 <= miss["above_m"] <= 0.035
    assert 0 < start < len(ep.state) - 50
    giver = DatasetReader(out).info.action_names.index(f"{ep.extra['params']['from_arm']}_gripper")
    assert ep.action[start - 1, giver] < 0.039 < ep.action[start, giver]  # empty grasp, then open
    assert (ep.action[start:, giver] < 0.039).any()                       # ... and the real grasp


@pytest.mark.parametrize("robot, task", [("aloha", "insertion"), ("franka", "push_cube")])
def test_retry_demonstrations_refuse_tasks_without_a_retry(tmp_path, capsys, robot, task):
    rc = main(["--robot", robot, "--task", task, "--episodes", "1",
               "--out", str(tmp_path / "x"), "--miss-first"])
    assert rc == 2 and "retry demonstrations" in capsys.readouterr().err
