"""Episode evaluation through the real multi-process ROS graph in sim time (ROS adapter).

The stack starts once per mode (every node its own process, private DDS domain); per episode the
sim task is reset with the /vla_sim/reset service, the instruction is published (latched), and the
episode ends when the sim's task state reports success or the task's sim-time limit passes.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from vla_interfaces.msg import ActionChunk, ActionStep, Latent, SafetyStatus
from vla_interfaces.srv import ResetTask

from vla_common.config import load_robot_config, load_topics
from vla_common.ros_qos import LATCHED, SENSOR, STREAM
from vla_tools.training_rollout import EpisodeResult, jerk_rms

OK_SAFETY_STATES = ("INIT", "READY", "RUNNING")
# Parameters that select the synchronous baseline (see docs/TRAINING.md): the action expert runs
# System 2 inline (one blocking S2 + S1 call per chunk, naive execution) and publishes the
# latents; the planner node keeps the instruction service but publishes none.
SYNC_PARAMS = {"vla_action_expert": {"inline_planner": True}, "vla_planner": {"passive": True}}


class EvalMonitor(Node):
    """Counts what one episode needs: joint positions, chunks, latents, actions, safety, task."""

    def __init__(self, robot, topics, context):
        super().__init__("vla_eval_monitor", context=context,
                         parameter_overrides=[Parameter("use_sim_time", value=True)])
        self.names = list(robot.command_names)
        self.lock = threading.Lock()
        self.task: dict = {}
        self.safety_state = ""
        self._reset_counts()
        self.create_subscription(JointState, robot.interfaces.joint_states, self._on_js, SENSOR)
        self.create_subscription(Latent, topics.latent, lambda m: self._count("latents", m), STREAM)
        self.create_subscription(ActionChunk, topics.action_chunk, self._on_chunk, STREAM)
        self.create_subscription(ActionStep, topics.action, lambda m: self._count("actions", m), STREAM)
        self.create_subscription(SafetyStatus, topics.safety_status, self._on_safety, STREAM)
        self.create_subscription(String, topics.sim_task, self._on_task, LATCHED)
        self.instruction_pub = self.create_publisher(String, topics.instruction, LATCHED)
        self.reset_client = self.create_client(ResetTask, topics.sim_reset_srv)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _reset_counts(self) -> None:
        self.counts = {"latents": 0, "chunks": 0, "actions": 0, "safety_events": 0}
        self.q: list[tuple[float, np.ndarray]] = []
        self.s1_ms: list[float] = []
        self.s2_ms: list[float] = []

    def begin_episode(self) -> None:
        with self.lock:
            self._reset_counts()

    def _count(self, key: str, msg) -> None:
        with self.lock:
            self.counts[key] += 1
            if key == "latents":
                self.s2_ms.append(msg.compute_time_s * 1e3)

    def _on_chunk(self, msg: ActionChunk) -> None:
        with self.lock:
            self.counts["chunks"] += 1
            self.s1_ms.append(msg.inference_time_s * 1e3)

    def _on_js(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        if all(n in pos for n in self.names):
            t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            with self.lock:
                self.q.append((t, np.array([pos[n] for n in self.names])))

    def _on_safety(self, msg: SafetyStatus) -> None:
        with self.lock:
            if msg.state_name != self.safety_state and msg.state_name not in OK_SAFETY_STATES:
                self.counts["safety_events"] += 1
            self.safety_state = msg.state_name

    def _on_task(self, msg: String) -> None:
        try:
            t = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        with self.lock:
            self.task = t


def _resampled_jerk(samples: list[tuple[float, np.ndarray]], period_s: float = 0.02) -> float:
    if len(samples) < 8:
        return 0.0
    t = np.array([s[0] for s in samples])
    q = np.stack([s[1] for s in samples])[:, :-1]
    keep = np.concatenate([[True], np.diff(t) > 0])
    t, q = t[keep], q[keep]
    if len(t) < 8:
        return 0.0
    grid = np.arange(t[0], t[-1], period_s)
    qi = np.stack([np.interp(grid, t, q[:, j]) for j in range(q.shape[1])], 1)
    return jerk_rms(qi, period_s)


def evaluate_graph(robot: str, tasks: Sequence[str], seeds: Sequence[int], models: Path,
                   modes: Sequence[str], templates, out_dir: Path, progress: bool = True,
                   on_result=None, wall_timeout_per_episode_s: float = 240.0,
                   sim_real_time_factor: float = 1.0,
                   inference_rate_hz: float | None = None) -> dict:
    """Run every (mode, task, seed) through the graph; returns {"episodes", "summary"}.

    ``inference_rate_hz``: the action expert's chunk request rate in async mode (None: the
    params file's).

    Raises:
        ValueError: checkpoints missing; the stack failed to start.
    """
    from tqdm import tqdm

    from vla_common.launcher import StackLauncher
    from vla_common.testing import claim_domain_id, graph_env
    from vla_tools.evaluate import instruction_for, summarize

    for sub in ("planner", "action_expert"):
        if not (Path(models) / sub / "model.safetensors").is_file():
            raise ValueError(f"no trained checkpoint in {Path(models) / sub}")
    cfg = load_robot_config(robot, "sim")
    topics = load_topics()
    results: list[dict] = []
    total = len(modes) * len(tasks) * len(seeds)
    bar = tqdm(total=total, desc="eval (ros graph)", unit="ep", disable=not progress,
               dynamic_ncols=True)
    from vla_sim.factory import make_env  # only to know each task's time limit and params
    env = make_env(cfg)
    try:
        for mode in modes:
            domain = claim_domain_id()
            for task in tasks:
                for seed in seeds:
                    env.reset(task, seed)
                    instr = instruction_for(templates, task, seed, env.task_params) or env.instruction
                    # A fresh stack per episode, the sim started at this task and seed: the
                    # nodes have no coordinated task reset yet (a sim reset teleports the arm
                    # while System 1's chunks and the controller's tracker still hold the old
                    # pose: the arm swings back and the safety gate latches a velocity stop).
                    params = {"vla_planner": {"checkpoint_dir": str(Path(models) / "planner")},
                              "vla_action_expert": {"checkpoint_dir": str(Path(models) / "action_expert")},
                              "vla_sim": {"task": task, "seed": int(seed),
                                          "real_time_factor": float(sim_real_time_factor)}}
                    if mode == "sync":
                        for n, p in SYNC_PARAMS.items():
                            params.setdefault(n, {}).update(p)
                    elif inference_rate_hz is not None:
                        params["vla_action_expert"]["inference_rate_hz"] = float(inference_rate_hz)
                    tag = f"{mode}_{task}_{seed}"
                    pfile = write_params_file(robot, params, Path(out_dir) / "params" / f"{tag}.yaml")
                    r = _episode_in_fresh_stack(robot, cfg, topics, pfile, Path(out_dir) / "logs" / tag,
                                                domain, task, seed, instr, env.task.max_duration_s,
                                                wall_timeout_per_episode_s)
                    r["mode"] = mode
                    results.append(r)
                    if on_result:
                        on_result(r)
                    bar.update(1)
                    ok = sum(x["success"] for x in results if x["mode"] == mode and x["task"] == task)
                    n = sum(1 for x in results if x["mode"] == mode and x["task"] == task)
                    bar.set_postfix_str(f"{mode} {task} {ok}/{n}")
    finally:
        env.close()
        bar.close()
    return {"episodes": results, "summary": summarize(results)}


def _episode_in_fresh_stack(robot, cfg, topics, pfile: Path, log_dir: Path, domain: int, task: str,
                            seed: int, instruction: str | None, limit_s: float,
                            wall_timeout_s: float) -> dict:
    """Start the stack, wait until every stage is ready (sim state, planner service, System 1
    streaming its hold), run one episode from the instruction on, stop the stack."""
    from rclpy.executors import SingleThreadedExecutor
    from vla_interfaces.srv import SetInstruction

    from vla_common.launcher import StackLauncher
    from vla_common.testing import graph_env

    launcher = StackLauncher(robot, "sim", log_dir, params_path=pfile, env=graph_env(domain),
                             echo=None)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    mon = EvalMonitor(cfg, topics, ctx)
    planner_srv = mon.create_client(SetInstruction, topics.set_instruction_srv)
    ex = SingleThreadedExecutor(context=ctx)  # see run_node: no busy polling
    ex.add_node(mon)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        launcher.start()
        _wait(lambda: len(mon.q) > 0, 180.0, launcher, "the simulator's joint states")
        _wait(planner_srv.service_is_ready, 300.0, launcher, "the planner (model loaded)")
        _wait(lambda: mon.counts["actions"] > 0, 300.0, launcher, "System 1 streaming (model loaded)")
        return _episode(mon, launcher, task, seed, instruction, limit_s, wall_timeout_s,
                        reset_sim=False, planner_srv=planner_srv)
    except KeyboardInterrupt:  # say why the exit takes a few seconds
        print("\nevaluate: Ctrl-C: stopping the stack (SIGINT; SIGTERM, SIGKILL if a node hangs)",
              file=sys.stderr, flush=True)
        raise
    finally:
        launcher.stop()
        ex.shutdown()
        mon.destroy_node()
        rclpy.try_shutdown(context=ctx)


def write_params_file(robot: str, overrides: dict, out: Path) -> Path:
    """Copy of config/<robot>_sim.yaml with ``overrides`` ({node: {param: value}}) written into
    the nodes' own sections (``-p`` overrides do not beat node-specific params-file entries)."""
    import yaml

    from vla_common.config import find_config_dir
    src = find_config_dir() / f"{robot}_sim.yaml"
    data = yaml.safe_load(src.read_text())
    for node, p in overrides.items():
        data.setdefault(node, {}).setdefault("ros__parameters", {}).update(p)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def wrong_object_picks(task_state: dict) -> int | None:
    """Wrong-object picks of an episode from the sim's last ``/vla_sim/task`` JSON: its
    ``lifted_objects`` counted by ``vla_sim.tasks.wrong_lifted_objects`` (the in-process
    evaluation's definition). None when the state has no ``lifted_objects`` (an older sim)."""
    from vla_sim.tasks import wrong_lifted_objects
    lifted = task_state.get("lifted_objects")
    if lifted is None:
        return None
    return len(wrong_lifted_objects(lifted, task_state.get("params") or {}))


