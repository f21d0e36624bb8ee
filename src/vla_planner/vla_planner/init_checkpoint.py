"""Write a random-init planner checkpoint through the same save path trained weights use.

  python -m vla_planner.init_checkpoint --robot franka --out DIR [--seed N] [--latent-dim 128]
  python -m vla_planner.init_checkpoint --robot franka --out DIR --hf-model-dir VLM_DIR \
      [--hidden-layers -1 -2] [--pooling mean] [--dtype float32]

Without --hf-model-dir: the embedded default (config.json + model.safetensors). With it: an
``hf_vlm`` checkpoint whose projection is random and whose backbone is the given local
transformers directory (model + processor written with save_pretrained).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vla_common.config import ConfigError, load_robot_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latent-dim", type=int, default=128)
    ap.add_argument("--config-dir", default=None)
    ap.add_argument("--hf-model-dir", default="")
    ap.add_argument("--hidden-layers", type=int, nargs="+", default=[-1])
    ap.add_argument("--pooling", default="mean")
    ap.add_argument("--dtype", default="float32")
    a = ap.parse_args(argv)
    try:
        robot = load_robot_config(a.robot, "sim", a.config_dir)
        out = Path(a.out)
        if a.hf_model_dir:
            from vla_planner.hf_backbone import HFBackboneConfig, write_hf_checkpoint  # noqa: PLC0415
            cfg = HFBackboneConfig(latent_dim=a.latent_dim, cameras=robot.cameras, robot=a.robot,
                                   hf_model_dir=str(Path(a.hf_model_dir).resolve()),
                                   hidden_layers=tuple(a.hidden_layers), pooling=a.pooling,
                                   dtype=a.dtype)
            write_hf_checkpoint(out, cfg, seed=a.seed)
        else:
            import torch  # noqa: PLC0415

            from vla_planner.embedded import EmbeddedPlanner, EmbeddedPlannerConfig  # noqa: PLC0415
            cfg = EmbeddedPlannerConfig(latent_dim=a.latent_dim, cameras=robot.cameras, robot=a.robot)
            torch.manual_seed(a.seed)
            EmbeddedPlanner(cfg).save_pretrained(out)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
