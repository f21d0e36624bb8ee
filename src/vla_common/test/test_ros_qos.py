import pytest
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy

from vla_common.ros_qos import SENSOR_PUB, SENSOR_PUB_HISTORY_S, STREAM, sensor_pub, stream_pub


def test_sensor_publishers_keep_seconds_of_history_for_a_lagging_reliable_reader():
    # longer than Fast DDS's 3 s periodic heartbeat: a gap is reported before it is overwritten
    assert SENSOR_PUB_HISTORY_S > 3.0
    assert SENSOR_PUB.depth == 2000  # 4 s of 500 Hz joint states
    assert sensor_pub(10.0).depth == 40  # 4 s of a 10 Hz camera: ~2 MB at 128x128 rgb8
    assert sensor_pub(0.5).depth == 5
    for q in (SENSOR_PUB, sensor_pub(10.0)):
        assert q.reliability == ReliabilityPolicy.RELIABLE
        assert q.history == HistoryPolicy.KEEP_LAST
        assert q.durability == DurabilityPolicy.VOLATILE


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_sensor_pub_refuses_a_rate_that_is_not_positive_and_finite(bad):
    with pytest.raises(ValueError):
        sensor_pub(bad)


def test_fast_action_stream_publisher_keeps_seconds_of_history_slow_ones_keep_stream_depth():
    assert stream_pub(200.0).depth == 800  # Franka's 200 Hz actions: 4 s, not 0.25 s
    assert stream_pub(50.0).depth == 200  # ALOHA's 50 Hz
    assert stream_pub(1.0).depth == STREAM.depth
    q = stream_pub(200.0)
    assert (q.reliability, q.history, q.durability) == (
        STREAM.reliability, STREAM.history, STREAM.durability)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_stream_pub_refuses_a_rate_that_is_not_positive_and_finite(bad):
    with pytest.raises(ValueError):
        stream_pub(bad)
