"""The action expert's run-time logic without ROS: inputs, staleness, inference, streaming.

The node feeds it latents and joint states, calls ``prepare``/``run``/``commit`` from its
inference thread and ``stream`` from its stream timer. Times are arguments (node clock, sim time
under ``use_sim_time``). Thread-safe: one lock guards inputs and the executor; the model runs
outside it so streaming never waits for inference.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from vla_action_expert.executor import ChunkExecutor, ExecutorConfig, TimedChunk
from vla_action_expert.policy import ActionExpertPolicy, stack_wrist_frames
from vla_common.timing import RateMeter, RollingStats

NO_INPUT, NO_LATENT_HOLD, STREAMING, HOLDING = "no_input", "no_latent_hold", "streaming", "holding"


@dataclass(frozen=True)
class RuntimeConfig:
    latent_timeout_s: float = 0.5     # older latents are stale: finish the chunk, then hold
    state_timeout_s: float = 0.5      # no joint state for this long: no new chunks

    def __post_init__(self):
        if not (self.latent_timeout_s > 0 and self.state_timeout_s > 0):
            raise ValueError("latent_timeout_s and state_timeout_s must be > 0")


@dataclass(frozen=True)
class InferenceRequest:
    start_s: float                 # time of row 0 (= request time, the state's time)
    latent: np.ndarray
    latent_stamp_s: float
    latent_age_s: float
    state: np.ndarray
    guide: tuple | None
    sequence: int
    wrist_image: np.ndarray | None = None
    state_stamp_s: float = 0.0     # the joint state's own stamp (0: not known)
    wrist_stamp_s: float = 0.0     # the wrist image's own stamp (0: not known / no wrist model)


def guide_weights(guide: tuple | None) -> np.ndarray:
    """The RTC weight of each row of a guide ([H] float32, as the policy reads it; empty for no
    guide): what a chunk message carries so a re-run guides it the same way."""
    return np.zeros(0, np.float32) if guide is None else np.asarray(guide[1], np.float32)


@dataclass(frozen=True)
class StreamOut:
    values: np.ndarray
    chunk_sequence: int
    step_index: int
    mode: str


class ActionExpertRuntime:
    def __init__(self, policy: ActionExpertPolicy, executor_config: ExecutorConfig = ExecutorConfig(),
                 config: RuntimeConfig = RuntimeConfig()):
        self.policy, self.config = policy, config
        self.names = policy.config.action_names
        self.executor = ChunkExecutor(executor_config)
        self._lock = threading.Lock()
        self._latent: tuple[np.ndarray, float] | None = None
        self._state: tuple[np.ndarray, float, float] | None = None  # (q, received, stamp)
        cfg = policy.config
        # one slot per wrist camera (wrist_cameras; one for checkpoints that do not name them)
        n_wrist = (len(cfg.wrist_cameras) or 1) if cfg.wrist_image_size else 0
        self._wrist: list[np.ndarray | None] = [None] * n_wrist
        self._wrist_stamps_s = [0.0] * n_wrist
        self.stream_state = ActionStream(self.executor)
        self._seq = 0
        self.infer_wall_s = RollingStats(200)
        self.rejected = {"latent": 0, "state": 0, "chunk": 0, "nonfinite_stream": 0}
        self._name_idx: dict[tuple, np.ndarray | None] = {}

    # --- inputs (return None when accepted, else the reason for the rejection) ---------------
    def on_latent(self, latent, stamp_s: float) -> str | None:
        a = np.asarray(latent, dtype=np.float32).reshape(-1)
        want = self.policy.config.latent_dim
        if a.shape[0] != want:
            self.rejected["latent"] += 1
            return f"latent has {a.shape[0]} values, expected latent_dim {want}"
        if not np.all(np.isfinite(a)) or not math.isfinite(stamp_s):
            self.rejected["latent"] += 1
            return "latent contains NaN/inf"
        with self._lock:
            self._latent = (a, float(stamp_s))
        return None

    def on_joint_state(self, names, positions, now_s: float, stamp_s: float = 0.0) -> str | None:
        """Accept a joint state by name (extra joints ignored; every action name needed).

        ``now_s`` = when it was received (staleness); ``stamp_s`` = its own header stamp,
        passed on with each chunk so a re-run can find the very state the chunk was made from.
        """
        key = tuple(names)
        idx = self._name_idx.get(key, False)
        if idx is False:
            pos = {n: i for i, n in enumerate(key)}
            idx = None if any(n not in pos for n in self.names) else \
                np.array([pos[n] for n in self.names])
            self._name_idx[key] = idx
        if idx is None:
            self.rejected["state"] += 1
            missing = [n for n in self.names if n not in key]
            return f"joint_states lacks {missing}"
        p = np.asarray(positions, dtype=np.float64)
        if p.shape[0] != len(key):
            self.rejected["state"] += 1
            return f"joint_states has {len(key)} names but {p.shape[0]} positions"
        s = p[idx]
        if not np.all(np.isfinite(s)):
            self.rejected["state"] += 1
            return "joint_states position is NaN/inf"
        with self._lock:
            self._state = (s, float(now_s), float(stamp_s))
            self.stream_state.latch_hold(s)
        return None

    def on_wrist_image(self, img: np.ndarray, stamp_s: float = 0.0, camera_index: int = 0) -> None:
        """The newest frame of wrist camera ``camera_index`` (the checkpoint's ``wrist_cameras``
        order). ``stamp_s`` = the frame's header stamp, passed on with each chunk so a re-run can
        use the very frame the chunk saw (a late frame is not the newest one before the request).

        A checkpoint without a wrist input ignores the frame.

        Raises:
            IndexError: ``camera_index`` is not one of the checkpoint's wrist cameras.
        """
        if not self._wrist:
            return
        if not 0 <= camera_index < len(self._wrist):
            raise IndexError(f"wrist camera index {camera_index}: the checkpoint reads "
                             f"{len(self._wrist)} wrist camera(s)")
        with self._lock:
            self._wrist[camera_index] = img
            self._wrist_stamps_s[camera_index] = float(stamp_s)

    # --- inference (inference thread) ---------------------------------------------------------
    def latent_age_s(self, now_s: float) -> float:
        with self._lock:
            return float("nan") if self._latent is None else now_s - self._latent[1]

    def prepare(self, now_s: float) -> tuple[InferenceRequest | None, str]:
        """Snapshot the inputs for a chunk starting now, or (None, why not)."""
        cfg = self.policy.config
        with self._lock:
            if self._latent is None:
                return None, "no latent yet"
            if self._state is None:
                return None, "no joint state yet"
            if now_s - self._state[1] > self.config.state_timeout_s:
                return None, "joint state stale"
            lat, lstamp = self._latent
            age = now_s - lstamp
            if age > self.config.latent_timeout_s:
                return None, f"latent stale ({age:.3f} s)"
            if any(w is None for w in self._wrist):
                return None, "no wrist image yet"
            frames = list(self._wrist)
            # a re-run finds each camera's frame by this stamp (camera 0's; the cameras of one
            # sim render share it)
            wrist_stamp_s = self._wrist_stamps_s[0] if frames else 0.0
            guide = self.executor.guidance(now_s, cfg.horizon, cfg.step_period_s)
            self._seq += 1
            seq, state, state_stamp_s = self._seq, self._state[0].copy(), self._state[2]
        # several cameras are resized and stacked outside the lock: the stream tick takes it
        wrist = frames[0] if len(frames) == 1 else None
        if len(frames) > 1:
            try:
                wrist = stack_wrist_frames(frames, cfg.wrist_image_size)
            except ValueError as e:
                return None, f"bad wrist image: {e}"
        return InferenceRequest(now_s, lat, lstamp, max(age, 0.0), state, guide, seq, wrist,
                                state_stamp_s, wrist_stamp_s), ""

    def run(self, req: InferenceRequest) -> np.ndarray:
        """The model call (no lock held). Raises ValueError on bad input / non-finite output."""
        obs = {"latent": req.latent, "latent_age_s": req.latent_age_s, "state": req.state}
        if req.wrist_image is not None:
            obs["wrist_image"] = req.wrist_image
        return self.policy.predict_action_chunk(obs, guide=req.guide)

    def commit(self, req: InferenceRequest, chunk: np.ndarray, now_s: float,
               wall_s: float, start_s: float | None = None) -> TimedChunk:
        """Hand a finished chunk to the executor; ``now_s`` = when it became available.

        Row 0 is meant for ``start_s`` (default: the request time ``req.start_s``; the
        synchronous baseline passes ``now_s``: its chunk starts when the call returns).
        """
        start = req.start_s if start_s is None else start_s
        tc = self.commit_chunk(chunk, start, req.sequence, req.start_s, now_s)
        self.infer_wall_s.add(wall_s)
        return tc

    def commit_chunk(self, chunk: np.ndarray, start_s: float, sequence: int, request_s: float,
                     now_s: float) -> TimedChunk:
        """Hand the executor a chunk made elsewhere (a re-run's recorded chunk it cannot
        recompute) as if inferred here: requested at ``request_s``, available at ``now_s``.

        Raises:
            ValueError: the chunk is not [H, D] finite, or its action dim changed.
        """
        tc = TimedChunk(chunk, start_s, self.policy.config.step_period_s, sequence)
        with self._lock:
            self.executor.record_delay(now_s - request_s)
            self.executor.add_chunk(tc, now_s)
        return tc

    # --- streaming (stream timer) -------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.stream_state.mode

    @property
    def stream_rate(self) -> RateMeter:
        return self.stream_state.rate

    def hold_value(self) -> np.ndarray | None:
        """The latched first joint state (what a stream holds before the first chunk)."""
        with self._lock:
            h = self.stream_state.hold
            return None if h is None else h.copy()

    def stream(self, now_s: float) -> StreamOut | None:
        """The action for ``now_s``; None when there is nothing safe to send (no state yet)."""
        with self._lock:
            out = self.stream_state.step(now_s)
        self.rejected["nonfinite_stream"] = self.stream_state.nonfinite
        return out


class ActionStream:
    """The stream side of the runtime: one action per tick from an executor's chunks.

    Before the first chunk it holds the latched first joint state; a non-finite value (never
    produced by validated chunks) is replaced by the last value sent. Used under the runtime's
    lock in process, and on its own in the stream process (``ros_stream_process``), which keeps
    a mirror executor fed with the same chunks. Not thread-safe.
    """

    def __init__(self, executor: ChunkExecutor):
        self.executor = executor
        self.hold: np.ndarray | None = None   # latched state held before the first chunk
        self.mode = NO_INPUT
        self.nonfinite = 0
        self.rate = RateMeter(2000)

    def latch_hold(self, values) -> None:
        """Take the first joint state as the hold target (later calls change nothing)."""
        if self.hold is None:
            self.hold = np.array(values, dtype=np.float64)

    def step(self, now_s: float) -> StreamOut | None:
        step = self.executor.action_at(now_s)
        if step is None:
            if self.hold is None:
                self.mode = NO_INPUT
                return None
            out = StreamOut(self.hold.copy(), 0, 0, NO_LATENT_HOLD)
        else:
            out = StreamOut(step.values, step.chunk_sequence, step.step_index,
                            HOLDING if step.holding else STREAMING)
        if not np.all(np.isfinite(out.values)):  # never reached with validated chunks
            self.nonfinite += 1
            if self.hold is None:
                return None
            out = StreamOut(self.hold.copy(), out.chunk_sequence, out.step_index, HOLDING)
        else:
            self.hold = np.array(out.values, dtype=np.float64)
        self.mode = out.mode
        self.rate.tick(now_s)
        return out
