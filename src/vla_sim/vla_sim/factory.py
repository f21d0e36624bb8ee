"""Build a SimEnv for a robot config (ROS-free): picks the scene and task set by robot name."""
from __future__ import annotations

from vla_sim.command_gate import GateSpec
from vla_sim.env import SimEnv
from vla_sim.sim_config import TASK_CHECK_PERIOD_STEPS


def make_scene_spec(robot_cfg, model_path: str | None = None):
    """The compiled scene of ``robot_cfg`` (no tasks, no controllers)."""
    if robot_cfg.robot == "franka":
        from vla_sim.scenes.franka import franka_scene_spec
        return franka_scene_spec(robot_cfg, model_path)
    if robot_cfg.robot == "aloha":
        from vla_sim.scenes.aloha import aloha_scene_spec
        return aloha_scene_spec(robot_cfg, model_path)
    raise ValueError(f"no simulated scene for robot '{robot_cfg.robot}' (franka, aloha)")


def make_env(robot_cfg, command_timeout_s: float = 0.1, model_path: str | None = None,
             task_check_period_steps: int = TASK_CHECK_PERIOD_STEPS) -> SimEnv:
    """SimEnv for ``robot_cfg`` (vla_common RobotConfig) with its mode's command outputs.

    Args:
        robot_cfg: loaded robot config (robot "franka" or "aloha").
        command_timeout_s: stale-command timeout (sim time).
        model_path: override of the robot model file (URDF for Franka, assets dir for ALOHA).
        task_check_period_steps: physics steps between lifted-object checks (``SimEnv.step``).
    Raises:
        ModelFileError: missing or corrupt model files.
        ValueError: unknown robot or names that do not match the model.
    """
    spec = make_scene_spec(robot_cfg, model_path)
    if robot_cfg.robot == "franka":
        from vla_sim.tasks import franka_tasks
        tasks = franka_tasks()
    else:
        from vla_sim.aloha_tasks import aloha_tasks
        tasks = aloha_tasks()
    outputs = [GateSpec(o.topic, o.interface, tuple(o.joints)) for o in robot_cfg.interfaces.command_outputs]
    return SimEnv(spec, outputs, tasks, command_timeout_s,
                  task_check_period_steps=task_check_period_steps)
