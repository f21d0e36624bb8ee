"""Bag writing/reading, splitting, interop with other readers, and bad input (ROS-free)."""
from __future__ import annotations

import pathlib
import sys

import pytest
from mcap.writer import Writer as McapWriter

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bag_helpers import write_joint_state_bag  # noqa: E402

from vla_tools.bags.errors import (BagCorruptError, BagError, BagFormatError,  # noqa: E402
                                   BagNotFoundError)
from vla_tools.bags.reader import BagReader  # noqa: E402
from vla_tools.bags.typestore import msgdef, parse_embedded_msgdef, stack_typestore  # noqa: E402
from vla_tools.bags.writer import BagWriter, WriterConfig  # noqa: E402


def test_written_bag_reads_back_every_message_in_order(tmp_path):
    sent = write_joint_state_bag(tmp_path / "b", n=300)
    msgs, err = BagReader(tmp_path / "b").read_all()
    assert err is None
    assert [m.data for m in msgs] == sent
    assert all(m.msgtype == "sensor_msgs/msg/JointState" for m in msgs)


def test_size_split_makes_several_files_and_keeps_every_message(tmp_path):
    sent = write_joint_state_bag(tmp_path / "b", n=1000, config=WriterConfig(split_max_bytes=20_000))
    r = BagReader(tmp_path / "b")
    assert len(r.files) > 2
    assert [m.data for m in r.read_all()[0]] == sent


def test_duration_split_starts_new_file_per_interval(tmp_path):
    write_joint_state_bag(tmp_path / "b", n=1000, period_ns=2_000_000,
                          config=WriterConfig(split_max_duration_s=0.5))
    r = BagReader(tmp_path / "b")
    assert len(r.files) == 4
    assert r.info().topics["/joint_states"].count == 1000


def test_bag_is_readable_by_rosbags_and_mcap_ros2(tmp_path):
    from mcap_ros2.reader import read_ros2_messages
    from rosbags.rosbag2 import Reader
    write_joint_state_bag(tmp_path / "b", n=50)
    with Reader(tmp_path / "b") as r:
        assert r.message_count == 50
        assert sum(1 for _ in r.messages()) == 50
    decoded = [m.ros_msg for m in read_ros2_messages(str(tmp_path / "b" / "b_0.mcap"))]
    assert [d.position[0] for d in decoded] == list(range(50))


def test_custom_message_definition_is_embedded_and_decodes_without_stack(tmp_path):
    ts = stack_typestore()
    Latent, H = ts.types["vla_interfaces/msg/Latent"], ts.types["std_msgs/msg/Header"]
    T = ts.types["builtin_interfaces/msg/Time"]
    import numpy as np
    m = Latent(header=H(stamp=T(sec=1, nanosec=5), frame_id=""), instruction="pick", instruction_id=3,
               latent=np.arange(128, dtype=np.float32), model_id="x", compute_time_s=0.01)
    with BagWriter(tmp_path / "b") as w:
        w.add_topic("/vla/latent", "vla_interfaces/msg/Latent")
        w.write("/vla/latent", 10, ts.serialize_cdr(m, "vla_interfaces/msg/Latent"))
    from mcap_ros2.reader import read_ros2_messages  # decodes from the embedded schema only
    out = [x.ros_msg for x in read_ros2_messages(str(tmp_path / "b" / "b_0.mcap"))]
    assert out[0].instruction == "pick" and list(out[0].latent) == list(range(128))


def test_embedded_definition_round_trips_through_parser():
    ts = stack_typestore()
    text, _ = msgdef(ts, "vla_interfaces/msg/SafetyStatus")
    types = parse_embedded_msgdef("vla_interfaces/msg/SafetyStatus", text)
    assert "vla_interfaces/msg/SafetyFault" in types


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_bag_gives_clear_error_and_readable_prefix(tmp_path, fraction):
    sent = write_joint_state_bag(tmp_path / "b", n=3000, config=WriterConfig(chunk_size_bytes=4096))
    f = tmp_path / "b" / "b_0.mcap"
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * fraction)])
    msgs, err = BagReader(tmp_path / "b").read_all()
    assert isinstance(err, BagCorruptError)
    assert "b_0.mcap" in str(err) and "truncated or corrupt" in str(err)
    assert 0 < len(msgs) <= len(sent)
    assert [m.data for m in msgs] == sent[: len(msgs)]  # the prefix, unchanged
    assert err.messages_read == len(msgs)


