"""Re-run a bag's recorded observations through System 2 (planner) and System 1 (action expert)
offline, in recorded time order and deterministically, and compare with what was recorded.
ROS-free: uses the planner's ``load_backbone`` and the expert's ``ActionExpertPolicy`` /
``ActionExpertRuntime`` APIs directly.

Schedule: where the bag holds the stack's latents/chunks, the re-run recomputes each of them
from the same inputs (images whose stamp equals the latent stamp; the joint state whose stamp is
the chunk's ``state_stamp``, or the state the chunk carries when the bag lacks it, or in bags
before those fields the newest joint state logged before the request; the latent with the
chunk's ``latent_stamp``; the wrist frame of the chunk's ``wrist_image_stamp`` for a
wrist-image checkpoint; noise seed from the chunk sequence; the RTC guide weights the chunk
carries, with the re-run's previous chunk as target), so the same checkpoint gives identical
outputs. Bags with observations only get a fixed schedule (``latent_period_s``,
``chunk_period_s``).

A bag that begins after the stack did (a recorder started, or matched the publisher, after the
first chunk) or that lost a chunk: the chunk after the gap was guided by a chunk the bag lacks,
so it cannot be recomputed. Its recorded actions are committed instead (a *context* chunk, listed
in ``RerunResult.context_chunks`` and not compared), and the chunks after it are compared again.
"""
from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vla_common.config import find_config_dir, load_robot_config, load_topics
from vla_tools.bags.divergence import Divergence
from vla_tools.bags.errors import BagFormatError
from vla_tools.bags.reader import BagReader

log = logging.getLogger("vla_tools.rerun")


@dataclass(frozen=True)
class RerunConfig:
    robot: str = "franka"
    mode: str = "sim"
    config_dir: str = ""
    planner_checkpoint: str = ""      # '' = models/<robot>/planner
    expert_checkpoint: str = ""       # '' = models/<robot>/action_expert
    allow_random_init: bool = False   # missing checkpoint -> seeded random init
    planner_seed: int = 0
    expert_seed: int = 0
    use_recorded_latents: bool = False  # feed S1 the recorded latents (test S1 alone)
    stamp_tolerance_s: float = 0.05
    latent_period_s: float = 0.125    # only for bags without recorded latents
    chunk_period_s: float = 0.1       # only for bags without recorded chunks
    execution_strategy: str = "rtc"
    interpolation: str = "cubic"
    atol_action: float = 1e-5
    atol_latent: float = 1e-5
    torch_threads: int = 1            # as the nodes run: same float reduction order
    wrist_camera: str = "wrist"       # wrist checkpoints that do not name their wrist_cameras (the node's default)

    def __post_init__(self):
        for k in ("stamp_tolerance_s", "latent_period_s", "chunk_period_s"):
            v = getattr(self, k)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{k} must be finite and > 0, got {v}")


@dataclass
class Recorded:
    """What the bag holds, decoded to numpy; times in seconds (log time = sim time if recorded
    under use_sim_time)."""
    images: dict[str, list[tuple[float, np.ndarray]]] = field(default_factory=dict)  # stamp, img
    joint_states: list[tuple[float, tuple, np.ndarray]] = field(default_factory=list)  # log
    joint_state_stamps: list[float] = field(default_factory=list)  # header stamps, same order
    instructions: list[tuple[float, str]] = field(default_factory=list)
    latents: list[dict] = field(default_factory=list)
    chunks: list[dict] = field(default_factory=list)
    read_error: str = ""


def _t(stamp) -> float:
    # via integer ns: equals the node's clock ns * 1e-9 exactly (s_to_stamp round-trips it)
    return (int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)) * 1e-9


