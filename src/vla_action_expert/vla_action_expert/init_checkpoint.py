"""Write a seeded random-init checkpoint through the normal save path (ROS-free CLI).

    python -m vla_action_expert.init_checkpoint --robot franka --out DIR [--seed N]

Used until trained weights exist. Normalization is centred on the robot's home pose with small
spreads (joints 0.02 rad, grippers 2 mm), so an untrained model commands small motions around
home instead of unit-scale noise.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from vla_action_expert.configuration import default_config
from vla_action_expert.normalization import NormStats
from vla_action_expert.policy import ActionExpertPolicy

JOINT_STD_RAD, GRIPPER_STD_M = 0.02, 0.002


def home_norm_stats(robot) -> NormStats:
    """NormStats centred on ``robot``'s home pose (grippers half open), in command_names order."""
    means, stds = [], []
    for arm in robot.arms:
        means += list(arm.home_rad)
        stds += [JOINT_STD_RAD] * len(arm.joints)
        if arm.gripper is not None:
            means.append(0.5 * (arm.gripper.width_min_m + arm.gripper.width_max_m))
            stds.append(GRIPPER_STD_M)
    m, s = np.asarray(means, np.float32), np.asarray(stds, np.float32)
    return NormStats(robot.command_names, m, s, m, s)


def random_init_policy(robot, seed: int = 0, latent_dim: int = 128, **cfg_kw) -> ActionExpertPolicy:
    """Seeded random-init policy for ``robot`` (a RobotConfig) with home-centred normalization."""
    cfg = default_config(robot.robot, robot.command_names, latent_dim=latent_dim, seed=seed,
                         **cfg_kw)
    return ActionExpertPolicy.random_init(cfg, home_norm_stats(robot), seed=seed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latent-dim", type=int, default=128)
    ap.add_argument("--config-dir", default=None)
    a = ap.parse_args(argv)
    from vla_common.config import ConfigError, load_robot_config
    try:
        robot = load_robot_config(a.robot, "sim", a.config_dir)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    d = random_init_policy(robot, a.seed, a.latent_dim).save_pretrained(a.out)
    print(f"wrote random-init action expert checkpoint for '{a.robot}' (seed {a.seed}) to {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