def test_corrupt_byte_in_chunk_is_detected_by_crc(tmp_path):
    write_joint_state_bag(tmp_path / "b", n=2000, config=WriterConfig(chunk_size_bytes=4096,
                                                                      compression="none"))
    f = tmp_path / "b" / "b_0.mcap"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    msgs, err = BagReader(tmp_path / "b").read_all()
    assert isinstance(err, BagCorruptError) and len(msgs) > 0


def test_file_without_metadata_is_read_with_a_warning(tmp_path):
    sent = write_joint_state_bag(tmp_path / "b", n=100)
    (tmp_path / "b" / "metadata.yaml").unlink()
    r = BagReader(tmp_path / "b")
    assert r.warnings and "metadata.yaml" in r.warnings[0]
    assert [m.data for m in r.read_all()[0]] == sent


def test_metadata_count_mismatch_is_an_error(tmp_path):
    write_joint_state_bag(tmp_path / "b", n=100)
    meta = tmp_path / "b" / "metadata.yaml"
    meta.write_text(meta.read_text().replace("message_count: 100", "message_count: 120"))
    msgs, err = BagReader(tmp_path / "b").read_all()
    assert isinstance(err, BagCorruptError) and "lists 120 messages" in str(err)
    assert len(msgs) == 100


@pytest.mark.parametrize("content,expect", [
    (b"#ROSBAG V2.0\n" + b"\0" * 64, "ROS 1 bag"),
    (b"SQLite format 3\0" + b"\0" * 64, "sqlite3"),
    (b"hello, this is text and not a bag at all", "not an MCAP file"),
])
def test_foreign_file_names_what_it_is(tmp_path, content, expect):
    p = tmp_path / "x.mcap"
    p.write_bytes(content)
    with pytest.raises(BagFormatError, match=expect):
        BagReader(p)


def test_empty_file_is_reported_corrupt(tmp_path):
    p = tmp_path / "x.mcap"
    p.write_bytes(b"")
    with pytest.raises(BagCorruptError, match="shorter than the MCAP magic"):
        BagReader(p)


def test_missing_bag_path_is_not_found(tmp_path):
    with pytest.raises(BagNotFoundError):
        BagReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagNotFoundError):
        BagReader(tmp_path / "empty")


def test_file_listed_in_metadata_but_missing_is_named(tmp_path):
    write_joint_state_bag(tmp_path / "b", n=10)
    (tmp_path / "b" / "b_0.mcap").unlink()
    with pytest.raises(BagCorruptError, match="listed in metadata.yaml is missing"):
        BagReader(tmp_path / "b")


def test_sqlite_storage_in_metadata_is_rejected(tmp_path):
    write_joint_state_bag(tmp_path / "b", n=10)
    meta = tmp_path / "b" / "metadata.yaml"
    meta.write_text(meta.read_text().replace("storage_identifier: mcap", "storage_identifier: sqlite3"))
    with pytest.raises(BagFormatError, match="sqlite3"):
        BagReader(tmp_path / "b")


def test_non_cdr_mcap_channel_is_a_format_error_after_the_readable_part(tmp_path):
    p = tmp_path / "json.mcap"
    with open(p, "wb") as fh:
        w = McapWriter(fh)
        w.start(profile="", library="test")
        sid = w.register_schema(name="Foo", encoding="jsonschema", data=b"{}")
        cid = w.register_channel(topic="/foo", message_encoding="json", schema_id=sid)
        w.add_message(channel_id=cid, log_time=1, data=b"{}", publish_time=1)
        w.finish()
    msgs, err = BagReader(p).read_all()
    assert isinstance(err, BagFormatError) and "/foo" in str(err) and "json" in str(err)


def test_writer_refuses_existing_path_and_undeclared_topic(tmp_path):
    (tmp_path / "b").mkdir()
    with pytest.raises(BagError, match="exists"):
        BagWriter(tmp_path / "b")
    w = BagWriter(tmp_path / "c")
    with pytest.raises(BagError, match="not added"):
        w.write("/x", 0, b"")
    w.close()


@pytest.mark.parametrize("kw", [{"split_max_bytes": -1}, {"split_max_duration_s": -0.5},
                                {"compression": "gzip"}, {"chunk_size_bytes": 10}])
def test_writer_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        WriterConfig(**kw)


def test_empty_recording_still_leaves_a_readable_bag(tmp_path):
    w = BagWriter(tmp_path / "b")
    w.add_topic("/joint_states", "sensor_msgs/msg/JointState")
    w.close()
    r = BagReader(tmp_path / "b")
    info = r.info()
    assert info.message_count == 0 and not info.error
    assert r.topic_types()["/joint_states"][0] == "sensor_msgs/msg/JointState"


