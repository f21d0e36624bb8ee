"""The controller as the node would build it, from ``config/<robot>_<mode>.yaml`` (ROS-free), for
in-process loops (evaluation, demonstration recording) that must shape commands as the graph
does."""
from __future__ import annotations

import os

from vla_common.config import RobotConfig
from vla_common.stack import node_config
from vla_controller.controller import Controller, ControllerConfig
from vla_controller.kinematics import load_kinematics


def controller_config(robot: str, mode: str = "sim", config_dir: str | os.PathLike | None = None,
                      **overrides) -> ControllerConfig:
    """``ControllerConfig`` from the ``vla_controller`` section of the robot's params file
    (``vla_common.stack.node_config``).

    Raises:
        ConfigError: no such file or section. ValueError: an invalid value.
    """
    return node_config(ControllerConfig, "vla_controller", robot, mode, config_dir, **overrides)


def make_controller(robot_cfg: RobotConfig, config_dir: str | os.PathLike | None = None,
                    **overrides) -> Controller:
    """A ``Controller`` for ``robot_cfg`` with its run mode's configured parameters."""
    cfg = controller_config(robot_cfg.robot, robot_cfg.mode, config_dir, **overrides)
    return Controller(robot_cfg, load_kinematics(robot_cfg), cfg)
