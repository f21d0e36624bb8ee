"""Process launcher for the pip-only path (no ``launch_ros`` here): one OS process per node.

Starts the node set of ``config/stack.yaml`` with ``--ros-args --params-file
config/<robot>_<mode>.yaml``, prefixes and files each node's output, respawns nodes marked so,
and on Ctrl-C/SIGTERM stops every child (SIGINT, then SIGTERM, then SIGKILL). If a required
node dies the whole stack is stopped and the exit code is non-zero. ROS-free.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

import yaml

from vla_common.config import ConfigError, find_config_dir
from vla_common.stack import NodeSpec, load_stack, params_file


@dataclass
class _Child:
    spec: NodeSpec
    proc: subprocess.Popen | None = None
    respawns: int = 0
    exit_codes: list[int] = field(default_factory=list)
    next_start_s: float | None = None


class StackLauncher:
    """Start, watch and stop the stack's node processes.

    Args:
        robot: robot name (``config/robots/<robot>.yaml``).
        mode: run mode (``sim``, ``hw``, ...).
        log_dir: where ``<node>.log`` files go.
        extra_params: ``{node_name: {param: value}}`` appended as ``-p`` overrides.
        only: restrict to these node names (default: every node of the mode).
        env: extra environment for the children.
        echo: write prefixed child output here (None: only to log files).
    """

    def __init__(self, robot: str, mode: str, log_dir: str | os.PathLike,
                 config_dir: str | os.PathLike | None = None,
                 extra_params: dict[str, dict[str, object]] | None = None,
                 only: list[str] | None = None, env: dict[str, str] | None = None,
                 echo: TextIO | None = sys.stdout, params_path: str | os.PathLike | None = None):
        self.config_dir = find_config_dir(config_dir)
        self.params_path = Path(params_path) if params_path else params_file(robot, mode, self.config_dir)
        specs = load_stack(mode, self.config_dir)
        if only:
            unknown = set(only) - {s.name for s in specs}
            if unknown:
                raise ConfigError(f"unknown node(s) {sorted(unknown)}; known: {[s.name for s in specs]}")
            specs = [s for s in specs if s.name in only]
        self.children = [_Child(s) for s in specs]
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_params = extra_params or {}
        self.env = dict(os.environ)
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.env["VLA_CONFIG_DIR"] = str(self.config_dir)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env.update(env or {})
        self.echo = echo
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def command(self, spec: NodeSpec) -> list[str]:
        cmd = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}",
               "--params-file", str(self.params_path)]
        overrides = self.extra_params.get(spec.name)
        if overrides:
            # A `-p` override counts as a wildcard and loses to the node's own section of the
            # params file; a second params file with a node section wins (later file, same key).
            path = self.log_dir / f"{spec.name}.overrides.yaml"
            path.write_text(yaml.safe_dump({spec.name: {"ros__parameters": {
                k: _typed(v) for k, v in overrides.items()}}}))
            cmd += ["--params-file", str(path)]
        return cmd

    def _pump(self, child: _Child, stream, log: TextIO) -> None:
        for line in iter(stream.readline, ""):
            log.write(line)
            log.flush()
            if self.echo is not None:
                with self._lock:
                    self.echo.write(f"[{child.spec.name}] {line}")
                    self.echo.flush()
        stream.close()

    def _start(self, child: _Child) -> None:
        log = open(self.log_dir / f"{child.spec.name}.log", "a")
        child.proc = subprocess.Popen(
            self.command(child.spec), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, env=self.env, start_new_session=True)
        t = threading.Thread(target=self._pump, args=(child, child.proc.stdout, log), daemon=True)
        t.start()
        self._threads.append(t)
        child.next_start_s = None

    def start(self) -> None:
        for c in self.children:
            self._start(c)

    def poll(self, now_s: float | None = None) -> str | None:
        """Check children once; respawn or fail as configured. Returns the failure or None."""
        now_s = time.monotonic() if now_s is None else now_s
        for c in self.children:
            if c.proc is None:
                if c.next_start_s is not None and now_s >= c.next_start_s:
                    self._start(c)
                continue
            rc = c.proc.poll()
            if rc is None:
                continue
            c.exit_codes.append(rc)
            c.proc = None
            if c.spec.respawn and c.respawns < c.spec.max_respawns:
                c.respawns += 1
                c.next_start_s = now_s + c.spec.respawn_delay_s
                self._say(f"node {c.spec.name} exited with code {rc}; respawn "
                          f"{c.respawns}/{c.spec.max_respawns} in {c.spec.respawn_delay_s:.1f} s")
            elif c.spec.required:
                self.failure = (f"required node {c.spec.name} exited with code {rc} "
                                f"(log: {self.log_dir / (c.spec.name + '.log')})")
                self._say(self.failure)
                return self.failure
            else:
                self._say(f"optional node {c.spec.name} exited with code {rc}; not restarted")
        return None

    def alive(self) -> dict[str, bool]:
        return {c.spec.name: c.proc is not None and c.proc.poll() is None for c in self.children}

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self.children if c.proc is not None]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every child: SIGINT, then SIGTERM, then SIGKILL to its process group."""
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
            if not running:
                break
            for c in running:
                try:
                    os.killpg(c.proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            for c in running:
                try:
                    c.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for c in self.children:
            if c.proc is not None:
                # a whole process group may hold grandchildren: make sure none outlive us
                try:
                    os.killpg(c.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                c.proc.wait()
        for t in self._threads:
            t.join(timeout=2.0)

    def run(self, duration_s: float | None = None, poll_period_s: float = 0.1,
            until: Callable[[], bool] | None = None) -> int:
        """Start, watch until Ctrl-C/SIGTERM, ``duration_s``, ``until()`` or a required death."""
        stop_requested = threading.Event()

        def _on_signal(signum, _frame):
            self._say(f"received {signal.Signals(signum).name}: stopping the stack")
            stop_requested.set()

        old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            t0 = time.monotonic()
            while not stop_requested.is_set():
                if self.poll() is not None:
                    break
                if duration_s is not None and time.monotonic() - t0 >= duration_s:
                    break
                if until is not None and until():
                    break
                stop_requested.wait(poll_period_s)
        finally:
            self.stop()
            for s, h in old.items():
                signal.signal(s, h)
        return 1 if self.failure else 0

    def _say(self, msg: str) -> None:
        if self.echo is not None:
            with self._lock:
                self.echo.write(f"[vla-launch] {msg}\n")
                self.echo.flush()


def _typed(v: object) -> object:
    """Command-line strings are parsed as YAML scalars/lists (``4.0`` -> float, ``true`` -> bool)."""
    if isinstance(v, str):
        try:
            return yaml.safe_load(v)
        except yaml.YAMLError:
            return v
    return list(v) if isinstance(v, tuple) else v


def parse_overrides(items: list[str]) -> dict[str, dict[str, str]]:
    """``node:param:=value`` strings -> ``{node: {param: value}}``.

    Raises:
        ValueError: an item is not of that form.
    """
    out: dict[str, dict[str, str]] = {}
    for it in items:
        head, sep, value = it.partition(":=")
        node, sep2, param = head.partition(":")
        if not sep or not sep2 or not node or not param:
            raise ValueError(f"override '{it}' is not of the form node:param:=value")
        out.setdefault(node, {})[param] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vla-launch", description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--mode", default="sim")
    ap.add_argument("--config-dir", default=None)
    ap.add_argument("--params-file", default=None, help="override config/<robot>_<mode>.yaml")
    ap.add_argument("--log-dir", default=None, help="default: logs/<robot>_<mode>_<time>")
    ap.add_argument("--duration-s", type=float, default=None, help="stop after this long")
    ap.add_argument("--only", nargs="*", default=None, help="start only these nodes")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="NODE:PARAM:=VALUE", help="parameter override (repeatable)")
    a = ap.parse_args(argv)
    try:
        log_dir = a.log_dir or os.path.join(
            "logs", f"{a.robot}_{a.mode}_{time.strftime('%Y%m%d-%H%M%S')}")
        launcher = StackLauncher(a.robot, a.mode, log_dir, a.config_dir,
                                 extra_params=parse_overrides(a.overrides), only=a.only,
                                 params_path=a.params_file)
    except (ConfigError, ValueError) as e:
        print(f"vla-launch: error: {e}", file=sys.stderr)
        return 2
    print(f"[vla-launch] starting {[c.spec.name for c in launcher.children]} "
          f"with {launcher.params_path}; logs in {launcher.log_dir}", flush=True)
    rc = launcher.run(a.duration_s)
    print(f"[vla-launch] stopped (exit {rc}); logs in {launcher.log_dir}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
