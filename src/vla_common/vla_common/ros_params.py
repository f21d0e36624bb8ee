"""Declare a frozen config dataclass's fields as ROS parameters and read them back (ROS adapter).

Every field becomes a parameter with the field's default, so ``ros2 param list`` shows every knob
and the params file can set any of them. Tuples/lists become array parameters.
"""
from __future__ import annotations

import dataclasses
from typing import TypeVar

from rcl_interfaces.msg import ParameterDescriptor

T = TypeVar("T")


def declare_config(node, cls: type[T], prefix: str = "", **overrides) -> T:
    """Declare ``prefix + field`` for every field of dataclass ``cls``; return an instance.

    ``overrides`` replace the dataclass defaults (e.g. robot-specific values from config).
    Raises:
        ValueError/TypeError: from ``cls(...)`` when a value is invalid (its ``__post_init__``).
    """
    values = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in overrides:
            default = overrides[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            raise TypeError(f"{cls.__name__}.{f.name} needs a default to be a ROS parameter")
        ros_default = list(default) if isinstance(default, tuple) else default
        name = prefix + f.name
        if node.has_parameter(name):
            value = node.get_parameter(name).value
        else:
            desc = ParameterDescriptor(description=f"{cls.__name__}.{f.name}",
                                       dynamic_typing=ros_default is None
                                       or (isinstance(ros_default, list) and not ros_default))
            value = node.declare_parameter(name, ros_default, desc).value
        if isinstance(default, tuple) and value is not None:
            value = tuple(value)
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        values[f.name] = value
    return cls(**values)