@pytest.mark.parametrize("inc,exc,expect", [
    ((), (), {"/joint_states", "/camera/scene/image_raw", "/vla/action"}),
    (("",), ("",), {"/joint_states", "/camera/scene/image_raw", "/vla/action"}),
    (("/camera/*",), (), {"/camera/scene/image_raw"}),
    ((), ("/camera/*", "/vla/*"), {"/joint_states"}),
])
def test_topic_selection_globs(inc, exc, expect):
    from vla_tools.bags.topics import TopicSpec, select_topics
    specs = [TopicSpec(n, "std_msgs/msg/String") for n in
             ("/joint_states", "/camera/scene/image_raw", "/vla/action")]
    assert {s.name for s in select_topics(specs, inc, exc)} == expect


def test_stack_topics_cover_the_contract():
    from vla_common.config import load_robot_config, load_topics
    from vla_tools.bags.topics import stack_topics
    names = {s.name for s in stack_topics(load_robot_config("aloha"), load_topics())}
    for t in ("/joint_states", "/camera/top/image_raw", "/vla/latent", "/vla/action_chunk",
              "/vla/action", "/vla/controller/command", "/vla/safety/status", "/diagnostics",
              "/vla/instruction"):
        assert t in names
    assert "/clock" not in names


@pytest.mark.parametrize("bad", ["joint_states:sensor_msgs/msg/JointState", "/x:Bad",
                                 "/x:a/msg/B:often"])
def test_bad_extra_topic_is_rejected(bad):
    from vla_tools.bags.topics import parse_extra_topics
    with pytest.raises(ValueError):
        parse_extra_topics([bad])


@pytest.mark.parametrize("bad", ["/a", "/a:=b", "a:=/b"])
def test_bad_remap_is_rejected(bad):
    from vla_tools.bags.topics import parse_remaps
    with pytest.raises(ValueError):
        parse_remaps([bad])


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_playback_timeline_rejects_bad_rate(rate):
    from vla_tools.bags.playback import PlaybackTimeline
    with pytest.raises(ValueError):
        PlaybackTimeline(0, rate, 0.0)


def test_playback_timeline_maps_bag_time_at_rate():
    from vla_tools.bags.playback import PlaybackTimeline
    tl = PlaybackTimeline(5_000_000_000, 2.0, 100.0)
    assert tl.due_wall_s(7_000_000_000) == pytest.approx(101.0)
    assert tl.bag_time_ns(101.0) == 7_000_000_000
    assert tl.bag_time_ns(99.0) == 5_000_000_000  # never before the start


class _Msg:
    def __init__(self, t, tag):
        self.log_time_ns, self.tag = t, tag


def test_out_of_order_recording_is_played_in_log_time_order():
    from vla_tools.bags.playback import in_log_time_order
    file_order = [_Msg(t, i) for i, t in enumerate([10, 30, 20, 40, 35, 50, 50, 60])]
    out = list(in_log_time_order(file_order, window_ns=15))
    assert [m.log_time_ns for m in out] == [10, 20, 30, 35, 40, 50, 50, 60]
    assert [m.tag for m in out if m.log_time_ns == 50] == [5, 6]  # ties keep file order


def test_message_later_than_window_is_still_played_not_dropped():
    from vla_tools.bags.playback import in_log_time_order
    file_order = [_Msg(t, i) for i, t in enumerate([0, 100, 200, 5, 300])]
    out = list(in_log_time_order(file_order, window_ns=50))
    assert sorted(m.tag for m in out) == [0, 1, 2, 3, 4]
    assert out[0].log_time_ns == 0


@pytest.mark.parametrize("window", [0, 10**12])
def test_reorder_window_extremes_keep_every_message(window):
    from vla_tools.bags.playback import in_log_time_order
    file_order = [_Msg(t, i) for i, t in enumerate([3, 1, 2])]
    out = [m.log_time_ns for m in in_log_time_order(file_order, window)]
    assert sorted(out) == [1, 2, 3] and (window == 0 or out == [1, 2, 3])
    assert list(in_log_time_order([], window)) == []


def test_negative_reorder_window_is_rejected():
    from vla_tools.bags.playback import in_log_time_order
    with pytest.raises(ValueError):
        list(in_log_time_order([_Msg(1, 0)], -1))
