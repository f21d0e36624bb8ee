"""The node set of the stack (``config/stack.yaml``), shared by launch files and vla-launch.

ROS-free: this is read by ``launch/*.launch.py`` (where ``launch_ros`` exists) and by the
pip-only process launcher, so both start the same nodes with the same parameter file.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vla_common.config import ConfigError, find_config_dir, load_yaml


@dataclass(frozen=True)
class NodeSpec:
    """One node of the stack, run as its own OS process."""
    name: str
    package: str
    executable: str      # console entry point (ros2 launch / ros2 run)
    module: str          # python -m target (vla-launch)
    modes: tuple[str, ...]
    required: bool
    respawn: bool
    respawn_delay_s: float = 2.0
    max_respawns: int = 3


def mode_kind(mode: str) -> str:
    """``sim_effort`` -> ``sim``: variants of a mode start the same node set."""
    return mode.split("_", 1)[0]


def params_file(robot: str, mode: str, config_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``config/<robot>_<mode>.yaml``.

    Raises:
        ConfigError: if it does not exist.
    """
    cdir = find_config_dir(config_dir)
    p = cdir / f"{robot}_{mode}.yaml"
    if not p.is_file():
        known = sorted(x.stem for x in cdir.glob("*_*.yaml"))
        raise ConfigError(f"no parameter file {p} for robot '{robot}' mode '{mode}'; known: {known}")
    return p


def load_stack(mode: str, config_dir: str | os.PathLike | None = None) -> list[NodeSpec]:
    """Nodes that run in ``mode``, in start order.

    Raises:
        ConfigError: malformed ``stack.yaml``.
    """
    path = find_config_dir(config_dir) / "stack.yaml"
    raw = load_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        raise ConfigError(f"{path}: needs a 'nodes' list")
    specs = []
    for i, n in enumerate(raw["nodes"]):
        try:
            spec = NodeSpec(
                name=str(n["name"]), package=str(n["package"]), executable=str(n["executable"]),
                module=str(n["module"]), modes=tuple(n.get("modes", [])),
                required=bool(n.get("required", True)), respawn=bool(n.get("respawn", False)),
                respawn_delay_s=float(n.get("respawn_delay_s", 2.0)),
                max_respawns=int(n.get("max_respawns", 3)))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: node #{i} is malformed: {e!r}") from e
        if mode_kind(mode) in spec.modes:
            specs.append(spec)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: duplicate node names {names}")
    return specs


T = TypeVar("T")


def node_config(cls: type[T], node: str, robot: str, mode: str,
                config_dir: str | os.PathLike | None = None, **overrides) -> T:
    """Dataclass ``cls`` from node ``node``'s ``ros__parameters`` in ``config/<robot>_<mode>.yaml``,
    as the node builds it in process (``ros_params.declare_config``): keys that are not fields
    (``use_sim_time``, ...) are ignored, lists become tuples, ints become floats where the field's
    default is a float (yaml writes ``10`` for ``10.0``), ``overrides`` win.

    Raises:
        ConfigError: no such parameter file, or it has no section for ``node``.
        ValueError/TypeError: from ``cls(...)`` when a value is invalid.
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}

    def as_declared(name, v):
        if isinstance(v, list):
            return tuple(v)
        if (isinstance(fields[name].default, float) and isinstance(v, int)
                and not isinstance(v, bool)):
            return float(v)
        return v
    vals = {k: as_declared(k, v)
            for k, v in node_params(node, robot, mode, config_dir).items() if k in fields}
    return cls(**{**vals, **overrides})


def node_params(node: str, robot: str, mode: str,
                config_dir: str | os.PathLike | None = None) -> dict:
    """Node ``node``'s ``ros__parameters`` in ``config/<robot>_<mode>.yaml``, as written.

    Raises:
        ConfigError: no such parameter file, or it has no section for ``node``.
    """
    path = params_file(robot, mode, config_dir)
    section = (load_yaml(path) or {}).get(node)
    if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
        raise ConfigError(f"{path} has no '{node}: ros__parameters:' section")
    return section["ros__parameters"]
