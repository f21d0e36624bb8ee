"""A node whose shutdown stalls prints every thread's stack (the intermittent SIGINT hang in CI
left no trace of where it sat)."""
import subprocess
import sys
import textwrap

NODE = textwrap.dedent("""
    import sys, time
    import rclpy
    from rclpy.node import Node
    import vla_common.ros_node_base as base

    base.SHUTDOWN_STACK_DUMP_AFTER_S = 0.5

    class Stalls(Node):
        def __init__(self):
            super().__init__("stalls_on_destroy")
            self.create_timer(0.05, lambda: rclpy.try_shutdown())  # ends the spin at once

        def destroy_node(self):
            time.sleep(4.0)  # eight times the dump delay
            return super().destroy_node()

    sys.exit(base.run_node(Stalls, []))
""")


def test_stalled_shutdown_prints_thread_stacks_and_still_exits_0():
    from vla_common.testing import claim_domain_id, graph_env
    env = graph_env(claim_domain_id())
    r = subprocess.run([sys.executable, "-c", NODE], capture_output=True, text=True, timeout=60,
                       env=env)
    assert r.returncode == 0, r.stderr
    # faulthandler's header, then the main thread's stack, sitting in the stalled destroy_node
    assert "Timeout (0:00:00.5" in r.stderr and "in destroy_node" in r.stderr, r.stderr
