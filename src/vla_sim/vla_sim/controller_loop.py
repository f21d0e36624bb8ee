"""How commands reach the simulated arm in process (ROS-free).

``controller``: through the controller core (``vla_controller.config_file.make_controller``),
one tick per sim step, as the deployed stack drives the arm (target delay, velocity- and
acceleration-limited tracking); ``direct``: straight to the position servos (every dataset
recorded before Dec 2, which stores no path).
"""
from __future__ import annotations

COMMAND_PATHS = ("controller", "direct")
UNRECORDED_COMMAND_PATH = "direct"   # what a dataset episode without extra.command_path used


def step_through_controller(env, controller, target, n_steps: int) -> None:
    """Give ``controller`` the target ``target`` (``env.command_names`` order, None: no new
    target) stamped now, then run ``n_steps`` sim steps with one controller tick (measured state
    in, position command out) before each."""
    names = env.command_names
    if target is not None:
        controller.on_target(names, target, env.time_s, env.time_s)
    for _ in range(n_steps):
        controller.on_joint_state(names, env.joint_positions(), env.joint_velocities(), env.time_s)
        cmd = controller.step(env.time_s)
        if cmd is not None:
            env.command_targets(cmd.names, cmd.position)
        env.step(1)
