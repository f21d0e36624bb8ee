"""Which topics the stack publishes, with types and durability, from config/topics.yaml and
RobotConfig.interfaces; plus include/exclude selection and remapping. ROS-free."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable

from vla_common.config import RobotConfig, Topics


@dataclass(frozen=True)
class TopicSpec:
    """One recorded topic. ``latched`` topics are published transient-local."""
    name: str
    msgtype: str  # e.g. sensor_msgs/msg/JointState
    latched: bool = False


# topics.yaml key -> (type, latched). Services and /clock are not recorded by default.
_STACK_TYPES = {
    "instruction": ("std_msgs/msg/String", True),
    "latent": ("vla_interfaces/msg/Latent", False),
    "action_chunk": ("vla_interfaces/msg/ActionChunk", False),
    "action": ("vla_interfaces/msg/ActionStep", False),
    "controller_command": ("sensor_msgs/msg/JointState", False),
    "safety_status": ("vla_interfaces/msg/SafetyStatus", False),
    "estop": ("std_msgs/msg/Bool", False),
    "diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", False),
    "sim_task": ("std_msgs/msg/String", True),
}
CLOCK = TopicSpec("/clock", "rosgraph_msgs/msg/Clock")


def stack_topics(robot: RobotConfig, topics: Topics, include_clock: bool = False) -> list[TopicSpec]:
    """Every topic of the stack for this robot and mode: joint states, camera images and infos,
    instruction, latents, chunks, streamed actions, commands before (controller) and after (the
    forward controllers) the safety gate, safety status and diagnostics."""
    ifc = robot.interfaces
    out = [TopicSpec(ifc.joint_states, "sensor_msgs/msg/JointState")]
    for cam in sorted(ifc.cameras):
        prefix = ifc.cameras[cam].rstrip("/")
        out.append(TopicSpec(prefix + "/image_raw", "sensor_msgs/msg/Image"))
        out.append(TopicSpec(prefix + "/camera_info", "sensor_msgs/msg/CameraInfo"))
    for key, (msgtype, latched) in _STACK_TYPES.items():
        if key in topics.names:
            out.append(TopicSpec(topics.names[key], msgtype, latched))
    for o in ifc.command_outputs:
        out.append(TopicSpec(o.topic, "std_msgs/msg/Float64MultiArray"))
    if include_clock:
        out.append(CLOCK)
    seen: dict[str, TopicSpec] = {}
    for s in out:
        seen.setdefault(s.name, s)
    return list(seen.values())


def parse_extra_topics(items: Iterable[str]) -> list[TopicSpec]:
    """Parse ``name:pkg/msg/Type`` strings (append ``:latched`` for transient local).

    Raises:
        ValueError: malformed entry.
    """
    out = []
    for it in items:
        parts = it.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/") or parts[1].count("/") != 2:
            raise ValueError(f"extra topic '{it}': expected '/name:pkg/msg/Type[:latched]'")
        if len(parts) == 3 and parts[2] != "latched":
            raise ValueError(f"extra topic '{it}': third field may only be 'latched'")
        out.append(TopicSpec(parts[0], parts[1], len(parts) == 3))
    return out


def select_topics(specs: Iterable[TopicSpec], include: Iterable[str] = (),
                  exclude: Iterable[str] = ()) -> list[TopicSpec]:
    """Keep specs matching any ``include`` glob (all if empty) and no ``exclude`` glob."""
    inc, exc = [p for p in include if p], [p for p in exclude if p]
    return [s for s in specs
            if (not inc or any(fnmatch.fnmatchcase(s.name, p) for p in inc))
            and not any(fnmatch.fnmatchcase(s.name, p) for p in exc)]


def parse_remaps(items: Iterable[str]) -> dict[str, str]:
    """Parse ``old:=new`` remapping strings.

    Raises:
        ValueError: malformed entry.
    """
    out = {}
    for it in items:
        old, sep, new = it.partition(":=")
        if not sep or not old.startswith("/") or not new.startswith("/"):
            raise ValueError(f"remap '{it}': expected '/old:=/new'")
        out[old] = new
    return out
