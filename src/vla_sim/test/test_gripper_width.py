"""Gripper width <-> finger joints for the Gazebo (finger-joint) robot side, without ROS."""
import math

import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_sim.gripper_width import GripperWidthConfig, GripperWidthMap

ARM = [f"panda_joint{i}" for i in range(1, 8)]
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]


@pytest.fixture
def gmap():
    return GripperWidthMap(GripperWidthConfig.from_gripper(load_robot_config("franka", "gazebo").gripper("gripper")))


def test_config_comes_from_the_robot_config(gmap):
    c = gmap.config
    assert c.gripper_name == "gripper" and c.finger_joints == tuple(FINGERS)
    assert (c.width_min_m, c.width_max_m, c.finger_per_width) == (0.0, 0.08, 0.5)


def test_joint_state_gets_a_gripper_width_entry(gmap):
    names = ARM + FINGERS
    pos = list(np.linspace(-1, 1, 7)) + [0.015, 0.015]
    vel = [0.0] * 7 + [0.01, 0.01]
    out, why = gmap.add_width(names, pos, vel, [1.0] * 9)
    assert why == ""
    n, p, v, e = out
    assert n == names + ["gripper"] and p[:9] == pos
    assert p[9] == pytest.approx(0.03) and v[9] == pytest.approx(0.02) and e[9] == 0.0


def test_names_in_any_order_and_empty_velocity_effort_are_kept_as_they_are(gmap):
    names = FINGERS[::-1] + ARM
    out, _ = gmap.add_width(names, [0.02, 0.01] + [0.0] * 7)
    n, p, v, e = out
    assert p[-1] == pytest.approx(0.03) and v == [] and e == []


@pytest.mark.parametrize("names,pos,match", [
    (ARM + FINGERS[:1], [0.0] * 8, "lacks finger joints"),
    (ARM + FINGERS, [0.0] * 7 + [math.nan, 0.01], "NaN"),
    (ARM + FINGERS, [0.0] * 7 + [0.01, math.inf], "NaN"),
    (ARM + FINGERS, [0.0] * 5, "positions"),
])
def test_bad_joint_state_is_not_forwarded_and_says_why(gmap, names, pos, match):
    out, why = gmap.add_width(names, pos)
    assert out is None and match in why


@pytest.mark.parametrize("width,finger", [(0.08, 0.04), (0.0, 0.0), (0.05, 0.025),
                                          (0.2, 0.04), (-0.01, 0.0)])
def test_width_command_becomes_the_finger_position_within_the_hand_range(gmap, width, finger):
    cmd, why = gmap.finger_command([width])
    assert why == "" and cmd == [pytest.approx(finger)]


@pytest.mark.parametrize("values,match", [([], "expected 1"), ([0.01, 0.02], "expected 1"),
                                          ([math.nan], "NaN"), ([math.inf], "NaN")])
def test_bad_width_command_is_rejected(gmap, values, match):
    cmd, why = gmap.finger_command(values)
    assert cmd is None and match in why


@pytest.mark.parametrize("kw,match", [
    ({"gripper_name": ""}, "must not be empty"), ({"finger_joints": ()}, "must not be empty"),
    ({"gripper_name": "panda_finger_joint1"}, "differ"), ({"finger_per_width": 0.0}, "finger_per_width"),
    ({"finger_per_width": math.nan}, "finger_per_width"), ({"width_max_m": 0.0}, "width_min_m"),
])
def test_bad_config_is_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        GripperWidthConfig(**kw)
