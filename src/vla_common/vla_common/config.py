"""Load the project's configuration (robots, topics) into frozen dataclasses. ROS-free.

The files under ``config/`` are the single source of truth for joint names, limits and topic
names; every node and tool reads them through this module.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or inconsistent."""


LIMIT_COLUMNS = (
    "pos_min_rad", "pos_max_rad", "vel_max_rad_s", "acc_max_rad_s2",
    "jerk_max_rad_s3", "effort_max_nm", "effort_rate_max_nm_s",
)


def find_config_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the config directory.

    Order: ``explicit`` (if non-empty), ``$VLA_CONFIG_DIR``, the source checkout's ``config/``
    (found upwards from this file), then ``<prefix>/share/vla_common/config`` of an installed
    workspace.

    Raises:
        ConfigError: if none of them holds a ``stack.yaml``.
    """
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get("VLA_CONFIG_DIR"):
        candidates.append(Path(os.environ["VLA_CONFIG_DIR"]))
    here = Path(__file__).resolve()
    candidates += [p / "config" for p in here.parents]
    try:  # installed with colcon: share/vla_common/config
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory("vla_common")) / "config")
    except Exception:  # noqa: BLE001 - ament index absent or package not installed
        pass
    for c in candidates:
        if (c / "stack.yaml").is_file():
            return c.resolve()
    raise ConfigError(
        "config directory not found (looked for stack.yaml in: "
        + ", ".join(str(c) for c in candidates[:4]) + ", ...); set VLA_CONFIG_DIR")


def load_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file with errors that name the file.

    Raises:
        ConfigError: the file is missing, unreadable or not valid YAML.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        with p.open() as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML in {p}: {e}") from e


def _require(d: Mapping, key: str, where: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise ConfigError(f"{where}: missing key '{key}'")
    return d[key]


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, arrays in the order of ``names``."""
    names: tuple[str, ...]
    pos_min_rad: np.ndarray
    pos_max_rad: np.ndarray
    vel_max_rad_s: np.ndarray
    acc_max_rad_s2: np.ndarray
    jerk_max_rad_s3: np.ndarray
    effort_max_nm: np.ndarray
    effort_rate_max_nm_s: np.ndarray

    def subset(self, names: tuple[str, ...] | list[str]) -> "JointLimits":
        """Limits for ``names`` (in that order)."""
        idx = [self.names.index(n) for n in names]
        return JointLimits(tuple(names), *(getattr(self, c)[idx] for c in LIMIT_COLUMNS))


@dataclass(frozen=True)
class GripperConfig:
    name: str
    joints: tuple[str, ...]
    width_min_m: float
    width_max_m: float
    speed_max_m_s: float


@dataclass(frozen=True)
class ArmConfig:
    name: str
    joints: tuple[str, ...]
    ee_frame: str
    home_rad: np.ndarray
    gripper: GripperConfig | None


@dataclass(frozen=True)
class CommandOutput:
    """One ros2_control forward command controller: Float64MultiArray in ``joints`` order."""
    topic: str
    interface: str  # "position" | "effort"
    joints: tuple[str, ...]


@dataclass(frozen=True)
class RobotInterfaces:
    joint_states: str
    cameras: Mapping[str, str]  # camera name -> topic prefix (+ /image_raw, /camera_info)
    command_outputs: tuple[CommandOutput, ...]


@dataclass(frozen=True)
class RobotConfig:
    """Everything robot-specific: joints, limits, arms, grippers, ROS interfaces of one mode."""
    robot: str
    mode: str
    description: Mapping[str, str]
    arms: tuple[ArmConfig, ...]
    limits: JointLimits  # arm joints only
    lin_vel_max_m_s: float
    rot_vel_max_rad_s: float
    cameras: tuple[str, ...]
    interfaces: RobotInterfaces

    @property
    def arm_joint_names(self) -> tuple[str, ...]:
        return tuple(j for a in self.arms for j in a.joints)

    @property
    def gripper_names(self) -> tuple[str, ...]:
        return tuple(a.gripper.name for a in self.arms if a.gripper is not None)

    @property
    def command_names(self) -> tuple[str, ...]:
        """Names of every commanded DoF: each arm's joints followed by its gripper."""
        out: list[str] = []
        for a in self.arms:
            out += list(a.joints)
            if a.gripper is not None:
                out.append(a.gripper.name)
        return tuple(out)

    @property
    def home_rad(self) -> np.ndarray:
        return np.concatenate([a.home_rad for a in self.arms])

    def gripper(self, name: str) -> GripperConfig:
        for a in self.arms:
            if a.gripper is not None and a.gripper.name == name:
                return a.gripper
        raise KeyError(name)


