"""Diagnostic (Dec 6, fifth): success of one checkpoint with a given chunk-execution setting,
in process at the nodes' rates (async), on validation seeds (not the reported evaluation seeds).

    python docs/training_eval/aloha_dec6_diagnostics/strategy_sweep/sweep.py models/aloha aloha transfer_cube 200000 200050 out.jsonl '{"strategy": "ensemble"}'

argv: models root, robot, task, first seed, end seed (exclusive), output jsonl, ExecutorConfig
fields as JSON (default {}: rtc), RolloutConfig overrides as JSON. The files here are v8's runs
(ALOHA rtc / rtc2 / rtc3 and ens / ens2 / ens3: seeds 200000-49, -99, -199; naive: 200000-99;
Franka v8 pick: 200000-99).
"""
import json
import sys

import torch

from vla_action_expert.executor import ExecutorConfig
from vla_tools.training_rollout import RolloutConfig, make_inproc_stack

models, robot, task, s0, s1, out = sys.argv[1:7]
ekw = json.loads(sys.argv[7]) if len(sys.argv) > 7 else {}
rkw = json.loads(sys.argv[8]) if len(sys.argv) > 8 else {}
torch.set_num_threads(1)
stack = make_inproc_stack(robot, f"{models}/planner", f"{models}/action_expert",
                          executor_config=ExecutorConfig(**ekw))
rc = RolloutConfig.from_params(robot, "async", **rkw)
n = ok = 0
with open(out, "w") as f:
    for s in range(int(s0), int(s1)):
        d = stack.run_episode(task, s, None, rc).to_json()
        f.write(json.dumps({"seed": s, "success": d["success"]}) + "\n")
        f.flush()
        n += 1
        ok += bool(d["success"])
print(f"{ekw} {rkw}: {ok}/{n}")
