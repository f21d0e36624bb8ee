"""Fast closed-loop evaluation without ROS: SimEnv + the planner core + the action expert runtime
stepped together in sim time (ROS-free).

The same ROS-free cores the nodes wrap run here (``PlannerCore``: newest stamp-matched frames ->
latent; ``ActionExpertRuntime``: latent + state -> chunks -> executor -> stream), with the
deployment's timing (``RolloutConfig.from_params``: read from ``config/<robot>_sim.yaml``, as
the nodes do): cameras at ``camera_rate_hz``, System 2 at ``planner_rate_hz``, System 1
requests at ``inference_rate_hz``, the stream at ``stream_rate_hz``; each model's result becomes available after its measured wall
compute time (sim time runs at real-time factor 1 in the graph, so wall compute = sim delay),
or after fixed delays when ``fixed_delays_s`` is given. With a ``controller_factory`` the
stream goes through the controller core at its own rate (every sim step: 500 Hz), with the
graph's parameters (``vla_controller.config_file``): its target delay and velocity- and
acceleration-limited tracking shape what the arm gets, as in the graph. Not modelled: DDS
transport and the safety gate (the ROS evaluation covers those).

Modes: ``async`` (the dual system: S2 and S1 at their own rates, S1 reuses the newest latent) and
``sync`` (the baseline of public VLA stacks: one blocking call runs S2 then S1 on the newest
observation, the arm holds during the call, the chunk then executes open loop to its end with
naive switching). Sync runs ``vla_action_expert.sync_cycle.SyncCycle``, the class the action
expert node runs with ``inline_planner`` in the ROS graph; here the call's result becomes
available after its measured (or fixed) delay in sim time.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

MODES = ("async", "sync")


@dataclass(frozen=True)
class RolloutConfig:
    mode: str = "async"
    camera_rate_hz: float = 10.0
    image_size_px: int = 128
    planner_rate_hz: float = 8.0
    inference_rate_hz: float = 10.0
    stream_rate_hz: float = 200.0
    max_duration_s: float = 0.0        # 0: the task's own limit
    post_success_s: float = 0.0        # keep running after success (0: stop at success)
    fixed_delays_s: tuple[float, float] | None = None  # (S2, S1) sim delays instead of measured

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got '{self.mode}'")
        for k in ("camera_rate_hz", "planner_rate_hz", "inference_rate_hz", "stream_rate_hz"):
            if not getattr(self, k) > 0:
                raise ValueError(f"{k} must be > 0")

    @classmethod
    def from_params(cls, robot: str, mode: str = "async", config_dir=None,
                    **overrides) -> "RolloutConfig":
        """The deployment's timing from ``config/<robot>_sim.yaml`` (the one source the nodes
        read too): the sim's camera rate and size, the planner's ``rate_hz``, the action
        expert's ``inference_rate_hz`` and ``stream_rate_hz``; ``overrides`` win.

        Raises:
            ConfigError: no such parameter file or node section; cameras of different rates or
                sizes (the in-process stack renders every camera at one rate and one square size).
            ValueError: a rate that is not > 0.
        """
        from vla_common.config import ConfigError  # noqa: PLC0415
        from vla_common.stack import node_params, params_file  # noqa: PLC0415
        path = params_file(robot, "sim", config_dir)

        def one(sim: dict, key: str, default):
            vals = sim.get(key, [default])
            vals = list(vals) if isinstance(vals, (list, tuple)) else [vals]
            if len(set(vals)) != 1:
                raise ConfigError(f"{path}: vla_sim.{key} {vals}: the in-process evaluation "
                                  "needs one value for every camera")
            return vals[0]
        sim, expert, planner = (node_params(n, robot, "sim", config_dir)
                                for n in ("vla_sim", "vla_action_expert", "vla_planner"))
        w, h = one(sim, "camera_width_px", 128), one(sim, "camera_height_px", 128)
        if w != h:
            raise ConfigError(f"{path}: camera {w}x{h} px: the in-process evaluation renders square")
        vals = {"camera_rate_hz": float(one(sim, "camera_rate_hz", cls.camera_rate_hz)),
                "image_size_px": int(w),
                "planner_rate_hz": float(planner.get("rate_hz", cls.planner_rate_hz)),
                "inference_rate_hz": float(expert.get("inference_rate_hz", cls.inference_rate_hz)),
                "stream_rate_hz": float(expert.get("stream_rate_hz", cls.stream_rate_hz))}
        return cls(mode=mode, **{**vals, **overrides})


@dataclass
class EpisodeResult:
    task: str
    seed: int
    instruction: str
    mode: str
    success: bool
    time_to_success_s: float | None
    duration_s: float
    wrong_object_picks: int
    jerk_rms_rad_s3: float
    safety_events: int
    action_rate_hz: float
    chunk_rate_hz: float
    latent_rate_hz: float
    s2_compute_ms_p50: float
    s1_compute_ms_p50: float
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def refused(cls, task: str, seed: int, instruction: str, mode: str, reason: str,
                backend: str) -> "EpisodeResult":
        """An episode whose instruction the planner refused: no latent, the arm never moved,
        so no rates or jerk (null in JSON, skipped by the summary); the reason is kept."""
        return cls(task=task, seed=int(seed), instruction=instruction, mode=mode, success=False,
                   time_to_success_s=None, duration_s=0.0, wrong_object_picks=0,
                   jerk_rms_rad_s3=None, safety_events=0, action_rate_hz=None, chunk_rate_hz=None,
                   latent_rate_hz=None, s2_compute_ms_p50=None, s1_compute_ms_p50=None,
                   extra={"instruction_refused": reason, "lifted_objects": [], "backend": backend})


def jerk_rms(q: np.ndarray, dt: float) -> float:
    """RMS over time and joints of the third finite difference of positions.

    Args:
        q: [T, D] positions sampled every ``dt`` seconds.
        dt: sample period (> 0).
    Returns:
        RMS jerk (units/s^3); 0.0 with fewer than 4 samples.
    Raises:
        ValueError: dt <= 0 or not finite.
    """
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError("dt must be finite and > 0")
    q = np.asarray(q, float)
    if q.ndim != 2 or len(q) < 4:
        return 0.0
    j = np.diff(q, n=3, axis=0) / dt ** 3
    return float(np.sqrt(np.mean(j ** 2)))


class InprocStack:
    """One robot's policy (planner backbone + action expert policy) with a SimEnv."""

    def __init__(self, env, backbone, policy, executor_config=None, controller_factory=None,
                 wrist_camera: str = "wrist"):
        """wrist_camera: the camera whose newest frame System 1 reads when its checkpoint takes a
        wrist image but does not name its ``wrist_cameras`` (the action expert node's
        ``wrist_camera``)."""
        self.env, self.backbone, self.policy = env, backbone, policy
        self.executor_config = executor_config
        self.controller_factory = controller_factory  # () -> vla_controller Controller, or None
        self.cameras = tuple(backbone.cameras)
        self.wrist_cameras = policy.config.wrist_camera_names(wrist_camera)
        self.cameras += tuple(c for c in self.wrist_cameras if c not in self.cameras)
        names = tuple(policy.config.action_names)
        if names != tuple(env.command_names):
            raise ValueError(f"policy action names {names} != sim command names {env.command_names}")

    def run_episode(self, task: str, seed: int, instruction: str | None, cfg: RolloutConfig,
                    split: str = "train") -> EpisodeResult:
        """Reset ``task``/``seed`` and run the policy until success or the time limit.

        Args:
            instruction: text to give the planner; None = the sim's sampled instruction.
            split: which phrasing list the sim samples from when ``instruction`` is None.

        Wrong-object picks come from the sim's own lift tracking (``SimEnv.step`` latches
        lifted objects every ``task_check_period_steps``, counted by
        ``vla_sim.tasks.wrong_lifted_objects``): the ROS-graph evaluation counts them with the
        same code from ``/vla_sim/task``.
        """
        from vla_action_expert.executor import ExecutorConfig
        from vla_action_expert.runtime import ActionExpertRuntime
        from vla_action_expert.sync_cycle import SyncCycle
        from vla_planner.planner_core import PlannerCore, PlannerNodeConfig
        from vla_sim.controller_loop import step_through_controller

        env = self.env
        sim_instr = env.reset(task, seed, split)
        text = instruction or sim_instr
        env.episode_start_s = env.time_s
        self.policy.reset()
        pcore = PlannerCore(self.backbone, PlannerNodeConfig(rate_hz=cfg.planner_rate_hz))
        ok, msg, _ = pcore.set_instruction(text)
        if not ok:  # the planner node refuses it the same way: no latent, the arm never moves
            return EpisodeResult.refused(task, seed, text, cfg.mode, msg, "inproc")
        ecfg = self.executor_config or ExecutorConfig()
        if cfg.mode == "sync":  # the baseline executes whole chunks: naive switching, no RTC guide
            ecfg = dataclasses.replace(ecfg, strategy="naive")
        rt = ActionExpertRuntime(self.policy, ecfg)
        sync = SyncCycle(rt, pcore) if cfg.mode == "sync" else None
        sync_pending = None  # (available_at, SyncCall): the call returns after its delay
        t0 = env.time_s
        limit = cfg.max_duration_s or env.task.max_duration_s
        tick = 1.0 / cfg.stream_rate_hz
        next_tick = next_jerk_sample = 0.0
        next_cam = next_s2 = next_s1 = 0.0
        pending_lat: list[tuple[float, np.ndarray, float]] = []   # (available_at, latent, stamp)
        pending_chunk: list[tuple[float, object, np.ndarray]] = []
        s2_ms, s1_ms = [], []
        n_latents = n_chunks = n_fresh = 0
        qs = []
        success_at = None
        k = 0
        ctrl = self.controller_factory() if self.controller_factory else None
        if ctrl is not None and tuple(ctrl.names) != tuple(env.command_names):
            raise ValueError(f"controller command names {ctrl.names} != sim {env.command_names}")
        while True:
            t = env.time_s - t0
            now = env.time_s
            if t + 1e-9 >= next_cam:
                for c in self.cameras:
                    img = env.render(c, cfg.image_size_px, cfg.image_size_px)
                    if c in self.backbone.cameras:
                        pcore.add_image(c, now, img)
                    if c in self.wrist_cameras:
                        rt.on_wrist_image(img, now, self.wrist_cameras.index(c))
                next_cam += 1.0 / cfg.camera_rate_hz
            js = env.joint_positions()
            rt.on_joint_state(env.command_names, js, now)
            if cfg.mode == "async":
                if t + 1e-9 >= next_s2:
                    w0 = time.perf_counter()
                    res = pcore.step(now)
                    if res.latent is not None:
                        dt = cfg.fixed_delays_s[0] if cfg.fixed_delays_s else time.perf_counter() - w0
                        s2_ms.append((time.perf_counter() - w0) * 1e3)
                        pending_lat.append((now + dt, res.latent, res.stamp_s))
                    next_s2 += 1.0 / cfg.planner_rate_hz
                while pending_lat and pending_lat[0][0] <= now + 1e-9:
                    _, lat, st = pending_lat.pop(0)
                    rt.on_latent(lat, st)
                    n_latents += 1
                if t + 1e-9 >= next_s1:
                    req, _why = rt.prepare(now)
                    if req is not None:
                        w0 = time.perf_counter()
                        chunk = rt.run(req)
                        wall = time.perf_counter() - w0
                        s1_ms.append(wall * 1e3)
                        dt = cfg.fixed_delays_s[1] if cfg.fixed_delays_s else wall
                        pending_chunk.append((now + dt, req, chunk, wall))
                    next_s1 += 1.0 / cfg.inference_rate_hz
                while pending_chunk and pending_chunk[0][0] <= now + 1e-9:
                    _, req, chunk, wall = pending_chunk.pop(0)
                    rt.commit(req, chunk, now, wall)
                    n_chunks += 1
            else:  # sync: one blocking S2+S1 call when the current chunk has run out
                if sync.request(now):
                    call = sync.call(now)
                    n_latents += call.planner.latent is not None
                    if call.chunk is not None:
                        s2_ms.append(call.s2_wall_s * 1e3)
                        s1_ms.append(call.s1_wall_s * 1e3)
                        dt = sum(cfg.fixed_delays_s) if cfg.fixed_delays_s else call.wall_s
                        # the chunk starts when the call returns; the arm holds meanwhile
                        sync_pending = (now + dt, call)
                if sync_pending is not None and sync_pending[0] <= now + 1e-9:
                    sync.commit(sync_pending[1], now)
                    sync_pending = None
                    n_chunks += 1
            out = rt.stream(now)
            if out is not None and out.mode == "streaming":
                n_fresh += 1
            next_tick += tick
            n_sub = substeps_until(next_tick, t, env.dt_s)
            if ctrl is None:
                if out is not None:
                    env.command_targets(env.command_names, out.values)
                env.step(n_sub)
            else:
                step_through_controller(env, ctrl, None if out is None else out.values, n_sub)
            if t + 1e-9 >= next_jerk_sample:
                qs.append(js)
                next_jerk_sample += JERK_SAMPLE_PERIOD_S
            k += 1
            if success_at is None and env.success():
                success_at = env.time_s - t0
            t_end = env.time_s - t0
            if success_at is not None and t_end - success_at >= cfg.post_success_s:
                break
            if t_end >= limit:
                break
        dur = env.time_s - t0
        lifted_wrong = env.wrong_lifted_objects()
        return EpisodeResult(
            task=task, seed=int(seed), instruction=text, mode=cfg.mode,
            success=success_at is not None, time_to_success_s=success_at, duration_s=round(dur, 3),
            wrong_object_picks=len(lifted_wrong), jerk_rms_rad_s3=_arm_jerk(qs), safety_events=0,
            action_rate_hz=n_fresh / dur if dur > 0 else 0.0,
            chunk_rate_hz=n_chunks / dur if dur > 0 else 0.0,
            latent_rate_hz=n_latents / dur if dur > 0 else 0.0,
            s2_compute_ms_p50=float(np.median(s2_ms)) if s2_ms else float("nan"),
            s1_compute_ms_p50=float(np.median(s1_ms)) if s1_ms else float("nan"),
            extra={"wrong_objects": lifted_wrong, "lifted_objects": env.lifted_objects(),
                   "backend": "inproc", "execution_strategy": ecfg.strategy,
                   "planner_message": msg})  # how the planner understood the text


