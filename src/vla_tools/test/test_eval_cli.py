"""Evaluation CLI helpers, seed policy and the report (ROS-free)."""
import io
import json

import pytest

from vla_tools import evaluate
from vla_tools.eval_report import write_report


@pytest.mark.parametrize("text,seeds", [("100000:100003", [100000, 100001, 100002]),
                                        ("5,7", [5, 7])])
def test_parse_seeds_accepts_range_and_list(text, seeds):
    assert evaluate.parse_seeds(text) == seeds


@pytest.mark.parametrize("bad", ["", "10:10", "a:b", ","])
def test_parse_seeds_rejects_empty_or_malformed(bad):
    with pytest.raises(ValueError):
        evaluate.parse_seeds(bad)


def test_instruction_file_round_trip_and_template_choice(tmp_path):
    p = tmp_path / "i.txt"
    p.write_text("# comment\npick_cube: lift the {color} thing\npick_cube: get {color}\n")
    t = evaluate.read_instruction_file(p)
    assert evaluate.instruction_for(t, "pick_cube", 100001, {"color": "red"}) == "get red"
    assert evaluate.instruction_for(t, "place_cube_on_plate", 1, {}) is None
    assert evaluate.instruction_for(None, "pick_cube", 1, {}) is None


@pytest.mark.parametrize("content", ["no colon here\n", "# only comments\n", ": empty task\n"])
def test_instruction_file_bad_content_is_a_clear_error(tmp_path, content):
    p = tmp_path / "i.txt"
    p.write_text(content)
    with pytest.raises(ValueError):
        evaluate.read_instruction_file(p)


def test_instruction_file_missing_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        evaluate.read_instruction_file(tmp_path / "nope.txt")


def test_template_with_unknown_field_is_a_clear_error():
    with pytest.raises(ValueError, match="plate_color"):
        evaluate.instruction_for({"pick_cube": ["{plate_color}"]}, "pick_cube", 0, {"color": "red"})


def test_shipped_heldout_file_parses_and_differs_from_training_phrasings():
    from vla_common.config import find_config_dir
    from vla_sim.instructions import templates
    t = evaluate.read_instruction_file(find_config_dir() / "instructions" / "heldout.txt")
    for task, tmpls in t.items():
        assert not set(tmpls) & set(templates(task, "augment"))  # train + training-only


def test_cli_refuses_training_seeds(capsys):
    assert evaluate.main(["--seeds", "0:5", "--backend", "inproc"]) == 2
    assert "training seeds" in capsys.readouterr().err


def _ep(mode, task, seed, ok, t=None, wrong=0):
    return {"mode": mode, "task": task, "seed": seed, "instruction": "x", "success": ok,
            "time_to_success_s": t, "wrong_object_picks": wrong, "jerk_rms_rad_s3": 1.0,
            "safety_events": 0, "action_rate_hz": 200.0, "chunk_rate_hz": 10.0,
            "latent_rate_hz": 8.0, "s1_compute_ms_p50": 2.0, "s2_compute_ms_p50": 9.0}


def test_summarize_counts_success_and_wrong_picks_per_mode_and_task():
    eps = [_ep("async", "pick_cube", 1, True, 3.0), _ep("async", "pick_cube", 2, False, wrong=1),
           _ep("sync", "pick_cube", 1, True, 5.0)]
    s = evaluate.summarize(eps)
    assert s["async"]["pick_cube"]["success_rate"] == 0.5
    assert s["async"]["pick_cube"]["episodes_with_wrong_object_pick"] == 1
    assert s["sync"]["pick_cube"]["mean_time_to_success_s"] == 5.0


def test_summarize_counts_episodes_that_lifted_an_object_short_of_success():
    eps = [_ep("async", "transfer_cube", k, False) for k in range(3)]
    for e, lifted in zip(eps, (["cube"], [], None)):
        e["extra"] = {"lifted_objects": lifted}
    assert evaluate.summarize(eps)["async"]["transfer_cube"]["episodes_with_lift"] == 1


