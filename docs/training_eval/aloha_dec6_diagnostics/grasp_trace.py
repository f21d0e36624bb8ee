"""Diagnostic (Dec 6): where the giving ALOHA arm's gripper first closes, relative to the cube,
in in-process closed-loop episodes at the nodes' rates (async).

    python docs/training_eval/aloha_dec6_diagnostics/grasp_trace.py models/aloha out.jsonl 100000 100050
    python docs/training_eval/aloha_dec6_diagnostics/grasp_trace.py --summary out.jsonl

One line per episode: success, whether the cube was lifted, the giving arm,
``tcp_minus_cube`` (m, world frame) at the first close after the gripper opened, and
``n_closes`` (how often the giving gripper closed: > 1 after a retry; traces from Dec 6 lack it). The cube's
centre is 2 cm above the table; the scripted demonstrations close with the TCP 0.5-1.3 cm above it.
"""
import json
import sys

import numpy as np


def trace(models: str, out: str, s0: int, s1: int) -> None:
    import torch

    from vla_tools.training_rollout import RolloutConfig, make_inproc_stack

    torch.set_num_threads(1)
    # chunk execution as the node runs it (config/aloha_sim.yaml; rtc for the traces before Dec 6, fifth)
    stack = make_inproc_stack("aloha", f"{models}/planner", f"{models}/action_expert")
    env = stack.env
    rcfg = RolloutConfig.from_params("aloha", "async")
    names = list(env.command_names)
    samples = []  # (t, tcp per arm, gripper per arm, cube) every 20 ms of sim time
    step = env.step

    def traced_step(n=1):
        step(n)
        if not samples or env.time_s - samples[-1][0] >= 0.02:
            q = env.joint_positions()
            samples.append((env.time_s, {s: env.data.site(f"vx300s_{s}/tcp").xpos.copy() for s in ("left", "right")},
                            {s: float(q[names.index(f"{s}_gripper")]) for s in ("left", "right")},
                            env._ctx.body_pos("cube").copy()))

    env.step = traced_step
    with open(out, "w") as f:
        for seed in range(s0, s1):
            samples.clear()
            r = stack.run_episode("transfer_cube", seed, None, rcfg)
            g = env.task_params["from_arm"]
            w = np.array([s[2][g] for s in samples])
            i_open = int(np.argmax(w > 0.8 * w[: max(1, len(w) // 3)].max()))
            closes = np.where(w[i_open:] < w[i_open] - 0.6 * (w[i_open] - w.min()))[0]
            rec = {"seed": seed, "success": r.success, "lifted": bool(r.extra["lifted_objects"]),
                   "giver": g, "cube_xy": env.task_params["xy"]}
            # closes of the giving gripper (a retry re-opens and closes again): downward
            # crossings of the middle of its width range after it first opened
            mid = 0.5 * (w[i_open:].max() + w[i_open:].min())
            rec["n_closes"] = int(np.sum((w[i_open:-1] >= mid) & (w[i_open + 1:] < mid)))
            if len(closes):
                t, tcp, _, cube = samples[i_open + int(closes[0])]
                rec.update(close_t=round(t - samples[0][0], 2),
                           tcp_minus_cube=[round(float(v), 4) for v in tcp[g] - cube])
            f.write(json.dumps(rec) + "\n")
            f.flush()


def summary(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    for name, keep in (("success", lambda r: r["success"]),
                       ("lifted, no handover", lambda r: r["lifted"] and not r["success"]),
                       ("never lifted", lambda r: not r["lifted"])):
        sel = [r for r in rows if keep(r) and "tcp_minus_cube" in r]
        if not sel:
            continue
        d = np.array([r["tcp_minus_cube"] for r in sel])
        print(f"{name}: {len(sel)} episodes, right arm giving in {sum(r['giver'] == 'right' for r in sel)}; "
              f"TCP at first close: {np.median(d[:, 2]) * 100:.1f} cm above the cube centre (median), "
              f"{np.median(np.linalg.norm(d[:, :2], axis=1)) * 100:.1f} cm beside it (median)"
              + (f"; closed the giving gripper more than once in {sum(r['n_closes'] > 1 for r in sel)}"
                 if all("n_closes" in r for r in sel) else ""))


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        trace(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
