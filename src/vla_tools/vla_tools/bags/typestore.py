"""Message definitions for the stack: the standard ROS 2 types plus vla_interfaces, parsed from
the .msg files (source tree or installed share dir), so bags embed full definitions that
``ros2 bag``, Foxglove and rosbags can decode without our packages installed."""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from vla_tools.bags.errors import BagFormatError

log = logging.getLogger(__name__)
SEPARATOR = "=" * 80
INTERFACE_PACKAGES = ("vla_interfaces",)


def interface_msg_dirs(package: str = "vla_interfaces") -> list[Path]:
    """Directories holding ``<package>``'s .msg files: source checkout first, then installs.

    Returns:
        Existing directories (possibly empty list).
    """
    here = Path(__file__).resolve()
    cands = [p / "src" / package / "msg" for p in here.parents]
    cands += [p / "install" / package / "share" / package / "msg" for p in here.parents]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            cands.append(Path(prefix) / "share" / package / "msg")
    return [c for c in cands if c.is_dir() and any(c.glob("*.msg"))]


@lru_cache(maxsize=1)
def stack_typestore() -> Typestore:
    """A typestore with ROS 2 (Kilted) standard types and the stack's own messages.

    Raises:
        BagFormatError: vla_interfaces .msg files cannot be found or parsed.
    """
    ts = get_typestore(Stores.ROS2_KILTED)
    for pkg in INTERFACE_PACKAGES:
        dirs = interface_msg_dirs(pkg)
        if not dirs:
            raise BagFormatError(f"no .msg files of {pkg} found (source tree or install share)")
        types: dict = {}
        for f in sorted(dirs[0].glob("*.msg")):
            try:
                types.update(get_types_from_msg(f.read_text(), f"{pkg}/msg/{f.stem}"))
            except Exception as e:  # noqa: BLE001 - parser raises various types
                raise BagFormatError(f"cannot parse message definition {f}: {e}") from e
        ts.register(types)
    return ts


def msgdef(ts: Typestore, msgtype: str) -> tuple[str, str]:
    """Full ros2msg definition text (with dependencies) and RIHS01 hash of ``msgtype``.

    Raises:
        BagFormatError: unknown type.
    """
    try:
        text, _ = ts.generate_msgdef(msgtype, ros_version=2)
        return text, ts.hash_rihs01(msgtype)
    except KeyError as e:
        raise BagFormatError(f"unknown message type '{msgtype}'") from e


def parse_embedded_msgdef(msgtype: str, text: str) -> dict:
    """Parse a concatenated ros2msg schema (as rosbag2 embeds it) into rosbags type fields.

    Raises:
        BagFormatError: the text is not ros2msg or does not parse.
    """
    types: dict = {}
    blocks = text.split(SEPARATOR + "\n")
    try:
        types.update(get_types_from_msg(blocks[0], msgtype))
        for b in blocks[1:]:
            head, _, body = b.partition("\n")
            if not head.startswith("MSG: "):
                raise BagFormatError(f"schema of {msgtype}: expected 'MSG: <type>', got {head!r}")
            name = head[5:].strip()
            if "/msg/" not in name:
                name = name.replace("/", "/msg/", 1)
            types.update(get_types_from_msg(body, name))
    except BagFormatError:
        raise
    except Exception as e:  # noqa: BLE001
        raise BagFormatError(f"cannot parse embedded definition of {msgtype}: {e}") from e
    return types


def _own(msgtype: str) -> bool:
    return msgtype.split("/", 1)[0] in INTERFACE_PACKAGES


def typestore_with(schemas: dict[str, str]) -> Typestore:
    """The stack typestore extended with definitions embedded in a bag ({type: ros2msg text}).

    Our own (vla_interfaces) types are read with the bag's embedded definition, so bags recorded
    before a field was added (e.g. ``ActionChunk.available_time``) still decode; types absent
    from the bag use the current stack definition. Other known types keep the stack's
    definition; unknown (foreign) ones are added.

    Raises:
        BagFormatError: an embedded definition of a foreign type does not parse.
    """
    ts = get_typestore(Stores.ROS2_KILTED)
    own: dict = {}
    for name, text in schemas.items():
        if _own(name):
            try:
                parsed = parse_embedded_msgdef(name, text)
            except BagFormatError as e:  # keep the stack's definition; decoding will tell
                log.warning("%s; using the current definition of %s", e, name)
                continue
            own.update({k: v for k, v in parsed.items() if _own(k)})
    stack = stack_typestore().fielddefs
    ts.register({**{k: v for k, v in stack.items() if k not in own}, **own})
    for name, text in schemas.items():
        if name in ts.fielddefs:
            continue
        new = parse_embedded_msgdef(name, text)
        ts.register({k: v for k, v in new.items() if k not in ts.fielddefs})
    return ts
