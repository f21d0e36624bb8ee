"""In-memory demonstration data for end-to-end training of the default dual-system policy
(ROS-free).

Everything frozen is computed once: camera images are decoded and resized to the planner's input
size (uint8, exactly the ``images_to_tensor`` resize the deployed planner applies), and every
instruction string gets its MiniLM embedding once (``EmbeddingTable``). Batches are drawn with the
deployment's latency offset: one System 2 observation (an image frame) serves ``repeats`` System 1
samples whose state is ``delay`` seconds newer (delay ~ U[delay_min_s, delay_max_s]), exactly like a
latent that several chunks reuse while System 2 computes the next one.

Auxiliary targets (training only, never shipped): the expert's arm joint targets at the moment the
gripper closes (grasp) and, for place tasks, re-opens (release), and the table (x, y) of the named
cube and of the named plate at reset (``task_aux_targets``). They tell the vision encoder early
what the latent must encode; the action loss alone trains it too, only more slowly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

# the planner's resize, batched and 8-bit: the same pixels System 1's wrist input gets at run time
from vla_planner.image_utils import resize_frames_uint8 as resize_images

GRIP_CLOSED_BELOW_M = 0.04  # Franka gripper command (width, m) below this = closing


@dataclass(frozen=True)
class GraspColumns:
    """Where one arm's grasp shows in a command-space action row."""
    arm: tuple[int, ...]        # columns of the arm joints
    gripper: int                # column of the gripper width command
    closed_below_m: float       # a width command below this closes the gripper


def grasp_columns(robot) -> tuple[GraspColumns, ...]:
    """One ``GraspColumns`` per arm with a gripper of ``robot`` (vla_common RobotConfig).

    The closing threshold is the middle of the gripper's width range (Franka: 0.04 m, as before).

    Raises:
        ValueError: an arm joint or gripper is not one of the robot's command names.
    """
    names = list(robot.command_names)
    out = []
    for arm in robot.arms:
        if arm.gripper is None:
            continue
        g = arm.gripper
        out.append(GraspColumns(tuple(names.index(j) for j in arm.joints), names.index(g.name),
                                0.5 * (g.width_min_m + g.width_max_m)))
    return tuple(out)


@dataclass
class DemoEpisode:
    state: np.ndarray                 # [T, D] float32
    action: np.ndarray                # [T, D] float32
    task: str
    instruction: str
    params: dict
    img_frames: np.ndarray            # [N] frame indices that carry images
    images: np.ndarray                # [N, n_cam, S, S, 3] uint8 (resized)
    aux: np.ndarray = field(default=None)       # [A] float32
    aux_mask: np.ndarray = field(default=None)  # [A] float32
    seed: int | None = None
    train_from_frame: int = 0         # rows before it are a planned miss (retry demonstrations)


def aux_targets(action: np.ndarray, n_arm: int, grip_index: int,
                closed_below_m: float = GRIP_CLOSED_BELOW_M) -> tuple[np.ndarray, np.ndarray]:
    """Arm targets at the first gripper close and the following re-open (0 and mask 0 if absent).

    Args:
        action: [T, D] command-space actions.
        n_arm: number of arm joints (the first ``n_arm`` columns).
        grip_index: column of the gripper width.
        closed_below_m: width threshold of a closing command.
    Returns:
        (targets [2 * n_arm], mask [2 * n_arm]).
    """
    a = np.asarray(action, np.float32)
    out = np.zeros(2 * n_arm, np.float32)
    mask = np.zeros(2 * n_arm, np.float32)
    if a.ndim != 2 or len(a) == 0:
        return out, mask
    closed = a[:, grip_index] < closed_below_m
    if closed.any():
        k = int(np.argmax(closed))
        out[:n_arm], mask[:n_arm] = a[k, :n_arm], 1.0
        reopen = np.nonzero(~closed[k:])[0]
        if len(reopen):
            j = k + int(reopen[0])
            out[n_arm:], mask[n_arm:] = a[j, :n_arm], 1.0
    return out, mask


TASK_AUX_DIM = 4  # target cube (x, y), plate (x, y)


