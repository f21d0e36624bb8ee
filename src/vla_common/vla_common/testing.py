"""Test helpers (ROS-free): a ROS_DOMAIN_ID of its own for every graph test.

Parallel test runs (and leftover processes) on one machine must not talk into each other's
graphs: ``claim_domain_id`` takes an exclusive file lock on one id in 1..200 and holds it for the
life of the calling process.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_HELD: dict[int, object] = {}


def claim_domain_id(start: int = 1, stop: int = 200) -> int:
    """Lock and return a free ROS domain id (held until this process exits).

    Raises:
        RuntimeError: every id in [start, stop) is taken.
    """
    d = Path(tempfile.gettempdir()) / "vla_ros_domains"
    d.mkdir(exist_ok=True)
    first = start + (os.getpid() % (stop - start))
    for k in range(stop - start):
        i = start + (first - start + k) % (stop - start)
        if i in _HELD:
            continue
        f = open(d / f"{i}.lock", "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _HELD[i] = f
        return i
    raise RuntimeError(f"no free ROS domain id in [{start}, {stop})")


def graph_env(domain_id: int) -> dict[str, str]:
    """Environment for child node processes of a test graph."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1", MUJOCO_GL=env.get("MUJOCO_GL", "osmesa"),
               PYOPENGL_PLATFORM=env.get("PYOPENGL_PLATFORM", "osmesa"))
    return env


def stop_process(proc, timeout_s: float = 20.0) -> int:
    """Stop a node process like Ctrl-C would: SIGINT, then SIGKILL if it has not exited
    within ``timeout_s``. Returns its exit code."""
    import signal
    import subprocess
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
