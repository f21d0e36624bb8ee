"""The whole graph as real processes over DDS with the MuJoCo bridge: an instruction goes in,
data flows camera -> latent -> chunk -> controller command -> safety gate -> sim command, the
simulated joints move, and shutdown leaves no child process behind."""
import pytest

from vla_tools.demo import run_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_instruction_flows_through_every_stage_and_moves_the_arm(tmp_path):
    r = run_stack("franka", duration_s=6.0, log_dir=tmp_path, stop_on_success=False,
                  wall_timeout_s=400)
    logs = {p.name: p.read_text()[-1500:] for p in tmp_path.glob("*.log")}
    assert "failure" not in r, (r.get("failure"), logs)
    assert r["missing_stages"] == [], (r["stages"], logs)
    for stage, s in r["stages"].items():
        assert s["count"] > 0, stage
    assert r["chunks_conditioned_on_latent"] > 0
    assert r["joints_moved"], r["max_joint_travel_rad"]
    assert r["safety_states"], "no SafetyStatus seen"
    assert r["children_left"] == []
    for node, info in r["nodes"].items():
        for pid_rc in info["exit_codes"]:
            assert pid_rc is not None

