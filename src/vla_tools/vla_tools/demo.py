"""The main job: run the whole stack in MuJoCo, headless, give it an instruction, report.

    python -m vla_tools.demo --robot franka [--task pick --seed 100000] [--duration-s 20] [--gif out.gif]

Starts every node as its own process (vla-launch machinery) on a private ROS domain, resets the
simulated task, publishes the instruction, runs for ``--duration-s`` of sim time (or until the
task succeeds), stops every process and prints a summary: what ran, the rates each stage achieved
(sim time), System 2 / System 1 latencies, safety states, task result and where the logs are.
Exit code 0 when data flowed through every stage and no required node died.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from vla_common.config import find_config_dir, load_robot_config, load_topics
from vla_common.launcher import StackLauncher
from vla_common.testing import claim_domain_id, graph_env
from vla_tools.evaluate import EVAL_SEED_MIN


def default_model_dir(robot: str, which: str) -> Path:
    return find_config_dir().parent / "models" / robot / which


def run_stack(robot: str = "franka", duration_s: float = 20.0, task: str = "", seed: int = 0,
              instruction: str = "", log_dir: str | os.PathLike | None = None,
              random_init: bool | None = None, stop_on_success: bool = True,
              wall_timeout_s: float | None = None, echo=None, extra_params=None,
              gif_path: str | os.PathLike | None = None) -> dict:
    """Run the stack once and return the summary dict (see ``run_summary.summarize``)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from vla_interfaces.srv import ResetTask

    from vla_tools.ros_stack_monitor import StackMonitor
    from vla_tools.run_summary import summarize

    cfg = load_robot_config(robot, "sim")
    topics = load_topics()
    if random_init is None:  # untrained random weights until shipped weights exist
        random_init = not (default_model_dir(robot, "action_expert") / "model.safetensors").is_file()
    params: dict[str, dict[str, object]] = {}
    if random_init:
        for node in ("vla_planner", "vla_action_expert"):
            params.setdefault(node, {})["allow_random_init"] = True
    for node, p in (extra_params or {}).items():
        params.setdefault(node, {}).update(p)
    domain = claim_domain_id()
    log_dir = Path(log_dir or Path("logs") / f"demo_{robot}_{time.strftime('%Y%m%d-%H%M%S')}")
    launcher = StackLauncher(robot, "sim", log_dir, extra_params=params,
                             env=graph_env(domain), echo=echo)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    monitor = None
    t_wall0 = time.monotonic()
    wall_timeout_s = wall_timeout_s or (duration_s * 15 + 180)
    result: dict = {"robot": robot, "domain_id": domain, "log_dir": str(log_dir),
                    "random_init_weights": random_init}
    executor = gif = None
    try:
        monitor = StackMonitor(cfg, topics, use_sim_time=True, context=ctx)
        executor = SingleThreadedExecutor(context=ctx)  # see run_node: no busy polling
        executor.add_node(monitor)
        if gif_path:
            from vla_tools.ros_gif_recorder import GifRecorder
            gif = GifRecorder(cfg, cfg.cameras[0], context=ctx)
            executor.add_node(gif)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        launcher.start()

        def wait(pred, what: str) -> bool:
            while time.monotonic() - t_wall0 < wall_timeout_s:
                if launcher.poll() is not None:
                    result["failure"] = launcher.failure
                    return False
                if pred():
                    return True
                time.sleep(0.05)
            result["failure"] = f"timed out waiting for {what}"
            return False

        ok = wait(lambda: monitor.record.stages["joint_states"].count > 0, "the simulator's /joint_states")
        if ok and monitor.reset_client.wait_for_service(timeout_sec=30.0):
            fut = monitor.reset_client.call_async(ResetTask.Request(task=task, seed=seed))
            ok = wait(fut.done, "the simulator's reset service")
            if ok:
                resp = fut.result()
                if not resp.success:
                    result["failure"] = f"sim reset failed: {resp.message}"
                    ok = False
                instruction = instruction or resp.instruction
        instruction = instruction or "pick up the red cube"
        result["instruction"] = instruction
        if ok:  # the planner's answer first: a refused instruction would only time out below
            ok = wait(monitor.instruction_client.service_is_ready, "the planner (model loaded)")
        if ok:
            fut = monitor.ask_planner(instruction)
            ok = wait(fut.done, "the planner's set_instruction service")
            if ok:
                result["planner_answer"] = fut.result().message
                if not fut.result().success:
                    result["failure"] = f"the planner refused the instruction: {fut.result().message}"
                    ok = False
        if ok:
            monitor.set_instruction(instruction)
            # Models load for several seconds (longer on a loaded machine): the timed window
            # starts once both systems produce, at the first latent AND the first action chunk.
            ok = wait(lambda: monitor.record.stages["latent"].count > 0
                      and monitor.record.stages["action_chunk"].count > 0,
                      "the first System 2 latent and System 1 action chunk")
            result["startup_wall_s"] = round(time.monotonic() - t_wall0, 2)
        if ok:
            t_sim0 = monitor.now_s()
            ok = wait(lambda: monitor.now_s() - t_sim0 >= duration_s
                      or (stop_on_success and bool(monitor.record.task.get("success"))),
                      f"{duration_s} s of sim time")
            result["sim_time_s"] = round(monitor.now_s() - t_sim0, 3)
        result["wall_time_s"] = round(time.monotonic() - t_wall0, 2)
    finally:
        launcher.stop()
        result["nodes"] = {c.spec.name: {"exit_codes": c.exit_codes + ([c.proc.returncode] if c.proc else []),
                                         "respawns": c.respawns} for c in launcher.children}
        result["children_left"] = [pid for pid in launcher.pids() if _alive(pid)]
        if executor is not None:
            executor.shutdown()
        if gif is not None:
            saved = gif.save(gif_path)
            result["gif"] = str(saved) if saved else None
            gif.destroy_node()
        if monitor is not None:
            with monitor.lock:
                result.update(summarize(monitor.record))
            monitor.destroy_node()
        rclpy.try_shutdown(context=ctx)
    result["ok"] = bool(result.get("data_flowed")) and "failure" not in result
    (Path(log_dir) / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def print_summary(r: dict, out=sys.stdout) -> None:
    w = out.write
    w("\n=== VLA stack demo summary ===\n")
    w(f"robot {r['robot']}  instruction: {r.get('instruction')!r}\n")
    if r.get("planner_answer"):
        w(f"planner: instruction {r['planner_answer']}\n")
    if r.get("random_init_weights"):
        w("models: UNTRAINED random-init weights (no shipped checkpoint found)\n")
    w(f"sim time {r.get('sim_time_s')} s in wall time {r.get('wall_time_s')} s\n")
    w("stage                 count   rate_hz (sim)  p99 period ms\n")
    for name, s in r.get("stages", {}).items():
        w(f"  {name:20s} {s['count']:7d}   {s['rate_hz']:10.2f}   {s['period_p99_ms']}\n")
    w(f"System 2 latent compute ms: {r.get('latent_compute_ms')}\n")
    w(f"System 1 chunk inference ms: {r.get('chunk_inference_ms')}\n")
    w(f"safety states seen: {', '.join(r.get('safety_states', [])) or 'none'} "
      f"({r.get('safety_transitions', 0)} transitions, final {r.get('final_safety_state')})\n")
    w(f"joints moved: {r.get('joints_moved')} (max travel {r.get('max_joint_travel_rad')} rad)\n")
    w(f"task: {r.get('task')}\n")
    if r.get("failure"):
        w(f"FAILURE: {r['failure']}\n")
    if r.get("missing_stages"):
        w(f"stages with no messages: {r['missing_stages']}\n")
    if r.get("gif"):
        w(f"scene camera GIF: {r['gif']}\n")
    w(f"logs: {r['log_dir']} (summary.json, one <node>.log per process)\n")
    w(f"result: {'OK' if r['ok'] else 'FAILED'}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vla-demo", description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="franka", choices=["franka", "aloha"])
    ap.add_argument("--task", default="", help="sim task name (default: the sim's default)")
    ap.add_argument("--seed", type=int, default=EVAL_SEED_MIN,
                    help="scene seed (default: the first evaluation seed, a scene never trained on)")
    ap.add_argument("--instruction", default="", help="override the task's instruction")
    ap.add_argument("--duration-s", type=float, default=20.0, help="sim seconds to run")
    ap.add_argument("--log-dir", default=None)
    ap.add_argument("--quiet", action="store_true", help="do not echo node output")
    ap.add_argument("--gif", default=None, help="save the scene camera as a GIF here")
    ap.add_argument("--real-time-factor", type=float, default=1.0,
                    help="the simulator's pace; on a 2-core machine the whole stack cannot keep "
                         "its rates at 1.0 (commands arrive late, the safety gate stops grasps "
                         "more often); 0.3 gives every node its rate in sim time")
    a = ap.parse_args(argv)
    r = run_stack(a.robot, a.duration_s, a.task, a.seed, a.instruction, a.log_dir,
                  echo=None if a.quiet else sys.stdout, gif_path=a.gif,
                  extra_params={"vla_sim": {"real_time_factor": a.real_time_factor}})
    print_summary(r)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
