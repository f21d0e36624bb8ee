"""Validation of incoming commands and the stale-command hold (ROS-free).

One ``CommandGate`` per ros2_control forward command controller (one ``command_outputs`` entry):
it checks length and finiteness, keeps the newest valid command with its time, and reports
``stale`` once no valid command arrived for ``timeout_s`` (then the simulated arm holds its
position, damped, as a real arm's controller does). Time is passed in (``now_s``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CommandError(ValueError):
    """A command was rejected (wrong length, non-finite, unknown joint, unknown interface)."""


@dataclass(frozen=True)
class GateSpec:
    """One command output: topic (for messages), interface, joint names in command order."""
    topic: str
    interface: str  # "position" | "effort"
    joints: tuple[str, ...]


class CommandGate:
    """Holds the newest valid command of one controller.

    Args:
        spec: the controller's topic, interface and joint order.
        timeout_s: a command older than this is stale (> 0).
    Raises:
        ValueError: bad interface or timeout.
    """

    def __init__(self, spec: GateSpec, timeout_s: float):
        if spec.interface not in ("position", "effort"):
            raise ValueError(f"{spec.topic}: interface must be position or effort, got {spec.interface!r}")
        if not (np.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be finite and > 0, got {timeout_s}")
        self.spec = spec
        self.timeout_s = float(timeout_s)
        self.values: np.ndarray | None = None
        self.stamp_s: float | None = None
        self.rejected = 0
        self.accepted = 0

    def submit(self, values, now_s: float) -> np.ndarray:
        """Validate and store a command.

        Args:
            values: sequence of floats in ``spec.joints`` order.
            now_s: receive time (sim or wall clock, the same clock as ``is_stale``).
        Returns:
            The stored command as a float array.
        Raises:
            CommandError: wrong length or any NaN/inf (the previous command stays in force
                until it goes stale).
        """
        try:
            arr = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError) as e:
            self.rejected += 1
            raise CommandError(f"{self.spec.topic}: not a numeric array: {e}") from e
        if arr.shape[0] != len(self.spec.joints):
            self.rejected += 1
            raise CommandError(f"{self.spec.topic}: expected {len(self.spec.joints)} values "
                               f"{list(self.spec.joints)}, got {arr.shape[0]}")
        if not np.all(np.isfinite(arr)):
            self.rejected += 1
            bad = [self.spec.joints[i] for i in np.flatnonzero(~np.isfinite(arr))]
            raise CommandError(f"{self.spec.topic}: non-finite value for {bad}")
        self.values = arr
        self.stamp_s = float(now_s)
        self.accepted += 1
        return arr

    def is_stale(self, now_s: float) -> bool:
        """True if no valid command was ever received or the newest is older than timeout_s."""
        return self.stamp_s is None or (now_s - self.stamp_s) > self.timeout_s + 1e-9

    def clear(self) -> None:
        """Forget the command (after a reset the arm holds until a new command arrives)."""
        self.values = None
        self.stamp_s = None