def load_recorded(bag: str | Path, robot, topics) -> Recorded:
    """Decode the observation and output topics of a bag (prefix up to any damage)."""
    reader = BagReader(bag)
    cams = {cfg.rstrip("/") + "/image_raw": cam for cam, cfg in robot.interfaces.cameras.items()}
    want = set(cams) | {robot.interfaces.joint_states, topics.instruction, topics.latent,
                        topics.action_chunk}
    msgs, err = reader.read_all(topics=want)
    ts = reader.typestore()
    rec = Recorded(images={c: [] for c in cams.values()}, read_error=str(err or ""))
    for m in msgs:
        t_s = m.log_time_ns * 1e-9
        d = reader.deserialize(m, ts)
        if m.topic in cams:
            if d.encoding != "rgb8" or len(d.data) != d.height * d.width * 3:
                raise BagFormatError(f"{m.topic}: image {d.width}x{d.height} '{d.encoding}' "
                                     "is not rgb8 of the right size")
            rec.images[cams[m.topic]].append(
                (_t(d.header.stamp), np.array(d.data, np.uint8).reshape(d.height, d.width, 3)))
        elif m.topic == robot.interfaces.joint_states:
            rec.joint_states.append((t_s, tuple(d.name), np.asarray(d.position, np.float64)))
            rec.joint_state_stamps.append(_t(d.header.stamp))
        elif m.topic == topics.instruction:
            rec.instructions.append((t_s, d.data))
        elif m.topic == topics.latent:
            rec.latents.append({"log_s": t_s, "stamp_s": _t(d.header.stamp),
                                "instruction": d.instruction,
                                "latent": np.asarray(d.latent, np.float32)})
        elif m.topic == topics.action_chunk:
            avail = getattr(d, "available_time", None)  # absent in bags before the field
            if avail is not None and avail.sec == 0 and avail.nanosec == 0:
                avail = None  # zero = not set by the publisher
            start_s = _t(d.chunk_start_time)
            # header.stamp = the request time (the state's time); later than it, chunk_start_time
            # is when a synchronous-baseline call returned (the same in the dual system)
            req_s = _t(d.header.stamp)
            st = getattr(d, "state_stamp", None)  # absent in bags before the field
            # the state the chunk was conditioned on (absent in older bags, empty if unknown)
            own_names = tuple(getattr(d, "state_names", ()) or ())
            own_pos = np.asarray(getattr(d, "state_position", ()), np.float64).reshape(-1)
            ws = getattr(d, "wrist_image_stamp", None)  # absent in bags before the field
            gw = getattr(d, "guide_weight", None)  # absent in bags before the field
            rec.chunks.append({"log_s": t_s, "start_s": start_s,
                               "state_stamp_s": _t(st) if st is not None and (st.sec or st.nanosec)
                               else None,
                               "request_s": req_s if 0.0 < req_s <= start_s else start_s,
                               "available_s": None if avail is None else _t(avail),
                               "state": (own_names, own_pos) if len(own_pos) else None,
                               # zero: no wrist model when recorded, or a bag before the field
                               "wrist_stamp_s": _t(ws) if ws is not None and (ws.sec or ws.nanosec)
                               else None,
                               "guide_weight": None if gw is None
                               else np.asarray(gw, np.float32).reshape(-1),
                               "sequence": int(d.sequence), "latent_stamp_s": _t(d.latent_stamp),
                               "names": tuple(d.action_names), "period_s": float(d.step_period_s),
                               "data": np.asarray(d.data, np.float32).reshape(
                                   int(d.horizon), int(d.action_dim))})
    for v in rec.images.values():
        v.sort(key=lambda x: x[0])
    return rec


@dataclass
class RerunResult:
    latents: list[dict]             # stamp_s, log_s, instruction, latent (new)
    chunks: list[dict]              # sequence, start_s, request_s, log_s, latent_stamp_s, data (new, float64)
    divergences: list[Divergence]
    skipped: list[str]
    read_error: str = ""
    warnings: list[str] = field(default_factory=list)
    own_state_chunks: int = 0       # chunks re-run on the state they carry (bag lacked it)
    context_chunks: list[int] = field(default_factory=list)  # sequences committed as recorded
    context_latents: list[float] = field(default_factory=list)  # stamps whose images predate the bag

    @property
    def diverged(self) -> bool:
        return any(d.diverged for d in self.divergences)


