"""Convert a recorded bag into a training dataset episode (vla_common.dataset layout). ROS-free.

Frames at ``fps`` (50 Hz) over the recorded time: ``observation.state`` = newest /joint_states
(command_names order, grippers by name), ``action`` = the newest command actually sent (source
below), images every ``image_every_k``-th frame = newest image of each camera, instruction =
the recorded /vla/instruction, success = the last /vla_sim/task JSON ``success`` (or given).

Action sources: ``commands`` (forward-controller commands after the safety gate; all outputs
must be position interfaces), ``controller_command`` (JointState positions before the gate),
``action`` (/vla/action steps), ``auto`` = the first of these the bag has.
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_common.dataset import DatasetInfo, DatasetWriter
from vla_tools.bags.errors import BagFormatError
from vla_tools.bags.reader import BagReader

SOURCES = ("auto", "commands", "controller_command", "action")


@dataclass(frozen=True)
class ConvertConfig:
    fps: float = 50.0
    image_every_k: int = 5
    action_source: str = "auto"
    instruction: str = ""          # '' = from the bag
    success: bool | None = None    # None = from /vla_sim/task
    allow_partial: bool = False    # convert the readable prefix of a damaged bag

    def __post_init__(self):
        if self.action_source not in SOURCES:
            raise ValueError(f"action_source must be one of {SOURCES}")
        if not (np.isfinite(self.fps) and self.fps > 0) or self.image_every_k < 1:
            raise ValueError("fps must be > 0 and image_every_k >= 1")


def _series_at(times: list[float], values: list, t: float):
    i = bisect.bisect_right(times, t + 1e-9) - 1
    return None if i < 0 else values[i]


def bag_to_episode(bag: str | Path, dataset_dir: str | Path, robot, topics,
                   cfg: ConvertConfig = ConvertConfig()) -> dict:
    """Append the bag as one episode to the dataset at ``dataset_dir`` (created if missing).

    Returns:
        {"episode": index, "frames": n, "action_source": ..., "read_error": ...}
    Raises:
        BagFormatError: the bag lacks joint states, actions or an instruction, or is damaged
            (unless ``allow_partial``).
        DatasetError: the dataset exists with other robot/names/cameras.
    """
    reader = BagReader(bag)
    ts = reader.typestore()
    names = list(robot.command_names)
    cam_topics = {p.rstrip("/") + "/image_raw": c for c, p in robot.interfaces.cameras.items()}
    outs = {o.topic: o for o in robot.interfaces.command_outputs}
    want = set(cam_topics) | set(outs) | {robot.interfaces.joint_states, topics.instruction,
                                          topics.controller_command, topics.action, topics.sim_task}
    msgs, err = reader.read_all(topics=want)
    if err is not None and not cfg.allow_partial:
        raise BagFormatError(f"{err} (use allow_partial to convert the readable prefix)")
    state_t, state_v = [], []
    src_data: dict[str, tuple[list, list]] = {s: ([], []) for s in SOURCES[1:]}
    cmd_latest: dict[str, np.ndarray] = {}
    imgs: dict[str, tuple[list, list]] = {c: ([], []) for c in robot.cameras}
    instruction, success = cfg.instruction, cfg.success
    idx = {n: i for i, n in enumerate(names)}

    def by_name(msg_names, pos):
        p = dict(zip(msg_names, pos))
        return None if any(n not in p for n in names) else np.array([p[n] for n in names], float)

    all_position = all(o.interface == "position" for o in outs.values())
    for m in msgs:
        t = m.log_time_ns * 1e-9
        d = reader.deserialize(m, ts)
        if m.topic == robot.interfaces.joint_states:
            v = by_name(d.name, d.position)
            if v is not None and np.all(np.isfinite(v)):
                state_t.append(t)
                state_v.append(v)
        elif m.topic in cam_topics:
            if d.encoding == "rgb8" and len(d.data) == d.height * d.width * 3:
                c = cam_topics[m.topic]
                imgs[c][0].append(t)
                imgs[c][1].append(np.array(d.data, np.uint8).reshape(d.height, d.width, 3))
        elif m.topic == topics.instruction and not cfg.instruction:
            instruction = instruction or d.data
        elif m.topic == topics.sim_task and cfg.success is None:
            try:
                success = bool(json.loads(d.data).get("success", False))
            except (ValueError, AttributeError):
                pass
        elif m.topic in outs and all_position:
            o = outs[m.topic]
            if len(d.data) == len(o.joints):
                cmd_latest[m.topic] = np.asarray(d.data, float)
                if len(cmd_latest) == len(outs):
                    v = np.zeros(len(names))
                    for tp, vals in cmd_latest.items():
                        for j, val in zip(outs[tp].joints, vals):
                            v[idx[j]] = val
                    src_data["commands"][0].append(t)
                    src_data["commands"][1].append(v)
        elif m.topic == topics.controller_command:
            v = by_name(d.name, d.position)
            if v is not None:
                src_data["controller_command"][0].append(t)
                src_data["controller_command"][1].append(v)
        elif m.topic == topics.action:
            v = by_name(d.names, d.values)
            if v is not None:
                src_data["action"][0].append(t)
                src_data["action"][1].append(v)
    source = cfg.action_source
    if source == "auto":
        source = next((s for s in SOURCES[1:] if src_data[s][0]), "")
    if not source or not src_data[source][0]:
        raise BagFormatError(f"{bag}: no actions (looked for {cfg.action_source} commands)")
    if not state_t:
        raise BagFormatError(f"{bag}: no joint states with every DoF of {names}")
    if not instruction.strip():
        raise BagFormatError(f"{bag}: no instruction recorded; pass one explicitly")
    a_t, a_v = src_data[source]
    cams = tuple(c for c in robot.cameras if imgs[c][0])
    t0 = max([state_t[0], a_t[0]] + [imgs[c][0][0] for c in cams])
    t_end = min(state_t[-1], a_t[-1])
    if t_end <= t0:
        raise BagFormatError(f"{bag}: state, action and images never overlap in time")
    info = DatasetInfo(robot=robot.robot, fps=cfg.fps, state_names=tuple(names),
                       action_names=tuple(names), cameras=cams, image_every_k=cfg.image_every_k)
    root = Path(dataset_dir)
    w = DatasetWriter(root, info, append=(root / "meta" / "info.json").is_file())
    w.start_episode(instruction.strip(), extra={"source_bag": str(bag), "action_source": source})
    n = int(np.floor((t_end - t0) * cfg.fps)) + 1
    for k in range(n):
        t = t0 + k / cfg.fps
        frame_imgs = ({c: _series_at(imgs[c][0], imgs[c][1], t) for c in cams}
                      if k % cfg.image_every_k == 0 else None)
        w.add_frame(_series_at(state_t, state_v, t), _series_at(a_t, a_v, t), k / cfg.fps,
                    frame_imgs)
    ep = w.end_episode(bool(success))
    w.close()
    return {"episode": ep, "frames": n, "action_source": source, "cameras": list(cams),
            "read_error": str(err or "")}
