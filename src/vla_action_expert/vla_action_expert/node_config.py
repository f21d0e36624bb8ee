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
    wrist_camera: str = "wrist"       # camera used when the checkpoint takes a wrist image
    stream_thread: bool = True        # wall clock: stream from a dedicated thread (sim time: timer)
    heartbeat_period_s: float = 0.5

    def __post_init__(self):
        if self.stream_rate_hz < 0 or not (self.inference_rate_hz > 0):
            raise ValueError("stream_rate_hz must be >= 0 and inference_rate_hz > 0")
        if self.torch_threads < 1 or self.heartbeat_period_s <= 0 or self.latent_dim < 1:
            raise ValueError("torch_threads >= 1, heartbeat_period_s > 0, latent_dim >= 1 needed")
        self.executor_config()  # validates strategy / interpolation
        self.runtime_config()

    def stream_rate_for(self, robot: str) -> float:
        return self.stream_rate_hz or ROBOT_STREAM_RATE_HZ.get(robot, 200.0)

    def executor_config(self) -> ExecutorConfig:
        return ExecutorConfig(strategy=self.execution_strategy, interpolation=self.interpolation,
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
