"""Parameters of the action expert node and checkpoint resolution (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vla_action_expert.configuration import CheckpointError
from vla_action_expert.executor import ExecutorConfig
from vla_action_expert.policy import ActionExpertPolicy
from vla_action_expert.runtime import RuntimeConfig

ROBOT_STREAM_RATE_HZ = {"franka": 200.0, "aloha": 50.0}


@dataclass(frozen=True)
class ActionExpertNodeConfig:
    """Every ROS parameter of ``vla_action_expert`` (declared with these defaults)."""
    checkpoint_dir: str = ""          # empty: <repo>/models/<robot>/action_expert
    allow_random_init: bool = False   # missing checkpoint -> seeded random init (loud warning)
    random_init_seed: int = 0
    latent_dim: int = 128             # must equal the planner's / the checkpoint's
    stream_rate_hz: float = 0.0       # 0: robot default (franka 200, aloha 50)
    inference_rate_hz: float = 10.0   # chunk requests per second
    latent_timeout_s: float = 0.5
    state_timeout_s: float = 0.5
    execution_strategy: str = "rtc"   # naive | ensemble | rtc
    interpolation: str = "cubic"      # linear | cubic
    ensemble_decay: float = 0.01
    warmup_inferences: int = 3
    delay_percentile: float = 90.0
    num_inference_steps: int = 0      # 0: the checkpoint's
    seed: int = -1                    # noise seed; -1: the checkpoint's
    torch_threads: int = 1
    wrist_camera: str = "wrist"       # wrist-image checkpoints that do not name their wrist_cameras
    # wall clock: stream from an OS process of its own (ros_stream_process: no GIL shared with
    # inference); false: from a dedicated thread (stream_thread) or the executor. Sim time: timer.
    stream_process: bool = True
    stream_thread: bool = True        # wall clock, no stream process: a dedicated thread
    stream_rt_priority: int = 0       # > 0: SCHED_FIFO priority of the stream (needs CAP_SYS_NICE)
    heartbeat_period_s: float = 0.5
    # Synchronous baseline (issue #8): System 2 runs inside this node and one blocking call per
    # chunk runs the planner step and then System 1 on that latent (sync_cycle.SyncCycle). The
    # node then subscribes to the cameras and the instruction instead of the latent topic,
    # publishes the latents it computes, and executes every chunk to its end with NAIVE
    # switching (execution_strategy is ignored: no RTC guide, no ensembling) before the next
    # call; the arm holds during a call. inference_rate_hz is not used (the end of the chunk
    # triggers the next call). Set vla_planner's `passive` so it publishes no latents.
    inline_planner: bool = False
    planner_checkpoint_dir: str = ""  # inline planner; empty: <repo>/models/<robot>/planner

    def __post_init__(self):
        if self.stream_rate_hz < 0 or not (self.inference_rate_hz > 0):
            raise ValueError("stream_rate_hz must be >= 0 and inference_rate_hz > 0")
        if not 0 <= self.stream_rt_priority <= 99:
            raise ValueError("stream_rt_priority must be in [0, 99] (0 = normal scheduling)")
        if self.torch_threads < 1 or self.heartbeat_period_s <= 0 or self.latent_dim < 1:
            raise ValueError("torch_threads >= 1, heartbeat_period_s > 0, latent_dim >= 1 needed")
        self.executor_config()  # validates strategy / interpolation
        self.runtime_config()

    def stream_rate_for(self, robot: str) -> float:
        return self.stream_rate_hz or ROBOT_STREAM_RATE_HZ.get(robot, 200.0)

    @property
    def strategy(self) -> str:
        """The executor strategy in effect: ``naive`` in the synchronous baseline."""
        return "naive" if self.inline_planner else self.execution_strategy

    def executor_config(self) -> ExecutorConfig:
        ExecutorConfig(strategy=self.execution_strategy)  # validates the parameter in any mode
        return ExecutorConfig(strategy=self.strategy, interpolation=self.interpolation,
                              ensemble_decay=self.ensemble_decay,
                              warmup_inferences=self.warmup_inferences,
                              delay_percentile=self.delay_percentile)

    def runtime_config(self) -> RuntimeConfig:
        return RuntimeConfig(self.latent_timeout_s, self.state_timeout_s)


def default_checkpoint_dir(config_dir: Path, robot: str) -> Path:
    """``<repo>/models/<robot>/action_expert`` (the repo = the config directory's parent)."""
    return Path(config_dir).parent / "models" / robot / "action_expert"


def load_policy(cfg: ActionExpertNodeConfig, robot, config_dir: Path) -> tuple[ActionExpertPolicy, str]:
    """Load (or, if allowed, random-init) the policy for ``robot`` (RobotConfig).

    Returns:
        (policy, description of the source; starts with "RANDOM INIT" when random).
    Raises:
        CheckpointError: missing checkpoint without ``allow_random_init``, or a checkpoint that
            does not fit the robot's command names or ``latent_dim``.
    """
    d = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else default_checkpoint_dir(config_dir,
                                                                                   robot.robot)
    if d.is_dir():
        pol = ActionExpertPolicy.from_pretrained(d, robot.command_names, cfg.latent_dim)
        src = f"checkpoint {d}"
    elif cfg.allow_random_init:
        from vla_action_expert.init_checkpoint import random_init_policy
        pol = random_init_policy(robot, cfg.random_init_seed, cfg.latent_dim)
        src = (f"RANDOM INIT (seed {cfg.random_init_seed}): checkpoint {d} not found; actions are "
               f"NOT a trained policy")
    else:
        raise CheckpointError(
            f"action expert checkpoint not found: {d} (train one with python -m "
            f"vla_action_expert.train, write a random one with python -m "
            f"vla_action_expert.init_checkpoint --robot {robot.robot} --out {d}, or set "
            f"allow_random_init:=true)")
    if cfg.num_inference_steps > 0:
        pol.num_inference_steps = cfg.num_inference_steps
    if cfg.seed >= 0:
        pol.seed = cfg.seed
    return pol, src


def load_inline_planner(cfg: ActionExpertNodeConfig, robot, config_dir):
    """The planner core the synchronous baseline runs in this node (``inline_planner``).

    The checkpoint resolves as in the planner node (``planner_checkpoint_dir``, empty:
    ``<repo>/models/<robot>/planner``); the planner's frame matching, image age and
    repeated-frame rules are its defaults (``PlannerNodeConfig``), with this node's
    ``latent_dim``, ``allow_random_init`` and ``random_init_seed``.

    Returns:
        (PlannerCore, description of the source).
    Raises:
        CheckpointError (vla_planner's, a ValueError): missing or incompatible checkpoint.
    """
    from vla_planner.backbone import load_backbone  # noqa: PLC0415 - only in the sync baseline
    from vla_planner.planner_core import PlannerCore, PlannerNodeConfig
    from vla_planner.planner_core import default_checkpoint_dir as planner_default_dir

    d = (Path(cfg.planner_checkpoint_dir) if cfg.planner_checkpoint_dir
         else planner_default_dir(robot.robot, config_dir))
    pcfg = PlannerNodeConfig(latent_dim=cfg.latent_dim, allow_random_init=cfg.allow_random_init,
                             seed=cfg.random_init_seed, torch_threads=cfg.torch_threads)
    bb = load_backbone(d, robot.cameras, latent_dim=pcfg.latent_dim, robot=robot.robot,
                       allow_random_init=pcfg.allow_random_init, seed=pcfg.seed)
    src = f"checkpoint {d}" if d.exists() else f"RANDOM INIT (seed {pcfg.seed}): {d} not found"
    return PlannerCore(bb, pcfg, robot.command_names), src
