"""SimEnv: the ROS-free simulator core (MuJoCo physics, joint controllers, tasks, rendering).

The bridge node, the scripted experts, the demo recorder and the tests all drive this object.
Arm joints are torque-driven motors; the simulated ros2_control position controller is a PD
(gravity is compensated by the model, as the real arms do in firmware). Each command output of
the robot config (one forward command controller) has a ``CommandGate``; when its commands go
stale the arm joints hold the position they had at that moment (PD, damped) and grippers keep
their last target (so a held object is not dropped).
"""
from __future__ import annotations

import threading
from typing import Sequence

import mujoco
import numpy as np

from vla_sim.command_gate import CommandError, CommandGate, GateSpec
from vla_sim.scene_spec import SceneSpec
from vla_sim.sim_config import TASK_CHECK_PERIOD_STEPS
from vla_sim.tasks import LIFT_THRESHOLD_M, Task, TaskContext, wrong_lifted_objects

SETTLE_STEPS = 50  # physics steps after a reset so objects rest on the table (time not advanced)


class SimEnv:
    """One simulated robot scene with tasks.

    Args:
        spec: compiled scene and name mapping.
        outputs: the robot's command outputs (forward command controllers), in config order.
        tasks: task name -> Task.
        command_timeout_s: commands older than this (sim time) are stale -> hold.
        lift_threshold_m: a task object this much above its height at reset counts as lifted.
        task_check_period_steps: ``step`` latches lifted objects every this many physics steps.
    Raises:
        ValueError: outputs name unknown joints, or an effort output includes a gripper, or
            task_check_period_steps < 1.
    """

    def __init__(self, spec: SceneSpec, outputs: Sequence[GateSpec], tasks: dict[str, Task],
                 command_timeout_s: float = 0.1, lift_threshold_m: float = LIFT_THRESHOLD_M,
                 task_check_period_steps: int = TASK_CHECK_PERIOD_STEPS):
        if int(task_check_period_steps) < 1:
            raise ValueError("task_check_period_steps must be >= 1")
        self.spec = spec
        self.lift_threshold_m = float(lift_threshold_m)
        self.task_check_period_steps = int(task_check_period_steps)
        self._n_steps = 0  # step() physics steps since construction (lift-check cadence)
        self.model = spec.model
        self.data = mujoco.MjData(self.model)
        self.tasks = dict(tasks)
        self.lock = threading.RLock()
        m = self.model
        jid = [self._id(mujoco.mjtObj.mjOBJ_JOINT, n) for n in spec.arm_mj_joints]
        self._arm_qadr = np.array([m.jnt_qposadr[j] for j in jid])
        self._arm_vadr = np.array([m.jnt_dofadr[j] for j in jid])
        self._arm_act = np.array([self._id(mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in spec.arm_actuators])
        self._arm_range = m.jnt_range[jid].copy()
        self._grip = []
        for g in spec.grippers:
            fj = [self._id(mujoco.mjtObj.mjOBJ_JOINT, n) for n in g.joints]
            self._grip.append((g, np.array([m.jnt_qposadr[j] for j in fj]),
                               np.array([m.jnt_dofadr[j] for j in fj]),
                               self._id(mujoco.mjtObj.mjOBJ_ACTUATOR, g.actuator)))
        if len({len(g.joints) for g in spec.grippers}) > 1:
            raise ValueError("every gripper needs the same number of finger joints")
        self._finger_qadr = np.array([qa for _, qa, _, _ in self._grip], int).reshape(len(self._grip), -1)
        self._finger_vadr = np.array([va for _, _, va, _ in self._grip], int).reshape(len(self._grip), -1)
        self._width_per_qpos = 1.0 / np.array([g.qpos_per_width for g in spec.grippers], float).reshape(len(self._grip), -1)
        self.command_names = spec.command_names
        self._arm_index = {n: i for i, n in enumerate(spec.arm_joints)}
        self._grip_index = {g.name: i for i, g in enumerate(spec.grippers)}
        known = set(self._arm_index) | set(self._grip_index)
        n_arm = len(spec.arm_joints)
        # command_names order as indices into concat(arm values, gripper values)
        self._cmd_order = np.array([self._arm_index[n] if n in self._arm_index else n_arm + self._grip_index[n]
                                    for n in self.command_names], int)
        self.gates: list[CommandGate] = []
        for o in outputs:
            unknown = [j for j in o.joints if j not in known]
            if unknown:
                raise ValueError(f"{o.topic}: joints {unknown} are not in the simulated robot")
            if o.interface == "effort" and any(j in self._grip_index for j in o.joints):
                raise ValueError(f"{o.topic}: grippers take position (width) commands only")
            self.gates.append(CommandGate(o, command_timeout_s))
        # Per gate: positions in the command of arm joints / grippers and their indices here.
        self._gate_index = []
        for g in self.gates:
            js = g.spec.joints
            arm_k = [k for k, j in enumerate(js) if j in self._arm_index]
            grip_k = [k for k, j in enumerate(js) if j in self._grip_index]
            self._gate_index.append((np.array(arm_k, int), np.array([self._arm_index[js[k]] for k in arm_k], int),
                                     np.array(grip_k, int), np.array([self._grip_index[js[k]] for k in grip_k], int)))
        gs = spec.grippers
        self._grip_lo = np.array([g.width_min_m for g in gs])
        self._grip_hi = np.array([g.width_max_m for g in gs])
        self._grip_speed = np.array([g.speed_max_m_s for g in gs])
        self._grip_ctrl_per_width = np.array([g.ctrl_per_width for g in gs])
        self._grip_act = np.array([a for *_, a in self._grip], int)
        n_arm = len(spec.arm_joints)
        self._tgt_q = spec.home_q.astype(float).copy()
        self._effort = np.zeros(n_arm)
        self._effort_mask = np.zeros(n_arm, bool)
        self._seen = [0] * len(outputs)
        self._hold_q = spec.home_q.astype(float).copy()
        self._holding = [True] * len(self.gates)
        self._grip_goal = np.array([g.width_max_m for g in spec.grippers])
        self._grip_target = self._grip_goal.copy()
        self.task: Task | None = None
        self.task_params: dict = {}
        self.instruction = ""
        self.seed = 0
        self.episode_start_s = 0.0
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self.model_version = 0  # bumped when a reset changes colours, camera poses or lights
        self._ctx = TaskContext(self.model, self.data)
        self._nominal_cam = (m.cam_pos.copy(), m.cam_quat.copy())
        self._nominal_light = (m.light_diffuse.copy(), m.light_dir.copy())
        self.reset(next(iter(self.tasks)) if self.tasks else None, 0)

    def _id(self, kind, name: str) -> int:
        i = mujoco.mj_name2id(self.model, kind, name)
        if i < 0:
            raise ValueError(f"'{name}' not found in the MuJoCo model")
        return i

    # ----------------------------------------------------------------------------- state
    @property
    def time_s(self) -> float:
        return float(self.data.time)

    @property
    def dt_s(self) -> float:
        return float(self.model.opt.timestep)

    def arm_q(self) -> np.ndarray:
        return self.data.qpos[self._arm_qadr].copy()

    def gripper_widths(self) -> np.ndarray:
        return np.mean(self.data.qpos[self._finger_qadr] * self._width_per_qpos, axis=1)

    def _by_command_names(self, arm: np.ndarray, grip: np.ndarray) -> np.ndarray:
        return np.concatenate([arm, grip])[self._cmd_order]

    def joint_positions(self) -> np.ndarray:
        """Arm joint positions (rad) and gripper widths (m) in ``command_names`` order."""
        return self._by_command_names(self.arm_q(), self.gripper_widths())

    def joint_velocities(self) -> np.ndarray:
        gv = np.mean(self.data.qvel[self._finger_vadr] * self._width_per_qpos, axis=1)
        return self._by_command_names(self.data.qvel[self._arm_vadr], gv)

    def joint_efforts(self) -> np.ndarray:
        """Actuator torques (N m) of the arm joints, gripper actuator force (N)."""
        f = self.data.actuator_force
        return self._by_command_names(f[self._arm_act], f[self._grip_act])

    def snapshot(self) -> dict[str, np.ndarray | float]:
        """Full physics state (copies) for reproducibility checks and logging."""
        return {"time": self.time_s, "qpos": self.data.qpos.copy(), "qvel": self.data.qvel.copy(),
                "geom_rgba": self.model.geom_rgba.copy(), "cam_pos": self.model.cam_pos.copy(),
                "light_diffuse": self.model.light_diffuse.copy()}

    # ----------------------------------------------------------------------------- tasks
    def reset(self, task: str | None = None, seed: int = 0, split: str = "train") -> str:
        """Reset the scene to ``task`` (None/"": keep the current task) with ``seed``.

        Returns:
            The instruction sampled for this episode (``split``: "train" or "heldout" phrasings).
        Raises:
            KeyError: unknown task name.
        """
        from vla_sim.instructions import sample_instruction
        with self.lock:
            if task:
                if task not in self.tasks:
                    raise KeyError(f"unknown task '{task}'; known: {sorted(self.tasks)}")
                self.task = self.tasks[task]
            t_keep = self.data.time
            mujoco.mj_resetData(self.model, self.data)
            rng = np.random.default_rng(int(seed))
            q0 = self.spec.home_q + rng.uniform(-0.05, 0.05, size=self.spec.home_q.shape)
            q0 = np.clip(q0, self._arm_range[:, 0], self._arm_range[:, 1])
            self.data.qpos[self._arm_qadr] = q0
            for gi, (g, qa, _, _) in enumerate(self._grip):
                self._set_gripper_qpos(gi, g.width_max_m)
            self._randomize_render(rng)
            self.model_version += 1
            self.task_params = self.task.reset(self._ctx, rng) if self.task else {}
            self.instruction = (sample_instruction(self.task.name, self.task_params, rng, split)
                                if self.task else "")
            self.seed = int(seed)
            for gate in self.gates:
                gate.clear()
            self._holding = [True] * len(self.gates)
            self._hold_q = q0.copy()
            self._tgt_q = q0.copy()
            self._effort_mask[:] = False
            self._seen = [g.accepted for g in self.gates]
            self._grip_goal = self.gripper_widths()
            self._grip_target = self._grip_goal.copy()
            mujoco.mj_forward(self.model, self.data)
            for _ in range(SETTLE_STEPS):
                self._control()
                mujoco.mj_step(self.model, self.data)
            self.data.time = t_keep
            self.episode_start_s = t_keep
            if self.task:
                self.task.after_settle(self._ctx, self.task_params)
            names = tuple(self.task.lift_objects(self.task_params)) if self.task else ()
            self._lift_names = names
            self._lift_bodies = np.array([self._ctx.body_id(n) for n in names], int)
            self._lift_z0 = self.data.xpos[self._lift_bodies, 2].copy()
            self._lifted: set[str] = set()
            return self.instruction

    def _set_gripper_qpos(self, gi: int, width: float) -> None:
        g, qa, _, _ = self._grip[gi]
        self.data.qpos[qa] = width * np.asarray(g.qpos_per_width)

    def _randomize_render(self, rng: np.random.Generator) -> None:
        m = self.model
        cp, cq = self._nominal_cam
        m.cam_pos[:] = cp + rng.uniform(-0.02, 0.02, size=cp.shape)
        q = cq + rng.uniform(-0.01, 0.01, size=cq.shape)
        m.cam_quat[:] = q / np.linalg.norm(q, axis=1, keepdims=True)
        ld, ldir = self._nominal_light
        m.light_diffuse[:] = np.clip(ld * rng.uniform(0.7, 1.3), 0, 1)
        dj = ldir + rng.uniform(-0.2, 0.2, size=ldir.shape)
        m.light_dir[:] = dj / np.linalg.norm(dj, axis=1, keepdims=True)
        m.vis.headlight.ambient[:] = rng.uniform(0.2, 0.4)

    def success(self) -> bool:
        with self.lock:
            return bool(self.task.success(self._ctx, self.task_params)) if self.task else False

    def update_lifted(self) -> bool:
        """Latch the task's objects (``Task.lift_objects``) that are now more than
        ``lift_threshold_m`` above their height at reset. ``step`` calls it every
        ``task_check_period_steps`` (a few array reads; not every physics step).
        Returns True if the lifted set grew."""
        with self.lock:
            if not len(self._lift_bodies):
                return False
            up = self.data.xpos[self._lift_bodies, 2] - self._lift_z0 > self.lift_threshold_m
            new = {n for n, u in zip(self._lift_names, up) if u} - self._lifted
            self._lifted |= new
            return bool(new)

    def lifted_objects(self) -> list[str]:
        """Sorted names of the objects lifted since the reset (as of the last check, see
        ``update_lifted``); an object lifted and dropped stays in."""
        with self.lock:
            return sorted(self._lifted)

    def wrong_lifted_objects(self) -> list[str]:
        """Lifted objects that are wrong-object picks (``tasks.wrong_lifted_objects``)."""
        with self.lock:
            return wrong_lifted_objects(self._lifted, self.task_params)

    def task_state(self) -> dict:
        """JSON-able task state: task, instruction, seed, success, episode time, parameters,
        lifted objects (updated now, see ``update_lifted``)."""
        with self.lock:
            self.update_lifted()
            return {"task": self.task.name if self.task else "", "instruction": self.instruction,
                    "seed": self.seed, "success": self.success(),
                    "episode_time_s": round(self.time_s - self.episode_start_s, 4),
                    "params": self.task_params, "lifted_objects": self.lifted_objects()}

    # ----------------------------------------------------------------------------- commands
    def submit(self, output_index: int, values, now_s: float | None = None) -> None:
        """Store a command for command output ``output_index`` (its joint order).

        Raises:
            CommandError: wrong length or non-finite values; the previous command stays.
        """
        with self.lock:
            self.gates[output_index].submit(values, self.time_s if now_s is None else now_s)

    def apply_command(self, names: Sequence[str], values, interface: str = "position",
                      now_s: float | None = None) -> None:
        """Command joints by name: ``names`` must be exactly the joints of one command output.

        Raises:
            CommandError: unknown joint names, no output with these joints and interface,
                wrong length or non-finite values.
        """
        names = list(names)
        vals = np.asarray(values, dtype=float).reshape(-1)
        if len(names) != vals.shape[0]:
            raise CommandError(f"{len(names)} names but {vals.shape[0]} values")
        unknown = [n for n in names if n not in self.command_names]
        if unknown:
            raise CommandError(f"unknown joints {unknown}; known: {list(self.command_names)}")
        for i, g in enumerate(self.gates):
            if set(g.spec.joints) == set(names) and len(names) == len(g.spec.joints):
                if g.spec.interface != interface:
                    raise CommandError(f"joints {names} take '{g.spec.interface}' commands, not '{interface}'")
                order = [names.index(j) for j in g.spec.joints]
                self.submit(i, vals[order], now_s)
                return
        raise CommandError(f"no command output controls exactly {names}; outputs: "
                           f"{[list(g.spec.joints) for g in self.gates]}")

    def command_targets(self, names: Sequence[str], values) -> None:
        """Convenience for experts: position targets for every command output at once
        (``names`` = command_names order of ``values``)."""
        vals = np.asarray(values, float)
        idx = {n: k for k, n in enumerate(names)}
        for i, g in enumerate(self.gates):
            self.submit(i, [vals[idx[j]] for j in g.spec.joints])

    # ----------------------------------------------------------------------------- physics
    def _refresh_gate(self, gi: int, stale: bool, q: np.ndarray) -> None:
        """Recompute the per-joint targets of one gate (on a new command or a stale change)."""
        gate = self.gates[gi]
        arm_k, arm_i, grip_k, grip_i = self._gate_index[gi]
        if stale:
            if not self._holding[gi]:
                self._hold_q[arm_i] = q[arm_i]  # latch where the arm is now
            self._tgt_q[arm_i] = self._hold_q[arm_i]
            self._effort_mask[arm_i] = False
        else:
            v = gate.values
            if len(grip_k):
                self._grip_goal[grip_i] = np.clip(v[grip_k], self._grip_lo[grip_i], self._grip_hi[grip_i])
            if gate.spec.interface == "position":
                self._tgt_q[arm_i] = np.clip(v[arm_k], self._arm_range[arm_i, 0], self._arm_range[arm_i, 1])
                self._effort_mask[arm_i] = False
            else:
                self._effort[arm_i] = v[arm_k]
                self._effort_mask[arm_i] = True
        self._holding[gi] = stale
        self._seen[gi] = gate.accepted

    def _control(self) -> None:
        d = self.data
        now = self.time_s
        q = d.qpos[self._arm_qadr]
        for gi, gate in enumerate(self.gates):
            stale = gate.is_stale(now)
            if stale != self._holding[gi] or gate.accepted != self._seen[gi]:
                self._refresh_gate(gi, stale, q)
        tau = self.spec.kp * (self._tgt_q - q) - self.spec.kd * d.qvel[self._arm_vadr]
        tau[self._effort_mask] = self._effort[self._effort_mask]
        d.ctrl[self._arm_act] = tau
        step = self._grip_speed * self.dt_s
        self._grip_target += np.clip(self._grip_goal - self._grip_target, -step, step)
        d.ctrl[self._grip_act] = self._grip_target * self._grip_ctrl_per_width

    def step(self, n: int = 1) -> None:
        """Advance the physics ``n`` steps (each ``dt_s``), applying the joint controllers;
        every ``task_check_period_steps`` steps the lifted objects are latched."""
        with self.lock:
            for _ in range(int(n)):
                self._control()
                mujoco.mj_step(self.model, self.data)
                self._n_steps += 1
                if self._n_steps % self.task_check_period_steps == 0:
                    self.update_lifted()

    # ----------------------------------------------------------------------------- rendering
    def render(self, camera: str, width: int, height: int) -> np.ndarray:
        """RGB image (height, width, 3) uint8 from config camera ``camera``.

        The OpenGL context belongs to the calling thread: call from one thread only. The
        physics lock is held only while the scene is copied, not while it is drawn.
        Raises:
            KeyError: unknown camera.
        """
        if camera not in self.spec.cameras:
            raise KeyError(f"unknown camera '{camera}'; known: {sorted(self.spec.cameras)}")
        key = (int(width), int(height))
        r = self._renderers.get(key)
        if r is None:
            r = self._renderers[key] = mujoco.Renderer(self.model, key[1], key[0])
        with self.lock:
            r.update_scene(self.data, camera=self.spec.cameras[camera])
        return r.render().copy()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