JERK_SAMPLE_PERIOD_S = 0.02  # joint samples for the jerk figure: 50 Hz, as the graph resamples


def make_inproc_stack(robot: str, planner_dir, expert_dir, controller: bool = True,
                      executor_config=None) -> InprocStack:
    """The stack the nodes would run from ``config/<robot>_sim.yaml``: its simulator, the
    planner backbone and action expert from the checkpoint dirs, the controller core (a fresh
    one per episode; ``controller=False``: the stream drives the sim directly) and the action
    expert node's chunk execution and wrist camera (``executor_config`` overrides the former).

    Raises:
        ConfigError: a missing or malformed config file.
        CheckpointError / ValueError: a checkpoint that is missing or does not fit the robot.
    """
    from vla_action_expert.node_config import ActionExpertNodeConfig
    from vla_action_expert.policy import ActionExpertPolicy
    from vla_common.config import load_robot_config
    from vla_common.stack import node_config
    from vla_planner.backbone import load_backbone
    from vla_sim.factory import make_env

    cfg = load_robot_config(robot, "sim")
    node_cfg = node_config(ActionExpertNodeConfig, "vla_action_expert", robot, "sim")
    bb = load_backbone(planner_dir, cfg.cameras, robot=robot)
    pol = ActionExpertPolicy.from_pretrained(expert_dir, cfg.command_names, bb.latent_dim)
    env = make_env(cfg)  # last: a bad checkpoint leaves no simulator open
    factory = None
    if controller:
        from vla_controller.config_file import make_controller
        factory = lambda: make_controller(cfg)  # noqa: E731 (a fresh controller per episode)
    if executor_config is None:
        executor_config = node_cfg.executor_config()
    return InprocStack(env, bb, pol, executor_config=executor_config, controller_factory=factory,
                       wrist_camera=node_cfg.wrist_camera)


def substeps_until(next_tick_s: float, t_s: float, dt_s: float) -> int:
    """Physics steps from ``t_s`` to the stream tick due at ``next_tick_s`` (at least one).

    A 200 Hz stream over a 2 ms physics step alternates 2 and 3 steps, so the stream keeps its
    configured rate on average (a fixed round(5 / 2) = 2 steps would stream at 250 Hz).

    Args:
        next_tick_s: time of the next stream tick (s, episode clock).
        t_s: current episode time (s).
        dt_s: physics step (s), > 0.
    Returns:
        round((next_tick_s - t_s) / dt_s), at least 1.
    """
    return max(1, int(round((next_tick_s - t_s) / dt_s)))


def _arm_jerk(qs: list) -> float:
    """RMS jerk of the arm joints (gripper column excluded) from 50 Hz samples."""
    if len(qs) < 16:
        return 0.0
    return jerk_rms(np.array(qs)[:, :-1], JERK_SAMPLE_PERIOD_S)
