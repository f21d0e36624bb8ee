"""Frozen parameters of the simulation bridge node, and the pure pacing/camera-schedule logic
it uses (ROS-free, times passed in)."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Physics steps between task checks (success on the task topic; SimEnv latches lifted objects
# at this cadence too, in the node and in process).
TASK_CHECK_PERIOD_STEPS = 50


@dataclass(frozen=True)
class SimNodeConfig:
    """Parameters of ``vla_sim`` (all declared as ROS parameters).

    real_time_factor: > 0 paces sim time to wall time x factor (1.0 = real time; when the CPU
        cannot keep up, sim time simply runs slower); <= 0 runs as fast as possible (cameras are
        then rendered in lock step so their sim-time rate holds).
    camera_width_px / camera_height_px / camera_rate_hz: one value for every camera, or one per
        camera in the robot config's ``cameras`` order.
    stamp_epoch: "zero": published stamps and /clock start at 0 (for ``use_sim_time`` stacks);
        "wall": they are the system time at which each state was taken, as a robot driver's are,
        so wall-clock nodes can run against a real-time sim (/clock then carries that time too).
    """
    heartbeat_period_s: float = 0.5
    real_time_factor: float = 1.0
    command_timeout_s: float = 0.1
    task: str = ""                      # initial task ("" = the robot's first task)
    seed: int = 0
    instruction_split: str = "train"    # "train" | "heldout" phrasings for sampled instructions
    render_enabled: bool = True
    render_in_subprocess: bool = True   # render on another core (no GIL contention with physics)
    camera_width_px: tuple = (128,)
    camera_height_px: tuple = (128,)
    camera_rate_hz: tuple = (10.0,)
    task_check_period_steps: int = TASK_CHECK_PERIOD_STEPS  # steps between task checks (task topic)
    model_path: str = ""                # override of the robot model file ("" = packaged one)
    stamp_epoch: str = "zero"           # "zero" | "wall" (see above)

    def __post_init__(self):
        for name in ("heartbeat_period_s", "command_timeout_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"vla_sim: {name} must be finite and > 0, got {v}")
        if not math.isfinite(self.real_time_factor):
            raise ValueError("vla_sim: real_time_factor must be finite (<= 0 = as fast as possible)")
        if self.instruction_split not in ("train", "heldout"):
            raise ValueError(f"vla_sim: instruction_split must be train or heldout, got {self.instruction_split!r}")
        if self.stamp_epoch not in ("zero", "wall"):
            raise ValueError(f"vla_sim: stamp_epoch must be 'zero' or 'wall', got {self.stamp_epoch!r}")
        if self.task_check_period_steps < 1:
            raise ValueError("vla_sim: task_check_period_steps must be >= 1")
        for name in ("camera_width_px", "camera_height_px", "camera_rate_hz"):
            vals = getattr(self, name)
            if len(vals) == 0 or any(not (math.isfinite(v) and v > 0) for v in vals):
                raise ValueError(f"vla_sim: {name} needs one or more values > 0, got {list(vals)}")

    def camera_settings(self, cameras: tuple[str, ...]) -> dict[str, tuple[int, int, float]]:
        """Per camera (width_px, height_px, rate_hz).

        Raises:
            ValueError: a list's length is neither 1 nor len(cameras).
        """
        out = {}
        for name in ("camera_width_px", "camera_height_px", "camera_rate_hz"):
            vals = getattr(self, name)
            if len(vals) not in (1, len(cameras)):
                raise ValueError(f"vla_sim: {name} needs 1 or {len(cameras)} values "
                                 f"(cameras {list(cameras)}), got {len(vals)}")
        for i, c in enumerate(cameras):
            pick = lambda v: v[i] if len(v) > 1 else v[0]  # noqa: E731
            out[c] = (int(pick(self.camera_width_px)), int(pick(self.camera_height_px)),
                      float(pick(self.camera_rate_hz)))
        return out


class RealTimePacer:
    """Maps sim time to wall time for real-time mode.

    ``wait_s(sim_s, wall_s)`` says how long to sleep so sim time does not run ahead of
    ``factor`` x wall time. If the sim lags more than ``max_lag_s`` behind, the anchor moves:
    sim time runs slower instead of bursting to catch up.
    """

    def __init__(self, factor: float, max_lag_s: float = 0.05):
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"factor must be > 0, got {factor}")
        self.factor = factor
        self.max_lag_s = max_lag_s
        self._anchor: tuple[float, float] | None = None
        self.reanchors = 0

    def wait_s(self, sim_s: float, wall_s: float) -> float:
        """Seconds to sleep now (>= 0)."""
        if self._anchor is None:
            self._anchor = (sim_s, wall_s)
            return 0.0
        due = self._anchor[1] + (sim_s - self._anchor[0]) / self.factor
        if wall_s - due > self.max_lag_s:
            self._anchor = (sim_s, wall_s)
            self.reanchors += 1
            return 0.0
        return max(0.0, due - wall_s)

    def reset(self) -> None:
        self._anchor = None


class CameraSchedule:
    """Which cameras are due at a sim time, at each camera's own rate."""

    def __init__(self, rates_hz: dict[str, float], start_s: float = 0.0):
        self.period_s = {c: 1.0 / r for c, r in rates_hz.items()}
        self.next_s = {c: start_s for c in rates_hz}

    def due(self, sim_s: float) -> list[str]:
        """Cameras due at ``sim_s``; advances their next time past ``sim_s`` (no backlog)."""
        out = []
        for c, t in self.next_s.items():
            if sim_s + 1e-9 >= t:
                out.append(c)
                p = self.period_s[c]
                n = t + p
                if n <= sim_s:  # fell behind: skip missed frames instead of bursting
                    n = sim_s + p
                self.next_s[c] = n
        return out
