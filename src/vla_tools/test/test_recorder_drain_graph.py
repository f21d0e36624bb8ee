"""A recorder that is behind when it is stopped still writes everything it was sent: messages
published while its process is frozen (SIGSTOP) queue up; SIGCONT and SIGINT right after must
still leave every one of them in the bag (the stop drain), and the report says so."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from vla_common.testing import claim_domain_id, graph_env
from vla_tools.bags.reader import BagReader

N = 40
TOPIC = "/drain_test"


@pytest.mark.integration
def test_sigint_while_behind_drains_every_queued_message_into_the_bag(tmp_path):
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String

    dom = claim_domain_id()
    bag = tmp_path / "bag"
    rec = subprocess.Popen(
        [sys.executable, "-m", "vla_tools.bags.recorder_node", "--ros-args",
         "-p", f"output_dir:={bag}", "-p", "use_sim_time:=false",
         "-p", "exclude_topics:=['*']", "-p", f"extra_topics:=['{TOPIC}:std_msgs/msg/String']"],
        env=graph_env(dom), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=dom)
    node = rclpy.create_node("drain_test_pub", context=ctx)
    # the publisher keeps every sample until acknowledged (the frozen reader acks nothing)
    pub = node.create_publisher(String, TOPIC, QoSProfile(
        history=HistoryPolicy.KEEP_ALL, depth=1, reliability=ReliabilityPolicy.RELIABLE))
    stopped = False
    try:
        t0 = time.monotonic()
        while pub.get_subscription_count() < 1:
            assert rec.poll() is None, rec.stdout.read()
            assert time.monotonic() - t0 < 60, "the recorder never subscribed"
            time.sleep(0.1)
        time.sleep(2.0)  # the recorder's reader has matched this writer too (discovery)
        rec.send_signal(signal.SIGSTOP)
        stopped = True
        for k in range(N):
            pub.publish(String(data=f"msg {k}"))
        time.sleep(0.5)  # sent on the wire; the frozen recorder has taken none of them
        rec.send_signal(signal.SIGCONT)
        rec.send_signal(signal.SIGINT)
        stopped = False
        out, _ = rec.communicate(timeout=60)
    finally:
        if stopped:
            rec.send_signal(signal.SIGCONT)
        if rec.poll() is None:
            rec.kill()
            rec.wait()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert rec.returncode == 0, out
    msgs, err = BagReader(bag).read_all(sort=False)
    assert err is None
    got = [deserialize_message(m.data, String).data for m in msgs if m.topic == TOPIC]
    assert got == [f"msg {k}" for k in range(N)], out
    report = out[out.rindex("recorded bag"):]
    assert "dropped 0" in report and "stop drain:" in report and "complete" in report, report
