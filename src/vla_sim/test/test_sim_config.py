"""SimNodeConfig validation, real-time pacer and camera schedule (times passed in)."""
import math

import pytest

from vla_sim.sim_config import CameraSchedule, RealTimePacer, SimNodeConfig


def test_camera_settings_broadcast_single_values():
    c = SimNodeConfig()
    assert c.camera_settings(("scene", "wrist")) == {"scene": (128, 128, 10.0), "wrist": (128, 128, 10.0)}


def test_camera_settings_per_camera_values():
    c = SimNodeConfig(camera_width_px=(64, 32), camera_height_px=(48,), camera_rate_hz=(5.0, 15.0))
    assert c.camera_settings(("a", "b")) == {"a": (64, 48, 5.0), "b": (32, 48, 15.0)}


def test_camera_settings_wrong_count_is_rejected():
    with pytest.raises(ValueError, match="camera_width_px"):
        SimNodeConfig(camera_width_px=(1, 2, 3)).camera_settings(("a", "b"))


@pytest.mark.parametrize("kw", [dict(heartbeat_period_s=0.0), dict(command_timeout_s=math.nan),
                                dict(real_time_factor=math.inf), dict(camera_rate_hz=()),
                                dict(camera_rate_hz=(0.0,)), dict(instruction_split="test"),
                                dict(task_check_period_steps=0)])
def test_bad_config_is_rejected(kw):
    with pytest.raises(ValueError):
        SimNodeConfig(**kw)


def test_pacer_sleeps_when_sim_is_ahead_of_wall_time():
    p = RealTimePacer(1.0)
    assert p.wait_s(0.0, 100.0) == 0.0
    assert p.wait_s(0.010, 100.004) == pytest.approx(0.006)
    assert p.wait_s(0.010, 100.020) == 0.0


def test_pacer_reanchors_when_sim_falls_behind_so_it_runs_slower():
    p = RealTimePacer(1.0, max_lag_s=0.05)
    p.wait_s(0.0, 0.0)
    assert p.wait_s(0.002, 1.0) == 0.0 and p.reanchors == 1
    assert p.wait_s(0.004, 1.0) == pytest.approx(0.002)  # paced from the new anchor, no burst


def test_pacer_factor_two_runs_sim_twice_as_fast():
    p = RealTimePacer(2.0)
    p.wait_s(0.0, 0.0)
    assert p.wait_s(0.02, 0.0) == pytest.approx(0.01)


def test_camera_schedule_rates_in_sim_time():
    s = CameraSchedule({"a": 10.0, "b": 5.0}, 0.0)
    due = [tuple(s.due(k * 0.002)) for k in range(501)]  # 1 s of 2 ms steps
    assert sum("a" in d for d in due) == 11 and sum("b" in d for d in due) == 6


def test_camera_schedule_skips_missed_frames_instead_of_bursting():
    s = CameraSchedule({"a": 10.0}, 0.0)
    assert s.due(0.0) == ["a"]
    assert s.due(0.55) == ["a"]
    assert s.due(0.56) == []


@pytest.mark.parametrize("epoch", ["zero", "wall"])
def test_stamp_epoch_accepts_zero_and_wall(epoch):
    assert SimNodeConfig(stamp_epoch=epoch).stamp_epoch == epoch


@pytest.mark.parametrize("epoch", ["", "Wall", "unix"])
def test_unknown_stamp_epoch_is_rejected(epoch):
    with pytest.raises(ValueError, match="stamp_epoch"):
        SimNodeConfig(stamp_epoch=epoch)
