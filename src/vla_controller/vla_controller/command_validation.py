"""Validation of incoming action targets (ROS-free).

A target is accepted only if its names are exactly the expected set (any order, no duplicates,
no unknown or missing names), names and values have the same length, and every value is finite.
Rejections are counted per reason so the node can report them in diagnostics; the caller keeps
the last valid target.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

# rejection reasons (diagnostics keys)
NON_FINITE = "non_finite"
LENGTH_MISMATCH = "length_mismatch"
UNKNOWN_NAME = "unknown_name"
MISSING_NAME = "missing_name"
DUPLICATE_NAME = "duplicate_name"
BAD_STAMP = "bad_stamp"
REASONS = (NON_FINITE, LENGTH_MISMATCH, UNKNOWN_NAME, MISSING_NAME, DUPLICATE_NAME, BAD_STAMP)


class TargetRejected(ValueError):
    """A target failed validation; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class TargetValidator:
    """Checks targets against ``expected`` names and returns values in that order.

    Attributes:
        expected: the names of the configured action space, in the order values are returned.
        rejected: rejection counts per reason.
        accepted: number of accepted targets.
    """
    expected: tuple[str, ...]
    rejected: Counter = field(default_factory=Counter)
    accepted: int = 0

    def __post_init__(self):
        if len(set(self.expected)) != len(self.expected) or not self.expected:
            raise ValueError("expected names must be non-empty and unique")
        self._index = {n: i for i, n in enumerate(self.expected)}

    def _reject(self, reason: str, msg: str):
        self.rejected[reason] += 1
        raise TargetRejected(reason, msg)

    def validate(self, names, values) -> np.ndarray:
        """Reorder ``values`` (given for ``names``) into ``expected`` order.

        Args:
            names: sequence of str.
            values: sequence of float, same length as names.
        Returns:
            float array (len(expected),).
        Raises:
            TargetRejected: with ``reason`` (and the rejection counted).
        """
        names = list(names)
        try:
            vals = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            self._reject(NON_FINITE, "values are not numbers")
        if len(names) != len(vals):
            self._reject(LENGTH_MISMATCH, f"{len(names)} names but {len(vals)} values")
        if len(set(names)) != len(names):
            dup = sorted(n for n, c in Counter(names).items() if c > 1)
            self._reject(DUPLICATE_NAME, f"duplicate names {dup}")
        unknown = [n for n in names if n not in self._index]
        if unknown:
            self._reject(UNKNOWN_NAME, f"unknown names {unknown[:5]}; expected {self.expected}")
        if len(names) != len(self.expected):
            missing = [n for n in self.expected if n not in names]
            self._reject(MISSING_NAME, f"missing names {missing}")
        if not np.all(np.isfinite(vals)):
            bad = [n for n, v in zip(names, vals) if not np.isfinite(v)]
            self._reject(NON_FINITE, f"non-finite values for {bad[:5]}")
        out = np.empty(len(self.expected))
        out[[self._index[n] for n in names]] = vals
        self.accepted += 1
        return out

    def reject_stamp(self, msg: str) -> None:
        """Count a target rejected for its time stamp and raise.

        Raises:
            TargetRejected: always, reason BAD_STAMP.
        """
        self._reject(BAD_STAMP, msg)

    def counts(self) -> dict[str, int]:
        """Rejections per reason (every reason present, 0 if none) plus ``accepted``."""
        d = {f"rejected_{r}": int(self.rejected.get(r, 0)) for r in REASONS}
        d["rejected_total"] = int(sum(self.rejected.values()))
        d["accepted"] = self.accepted
        return d