def _frame_at(frames: list[tuple[float, np.ndarray]], stamp_s: float, tol_s: float):
    """(stamp, image) with the newest stamp <= stamp_s + 1 us, if within tol_s, else None."""
    stamps = [f[0] for f in frames]
    i = bisect.bisect_right(stamps, stamp_s + 1e-6) - 1
    if i < 0 or stamp_s - stamps[i] > tol_s:
        return None
    return frames[i]


def _image_at(frames: list[tuple[float, np.ndarray]], stamp_s: float, tol_s: float):
    """The frame with the newest stamp <= stamp_s + 1 us, if within tol_s."""
    f = _frame_at(frames, stamp_s, tol_s)
    return None if f is None else f[1]


class Rerunner:
    """Loads both models once; ``run(recorded)`` is repeatable (state reset each time)."""

    def __init__(self, cfg: RerunConfig):
        self.cfg = cfg
        cdir = cfg.config_dir or None
        self.robot = load_robot_config(cfg.robot, cfg.mode, cdir)
        self.topics = load_topics(cdir)
        repo = find_config_dir(cdir).parent
        import torch  # noqa: PLC0415
        torch.set_num_threads(cfg.torch_threads)
        from vla_action_expert.configuration import CheckpointError  # noqa: PLC0415
        from vla_action_expert.init_checkpoint import random_init_policy  # noqa: PLC0415
        from vla_action_expert.policy import ActionExpertPolicy  # noqa: PLC0415
        from vla_planner.backbone import load_backbone  # noqa: PLC0415
        pdir = Path(cfg.planner_checkpoint or repo / "models" / cfg.robot / "planner")
        edir = Path(cfg.expert_checkpoint or repo / "models" / cfg.robot / "action_expert")
        self.backbone = load_backbone(pdir, self.robot.cameras, robot=cfg.robot,
                                      allow_random_init=cfg.allow_random_init, seed=cfg.planner_seed)
        if edir.exists() or not cfg.allow_random_init:
            if not edir.exists():
                raise CheckpointError(f"action expert checkpoint directory not found: {edir}")
            self.policy = ActionExpertPolicy.from_pretrained(
                edir, expected_names=self.robot.command_names,
                expected_latent_dim=self.backbone.latent_dim)
        else:
            log.warning("ACTION EXPERT CHECKPOINT %s NOT FOUND: RANDOM INIT (seed %d)", edir,
                        cfg.expert_seed)
            self.policy = random_init_policy(self.robot, cfg.expert_seed, self.backbone.latent_dim)
        self.model_ids = {"planner": getattr(self.backbone, "model_id", str(pdir)),
                          "expert": str(edir)}

    # --- System 2 ------------------------------------------------------------------------------
    def _latent_targets(self, rec: Recorded) -> list[dict]:
        if rec.latents:
            return [{"stamp_s": r["stamp_s"], "log_s": r["log_s"], "instruction": r["instruction"]}
                    for r in rec.latents]
        if not rec.instructions:
            return []
        first_cam = self.robot.cameras[0]
        out, last = [], -np.inf
        for stamp, _ in rec.images.get(first_cam, []):
            if stamp - last >= self.cfg.latent_period_s - 1e-9:
                instr = [x for t, x in rec.instructions if t <= stamp + 1e-6] or \
                    [rec.instructions[0][1]]
                out.append({"stamp_s": stamp, "log_s": stamp, "instruction": instr[-1]})
                last = stamp
        return out

    def _run_planner(self, rec: Recorded, skipped: list[str],
                     context: list[float]) -> list[dict]:
        out = []
        firsts = {c: (rec.images.get(c) or [(np.inf, None)])[0][0] for c in self.robot.cameras}
        for tgt in self._latent_targets(rec):
            imgs = {c: _image_at(rec.images.get(c, []), tgt["stamp_s"], self.cfg.stamp_tolerance_s)
                    for c in self.robot.cameras}
            missing = [c for c, v in imgs.items() if v is None]
            if missing:
                why = f"latent at {tgt['stamp_s']:.3f}: no image of {missing}"
                if all(tgt["stamp_s"] < firsts[c] - 1e-6 for c in missing):
                    # its images predate the bag (recorder started or matched later): context
                    context.append(tgt["stamp_s"])
                    why += " (before the bag's first one: context, not compared)"
                skipped.append(why)
                continue
            try:
                lat = self.backbone.infer(imgs, tgt["instruction"]).latent
            except ValueError as e:
                skipped.append(f"latent at {tgt['stamp_s']:.3f}: {e}")
                continue
            out.append({**tgt, "latent": np.asarray(lat, np.float32)})
        return out

    # --- System 1 ------------------------------------------------------------------------------
    @staticmethod
    def _feed_wrist(rt, cameras, frames, by_stamp, job: dict, t_req: float) -> str:
        """Give ``rt`` each wrist camera's frame of the chunk: the frame whose stamp is the
        chunk's ``wrist_image_stamp`` (camera 0's; the cameras of one sim render share it; another
        camera without a frame of that stamp gets its newest frame at or before it); bags before
        the field: the newest frame before the request. Returns why not ("" when fed)."""
        stamp = job.get("wrist_stamp_s")
        for i, cam in enumerate(cameras):
            if stamp is None:
                f = _frame_at(frames[i], t_req, np.inf)
            else:
                k = by_stamp[i].get(round(stamp, 9))
                f = frames[i][k] if k is not None else \
                    (_frame_at(frames[i], stamp, np.inf) if i > 0 else None)
                if f is None:
                    return f"its {cam} image (stamp {stamp:.6f}) is not in the bag"
            if f is not None:
                rt.on_wrist_image(f[1], f[0], i)
        return ""

    def _chunk_jobs(self, rec: Recorded, latents: list[dict]) -> list[dict]:
        if rec.chunks:
            return [{"start_s": c["start_s"], "request_s": c.get("request_s", c["start_s"]),
                     "state_stamp_s": c.get("state_stamp_s"), "state": c.get("state"),
                     "wrist_stamp_s": c.get("wrist_stamp_s"), "sequence": c["sequence"],
                     "commit_s": c["log_s"] if c.get("available_s") is None else c["available_s"],
                     "guide_weight": c.get("guide_weight"), "recorded": c["data"],
                     "latent_stamp_s": c["latent_stamp_s"]} for c in rec.chunks]
        if not latents or not rec.joint_states:
            return []
        t = max(latents[0]["stamp_s"], rec.joint_states[0][0])
        end = rec.joint_states[-1][0]
        jobs, seq = [], 1
        while t <= end + 1e-9:
            jobs.append({"start_s": t, "request_s": t, "state_stamp_s": None, "state": None,
                         "wrist_stamp_s": None, "commit_s": t,
                         "sequence": seq, "latent_stamp_s": None, "guide_weight": None,
                         "recorded": None})
            seq += 1
            t += self.cfg.chunk_period_s
        return jobs

    def _guide(self, job: dict, req) -> tuple[tuple | None, str]:
        """The RTC guide to re-run ``job`` with: the recorded weights on the re-run's own
        previous chunk (the node's delay estimate then does not matter), or the re-run
        executor's guide for bags before ``guide_weight``. (None, why) when not reproducible."""
        w = job.get("guide_weight")
        if w is None or self.cfg.execution_strategy != "rtc":  # old bag, or a what-if strategy
            return req.guide, ""
        if w.size == 0:
            return None, ""
        if req.guide is None:
            return None, "guided by a chunk the re-run does not hold"
        if w.shape[0] != req.guide[0].shape[0]:
            return None, f"{w.shape[0]} guide weights for a horizon of {req.guide[0].shape[0]}"
        return (req.guide[0], w), ""

    @staticmethod
    def _commit_recorded(rt, job: dict) -> bool:
        """Commit the recorded chunk of ``job`` (one the re-run cannot recompute) so the chunks
        after it are guided by what the node executed. False: the bag holds no usable one."""
        data = job.get("recorded")
        if data is None:
            return False
        try:
            rt.commit_chunk(data.astype(np.float64), job["start_s"], job["sequence"],
                            job["request_s"], job["commit_s"])
        except ValueError:
            return False
        return True

    def _feed(self, rt, job: dict, inp: dict, own_state: list[int]):
        """Give ``rt`` the inputs of ``job`` as of its request and snapshot them.

        Returns:
            (request or None, why not, whether the missing input predates the bag's first one)
        """
        t_req, src = job["request_s"], inp["latents"]
        if job["latent_stamp_s"] is not None:
            i = bisect.bisect_left(inp["lat_stamps"], job["latent_stamp_s"] - 1e-6)
            ok = i < len(src) and abs(src[i]["stamp_s"] - job["latent_stamp_s"]) < 1e-6
            if not ok:  # "early": the topic is in the bag, but only from after this input
                return None, "no latent for its latent_stamp", \
                    job["latent_stamp_s"] < inp["first_latent_s"] - 1e-6
        else:
            i = bisect.bisect_right(inp["lat_stamps"], t_req + 1e-9) - 1
            if i < 0:
                return None, "no latent for its latent_stamp", bool(src)  # before the first
        rt.on_latent(src[i]["latent"], src[i]["stamp_s"])
        own = job.get("state")  # (names, positions) the chunk carries, None in older bags
        js_times, j = inp["js_times"], -1
        if job["state_stamp_s"] is not None:  # the very state the chunk was made from
            j = inp["js_by_stamp"].get(round(job["state_stamp_s"], 9), -1)
            if j < 0 and own is None:
                return None, (f"its joint state (stamp {job['state_stamp_s']:.6f}) is not in "
                              "the bag"), job["state_stamp_s"] < inp["first_state_s"]
        elif own is None:  # older bags: the newest logged before the request
            j = bisect.bisect_right(js_times, t_req + 1e-9) - 1
            if j < 0:
                return None, f"no joint state before {t_req:.3f}", bool(js_times)
        if j >= 0:
            _, names, pos = inp["joint_states"][j]
            err = rt.on_joint_state(names, pos, min(js_times[j], t_req), inp["js_stamps"][j])
        else:  # the bag lost that joint state (a lagging recorder): the chunk's own copy,
            # received at the request (the node took it as fresh then)
            own_state[0] += 1
            err = rt.on_joint_state(own[0], own[1], t_req, job["state_stamp_s"] or 0.0)
        if err:
            return None, err, False
        missing = self._feed_wrist(rt, inp["wrists"], inp["wrist_frames"], inp["wrist_by_stamp"],
                                   job, t_req)
        if missing:
            ws = job.get("wrist_stamp_s")
            return None, missing, ws is not None and ws < inp["first_wrist_s"]
        req, why = rt.prepare(t_req)
        return req, why, False

    def _run_expert(self, rec: Recorded, latents: list[dict], skipped: list[str],
                    own_state: list[int], context: list[int]) -> list[dict]:
        from vla_action_expert.executor import ExecutorConfig  # noqa: PLC0415
        from vla_action_expert.policy import chunk_noise_seed  # noqa: PLC0415
        from vla_action_expert.runtime import ActionExpertRuntime, guide_weights  # noqa: PLC0415
        pol = self.policy
        pol.reset()
        rt = ActionExpertRuntime(pol, ExecutorConfig(strategy=self.cfg.execution_strategy,
                                                     interpolation=self.cfg.interpolation))
        src = rec.latents if self.cfg.use_recorded_latents else latents
        # the checkpoint's wrist cameras (older checkpoints: RerunConfig.wrist_camera)
        wrists = pol.config.wrist_camera_names(self.cfg.wrist_camera)
        wrist_frames = [rec.images.get(c, []) for c in wrists]
        inp = {"latents": src, "lat_stamps": [x["stamp_s"] for x in src],
               "joint_states": rec.joint_states, "js_times": [x[0] for x in rec.joint_states],
               "js_stamps": rec.joint_state_stamps,
               "js_by_stamp": {round(t, 9): k for k, t in enumerate(rec.joint_state_stamps)},
               "wrists": wrists, "wrist_frames": wrist_frames,
               "wrist_by_stamp": [{round(t, 9): k for k, (t, _) in enumerate(fr)}
                                  for fr in wrist_frames],
               # where each input topic begins in the bag (-inf: absent): a missing input older
               # than that predates the bag, not lost from it
               "first_latent_s": src[0]["stamp_s"] if src else -np.inf,
               "first_state_s": min(rec.joint_state_stamps, default=-np.inf),
               "first_wrist_s": min((fr[0][0] for fr in wrist_frames if fr), default=-np.inf)}
        out = []
        rtc = self.cfg.execution_strategy == "rtc"
        prev_seq = 0
        for job in self._chunk_jobs(rec, latents):
            seq, start, t_req = job["sequence"], job["start_s"], job["request_s"]
            gap, prev_seq = seq != prev_seq + 1, seq
            w = job.get("guide_weight")
            req, guide = None, None
            if gap and rtc and (w is None or w.size):
                why, early = f"guided by chunk {seq - 1}, which the bag lacks", True
            else:
                req, why, early = self._feed(rt, job, inp, own_state)
                if req is not None:
                    guide, why = self._guide(job, req)
            if why:
                # not recomputable. Before anything was (its inputs predate the bag) or after a
                # gap in the chunks: context, not compared. Otherwise a divergence. Either way
                # the recorded chunk guides the next ones, as it did on the robot.
                committed = self._commit_recorded(rt, job)
                if committed and early and (gap or not out):
                    context.append(seq)
                    skipped.append(f"chunk {seq}: {why}: its recorded actions are committed as "
                                   "context, not compared")
                else:
                    skipped.append(f"chunk {seq}: {why}")
                continue
            obs = {"latent": req.latent, "latent_age_s": req.latent_age_s, "state": req.state}
            if req.wrist_image is not None:
                obs["wrist_image"] = req.wrist_image
            chunk = pol.predict_action_chunk(obs, seed=chunk_noise_seed(pol.seed, seq - 1),
                                             guide=guide)
            rt.commit(req, chunk, job["commit_s"], 0.0, start_s=start)
            out.append({"sequence": seq, "start_s": start, "request_s": t_req,
                        "state_stamp_s": req.state_stamp_s,
                        "state": (tuple(pol.config.action_names), req.state.copy()),
                        "wrist_stamp_s": req.wrist_stamp_s, "log_s": job["commit_s"],
                        "latent_stamp_s": req.latent_stamp_s, "period_s": pol.config.step_period_s,
                        "guide_weight": guide_weights(guide),
                        "data": chunk})
        return out

    def run(self, rec: Recorded) -> RerunResult:
        skipped: list[str] = []
        own_state, context, context_latents = [0], [], []
        latents = self._run_planner(rec, skipped, context_latents)
        chunks = self._run_expert(rec, latents, skipped, own_state, context)
        divs = []
        if rec.latents:
            new_by = {round(x["stamp_s"], 6): x["latent"] for x in latents}
            ctx = {round(t, 6) for t in context_latents}
            pairs = [(r["stamp_s"], r["latent"], new_by.get(round(r["stamp_s"], 6)))
                     for r in rec.latents if round(r["stamp_s"], 6) not in ctx]
            if pairs:
                dim = len(pairs[0][1])
                divs.append(Divergence(
                    "latents", np.array([p[0] for p in pairs]), np.stack([p[1] for p in pairs]),
                    np.stack([p[2] if p[2] is not None and len(p[2]) == dim
                              else np.full(dim, np.nan) for p in pairs]),
                    tuple(f"z{k}" for k in range(dim)), self.cfg.atol_latent))
        if rec.chunks:
            new_by = {c["sequence"]: c for c in chunks}
            times, r_rows, n_rows = [], [], []
            for c in rec.chunks:
                if c["sequence"] in context:  # recorded actions re-used: nothing to compare
                    continue
                h, d = c["data"].shape
                new = new_by.get(c["sequence"])
                n = (new["data"].astype(np.float32) if new is not None and new["data"].shape == (h, d)
                     else np.full((h, d), np.nan, np.float32))  # missing = diverged
                times += [c["start_s"] + k * c["period_s"] for k in range(h)]
                r_rows.append(c["data"])
                n_rows.append(n)
            if r_rows:
                divs.append(Divergence("actions", np.array(times), np.concatenate(r_rows),
                                       np.concatenate(n_rows), self.robot.command_names,
                                       self.cfg.atol_action))
        warns = []
        n_old = sum(1 for c in rec.chunks if c.get("available_s") is None)
        if n_old:
            warns.append(f"{n_old} recorded chunks have no available_time (bag older than "
                         "the field, or not set): committed at their log (receive) time, so "
                         "with execution strategy rtc actions can differ from the recorded run")
        if rec.chunks and len(context) == len(rec.chunks):
            warns.append("every recorded chunk predates what the bag can re-run (context): "
                         "no action was compared")
        return RerunResult(latents, chunks, divs, skipped, rec.read_error, warns, own_state[0],
                           context, context_latents)


