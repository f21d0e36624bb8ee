"""Write rosbag2 bags in MCAP storage (profile ros2, CDR, ros2msg schemas), split by size or
duration into ``<name>_<i>.mcap`` files listed in ``metadata.yaml``. ROS-free.

The writer takes already-serialized CDR bytes (as rclpy hands them to a raw subscription), so
images are never deserialized on the recording path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mcap.writer import CompressionType, Writer as McapWriter

from vla_tools.bags.errors import BagError
from vla_tools.bags.typestore import msgdef, stack_typestore

_COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4,
                "none": CompressionType.NONE, "": CompressionType.NONE}
_INF = {"sec": 2147483647, "nsec": 4294967295}


def qos_yaml(reliable: bool = True, transient_local: bool = False, depth: int = 50) -> str:
    """rosbag2 (v9) ``offered_qos_profiles`` text for one publisher."""
    return yaml.safe_dump([{
        "history": "keep_last", "depth": int(depth),
        "reliability": "reliable" if reliable else "best_effort",
        "durability": "transient_local" if transient_local else "volatile",
        "deadline": dict(_INF), "lifespan": dict(_INF), "liveliness": "automatic",
        "liveliness_lease_duration": dict(_INF), "avoid_ros_namespace_conventions": False,
    }], sort_keys=False).strip()


@dataclass(frozen=True)
class WriterConfig:
    """Args:
        split_max_bytes: start a new file after this many bytes of messages (0 = never).
        split_max_duration_s: start a new file after this much log time (0 = never).
        compression: zstd | lz4 | none (per MCAP chunk).
        chunk_size_bytes: MCAP chunk size; a crash loses at most the unfinished chunk.
    """
    split_max_bytes: int = 0
    split_max_duration_s: float = 0.0
    compression: str = "zstd"
    chunk_size_bytes: int = 256 * 1024

    def __post_init__(self):
        if self.split_max_bytes < 0 or self.split_max_duration_s < 0:
            raise ValueError("split limits must be >= 0 (0 = no splitting)")
        if self.compression not in _COMPRESSION:
            raise ValueError(f"compression must be one of {sorted(_COMPRESSION)}")
        if self.chunk_size_bytes < 1024:
            raise ValueError("chunk_size_bytes must be >= 1024")


@dataclass
class _File:
    path: Path
    start_ns: int = -1
    end_ns: int = 0
    count: int = 0
    nbytes: int = 0
    channels: dict = field(default_factory=dict)  # topic -> channel id


class BagWriter:
    """Writes one rosbag2 directory. Not thread-safe: call from one (writer) thread.

    Args:
        path: bag directory to create (must not exist).
        config: splitting and compression.
        typestore: where message definitions come from (default: the stack's).
    Raises:
        BagError: the path exists already.
    """

    def __init__(self, path: str | Path, config: WriterConfig = WriterConfig(), typestore=None):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag path {self.path} exists already, not overwriting")
        self.path.mkdir(parents=True)
        self.config = config
        self.ts = typestore or stack_typestore()
        self.topics: dict[str, tuple[str, str, str, str]] = {}  # topic -> type, def, hash, qos
        self.counts: dict[str, int] = {}
        self.custom_data: dict[str, str] = {}
        self.files: list[_File] = []
        self._mcap: McapWriter | None = None
        self._stream = None
        self._schemas: dict[str, int] = {}
        self._closed = False

    def add_topic(self, topic: str, msgtype: str, qos: str = "") -> None:
        """Declare a topic before writing to it (definition embedded from the typestore)."""
        text, rihs = msgdef(self.ts, msgtype)
        self.topics[topic] = (msgtype, text, rihs, qos or qos_yaml())
        self.counts.setdefault(topic, 0)

    def _open_file(self) -> None:
        f = _File(self.path / f"{self.path.name}_{len(self.files)}.mcap")
        self._stream = open(f.path, "wb")
        self._mcap = McapWriter(self._stream, chunk_size=self.config.chunk_size_bytes,
                                compression=_COMPRESSION[self.config.compression])
        self._mcap.start(profile="ros2", library="vla_tools")
        self._schemas = {}
        self.files.append(f)

    def _channel(self, f: _File, topic: str) -> int:
        if topic not in f.channels:
            msgtype, text, rihs, qos = self.topics[topic]
            if msgtype not in self._schemas:
                self._schemas[msgtype] = self._mcap.register_schema(
                    name=msgtype, encoding="ros2msg", data=text.encode())
            f.channels[topic] = self._mcap.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[msgtype],
                metadata={"offered_qos_profiles": qos, "topic_type_hash": rihs})
        return f.channels[topic]

    def _should_split(self, f: _File, log_time_ns: int) -> bool:
        c = self.config
        if f.count == 0:
            return False
        return ((c.split_max_bytes > 0 and f.nbytes >= c.split_max_bytes)
                or (c.split_max_duration_s > 0
                    and log_time_ns - f.start_ns >= c.split_max_duration_s * 1e9))

    def write(self, topic: str, log_time_ns: int, data: bytes,
              publish_time_ns: int | None = None) -> None:
        """Write one serialized (CDR) message.

        Raises:
            BagError: topic not declared, or the writer is closed.
        """
        if self._closed:
            raise BagError(f"bag {self.path} is closed")
        if topic not in self.topics:
            raise BagError(f"topic {topic} was not added to bag {self.path}")
        if self._mcap is None:
            self._open_file()
        elif self._should_split(self.files[-1], log_time_ns):
            self._finish_file()
            self._open_file()
        f = self.files[-1]
        ch = self._channel(f, topic)
        seq = self.counts[topic]
        self._mcap.add_message(channel_id=ch, log_time=int(log_time_ns), data=bytes(data),
                               publish_time=int(publish_time_ns if publish_time_ns is not None
                                                else log_time_ns), sequence=seq & 0xFFFFFFFF)
        self.counts[topic] = seq + 1
        f.count += 1
        f.nbytes += len(data)
        f.start_ns = log_time_ns if f.start_ns < 0 else min(f.start_ns, log_time_ns)
        f.end_ns = max(f.end_ns, log_time_ns)

    def _finish_file(self) -> None:
        if self._mcap is None:
            return
        self._mcap.add_metadata("rosbag2", {"serialized_metadata": self._metadata_yaml(),
                                            "ros_distro": "kilted"})
        self._mcap.finish()
        self._stream.close()
        self._mcap = self._stream = None
        self._write_metadata()

    def close(self) -> None:
        """Finish the current file and write ``metadata.yaml`` (idempotent)."""
        if self._closed:
            return
        if not self.files:  # nothing was written: still leave a valid (empty) bag
            self._open_file()
            for topic in self.topics:
                self._channel(self.files[-1], topic)
        self._finish_file()
        self._write_metadata()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _info(self) -> dict:
        files = [f for f in self.files if f.count > 0] or self.files
        starts = [f.start_ns for f in files if f.start_ns >= 0]
        start = min(starts) if starts else 0
        end = max((f.end_ns for f in files), default=0)
        return {
            "version": 9,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": max(0, end - start)},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": sum(self.counts.values()),
            "topics_with_message_count": [
                {"topic_metadata": {"name": t, "type": v[0], "serialization_format": "cdr",
                                    "offered_qos_profiles": v[3], "type_description_hash": v[2]},
                 "message_count": self.counts[t]} for t, v in self.topics.items()],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [f.path.name for f in self.files],
            "files": [{"path": f.path.name,
                       "starting_time": {"nanoseconds_since_epoch": max(f.start_ns, 0)},
                       "duration": {"nanoseconds": max(0, f.end_ns - max(f.start_ns, 0))},
                       "message_count": f.count} for f in self.files],
            "custom_data": dict(self.custom_data) or None,
            "ros_distro": "kilted",
        }

    def _metadata_yaml(self) -> str:
        return yaml.safe_dump(self._info(), sort_keys=False)

    def _write_metadata(self) -> None:
        tmp = self.path / "metadata.yaml.tmp"
        tmp.write_text(yaml.safe_dump({"rosbag2_bagfile_information": self._info()},
                                      sort_keys=False))
        tmp.replace(self.path / "metadata.yaml")

    def set_custom_data(self, key: str, value) -> None:
        """Store a string (or JSON-able value) in metadata custom_data."""
        self.custom_data[key] = value if isinstance(value, str) else json.dumps(value)