def test_summarize_without_lift_reports_gives_none():
    s = evaluate.summarize([_ep("async", "pick_cube", 1, True, 3.0)])
    assert s["async"]["pick_cube"]["episodes_with_lift"] is None


def test_report_writes_html_and_png(tmp_path):
    eps = [_ep("async", "pick_cube", 1, True, 3.0), _ep("sync", "pick_cube", 1, False)]
    (tmp_path / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in eps))
    (tmp_path / "summary.json").write_text(json.dumps({"meta": {"robot": "franka"},
                                                       "summary": evaluate.summarize(eps)}))
    html = write_report(tmp_path)
    assert "pick_cube" in html.read_text()
    assert (tmp_path / "report.png").stat().st_size > 1000


def test_report_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="episodes.jsonl"):
        write_report(tmp_path)


def test_report_of_killed_run_rebuilds_summary_and_drops_cut_off_last_line(tmp_path, capsys):
    eps = [_ep("async", "pick_cube", 1, True, 3.0), _ep("async", "pick_cube", 2, False)]
    (tmp_path / "episodes.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in eps) + json.dumps(eps[0])[:25])
    html = write_report(tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["meta"]["rebuilt_from_episodes"] and s["meta"]["episodes_done"] == 2
    assert s["summary"]["async"]["pick_cube"]["successes"] == 1
    assert "Partial run" in html.read_text()
    assert "cut-off last line" in capsys.readouterr().err


def test_report_with_malformed_middle_line_is_a_clear_error(tmp_path):
    e = json.dumps(_ep("async", "pick_cube", 1, True, 3.0))
    (tmp_path / "episodes.jsonl").write_text(e + "\n{broken\n" + e + "\n")
    with pytest.raises(ValueError, match="episodes.jsonl:2"):
        write_report(tmp_path)


def test_interrupted_evaluation_writes_summary_of_finished_episodes(tmp_path, monkeypatch):
    def two_then_ctrl_c(robot, tasks, seeds, planner, expert, modes, templates, progress,
                        on_result, *args, **kwargs):
        on_result(_ep("async", "pick_cube", 100000, True, 3.0))
        on_result(_ep("async", "pick_cube", 100001, False))
        raise KeyboardInterrupt
    monkeypatch.setattr(evaluate, "evaluate_inproc", two_then_ctrl_c)
    rc = evaluate.main(["--backend", "inproc", "--seeds", "100000:100005", "--modes", "async",
                        "--out", str(tmp_path), "--no-progress"])
    assert rc == 130
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["meta"]["interrupted"] and s["meta"]["episodes_done"] == 2
    assert s["summary"]["async"]["pick_cube"]["episodes"] == 2
    assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "report.html").is_file()


def test_write_gif_writes_an_animation(tmp_path):
    import numpy as np
    from PIL import Image
    from vla_tools.gif_writer import write_gif
    frames = [np.full((16, 16, 3), v, np.uint8) for v in (0, 120, 250)]
    p = write_gif(frames, tmp_path / "a" / "x.gif", fps=5)
    with Image.open(p) as im:
        assert im.n_frames == 3 and im.size == (32, 32)


@pytest.mark.parametrize("frames,kw", [([], {}), ([__import__("numpy").zeros((4, 4), "uint8")], {}),
                                       ([__import__("numpy").zeros((4, 4, 3), "uint8")], {"fps": 0})])
def test_write_gif_rejects_bad_input(tmp_path, frames, kw):
    from vla_tools.gif_writer import write_gif
    with pytest.raises(ValueError):
        write_gif(frames, tmp_path / "x.gif", **kw)


def test_graph_backend_counts_wrong_object_picks_from_the_sim_task_json():
    """The ROS-graph evaluation reads /vla_sim/task: a number (0 when nothing wrong was lifted),
    counted like the in-process evaluation, and None only from a sim that does not report it."""
    import mujoco

    from vla_common.config import load_robot_config
    from vla_sim.factory import make_env
    from vla_sim.tasks import CUBES
    from vla_tools.ros_eval_graph import wrong_object_picks
    env = make_env(load_robot_config("franka", "sim"))
    try:
        env.reset("pick_cube", 100000)
        fresh = json.loads(json.dumps(env.task_state()))
        other = next(c for c in CUBES if c != env.task_params["target"])
        jnt = env.model.body_jntadr[env._ctx.body_id(other)]
        env.data.qpos[env.model.jnt_qposadr[jnt] + 2] += 0.1
        mujoco.mj_forward(env.model, env.data)
        lifted = json.loads(json.dumps(env.task_state()))
        assert wrong_object_picks(lifted) == len(env.wrong_lifted_objects()) == 1
    finally:
        env.close()
    assert wrong_object_picks(fresh) == 0
    assert wrong_object_picks({k: v for k, v in fresh.items() if k != "lifted_objects"}) is None
    s = evaluate.summarize([_ep("async", "pick_cube", 1, True, 3.0, wrong=wrong_object_picks(fresh)),
                            _ep("async", "pick_cube", 2, False, wrong=wrong_object_picks(lifted))])
    assert s["async"]["pick_cube"]["episodes_with_wrong_object_pick"] == 1


@pytest.mark.parametrize("argv,message", [
    (["--backend", "inproc", "--inference-rate-hz", "0"], "finite number > 0"),
    (["--backend", "inproc", "--inference-rate-hz", "nan"], "finite number > 0"),
    (["--backend", "inproc", "--inference-rate-hz", "-3"], "finite number > 0"),
    (["--backend", "ros", "--inference-rate-hz", "inf"], "finite number > 0")])
def test_cli_bad_inference_rate_is_a_clear_error(argv, message, capsys):
    assert evaluate.main(["--seeds", "100000:100002", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_inference_rate_reaches_the_in_process_evaluation_and_the_summary(tmp_path, monkeypatch):
    seen = {}

    def one_episode(robot, tasks, seeds, planner, expert, modes, templates, progress,
                    on_result, *args, **kwargs):
        seen.update(kwargs)
        on_result(_ep("async", "pick_cube", 100000, True, 3.0))
    monkeypatch.setattr(evaluate, "evaluate_inproc", one_episode)
    rc = evaluate.main(["--backend", "inproc", "--seeds", "100000:100001", "--modes", "async",
                        "--inference-rate-hz", "3", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0 and seen["inference_rate_hz"] == 3.0
    assert json.loads((tmp_path / "summary.json").read_text())["meta"]["inference_rate_hz"] == 3.0


def test_cli_inference_rate_reaches_the_graph_evaluation(tmp_path, monkeypatch):
    import vla_tools.ros_eval_graph as graph
    seen = {}

    def one_episode(robot, tasks, seeds, models, modes, templates, out, **kwargs):
        seen.update(kwargs)
        kwargs["on_result"](_ep("async", "pick_cube", 100000, True, 3.0))
    monkeypatch.setattr(graph, "evaluate_graph", one_episode)
    rc = evaluate.main(["--backend", "ros", "--seeds", "100000:100001", "--modes", "async",
                        "--inference-rate-hz", "5", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0 and seen["inference_rate_hz"] == 5.0
    assert json.loads((tmp_path / "summary.json").read_text())["meta"]["inference_rate_hz"] == 5.0


def test_summarize_counts_refused_instructions_and_keeps_them_out_of_the_rates():
    ok = {"mode": "async", "task": "t", "success": True, "time_to_success_s": 1.0,
          "wrong_object_picks": 0, "action_rate_hz": 50.0, "extra": {}}
    refused = {"mode": "async", "task": "t", "success": False, "time_to_success_s": None,
               "wrong_object_picks": 0, "action_rate_hz": None,
               "extra": {"instruction_refused": "rejected: ambiguous"}}
    summary = evaluate.summarize([ok, refused])
    s = summary["async"]["t"]
    assert s["instructions_refused"] == 1 and s["success_rate"] == 0.5
    assert s["mean_action_rate_hz"] == 50.0
    out = io.StringIO()
    evaluate.print_table(summary, out)
    assert "1 instruction(s) refused" in out.getvalue()