def write_rerun_bag(src_bag: str | Path, out: str | Path, result: RerunResult, robot, topics,
                    model_ids: dict | None = None) -> Path:
    """Copy the observations of ``src_bag`` and add the re-run's latents and chunks (stack
    types), so the new run can be viewed (Foxglove) or used as a reference."""
    from vla_tools.bags.writer import BagWriter  # noqa: PLC0415
    from vla_tools.bags.typestore import typestore_with  # noqa: PLC0415
    reader = BagReader(src_bag)
    drop = {topics.latent, topics.action_chunk, topics.action}
    types = {t: v for t, v in reader.topic_types().items() if t not in drop}
    # the kept topics' embedded definitions; the new latents/chunks get the current ones
    full = reader.typestore()  # also fills reader._schemas
    kept = {ty for ty, _ in types.values()}
    ts = typestore_with({k: v for k, v in reader._schemas.items() if k in kept})  # noqa: SLF001
    del full
    H, T = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    Lat, Chunk = ts.types["vla_interfaces/msg/Latent"], ts.types["vla_interfaces/msg/ActionChunk"]

    def tm(s: float):
        ns = int(round(s * 1e9))
        return T(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
    items = []
    for m in reader.messages(types):
        items.append((m.log_time_ns, m.topic, m.data))
    mid = (model_ids or {}).get("planner", "")
    for x in result.latents:
        b = ts.serialize_cdr(Lat(header=H(stamp=tm(x["stamp_s"]), frame_id=""),
                                 instruction=x["instruction"], instruction_id=0,
                                 latent=x["latent"].astype(np.float32), model_id=mid,
                                 compute_time_s=0.0), "vla_interfaces/msg/Latent")
        items.append((int(round(x["log_s"] * 1e9)), topics.latent, b))
    names = list(robot.command_names)
    for c in result.chunks:
        h, d = c["data"].shape
        st_names, st_pos = c.get("state") or ((), np.zeros(0))
        b = ts.serialize_cdr(Chunk(header=H(stamp=tm(c.get("request_s", c["start_s"])), frame_id=""),
                                   action_names=names, horizon=h, action_dim=d,
                                   data=c["data"].astype(np.float32).ravel(),
                                   step_period_s=c["period_s"], chunk_start_time=tm(c["start_s"]),
                                   sequence=c["sequence"], latent_stamp=tm(c["latent_stamp_s"]),
                                   inference_time_s=0.0, available_time=tm(c["log_s"]),
                                   state_stamp=tm(c.get("state_stamp_s") or 0.0),
                                   state_names=list(st_names),
                                   state_position=np.asarray(st_pos, np.float64),
                                   wrist_image_stamp=tm(c.get("wrist_stamp_s") or 0.0),
                                   guide_weight=np.asarray(c["guide_weight"], np.float32)
                                   if c.get("guide_weight") is not None
                                   else np.zeros(0, np.float32)),
                               "vla_interfaces/msg/ActionChunk")
        items.append((int(round(c["log_s"] * 1e9)), topics.action_chunk, b))
    items.sort(key=lambda x: x[0])
    with BagWriter(out, typestore=ts) as w:
        for t, (msgtype, _) in types.items():
            w.add_topic(t, msgtype)
        w.add_topic(topics.latent, "vla_interfaces/msg/Latent")
        w.add_topic(topics.action_chunk, "vla_interfaces/msg/ActionChunk")
        for t_ns, topic, data in items:
            w.write(topic, t_ns, data)
    return Path(out)