def _parse_limits(raw: Mapping, joints: tuple[str, ...], where: str) -> JointLimits:
    rows = []
    for j in joints:
        row = raw.get(j) if isinstance(raw, Mapping) else None
        if row is None:
            raise ConfigError(f"{where}: joint_limits has no entry for joint '{j}'")
        if len(row) != len(LIMIT_COLUMNS):
            raise ConfigError(f"{where}: joint_limits.{j} needs {len(LIMIT_COLUMNS)} values "
                              f"{LIMIT_COLUMNS}, got {len(row)}")
        rows.append([float(v) for v in row])
    arr = np.asarray(rows, dtype=float).reshape(len(joints), len(LIMIT_COLUMNS))
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{where}: joint_limits must be finite")
    if np.any(arr[:, 0] >= arr[:, 1]):
        raise ConfigError(f"{where}: joint_limits pos_min must be < pos_max")
    if np.any(arr[:, 2:] <= 0):
        raise ConfigError(f"{where}: velocity/acceleration/jerk/effort limits must be > 0")
    cols = [arr[:, i].copy() for i in range(len(LIMIT_COLUMNS))]
    for c in cols:
        c.setflags(write=False)
    return JointLimits(joints, *cols)


def load_robot_config(robot: str, mode: str = "sim",
                      config_dir: str | os.PathLike | None = None) -> RobotConfig:
    """Load ``config/robots/<robot>.yaml`` with the interfaces of ``mode``.

    Raises:
        ConfigError: unknown robot or mode, missing keys, inconsistent joint names.
    """
    cdir = find_config_dir(config_dir)
    path = cdir / "robots" / f"{robot}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (cdir / "robots").glob("*.yaml"))
        raise ConfigError(f"unknown robot '{robot}' (no {path}); known: {known}")
    raw = load_yaml(path)
    where = str(path)
    arms = []
    for a in _require(raw, "arms", where):
        g = a.get("gripper")
        grip = None if g is None else GripperConfig(
            name=str(g["name"]), joints=tuple(g["joints"]), width_min_m=float(g["width_min_m"]),
            width_max_m=float(g["width_max_m"]), speed_max_m_s=float(g["speed_max_m_s"]))
        joints = tuple(str(j) for j in _require(a, "joints", where))
        home = np.asarray(a.get("home_rad", [0.0] * len(joints)), dtype=float)
        if home.shape != (len(joints),):
            raise ConfigError(f"{where}: arm '{a.get('name')}' home_rad needs {len(joints)} values")
        home.setflags(write=False)
        arms.append(ArmConfig(str(a["name"]), joints, str(a.get("ee_frame", "")), home, grip))
    all_joints = tuple(j for a in arms for j in a.joints)
    if len(set(all_joints)) != len(all_joints):
        raise ConfigError(f"{where}: duplicate joint names")
    cols = tuple(raw.get("joint_limit_columns", LIMIT_COLUMNS))
    if cols != LIMIT_COLUMNS:
        raise ConfigError(f"{where}: joint_limit_columns must be {LIMIT_COLUMNS}")
    limits = _parse_limits(_require(raw, "joint_limits", where), all_joints, where)
    ifaces = _require(raw, "interfaces", where)
    if mode not in ifaces:
        raise ConfigError(f"{where}: no interfaces for mode '{mode}'; known: {sorted(ifaces)}")
    im = ifaces[mode]
    outs = tuple(CommandOutput(str(o["topic"]), str(o["interface"]), tuple(o["joints"]))
                 for o in _require(im, "command_outputs", f"{where}:interfaces.{mode}"))
    cfg = RobotConfig(
        robot=str(raw.get("robot", robot)), mode=mode,
        description=dict(raw.get("description", {})), arms=tuple(arms), limits=limits,
        lin_vel_max_m_s=float(raw.get("cartesian_limits", {}).get("lin_vel_max_m_s", 1.0)),
        rot_vel_max_rad_s=float(raw.get("cartesian_limits", {}).get("rot_vel_max_rad_s", 1.0)),
        cameras=tuple(raw.get("cameras", [])),
        interfaces=RobotInterfaces(str(_require(im, "joint_states", where)),
                                   dict(im.get("cameras", {})), outs))
    for o in outs:
        if o.interface not in ("position", "effort"):
            raise ConfigError(f"{where}: {o.topic}: interface must be position or effort")
        for j in o.joints:
            if j not in cfg.command_names:
                raise ConfigError(f"{where}: {o.topic} names unknown joint '{j}'")
    covered = [j for o in outs for j in o.joints]
    if sorted(covered) != sorted(cfg.command_names):
        raise ConfigError(f"{where}: command_outputs of mode '{mode}' must cover each of "
                          f"{cfg.command_names} exactly once")
    return cfg


@dataclass(frozen=True)
class Topics:
    """Stack topic and service names (``config/topics.yaml``)."""
    names: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, key: str) -> str:
        try:
            return self.__dict__["names"][key]
        except KeyError:
            raise AttributeError(f"no topic '{key}' in topics.yaml") from None


def load_topics(config_dir: str | os.PathLike | None = None) -> Topics:
    """Load ``config/topics.yaml``.

    Raises:
        ConfigError: missing file or a non-string entry.
    """
    path = find_config_dir(config_dir) / "topics.yaml"
    raw = load_yaml(path)
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError(f"{path}: must map names to topic strings")
    return Topics(dict(raw))


def cmeel_share_dir() -> Path:
    """``<site-packages>/cmeel.prefix/share`` where example-robot-data installs its robots."""
    import sysconfig
    p = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "share"
    if not p.is_dir():
        raise ConfigError(f"cmeel prefix not found at {p}: is example-robot-data installed?")
    return p
