"""ALOHA tasks: cube transfer between the arms and peg insertion (ROS-free)."""
from __future__ import annotations

import numpy as np

from vla_sim.scenes.common import PALETTE
from vla_sim.tasks import Task, TaskContext, _jitter

# Unused objects rest on the floor under the table top, hidden from the cameras.
PARK = {"cube": (0.0, 0.6, -0.73), "peg": (0.15, 0.6, -0.74), "socket": (-0.15, 0.6, -0.73)}


def _park(ctx: TaskContext, *bodies: str) -> None:
    for b in bodies:
        ctx.set_free_pose(b, PARK[b])


class TransferCube(Task):
    """One arm picks the cube from its side of the table and hands it to the other arm.

    Success: the receiving arm's fingers touch the cube, the giving arm's do not, and the cube is
    lifted (not on the table)."""
    name = "transfer_cube"
    max_duration_s = 10.0

    def lift_objects(self, params):
        return ("cube",)  # peg and socket are parked under the table

    def reset(self, ctx, rng):
        from_arm = "right" if rng.random() < 0.5 else "left"
        sgn = 1.0 if from_arm == "right" else -1.0
        xy = (sgn * rng.uniform(0.08, 0.2), rng.uniform(0.42, 0.58))
        ctx.set_free_pose("cube", (*xy, 0.02), 0.0)
        colors = list(PALETTE)
        color = colors[int(rng.integers(len(colors)))]
        ctx.set_rgba("cube", _jitter(PALETTE[color], rng))
        _park(ctx, "peg", "socket")
        return {"from_arm": from_arm, "to_arm": "left" if from_arm == "right" else "right",
                "color": color, "xy": [round(float(v), 4) for v in xy]}

    def success(self, ctx, params):
        cube = ctx.body_geoms("cube")
        to_f = _fingers(ctx, params["to_arm"])
        from_f = _fingers(ctx, params["from_arm"])
        return bool(ctx.body_pos("cube")[2] > 0.06 and ctx.in_contact(cube, to_f)
                    and not ctx.in_contact(cube, from_f))


def _fingers(ctx: TaskContext, side: str) -> set[int]:
    return ctx.body_geoms(f"vx300s_{side}/left_finger_link") | ctx.body_geoms(f"vx300s_{side}/right_finger_link")


class Insertion(Task):
    """Left arm picks the socket, right arm the peg; the peg goes into the socket until it
    touches the pin inside. Success: peg touches the pin with both objects off the table."""
    name = "insertion"
    max_duration_s = 10.0

    def lift_objects(self, params):
        return ("peg", "socket")  # the cube is parked under the table

    def reset(self, ctx, rng):
        peg = (rng.uniform(0.1, 0.2), rng.uniform(0.42, 0.58))
        sock = (rng.uniform(-0.2, -0.1), rng.uniform(0.42, 0.58))
        ctx.set_free_pose("peg", (*peg, 0.01), 0.0)
        ctx.set_free_pose("socket", (*sock, 0.02), 0.0)
        _park(ctx, "cube")
        ctx.set_rgba("peg", _jitter(PALETTE["red"], rng))
        blue = _jitter(PALETTE["blue"], rng)
        for i in range(4):
            ctx.set_rgba(f"socket_{i}", blue)
        return {"peg_xy": [round(float(v), 4) for v in peg], "socket_xy": [round(float(v), 4) for v in sock]}

    def success(self, ctx, params):
        touching = ctx.in_contact(ctx.body_geoms("peg"), {ctx.geom_id("pin")})
        return bool(touching and ctx.body_pos("peg")[2] > 0.05 and ctx.body_pos("socket")[2] > 0.05)


def aloha_tasks() -> dict[str, Task]:
    return {t.name: t for t in (TransferCube(), Insertion())}
