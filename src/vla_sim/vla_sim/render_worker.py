"""Rendering in a separate process (ROS-free), so software rendering (OSMesa) runs on another
core instead of competing with the physics thread for the Python GIL.

The worker builds the same scene (deterministic MJCF), receives the physics state (qpos) plus
the model arrays a reset randomizes (colours, camera poses, lights), runs kinematics and
renders. Requests and replies go over a pipe; the caller blocks in ``recv`` (GIL released).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback

import numpy as np

# Model fields that task resets change at run time and the worker must mirror.
MODEL_FIELDS = ("geom_rgba", "cam_pos", "cam_quat", "light_diffuse", "light_dir")


def model_state(model) -> dict[str, np.ndarray]:
    out = {f: getattr(model, f).copy() for f in MODEL_FIELDS}
    out["headlight_ambient"] = model.vis.headlight.ambient.copy()
    return out


def _worker(robot: str, mode: str, config_dir: str | None, model_path: str | None, conn) -> None:
    # Ctrl-C reaches the whole process group: the parent ends this worker (None / closed pipe),
    # so a SIGINT here would only print a traceback mid-shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    try:
        import mujoco

        from vla_common.config import load_robot_config
        from vla_sim.factory import make_scene_spec
        spec = make_scene_spec(load_robot_config(robot, mode, config_dir), model_path)
        model = spec.model
        data = mujoco.MjData(model)
        renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        conn.send(("ready", None))
    except Exception:  # noqa: BLE001 - report to the parent, which raises with this text
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            break
        if msg is None:
            break
        try:
            qpos, mstate, requests = msg
            if mstate is not None:
                for f in MODEL_FIELDS:
                    getattr(model, f)[:] = mstate[f]
                model.vis.headlight.ambient[:] = mstate["headlight_ambient"]
            data.qpos[:] = qpos
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            mujoco.mj_camlight(model, data)
            out = []
            for cam, w, h in requests:
                r = renderers.get((w, h))
                if r is None:
                    r = renderers[(w, h)] = mujoco.Renderer(model, h, w)
                r.update_scene(data, camera=spec.cameras[cam])
                out.append(r.render().copy())
            conn.send(("ok", out))
        except Exception:  # noqa: BLE001
            conn.send(("error", traceback.format_exc()))
    for r in renderers.values():
        r.close()


class RenderWorker:
    """Owns the render process.

    Raises:
        RuntimeError: the worker failed to build the scene or to render (with its traceback).
    """

    def __init__(self, robot: str, mode: str, config_dir: str | None = None,
                 model_path: str | None = None, start_timeout_s: float = 120.0):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, args=(robot, mode, config_dir, model_path, child),
                                 name="vla_sim_render", daemon=True)
        self._proc.start()
        child.close()
        try:
            if not self._conn.poll(start_timeout_s):
                raise EOFError
            kind, payload = self._conn.recv()
        except EOFError:
            self.close()
            raise RuntimeError("render worker did not start (exit code "
                               f"{self._proc.exitcode})") from None
        if kind != "ready":
            self.close()
            raise RuntimeError(f"render worker failed:\n{payload}")
        self._sent_version = None

    def render(self, qpos: np.ndarray, model_version: int, mstate: dict | None,
               requests: list[tuple[str, int, int]]) -> list[np.ndarray]:
        """Images for ``requests`` [(camera, width, height)] at ``qpos``. ``mstate`` (from
        ``model_state``) is sent only when ``model_version`` changed."""
        send_m = mstate if model_version != self._sent_version else None
        try:
            self._conn.send((qpos, send_m, requests))
            kind, payload = self._conn.recv()
        except (EOFError, OSError) as e:
            raise RuntimeError(f"render worker died (exit code {self._proc.exitcode}): {e!r}") from e
        if kind != "ok":
            raise RuntimeError(f"render worker error:\n{payload}")
        self._sent_version = model_version
        return payload

    def close(self) -> None:
        try:
            self._conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
