"""Scripted-expert command streams through the real :class:`Supervisor` core (ROS-free).

Records episodes of ``vla_sim``'s scripted experts (in-process MuJoCo, no images), then replays
each one through a fresh supervisor built from the robot's ``config/<robot>_sim.yaml`` safety
parameters: measured joint states and a controller stream at the control period (the 50 Hz
expert actions through the controller core with the stack's parameters, as deployed), System
1/2 streams, collision
checks at ``collision_period_s``. Reports whether the supervisor ever left RUNNING, how many
commands it clamped, the slow-zone time, the closest distances and the end-effector extents
(the workspace boxes are chosen from these).

    python -m vla_safety.expert_replay --robot aloha --episodes 3
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np

from vla_safety.config import SupervisorConfig
from vla_safety.state_machine import State
from vla_safety.supervisor import Supervisor

TASKS = {"franka": ("pick_cube", "place_cube_on_plate", "push_cube"),
         "aloha": ("transfer_cube", "insertion")}


@dataclass
class Episode:
    task: str
    seed: int
    success: bool
    t_s: np.ndarray        # frame times
    states: np.ndarray     # measured command-order positions per frame
    actions: np.ndarray    # expert actions per frame (command order)


@dataclass
class ReplayResult:
    task: str
    seed: int
    expert_success: bool
    commands: int
    states_seen: list = field(default_factory=list)
    fault_codes: set = field(default_factory=set)
    clamped: int = 0
    slow_zone_checks: int = 0
    collision_checks: int = 0
    min_scale: float = 1.0
    min_self_m: float = np.inf
    min_self_pair: str = ""
    min_env_m: float = np.inf
    min_env_pair: str = ""
    min_tip_z_m: np.ndarray | None = None
    cmd_min_tip_z_m: np.ndarray | None = None   # of the controller stream itself, whole episode
    max_dev: float = 0.0          # max |gate output - controller command| while RUNNING (rad or m)
    dev_over_1e3: int = 0         # commands whose output differs from it by more than 1e-3
    reasons: list = field(default_factory=list)
    ee_min_m: np.ndarray | None = None
    ee_max_m: np.ndarray | None = None

    @property
    def stayed_running(self) -> bool:
        return set(self.states_seen) <= {State.RUNNING.name}


def params_config(robot: str, mode: str = "sim", config_dir=None, **over) -> SupervisorConfig:
    """SupervisorConfig from the ``vla_safety`` section of ``config/<robot>_<mode>.yaml``
    (``vla_common.stack.node_config``).

    Raises:
        ConfigError: no such file or section. ValueError: invalid values.
    """
    from vla_common.stack import node_config
    return node_config(SupervisorConfig, "vla_safety", robot, mode, config_dir, **over)


def record(robot_cfg, tasks, seeds, period_s: float = 0.02) -> list[Episode]:
    """Run the scripted expert on every task x seed (no rendering; targets straight to the
    actuators: the ALOHA transfer expert's open-loop timing fails through the controller)."""
    from vla_sim.experts import make_expert, run_episode
    from vla_sim.factory import make_env
    env = make_env(robot_cfg)
    expert = make_expert(env)
    out = []
    try:
        for task in tasks:
            for seed in seeds:
                fr = []
                ok, _, _ = run_episode(env, task, seed, expert, period_s,
                                       on_frame=lambda k, t, s, a: fr.append((t, s.copy(), a.copy())))
                out.append(Episode(task, seed, ok, np.array([f[0] for f in fr]),
                                   np.array([f[1] for f in fr]), np.array([f[2] for f in fr])))
    finally:
        env.close()
    return out


def _interp(t: float, ts: np.ndarray, xs: np.ndarray) -> np.ndarray:
    i = int(np.searchsorted(ts, t, side="right"))
    if i <= 0:
        return xs[0].copy()
    if i >= len(ts):
        return xs[-1].copy()
    u = (t - ts[i - 1]) / (ts[i] - ts[i - 1])
    return xs[i - 1] + u * (xs[i] - xs[i - 1])


def replay(robot_cfg, cfg: SupervisorConfig, geometry, ep: Episode) -> ReplayResult:
    """Feed one recorded episode through a fresh supervisor, one control period at a time.

    The controller stream is the controller core's (``vla_controller.config_file``, the
    stack's parameters) output for the expert's actions, each given at its frame's time;
    measured positions are the recorded states.
    """
    sup = Supervisor(robot_cfg, cfg, geometry)
    dt = cfg.control_period_s
    period = float(ep.t_s[1] - ep.t_s[0]) if len(ep.t_s) > 1 else 0.02
    n = int(round((ep.t_s[-1] + period) / dt))
    coll_every = max(1, int(round(cfg.collision_period_s / dt)))
    act_every = max(1, int(round(period / dt)))
    names = list(sup.names)
    r = ReplayResult(ep.task, ep.seed, ep.success, n)
    from vla_controller.config_file import make_controller
    ctrl = make_controller(robot_cfg)
    if tuple(ctrl.names) != tuple(names):
        raise ValueError(f"controller command names {ctrl.names} != supervisor {names}")
    zeros = np.zeros(len(names))
    x = ep.states[0].copy()
    ee_lo = ee_hi = tip = None
    t0 = 1.0
    for k in range(n):
        t = k * dt
        now = t0 + t
        measured = _interp(t, ep.t_s, ep.states)
        if k % act_every == 0:
            sup.on_action(now)
            sup.on_latent(now, now)
            frame = min(k // act_every, len(ep.actions) - 1)
            ctrl.on_target(names, ep.actions[frame], now, now)
        sup.on_joint_states(now, names, measured)
        running = sup.state == State.RUNNING   # distances/extents of the gated stream only
        if sup.geometry is not None and k % coll_every == 0:
            d = sup.check_collision(now)
            if d is not None and running:
                r.collision_checks += 1
                if d.self_min_m < r.min_self_m:
                    r.min_self_m, r.min_self_pair = d.self_min_m, d.self_pair
                if d.env_min_m < r.min_env_m:
                    r.min_env_m, r.min_env_pair = d.env_min_m, d.env_pair
                r.slow_zone_checks += int("COLLISION_SLOW_ZONE" in sup.faults)
                r.min_scale = min(r.min_scale, sup._collision_scale)
        ctrl.on_joint_state(names, measured, zeros, now)
        cmd = ctrl.step(now)
        if cmd is not None:
            x = cmd.position
        out = sup.on_command(now, now, names, x)
        if sup.geometry is not None:
            low_c = sup.geometry.fence_points(x[sup._arm_idx], x[sup._grip_idx])[1]
            r.cmd_min_tip_z_m = low_c if r.cmd_min_tip_z_m is None else np.minimum(r.cmd_min_tip_z_m, low_c)
        if out is not None and sup.state == State.RUNNING:
            dev = float(np.max(np.abs(out.position - x)))
            r.max_dev = max(r.max_dev, dev)
            r.dev_over_1e3 += int(dev > 1e-3)
        sup.tick(now)
        if out is not None and sup.geometry is not None and sup.state == State.RUNNING:
            _, _, ee, low = sup.geofence_excess(out.position)
            ee_lo = ee if ee_lo is None else np.minimum(ee_lo, ee)
            ee_hi = ee if ee_hi is None else np.maximum(ee_hi, ee)
            tip = low if tip is None else np.minimum(tip, low)
        st = sup.state.name
        if st != State.RUNNING.name or (k > 0 and st not in r.states_seen):
            if not r.states_seen or r.states_seen[-1] != st:
                r.states_seen.append(st)
        r.fault_codes.update(sup.faults)
    r.clamped = sup.counters.clamped
    r.reasons = [f"{f.code}: {f.reason}" for f in sup.faults.values() if f.code != "CLAMPED"]
    r.ee_min_m, r.ee_max_m, r.min_tip_z_m = ee_lo, ee_hi, tip
    return r


def run(robot: str, episodes: int = 3, seed_start: int = 0, tasks=None, cfg_over=None):
    """Record and replay ``episodes`` seeds of every task of ``robot``."""
    from vla_common.config import load_robot_config
    from vla_safety.collision import build_geometry
    robot_cfg = load_robot_config(robot, "sim")
    cfg = params_config(robot, watched_nodes=(), **(cfg_over or {}))
    geometry = build_geometry(robot_cfg, table_z_m=cfg.table_z_m) if cfg.geometry_enabled else None
    eps = record(robot_cfg, tasks or TASKS[robot], range(seed_start, seed_start + episodes))
    return [replay(robot_cfg, cfg, geometry, e) for e in eps]


def _fmt(a) -> str:
    return "-" if a is None else str(np.round(a, 4).tolist())


def summary(results: list[ReplayResult], arm_names) -> str:
    lines = ["| task | seed | expert ok | states | clamped cmds / total | cmds off by > 1e-3 | "
             "max deviation | slow-zone checks | min self (pair) | min env (pair) | lowest finger z "
             "per arm (gated) | lowest finger z per arm (controller stream) |", "|" + "---|" * 12]
    for r in results:
        lines.append(f"| {r.task} | {r.seed} | {r.expert_success} | {'>'.join(r.states_seen)} | "
                     f"{r.clamped}/{r.commands} | {r.dev_over_1e3} | {r.max_dev:.4f} | "
                     f"{r.slow_zone_checks}/{r.collision_checks} | "
                     f"{r.min_self_m:.4f} ({r.min_self_pair}) | {r.min_env_m:.4f} ({r.min_env_pair}) | "
                     f"{_fmt(r.min_tip_z_m)} | {_fmt(r.cmd_min_tip_z_m)} |")
    for r in results:
        if r.reasons:
            lines.append(f"\n{r.task} seed {r.seed}: {'; '.join(r.reasons)}")
    have = [r for r in results if r.ee_min_m is not None]
    if have:
        lo = np.min([r.ee_min_m for r in have], axis=0)
        hi = np.max([r.ee_max_m for r in have], axis=0)
        for a, nm in enumerate(arm_names):
            lines.append(f"\nend effector '{nm}' extent over all episodes: min "
                         f"{np.round(lo[a], 3).tolist()} max {np.round(hi[a], 3).tolist()}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--robot", default="aloha", choices=sorted(TASKS))
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--geometry", choices=("config", "on"), default="config",
                    help="'on' forces geometry_enabled (to measure extents before enabling it)")
    ap.add_argument("--measure", action="store_true",
                    help="geometric checks that never fire (boxes of +-5 m, table margin and "
                         "stop distances of -1 m): the experts' true extents, not a gate test")
    a = ap.parse_args(argv)
    from vla_common.config import load_robot_config
    over = {}
    if a.geometry == "on":
        over["geometry_enabled"] = True
    if a.measure:
        over.update(workspace_min_m=(-5.0, -5.0, -5.0), workspace_max_m=(5.0, 5.0, 5.0),
                    ee_table_margin_m=-1.0, self_stop_distance_m=-1.0, self_slow_distance_m=-0.99,
                    env_stop_distance_m=-1.0, env_slow_distance_m=-0.99)
    res = run(a.robot, a.episodes, a.seed_start, cfg_over=over)
    print(summary(res, [x.name for x in load_robot_config(a.robot, "sim").arms]))
    return 0 if all(r.stayed_running for r in res) else 1


if __name__ == "__main__":
    raise SystemExit(main())
