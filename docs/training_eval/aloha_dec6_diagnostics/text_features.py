"""Diagnostic (Dec 6): how far the planner's projected instruction features of unseen phrasings
sit from those of the training phrasings.

    python docs/training_eval/aloha_dec6_diagnostics/text_features.py models/aloha/planner transfer_cube
    python docs/training_eval/aloha_dec6_diagnostics/text_features.py models/franka/planner pick_cube
"""
import sys

import torch

from vla_common.config import find_config_dir
from vla_planner.embedded import EmbeddedBackbone
from vla_sim.instructions import TRAIN_TEMPLATES
from vla_tools.evaluate import read_instruction_file

COLORS = ("red", "green", "blue", "yellow", "orange", "purple")
ARMS = (("left", "right"), ("right", "left"))


def fill(templates):
    return sorted({t.format(color=c, from_arm=f, to_arm=to) for t in templates for c in COLORS
                   for f, to in ARMS})


def main(planner_dir: str, task: str) -> None:
    bb = EmbeddedBackbone.from_pretrained(planner_dir)
    proj = bb.model.text_proj
    train = fill(TRAIN_TEMPLATES[task])
    held = fill(read_instruction_file(find_config_dir() / "instructions" / "heldout.txt")[task])
    with torch.no_grad():
        et, eh = bb.text.encode_batch(train), bb.text.encode_batch(held)
        ft, fh = proj(et), proj(eh)
        d_text = torch.cdist(eh, et).min(1).values.median()
        d_train = torch.cdist(et, et).topk(2, largest=False).values[:, 1].median()
    print(f"{planner_dir} {task}: {len(train)} training strings, {len(held)} held-out strings")
    print(f"  text-encoder distance to the nearest training string: held-out {d_text:.3f}, "
          f"training {d_train:.3f}")
    print(f"  projected feature norm: training {ft.norm(dim=1).mean():.1f}, held-out "
          f"{fh.norm(dim=1).mean():.1f}; projection Frobenius norm {proj.weight.norm():.0f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
