"""The controller as the node would build it, from ``config/<robot>_<mode>.yaml`` (ROS-free), for
in-process loops (evaluation, demonstration recording) that must shape commands as the graph
does."""
from __future__ import annotations

import dataclasses
import os

from vla_common.config import RobotConfig, find_config_dir, load_yaml
from vla_controller.controller import Controller, ControllerConfig
from vla_controller.kinematics import load_kinematics


def controller_config(robot: str, mode: str = "sim", config_dir: str | os.PathLike | None = None,
                      **overrides) -> ControllerConfig:
    """``ControllerConfig`` from the ``vla_controller`` section of the robot's params file;
    keys that are not config fields (``use_sim_time``, ...) are ignored.

    Raises:
        KeyError: the file has no vla_controller section. ValueError: an invalid value.
    """
    raw = load_yaml(find_config_dir(config_dir) / f"{robot}_{mode}.yaml")["vla_controller"]["ros__parameters"]
    names = {f.name for f in dataclasses.fields(ControllerConfig)}
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names}
    return ControllerConfig(**{**vals, **overrides})


def make_controller(robot_cfg: RobotConfig, config_dir: str | os.PathLike | None = None,
                    **overrides) -> Controller:
    """A ``Controller`` for ``robot_cfg`` with its run mode's configured parameters."""
    cfg = controller_config(robot_cfg.robot, robot_cfg.mode, config_dir, **overrides)
    return Controller(robot_cfg, load_kinematics(robot_cfg), cfg)