def grasp_aux_targets(action: np.ndarray, groups: Sequence[GraspColumns]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``aux_targets`` of each arm in ``groups``, concatenated (a bimanual robot: left, right).

    Returns:
        (targets [sum 2 * len(arm)], mask of the same size); an arm that never closes is masked.
    """
    a = np.asarray(action, np.float32)
    parts = []
    for g in groups:
        cols = list(g.arm) + [g.gripper]
        sub = a[:, cols] if a.ndim == 2 else np.zeros((0, len(cols)), np.float32)
        parts.append(aux_targets(sub, len(g.arm), len(g.arm), g.closed_below_m))
    if not parts:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def task_aux_targets(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Table (x, y) at reset of the named cube and the named plate (masked out when absent).

    Args:
        params: the episode's task params: Franka ``target``, optional ``plate``, ``xy``: name ->
            [x, y]; a scene with one object (ALOHA ``transfer_cube``) gives ``xy`` as that
            object's [x, y], which is then the target.
    Returns:
        (targets [4], mask [4]) float32.
    """
    out = np.zeros(TASK_AUX_DIM, np.float32)
    mask = np.zeros(TASK_AUX_DIM, np.float32)
    xy = params.get("xy") or {}
    if not isinstance(xy, dict):
        xy, params = {"_": xy}, {"target": "_"}
    for k, key in enumerate(("target", "plate")):
        p = xy.get(params.get(key, ""))
        if p is not None and len(p) == 2 and np.all(np.isfinite(p)):
            out[2 * k:2 * k + 2], mask[2 * k:2 * k + 2] = p, 1.0
    return out, mask


def aux_stats(aux: np.ndarray, mask: np.ndarray, min_std: float = 1e-3
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean / std of auxiliary targets over the entries whose mask is set.

    Args:
        aux, mask: [N, A].
        min_std: floor of the std (a constant target must not divide by 0).
    Returns:
        (mean [A], std [A]) float32; dimensions never set get mean 0, std 1.
    """
    aux = np.asarray(aux, np.float64)
    m = np.asarray(mask, np.float64)
    n = m.sum(0)
    mean = np.where(n > 0, (aux * m).sum(0) / np.maximum(n, 1), 0.0)
    var = np.where(n > 0, (((aux - mean) ** 2) * m).sum(0) / np.maximum(n, 1), 1.0)
    std = np.where(n > 0, np.maximum(np.sqrt(var), min_std), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def load_demos(roots: Sequence[str | Path], cameras: Sequence[str], command_names: Sequence[str],
               image_size_px: int, grasp_groups: Sequence[GraspColumns],
               max_episodes: int | None = None, progress: bool = False) -> list[DemoEpisode]:
    """Read successful episodes of every dataset in ``roots`` (vla_common.dataset format).

    ``grasp_groups`` (``grasp_columns(robot)``) say where each arm's grasp is in an action row:
    the auxiliary targets hold each arm's joints at its first close and re-open.

    Raises:
        vla_common.dataset.DatasetError: missing/malformed dataset, names or cameras mismatch,
            no successful episode at all.
    """
    from vla_common.dataset import DatasetError, DatasetReader, check_names
    eps: list[DemoEpisode] = []
    for root in roots:
        reader = DatasetReader(root)
        check_names(reader.info, command_names)
        missing = [c for c in cameras if c not in reader.info.cameras]
        if missing:
            raise DatasetError(f"{root}: dataset has no images of camera(s) {missing}")
        idx = [i for i, m in enumerate(reader.episodes) if m.get("success", False)]
        if max_episodes:
            idx = idx[:max_episodes]
        it = idx
        if progress:
            from tqdm import tqdm
            it = tqdm(idx, desc=f"load {Path(root).name}", unit="ep", leave=False)
        for i in it:
            ep = reader.episode(i, decode_images=True)
            frames0 = ep.images[cameras[0]][0]
            for c in cameras[1:]:
                if not np.array_equal(ep.images[c][0], frames0):
                    raise DatasetError(f"{root} episode {i}: cameras have different image frames")
            # retry demonstrations (record_demos --miss-first): frames before the retry are a
            # planned miss, never a System 2 observation to learn from
            start = int(ep.extra.get("train_from_frame", 0))
            if not 0 <= start < len(ep.state):
                raise DatasetError(f"{root} episode {i}: train_from_frame {start} outside "
                                   f"[0, {len(ep.state)})")
            keep = np.asarray(frames0) >= start
            if not keep.any():
                continue
            frames0 = np.asarray(frames0)[keep]
            imgs = np.stack([resize_images(np.asarray(ep.images[c][1])[keep], image_size_px)
                             for c in cameras], 1)
            params = dict(ep.extra.get("params", {}))
            aux, mask = grasp_aux_targets(ep.action[start:], grasp_groups)
            t_aux, t_mask = task_aux_targets(params)
            eps.append(DemoEpisode(ep.state, ep.action, ep.task, ep.instruction, params,
                                   frames0.astype(np.int64), imgs, np.r_[aux, t_aux],
                                   np.r_[mask, t_mask], ep.seed, start))
    if not eps:
        raise DatasetError(f"no successful episodes with images in {list(map(str, roots))}")
    return eps


def instruction_variants(ep: DemoEpisode, extra_phrasings: bool = False) -> list[str]:
    """The episode's own instruction plus every TRAINING phrasing of its task with its params
    (held-out phrasings are never used); ``extra_phrasings`` adds the task's training-only
    paraphrases (``vla_sim.instructions.AUGMENT_TEMPLATES``)."""
    out = [ep.instruction]
    try:
        from vla_sim.instructions import templates
        for t in templates(ep.task, "augment" if extra_phrasings else "train"):
            try:
                s = t.format(**ep.params)
            except (KeyError, IndexError, ValueError):
                continue
            if s not in out:
                out.append(s)
    except KeyError:
        pass
    return out


class EmbeddingTable:
    """Frozen MiniLM embeddings of a fixed set of instruction strings (computed once)."""

    def __init__(self, texts: Sequence[str], encoder=None, batch: int = 64):
        import torch
        from vla_planner.text_encoder import TextEncoder
        self.texts = list(dict.fromkeys(texts))
        self.index = {t: i for i, t in enumerate(self.texts)}
        enc = encoder or TextEncoder()
        with torch.no_grad():
            parts = [enc.encode_batch(self.texts[i:i + batch]) for i in range(0, len(self.texts), batch)]
        self.table = torch.cat(parts, 0) if parts else torch.zeros(0, enc.dim)
        self.dim = int(enc.dim)


@dataclass(frozen=True)
class BatchConfig:
    frames: int = 16            # System 2 observations per batch
    repeats: int = 4            # System 1 samples per observation (different delays)
    horizon: int = 16
    fps: float = 50.0           # state/action rate of the dataset; rows are step_period apart
    step_period_s: float = 0.02
    delay_min_s: float = 0.1
    delay_max_s: float = 0.3
    paraphrase_prob: float = 0.5  # use another training phrasing of the same instruction
    extra_phrasings: bool = False  # also the training-only paraphrases (AUGMENT_TEMPLATES)
    # each S1 sample also gets these cameras' newest frames, stacked along channels (empty: none)
    wrist_camera_indices: tuple[int, ...] = ()

    def __post_init__(self):
        if self.frames < 1 or self.repeats < 1 or self.horizon < 1:
            raise ValueError("frames, repeats and horizon must be >= 1")
        if not 0.0 <= self.delay_min_s <= self.delay_max_s:
            raise ValueError("need 0 <= delay_min_s <= delay_max_s")


class DemoSampler:
    """Draws latency-offset batches (numpy) from ``DemoEpisode``s."""

    def __init__(self, episodes: list[DemoEpisode], table: EmbeddingTable, cfg: BatchConfig):
        if not episodes:
            raise ValueError("no episodes")
        self.eps, self.table, self.cfg = episodes, table, cfg
        self.variants = [[table.index[s] for s in instruction_variants(e, cfg.extra_phrasings)]
                         for e in episodes]
        w = np.array([len(e.img_frames) for e in episodes], float)
        self.p = w / w.sum()
        self.row_step = max(1, int(round(cfg.step_period_s * cfg.fps)))

    def sample(self, rng: np.random.Generator) -> dict:
        """Batch: ``images`` [F, n_cam, S, S, 3] uint8, ``text_idx`` [F], ``aux``/``aux_mask``
        [F, A], ``frame_of`` [F*R] (which observation each S1 sample uses), ``state`` [F*R, D],
        ``actions`` [F*R, H, D], ``mask`` [F*R, H], ``latent_age_s`` [F*R]; with
        ``wrist_camera_indices`` also ``wrist`` [F*R, S, S, 3 * n] uint8: those cameras' newest
        frames at each S1 sample's state row, stacked along channels in that order, as System 1
        gets the newest wrist images at run time while its latent is 100-300 ms older."""
        c = self.cfg
        F, R, H = c.frames, c.repeats, c.horizon
        ep_ids = rng.choice(len(self.eps), size=F, p=self.p)
        D = self.eps[0].state.shape[1]
        images, text_idx, aux, aux_mask = [], np.zeros(F, np.int64), [], []
        state = np.zeros((F * R, D), np.float32)
        actions = np.zeros((F * R, H, D), np.float32)
        mask = np.zeros((F * R, H), np.float32)
        age = np.zeros(F * R, np.float32)
        wi = list(c.wrist_camera_indices)
        wrist = [] if wi else None
        for f, e_i in enumerate(ep_ids):
            ep = self.eps[e_i]
            T = len(ep.state)
            k = int(rng.integers(len(ep.img_frames)))
            images.append(ep.images[k])
            var = self.variants[e_i]
            text_idx[f] = var[0] if (len(var) == 1 or rng.random() >= c.paraphrase_prob) \
                else var[int(rng.integers(1, len(var)))]
            aux.append(ep.aux)
            aux_mask.append(ep.aux_mask)
            j = int(ep.img_frames[k])
            d = rng.uniform(c.delay_min_s, c.delay_max_s, size=R)
            i = np.minimum(j + np.round(d * c.fps).astype(int), T - 1)
            rows = i[:, None] + self.row_step * np.arange(H)[None, :]
            sl = slice(f * R, (f + 1) * R)
            state[sl] = ep.state[i]
            actions[sl] = ep.action[np.minimum(rows, T - 1)]
            mask[sl] = rows < T
            age[sl] = (i - j) / c.fps
            if wrist is not None:
                kw = np.searchsorted(ep.img_frames, i, side="right") - 1  # >= k: frame j <= i
                w = ep.images[kw][:, wi]                                  # [R, n, S, S, 3]
                wrist.append(w.transpose(0, 2, 3, 1, 4).reshape(*w.shape[0:1], *w.shape[2:4], -1))
        out = {"images": np.stack(images), "text_idx": text_idx, "aux": np.stack(aux),
               "aux_mask": np.stack(aux_mask), "frame_of": np.repeat(np.arange(F), R),
               "state": state, "actions": actions, "mask": mask, "latent_age_s": age}
        if wrist is not None:
            out["wrist"] = np.concatenate(wrist)
        return out
