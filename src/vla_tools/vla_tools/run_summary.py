"""What a stack run did, from counts and times the monitor collected (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vla_common.timing import RateMeter, RollingStats

# The data path of the stack, in order: every stage must see messages for a run to count.
PIPELINE = ("joint_states", "camera", "latent", "action_chunk", "action",
            "controller_command", "gated_command")


@dataclass
class StageStats:
    """Arrivals of one topic group, timed with the monitor's (sim) clock."""
    rate: RateMeter = field(default_factory=RateMeter)

    @property
    def count(self) -> int:
        return self.rate.count


@dataclass
class RunRecord:
    stages: dict[str, StageStats] = field(default_factory=lambda: {s: StageStats() for s in PIPELINE})
    latent_compute_s: RollingStats = field(default_factory=RollingStats)
    chunk_inference_s: RollingStats = field(default_factory=RollingStats)
    first_positions: np.ndarray | None = None
    last_positions: np.ndarray | None = None
    max_joint_travel_rad: float = 0.0
    safety_states: list[str] = field(default_factory=list)
    task: dict = field(default_factory=dict)
    chunks_conditioned_on_latent: int = 0  # chunks whose latent_stamp is set
    safety_transitions: int = 0
    _last_safety_state: str | None = None

    def on_positions(self, q: np.ndarray) -> None:
        if self.first_positions is None:
            self.first_positions = q.copy()
        self.last_positions = q
        self.max_joint_travel_rad = max(self.max_joint_travel_rad,
                                        float(np.max(np.abs(q - self.first_positions))))

    def on_safety_state(self, name: str) -> None:
        """Keep each distinct state (with its faults) once, in order of first appearance."""
        if self._last_safety_state != name:
            self.safety_transitions += self._last_safety_state is not None
            self._last_safety_state = name
        if name not in self.safety_states:
            self.safety_states.append(name)


def summarize(rec: RunRecord, moved_threshold_rad: float = 1e-3) -> dict:
    """A JSON-able summary; ``data_flowed`` is true when every stage saw messages and a joint
    moved by more than ``moved_threshold_rad``."""
    stages = {}
    for name, st in rec.stages.items():
        p = st.rate.periods_s
        stages[name] = {"count": st.count, "rate_hz": round(st.rate.rate_hz(), 2),
                        "period_p99_ms": round(p.percentile(99) * 1e3, 3) if len(p) else None}
    missing = [s for s in PIPELINE if rec.stages[s].count == 0]
    moved = rec.max_joint_travel_rad > moved_threshold_rad
    ms = lambda s: {k: (round(v * 1e3, 3) if k != "n" else int(v)) for k, v in s.summary().items()}  # noqa: E731
    missing += [] if rec.chunks_conditioned_on_latent else ["latent->action_chunk"]
    return {
        "stages": stages,
        "missing_stages": missing,
        "joints_moved": moved,
        "max_joint_travel_rad": round(rec.max_joint_travel_rad, 5),
        "latent_compute_ms": ms(rec.latent_compute_s),
        "chunk_inference_ms": ms(rec.chunk_inference_s),
        "chunks_conditioned_on_latent": rec.chunks_conditioned_on_latent,
        "safety_states": rec.safety_states,
        "safety_transitions": rec.safety_transitions,
        "final_safety_state": rec._last_safety_state,
        "task": rec.task,
        "data_flowed": not missing and moved,
    }


def run_report(result: dict, log_dir=None, tail_lines: int = 15) -> str:
    """A run's outcome as text for a failed assertion: what the monitor saw (stages with counts
    and sim-time rates, safety states with faults, final state, sim/wall time, task), every
    safety transition the supervisor logged and the tail of each ``<node>.log`` in ``log_dir``
    (default ``result["log_dir"]``), so an intermittent failure explains itself."""
    lines = [f"failure: {result.get('failure')}",
             f"sim time {result.get('sim_time_s')} s, wall time {result.get('wall_time_s')} s "
             f"(startup {result.get('startup_wall_s')} s)",
             f"joints moved: {result.get('joints_moved')} "
             f"(max travel {result.get('max_joint_travel_rad')} rad)",
             f"safety states: {result.get('safety_states')} "
             f"({result.get('safety_transitions')} transitions, final "
             f"{result.get('final_safety_state')})",
             f"chunks conditioned on a latent: {result.get('chunks_conditioned_on_latent')}, "
             f"missing stages: {result.get('missing_stages')}",
             "stage                 count   rate_hz (sim)  p99 period ms"]
    for name, s in (result.get("stages") or {}).items():
        lines.append(f"  {name:20s} {s['count']:7d}   {s['rate_hz']:10.2f}   {s['period_p99_ms']}")
    task = result.get("task") or {}
    lines.append(f"task: success={task.get('success')} episode_time_s={task.get('episode_time_s')}"
                 f" instruction={task.get('instruction')!r}")
    lines.append(f"nodes: {result.get('nodes')}")
    d = Path(log_dir or result.get("log_dir") or ".")
    logs = sorted(d.glob("*.log"))
    safety = [ln for p in logs if p.stem == "vla_safety"
              for ln in p.read_text(errors="replace").splitlines() if ": state " in ln]
    if safety:
        lines += ["--- safety transitions (vla_safety.log)", *safety]
    for p in logs:
        tail = p.read_text(errors="replace").splitlines()[-tail_lines:]
        lines += [f"--- {p.name} (last {len(tail)} lines)", *tail]
    return "\n".join(lines)
