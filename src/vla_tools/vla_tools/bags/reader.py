"""Read rosbag2 MCAP bags record by record, so a truncated or damaged file still yields every
message before the damage, followed by a clear error naming file, offset and cause. ROS-free.

Accepts a bag directory (with or without ``metadata.yaml``) or a single ``.mcap`` file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import yaml
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader

from vla_tools.bags.errors import BagCorruptError, BagFormatError, BagNotFoundError
from vla_tools.bags.typestore import typestore_with

MCAP_MAGIC = b"\x89MCAP0\r\n"
_FOREIGN_MAGIC = {b"#ROSBAG": "a ROS 1 bag (.bag)", b"SQLite format 3": "a rosbag2 sqlite3 (.db3) file",
                  b"PK\x03\x04": "a zip archive", b"\x89PNG": "a PNG image"}


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    log_time_ns: int
    publish_time_ns: int
    data: bytes


@dataclass
class TopicInfo:
    msgtype: str
    count: int = 0
    qos: str = ""
    first_ns: int = -1
    last_ns: int = -1


@dataclass
class BagInfo:
    path: str
    files: list[str]
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    start_ns: int = -1
    end_ns: int = -1
    message_count: int = 0
    error: str = ""  # set when reading stopped early

    @property
    def duration_s(self) -> float:
        return 0.0 if self.start_ns < 0 else (self.end_ns - self.start_ns) * 1e-9

    def summary(self) -> str:
        lines = [f"bag: {self.path}", f"files: {', '.join(self.files)}",
                 f"messages: {self.message_count}  duration: {self.duration_s:.3f} s"]
        for t, i in sorted(self.topics.items()):
            rate = (i.count - 1) / ((i.last_ns - i.first_ns) * 1e-9) if i.count > 1 and \
                i.last_ns > i.first_ns else 0.0
            lines.append(f"  {t:40s} {i.msgtype:40s} {i.count:8d} msgs  {rate:8.1f} Hz")
        if self.error:
            lines.append(f"ERROR: {self.error}")
        return "\n".join(lines)


def _file_index(p: Path) -> tuple[int, str]:
    m = re.search(r"_(\d+)\.mcap$", p.name)
    return (int(m.group(1)) if m else 0, p.name)


def _check_magic(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(MCAP_MAGIC):
        return
    for magic, what in _FOREIGN_MAGIC.items():
        if head.startswith(magic):
            raise BagFormatError(f"{path} is {what}, not an MCAP rosbag2 file")
    if len(head) < len(MCAP_MAGIC):
        raise BagCorruptError(str(path), len(head), 0, "file shorter than the MCAP magic")
    raise BagFormatError(f"{path} is not an MCAP file (starts with {head[:8]!r})")


class BagReader:
    """Opens a bag and checks its files exist and are MCAP.

    Raises:
        BagNotFoundError: missing path or no bag files in it.
        BagFormatError: not MCAP (ROS 1, sqlite3, anything else) or bad metadata.yaml.
        BagCorruptError: a file listed in metadata.yaml is missing.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.metadata: dict | None = None
        self.warnings: list[str] = []
        self._expected_counts: dict[str, int] = {}
        if not self.path.exists():
            raise BagNotFoundError(f"bag not found: {self.path}")
        if self.path.is_file():
            self.files = [self.path]
        else:
            self.files = self._files_of_dir()
        for f in self.files:
            _check_magic(f)
        self._schemas: dict[str, str] = {}

    def _files_of_dir(self) -> list[Path]:
        meta_path = self.path / "metadata.yaml"
        on_disk = sorted(self.path.glob("*.mcap"), key=_file_index)
        if meta_path.is_file():
            try:
                meta = yaml.safe_load(meta_path.read_text())["rosbag2_bagfile_information"]
            except Exception as e:  # noqa: BLE001 - any YAML/shape error
                raise BagFormatError(f"{meta_path}: not a rosbag2 metadata file ({e})") from e
            storage = meta.get("storage_identifier", "")
            if storage != "mcap":
                raise BagFormatError(f"{self.path}: storage '{storage}' is not supported "
                                     "(only mcap); convert it with `ros2 bag convert`")
            if meta.get("compression_mode"):
                raise BagFormatError(f"{self.path}: rosbag2 compression mode "
                                     f"'{meta['compression_mode']}' is not supported")
            self.metadata = meta
            listed = [self.path / p for p in meta.get("relative_file_paths", [])]
            for p in listed:
                if not p.is_file():
                    raise BagCorruptError(str(p), -1, 0, "file listed in metadata.yaml is missing")
            for f in meta.get("files", []) or []:
                self._expected_counts[f["path"]] = int(f.get("message_count", 0))
            extra = [p for p in on_disk if p not in listed]
            if extra:
                self.warnings.append(f"files not listed in metadata.yaml (recorder stopped "
                                     f"early?) are read too: {[p.name for p in extra]}")
            return sorted(set(listed) | set(extra), key=_file_index)
        if not on_disk:
            if any(self.path.glob("*.db3")):
                raise BagFormatError(f"{self.path} is a sqlite3 rosbag2 bag; only mcap is supported")
            raise BagNotFoundError(f"no metadata.yaml and no .mcap files in {self.path}")
        self.warnings.append(f"{self.path} has no metadata.yaml (recorder stopped early?); "
                             "reading the .mcap files directly")
        return on_disk

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages in file order (= recording order), optionally only ``topics``.

        Raises (after yielding every message before the problem):
            BagCorruptError: truncated file, bad CRC, unknown channel, count mismatch.
            BagFormatError: a channel that is not CDR or a schema that is not ros2msg.
        """
        want = set(topics) if topics is not None else None
        n_total = 0
        for path in self.files:
            n_file = 0
            channels: dict[int, tuple[str, str]] = {}
            schemas: dict[int, tuple[str, str]] = {}
            reader = None
            try:
                with open(path, "rb") as fh:
                    reader = StreamReader(fh, validate_crcs=True, record_size_limit=1 << 31)
                    for rec in reader.records:
                        if isinstance(rec, Schema):
                            schemas[rec.id] = (rec.name, rec.encoding)
                            if rec.encoding == "ros2msg":
                                self._schemas.setdefault(rec.name, rec.data.decode())
                        elif isinstance(rec, Channel):
                            if rec.message_encoding != "cdr":
                                raise BagFormatError(
                                    f"{path}: topic {rec.topic} uses message encoding "
                                    f"'{rec.message_encoding}'; only ROS 2 CDR is supported")
                            name, enc = schemas.get(rec.schema_id, ("", ""))
                            if enc != "ros2msg":
                                raise BagFormatError(
                                    f"{path}: topic {rec.topic} has schema encoding '{enc}' "
                                    "(expected ros2msg)")
                            channels[rec.id] = (rec.topic, name)
                        elif isinstance(rec, Message):
                            if rec.channel_id not in channels:
                                raise BagCorruptError(str(path), _pos(reader), n_total,
                                                      f"message on unknown channel {rec.channel_id}")
                            n_file += 1
                            n_total += 1
                            topic, msgtype = channels[rec.channel_id]
                            if want is None or topic in want:
                                yield BagMessage(topic, msgtype, rec.log_time, rec.publish_time,
                                                 rec.data)
            except (BagCorruptError, BagFormatError):
                raise
            except Exception as e:  # noqa: BLE001 - mcap raises many types on damage
                raise BagCorruptError(str(path), _pos(reader), n_total,
                                      f"{type(e).__name__}: {e}".rstrip(": ")) from e
            expected = self._expected_counts.get(path.name)
            if expected is not None and expected != n_file:
                raise BagCorruptError(str(path), -1, n_total,
                                      f"metadata.yaml lists {expected} messages, file holds {n_file}")

    def read_all(self, topics: Iterable[str] | None = None, sort: bool = True
                 ) -> tuple[list[BagMessage], Exception | None]:
        """Every readable message (sorted by log time) and the error that stopped reading, if any."""
        out: list[BagMessage] = []
        err = None
        try:
            for m in self.messages(topics):
                out.append(m)
        except (BagCorruptError, BagFormatError) as e:
            err = e
        if sort:
            out.sort(key=lambda m: m.log_time_ns)
        return out, err

    def info(self) -> BagInfo:
        """Scan the bag: per-topic type, count, time range; ``error`` if it stops early."""
        info = BagInfo(str(self.path), [f.name for f in self.files])
        try:
            for m in self.messages():
                ti = info.topics.setdefault(m.topic, TopicInfo(m.msgtype))
                ti.count += 1
                ti.first_ns = m.log_time_ns if ti.first_ns < 0 else min(ti.first_ns, m.log_time_ns)
                ti.last_ns = max(ti.last_ns, m.log_time_ns)
                info.message_count += 1
        except (BagCorruptError, BagFormatError) as e:
            info.error = str(e)
        firsts = [t.first_ns for t in info.topics.values()]
        info.start_ns = min(firsts) if firsts else -1
        info.end_ns = max((t.last_ns for t in info.topics.values()), default=-1)
        return info

    def topic_types(self) -> dict[str, tuple[str, str]]:
        """{topic: (type, offered QoS text)} from metadata.yaml, or by scanning the files."""
        if self.metadata and self.metadata.get("topics_with_message_count"):
            return {t["topic_metadata"]["name"]: (t["topic_metadata"]["type"],
                                                  str(t["topic_metadata"].get("offered_qos_profiles", "")))
                    for t in self.metadata["topics_with_message_count"]}
        return {t: (i.msgtype, "") for t, i in self.info().topics.items()}

    def typestore(self):
        """Typestore with the stack's types plus every definition embedded in the files read."""
        if not self._schemas:
            for f in self.files:  # schemas come first in our files: read just those
                try:
                    with open(f, "rb") as fh:
                        for rec in StreamReader(fh).records:
                            if isinstance(rec, Schema) and rec.encoding == "ros2msg":
                                self._schemas.setdefault(rec.name, rec.data.decode())
                            elif isinstance(rec, Message):
                                break
                except Exception:  # noqa: BLE001 - damage is reported by messages()
                    pass
        return typestore_with(self._schemas)

    def deserialize(self, msg: BagMessage, typestore=None):
        """Decode a message into a rosbags dataclass (no ROS installation needed).

        Raises:
            BagFormatError: the bytes do not decode as the recorded type.
        """
        ts = typestore or self.typestore()
        try:
            return ts.deserialize_cdr(msg.data, msg.msgtype)
        except Exception as e:  # noqa: BLE001
            raise BagFormatError(f"{msg.topic} at {msg.log_time_ns} ns: cannot decode as "
                                 f"{msg.msgtype}: {e}") from e


def _pos(reader) -> int:
    try:
        return int(reader._stream.count)  # noqa: SLF001 - byte count of the mcap stream
    except Exception:  # noqa: BLE001
        return -1