def _wait(pred, timeout_s: float, launcher, what: str) -> None:
    t0 = time.monotonic()
    while not pred():
        if launcher.poll() is not None:
            raise ValueError(f"stack failed while waiting for {what}: {launcher.failure}")
        if time.monotonic() - t0 > timeout_s:
            raise ValueError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _episode(mon: EvalMonitor, launcher, task: str, seed: int, instruction: str | None,
             limit_s: float, wall_timeout_s: float, reset_sim: bool = True,
             planner_srv=None) -> dict:
    if reset_sim:
        fut = mon.reset_client.call_async(ResetTask.Request(task=task, seed=int(seed)))
        _wait(fut.done, 60.0, launcher, "the reset service")
        resp = fut.result()
        if not resp.success:
            raise ValueError(f"sim reset {task}/{seed} failed: {resp.message}")
        text = instruction or resp.instruction
    else:  # the sim was started at this task and seed
        def started() -> bool:
            with mon.lock:
                return mon.task.get("task") == task and mon.task.get("seed") == seed
        _wait(started, 30.0, launcher, f"the sim's task state for {task}/{seed}")
        with mon.lock:
            text = instruction or mon.task.get("instruction") or ""
    mon.begin_episode()
    t0 = mon.now_s()
    w0 = time.monotonic()
    planner_message = None
    if planner_srv is not None:  # the episode starts here: the planner's answer says if it
        # will act on the text (the topic below then reaches it unchanged, and System 1's inline planner)
        from vla_interfaces.srv import SetInstruction
        fut = planner_srv.call_async(SetInstruction.Request(instruction=text))
        _wait(fut.done, 60.0, launcher, "the planner's set_instruction service")
        if not fut.result().success:  # no latent will come: the arm holds; nothing to measure
            # (the caller sets the mode)
            return EpisodeResult.refused(task, seed, text, "", fut.result().message, "ros").to_json()
        planner_message = fut.result().message  # how the planner understood the text
    mon.instruction_pub.publish(String(data=text))
    success_at = None
    while True:
        now = mon.now_s()
        with mon.lock:
            st = dict(mon.task)
        if st.get("seed") == seed and st.get("task") == task and st.get("success"):
            # a sim reset starts the task clock at the instruction; a fresh stack's sim started
            # while the models loaded, so the time counts from the instruction here
            success_at = float(st.get("episode_time_s", now - t0)) if reset_sim else now - t0
            break
        if now - t0 >= limit_s:
            break
        if launcher.poll() is not None:
            raise ValueError(f"stack failed during {task}/{seed}: {launcher.failure}")
        if time.monotonic() - w0 > wall_timeout_s:
            break
        time.sleep(0.02)
    dur = max(mon.now_s() - t0, 1e-6)
    with mon.lock:
        c = dict(mon.counts)
        q = list(mon.q)
        s1, s2 = list(mon.s1_ms), list(mon.s2_ms)
        st = dict(mon.task)
    wrong = wrong_object_picks(st)
    return {"task": task, "seed": int(seed), "instruction": text, "success": success_at is not None,
            "time_to_success_s": success_at, "duration_s": round(dur, 3),
            "wrong_object_picks": wrong, "jerk_rms_rad_s3": _resampled_jerk(q),
            "safety_events": c["safety_events"], "action_rate_hz": c["actions"] / dur,
            "chunk_rate_hz": c["chunks"] / dur, "latent_rate_hz": c["latents"] / dur,
            "s1_compute_ms_p50": float(np.median(s1)) if s1 else float("nan"),
            "s2_compute_ms_p50": float(np.median(s2)) if s2 else float("nan"),
            "extra": {"backend": "ros", "wall_s": round(time.monotonic() - w0, 2),
                      "lifted_objects": st.get("lifted_objects"), "planner_message": planner_message}}
