"""Node-level fault matrix: the real safety node process over DDS, sim time driven by /clock
published here, all cases in one graph session."""
import pytest

from vla_safety import fault_matrix as fm


@pytest.mark.integration
@pytest.mark.slow
def test_node_fault_cases_hold_limits_and_need_reset(tmp_path):
    from vla_safety.ros_fault_harness import NODE_CASES, run_node_cases
    assert len(NODE_CASES) >= 8 and all(n in fm.CASES for n in NODE_CASES)
    assert any(fm.ROBOT_OF.get(n) == "aloha" for n in NODE_CASES)
    results = run_node_cases(log_path=tmp_path / "safety_node.log")
    log = "".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("safety_node_*.log")))
    bad = [r for r in results if not r.ok]
    assert not bad, f"{bad}\nnode log:\n{log}"
