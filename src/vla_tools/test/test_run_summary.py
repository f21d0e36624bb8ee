import numpy as np

from vla_tools.run_summary import PIPELINE, RunRecord, run_report, summarize


def _feed_all_stages(rec):
    for st in rec.stages.values():
        for i in range(3):
            st.rate.tick(i * 0.01)
    rec.chunks_conditioned_on_latent = 1


def test_every_stage_and_motion_means_data_flowed():
    rec = RunRecord()
    _feed_all_stages(rec)
    rec.on_positions(np.zeros(8))
    rec.on_positions(np.full(8, 0.01))
    s = summarize(rec)
    assert s["data_flowed"] and s["missing_stages"] == []
    assert s["stages"]["action"]["rate_hz"] == 100.0


def test_missing_stage_is_named_and_fails_the_run():
    rec = RunRecord()
    _feed_all_stages(rec)
    rec.stages["gated_command"] = type(rec.stages["action"])()
    rec.on_positions(np.zeros(8))
    rec.on_positions(np.ones(8))
    s = summarize(rec)
    assert s["missing_stages"] == ["gated_command"] and not s["data_flowed"]


def test_arm_that_did_not_move_fails_the_run():
    rec = RunRecord()
    _feed_all_stages(rec)
    rec.on_positions(np.zeros(8))
    assert not summarize(rec)["data_flowed"]


def test_chunks_without_latent_are_a_missing_link():
    rec = RunRecord()
    _feed_all_stages(rec)
    rec.chunks_conditioned_on_latent = 0
    assert "latent->action_chunk" in summarize(rec)["missing_stages"]


def test_safety_states_are_kept_once_and_transitions_counted():
    rec = RunRecord()
    for name in ["READY", "RUNNING", "RUNNING[CLAMPED]", "RUNNING", "RUNNING[CLAMPED]", "RUNNING"]:
        rec.on_safety_state(name)
    s = summarize(rec)
    assert s["safety_states"] == ["READY", "RUNNING", "RUNNING[CLAMPED]"]
    assert s["safety_transitions"] == 5 and s["final_safety_state"] == "RUNNING"


def test_pipeline_lists_each_stage_once():
    assert len(set(PIPELINE)) == len(PIPELINE)


def test_run_report_carries_figures_safety_transitions_and_log_tails(tmp_path):
    rec = RunRecord()
    _feed_all_stages(rec)
    rec.on_safety_state("RUNNING")
    rec.on_safety_state("HOLD[COMMAND_STALE]")
    (tmp_path / "vla_safety.log").write_text(
        "[INFO] [1.0] [vla_safety]: state RUNNING: first valid command\n"
        + "".join(f"[INFO] [2.0] [vla_safety]: waiting {i}\n" for i in range(30))
        + "[INFO] [3.0] [vla_safety]: state HOLD: COMMAND_STALE: no controller command for 0.7 s\n")
    (tmp_path / "vla_sim.log").write_text("sim up\nsim last line\n")
    r = {**summarize(rec), "sim_time_s": 6.0, "wall_time_s": 30.0, "log_dir": str(tmp_path)}
    text = run_report(r, tail_lines=5)
    assert "final HOLD[COMMAND_STALE]" in text and "sim time 6.0 s, wall time 30.0 s" in text
    assert "gated_command" in text
    # the first transition scrolled out of the tail but is still listed
    assert "state RUNNING: first valid command" in text
    assert "--- vla_sim.log" in text and "sim last line" in text
    assert "waiting 24" not in text and "waiting 29" in text
