"""Re-run determinism and divergence detection, and bag -> dataset conversion (ROS-free)."""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bag_helpers import write_observation_bag  # noqa: E402

from vla_common.config import load_robot_config, load_topics  # noqa: E402
from vla_tools.bags.divergence import Divergence, write_report  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from vla_action_expert.init_checkpoint import main as expert_init
    from vla_planner.init_checkpoint import main as planner_init
    from vla_tools.bags.rerun import RerunConfig, Rerunner, load_recorded, write_rerun_bag
    d = tmp_path_factory.mktemp("rerun")
    robot, topics = load_robot_config("franka"), load_topics()
    write_observation_bag(d / "obs", robot, topics, duration_s=1.5)
    assert planner_init(["--robot", "franka", "--out", str(d / "planner")]) == 0
    assert expert_init(["--robot", "franka", "--out", str(d / "expert")]) == 0
    rr = Rerunner(RerunConfig(planner_checkpoint=str(d / "planner"),
                              expert_checkpoint=str(d / "expert")))
    first = rr.run(load_recorded(d / "obs", robot, topics))
    write_rerun_bag(d / "obs", d / "ref", first, robot, topics)  # the "recorded run"
    return d, robot, topics, rr, first


def test_observation_only_bag_gets_latents_and_chunks(setup):
    _, _, _, _, first = setup
    assert len(first.latents) >= 5 and len(first.chunks) >= 5 and not first.skipped


def test_rerun_with_same_checkpoint_gives_identical_actions(setup):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, first = setup
    res = rr.run(load_recorded(d / "ref", robot, topics))
    names = {x.name: x for x in res.divergences}
    assert set(names) == {"latents", "actions"}
    assert not res.diverged
    assert names["actions"].summary()["max_abs_error"] == 0.0
    assert names["actions"].recorded.shape[0] == len(first.chunks) * first.chunks[0]["data"].shape[0]


def test_rerun_with_perturbed_expert_finds_divergence(setup, tmp_path):
    import torch

    from vla_action_expert.policy import ActionExpertPolicy
    from vla_tools.bags.rerun import RerunConfig, Rerunner, load_recorded
    d, robot, topics, _, _ = setup
    pol = ActionExpertPolicy.from_pretrained(d / "expert")
    with torch.no_grad():
        torch.manual_seed(1)
        for p in pol.model.parameters():  # a small change everywhere, as fine-tuning would make
            p.add_(0.01 * torch.randn_like(p))
    pol.save_pretrained(tmp_path / "expert2")
    rr = Rerunner(RerunConfig(planner_checkpoint=str(d / "planner"),
                              expert_checkpoint=str(tmp_path / "expert2")))
    res = rr.run(load_recorded(d / "ref", robot, topics))
    acts = {x.name: x for x in res.divergences}["actions"]
    lats = {x.name: x for x in res.divergences}["latents"]
    assert acts.diverged and acts.first_index == 0 and not lats.diverged
    html = write_report(res.divergences, tmp_path / "report")
    assert html.is_file() and (tmp_path / "report" / "actions.png").stat().st_size > 1000


def test_rerun_of_truncated_bag_uses_the_readable_prefix(setup, tmp_path):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    import shutil
    shutil.copytree(d / "ref", tmp_path / "cut")
    f = tmp_path / "cut" / "cut_0.mcap" if (tmp_path / "cut" / "cut_0.mcap").exists() else \
        next((tmp_path / "cut").glob("*.mcap"))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    (tmp_path / "cut" / "metadata.yaml").unlink()
    rec = load_recorded(tmp_path / "cut", robot, topics)
    assert "truncated or corrupt" in rec.read_error
    res = rr.run(rec)
    assert not res.diverged  # what was readable re-runs identically


def test_bag_converts_to_dataset_episode(setup, tmp_path):
    from vla_common.dataset import DatasetReader
    from vla_tools.bags.convert import ConvertConfig, bag_to_episode
    d, robot, topics, _, _ = setup
    write_observation_bag(tmp_path / "cmd", robot, topics, duration_s=1.0, with_commands=True)
    out = bag_to_episode(tmp_path / "cmd", tmp_path / "ds", robot, topics,
                         ConvertConfig(success=True))
    assert out["action_source"] == "commands" and out["frames"] >= 45
    ep = DatasetReader(tmp_path / "ds").episode(0)
    assert ep.instruction == "pick up the red cube" and ep.success
    assert ep.state.shape == (out["frames"], len(robot.command_names))
    assert set(ep.images) == set(robot.cameras)
    np.testing.assert_allclose(ep.action, ep.state, atol=1e-3)  # commands followed the state


def test_bag_without_actions_is_a_clear_conversion_error(setup, tmp_path):
    from vla_tools.bags.convert import ConvertConfig, bag_to_episode
    from vla_tools.bags.errors import BagFormatError
    d, robot, topics, _, _ = setup
    with pytest.raises(BagFormatError, match="no actions"):
        bag_to_episode(d / "obs", tmp_path / "ds", robot, topics, ConvertConfig())


@pytest.mark.parametrize("rec,new,first", [
    ([[0.0, 1.0]], [[0.0, 1.0]], -1),
    ([[0.0, 1.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 1.1]], 1),
    ([[0.0, np.nan]], [[0.0, np.nan]], 0),      # NaN never counts as equal
    ([[0.0, 1.0]], [[0.0, np.inf]], 0),
    ([[1e-7, 0.0]], [[0.0, 0.0]], -1),          # within atol
])
def test_divergence_first_index(rec, new, first):
    d = Divergence("a", np.arange(len(rec), dtype=float), np.array(rec), np.array(new),
                   ("x", "y"), 1e-6)
    assert d.first_index == first


def test_divergence_of_empty_series_is_none():
    d = Divergence("a", np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2)), ("x", "y"), 1e-6)
    assert not d.diverged and d.summary()["steps"] == 0


@pytest.mark.parametrize("atol", [-1.0, np.nan, np.inf])
def test_divergence_rejects_bad_atol(atol):
    with pytest.raises(ValueError):
        Divergence("a", np.zeros(1), np.zeros((1, 1)), np.zeros((1, 1)), ("x",), atol)


def test_divergence_rejects_misaligned_series():
    with pytest.raises(ValueError):
        Divergence("a", np.zeros(2), np.zeros((2, 1)), np.zeros((3, 1)), ("x",), 0.0)


def _old_chunk_typestore(drop=("available_time",)):
    """The stack typestore with ActionChunk as it was before the fields ``drop`` were added."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from vla_tools.bags.typestore import interface_msg_dirs, stack_typestore
    text = (interface_msg_dirs()[0] / "ActionChunk.msg").read_text()
    old = "\n".join(ln for ln in text.splitlines()
                    if ln.startswith("#") or not any(f" {f}" in ln for f in drop))
    defs = get_types_from_msg(old, "vla_interfaces/msg/ActionChunk")
    ts = get_typestore(Stores.ROS2_KILTED)
    ts.register({**{k: v for k, v in stack_typestore().fielddefs.items() if k not in defs}, **defs})
    return ts


def _write_old_chunk_bag(ref_bag, out, topics, drop):
    """A copy of ``ref_bag`` whose chunks use the ActionChunk definition without ``drop``."""
    from vla_tools.bags.reader import BagReader
    from vla_tools.bags.writer import BagWriter
    old_ts, ref = _old_chunk_typestore(drop), BagReader(ref_bag)
    new_ts = ref.typestore()
    with BagWriter(out, typestore=old_ts) as w:
        for t, (ty, _) in ref.topic_types().items():
            w.add_topic(t, ty)
        for m in ref.messages():
            data = m.data
            if m.topic == topics.action_chunk:  # re-encode without the new fields
                c = new_ts.deserialize_cdr(m.data, m.msgtype)
                fields = {k: getattr(c, k) for k in c.__dataclass_fields__ if k not in drop}
                data = old_ts.serialize_cdr(old_ts.types[m.msgtype](**fields), m.msgtype)
            w.write(m.topic, m.log_time_ns, data)


def test_bag_before_available_time_reads_and_reruns_with_warning(setup, tmp_path):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    _write_old_chunk_bag(d / "ref", tmp_path / "old", topics, ("available_time",))
    rec = load_recorded(tmp_path / "old", robot, topics)
    assert rec.chunks and all(c["available_s"] is None for c in rec.chunks)
    res = rr.run(rec)
    assert len(res.warnings) == 1 and "available_time" in res.warnings[0]
    assert not res.diverged  # the reference was written with commit time == log time


def test_rerun_commits_chunks_at_recorded_available_time(setup):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, first = setup
    rec = load_recorded(d / "ref", robot, topics)
    assert [c["available_s"] for c in rec.chunks] == pytest.approx([c["log_s"] for c in first.chunks], abs=1e-9)
    res = rr.run(rec)
    assert not res.warnings and not res.diverged
    assert [c["log_s"] for c in res.chunks] == [c["available_s"] for c in rec.chunks]


def test_chunks_carry_their_rtc_guide_weights(setup):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, first = setup
    rec = load_recorded(d / "ref", robot, topics)
    h = rec.chunks[0]["data"].shape[0]
    assert rec.chunks[0]["sequence"] == 1 and rec.chunks[0]["guide_weight"].size == 0  # nothing to guide by
    assert all(c["guide_weight"].shape == (h,) and c["guide_weight"][0] == 1.0 for c in rec.chunks[1:])
    for c, n in zip(rec.chunks, first.chunks):
        assert np.array_equal(c["guide_weight"], n["guide_weight"])


def test_bag_that_begins_after_the_stack_reruns_identically_after_a_context_chunk(setup):
    """The recorder matched the chunk publisher after its first chunk, and lost another: the
    chunk after each gap was guided by a chunk the bag lacks. It is committed as recorded (not
    compared); every other chunk re-runs bit-identically."""
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    rec = load_recorded(d / "ref", robot, topics)
    assert len(rec.chunks) >= 7
    lost = {rec.chunks[0]["sequence"], rec.chunks[3]["sequence"]}
    rec.chunks = [c for c in rec.chunks if c["sequence"] not in lost]
    res = rr.run(rec)
    assert res.context_chunks == [2, 5]
    assert res.skipped == [f"chunk {s}: guided by chunk {s - 1}, which the bag lacks: its recorded "
                           "actions are committed as context, not compared" for s in (2, 5)]
    acts = {x.name: x for x in res.divergences}["actions"]
    assert not res.diverged and acts.summary()["max_abs_error"] == 0.0
    assert acts.recorded.shape[0] == (len(rec.chunks) - 2) * rec.chunks[0]["data"].shape[0]


def test_bag_whose_images_begin_late_makes_the_early_latents_and_chunks_context(setup):
    """The camera topics matched the recorder later than the rest: latents of images before the
    bag's first image, and the chunks made from them, cannot be recomputed. They are context
    (not compared); everything after re-runs bit-identically. A frame lost later is still a
    divergence."""
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    rec = load_recorded(d / "ref", robot, topics)
    t0 = rec.latents[2]["stamp_s"] + 1e-3  # the first two latents' images predate the bag
    for c in rec.images:
        rec.images[c] = [f for f in rec.images[c] if f[0] >= t0]
    res = rr.run(rec)
    assert res.context_latents == [x["stamp_s"] for x in rec.latents[:3]]
    early = [c["sequence"] for c in rec.chunks if c["latent_stamp_s"] < t0]
    assert early and res.context_chunks == early
    assert not res.diverged and not res.warnings
    n = {x.name: x for x in res.divergences}
    assert n["latents"].recorded.shape[0] == len(rec.latents) - 3
    assert n["actions"].recorded.shape[0] == (len(rec.chunks) - len(early)) * 16
    cam = robot.cameras[0]
    mid = rec.latents[5]["stamp_s"]
    rec.images[cam] = [f for f in rec.images[cam] if abs(f[0] - mid) > 1e-6]
    assert rr.run(rec).diverged


def test_rerun_guides_with_the_recorded_weights_not_its_own_delay_estimate(setup):
    """Chunks that became available later than the re-run's delay history says (e.g. its
    warm-up began before the bag): the recorded guide weights keep the re-run exact; a bag
    without them (older than the field) re-runs on its own estimate and diverges."""
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    rec = load_recorded(d / "ref", robot, topics)
    for c in rec.chunks:
        c["available_s"] += 0.06
    assert not rr.run(rec).diverged
    for c in rec.chunks:
        c["guide_weight"] = None
    assert rr.run(rec).diverged


def test_rerun_with_another_execution_strategy_recomputes_every_chunk_unguided(setup):
    """A what-if re-run (naive switching) of an RTC bag ignores the recorded guide weights."""
    import copy
    import dataclasses

    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    naive = copy.copy(rr)
    naive.cfg = dataclasses.replace(rr.cfg, execution_strategy="naive")
    rec = load_recorded(d / "ref", robot, topics)
    res = naive.run(rec)
    assert not res.skipped and not res.context_chunks and len(res.chunks) == len(rec.chunks)
    assert all(c["guide_weight"].size == 0 for c in res.chunks)
    assert res.diverged  # the recorded chunks were guided


def test_rerun_takes_the_joint_state_named_by_state_stamp(setup):
    """Chunks carry the stamp of the state they were made from; the re-run takes that very state
    (not the newest one logged before the request), and says so when it is missing."""
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, first = setup
    rec = load_recorded(d / "ref", robot, topics)
    stamps = set(round(t, 9) for t in rec.joint_state_stamps)
    assert rec.chunks and all(round(c["state_stamp_s"], 9) in stamps for c in rec.chunks)
    assert [c["state_stamp_s"] for c in rr.run(rec).chunks] == [c["state_stamp_s"] for c in rec.chunks]
    rec.chunks[1]["state_stamp_s"] += 0.0005  # a state the bag does not hold ...
    rec.chunks[1]["state"] = None  # ... and a chunk from before it carried its state
    res = rr.run(rec)
    assert any("joint state (stamp" in s and "not in the bag" in s for s in res.skipped)
    assert res.diverged  # the chunk it could not re-run counts as a divergence


def test_chunks_carry_the_state_they_were_conditioned_on(setup):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, first = setup
    rec = load_recorded(d / "ref", robot, topics)
    by_stamp = {round(t, 9): (names, q) for (_, names, q), t in
                zip(rec.joint_states, rec.joint_state_stamps)}
    assert rec.chunks
    for c in rec.chunks:
        names, q = c["state"]
        assert names == tuple(robot.command_names)
        js_names, js_q = by_stamp[round(c["state_stamp_s"], 9)]
        # the same values the joint state of that stamp holds, by name
        assert np.array_equal(q, [js_q[js_names.index(n)] for n in names])


def test_bag_that_lost_the_joint_states_reruns_on_the_chunks_own_state(setup):
    """A recorder that lagged lost the joint states the chunks were made from: each chunk
    re-runs on the state it carries, bit-identically, and the result says how many did."""
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    rec = load_recorded(d / "ref", robot, topics)
    used = {round(c["state_stamp_s"], 9) for c in rec.chunks}
    keep = [k for k, t in enumerate(rec.joint_state_stamps) if round(t, 9) not in used]
    assert len(keep) < len(rec.joint_states)
    rec.joint_states = [rec.joint_states[k] for k in keep]
    rec.joint_state_stamps = [rec.joint_state_stamps[k] for k in keep]
    res = rr.run(rec)
    assert not res.skipped and res.own_state_chunks == len(rec.chunks)
    assert not res.diverged
    assert {x.name: x for x in res.divergences}["actions"].summary()["max_abs_error"] == 0.0


def test_bag_before_the_chunk_state_fields_still_reruns_on_its_joint_states(setup, tmp_path):
    from vla_tools.bags.rerun import load_recorded
    d, robot, topics, rr, _ = setup
    _write_old_chunk_bag(d / "ref", tmp_path / "old", topics, ("state_names", "state_position"))
    rec = load_recorded(tmp_path / "old", robot, topics)
    assert rec.chunks and all(c["state"] is None for c in rec.chunks)
    res = rr.run(rec)
    assert not res.skipped and res.own_state_chunks == 0 and not res.diverged
    # without the joint states such a bag cannot re-run its chunks: they are skipped, named
    rec.joint_states, rec.joint_state_stamps = [], []
    res = rr.run(rec)
    assert len(res.skipped) == len(rec.chunks) and res.diverged


def _wrist_run(setup, tmp_path):
    """A recorded run of a wrist-image checkpoint: chunks made (as the node makes them) from
    the setup's latents and joint states and, for every other chunk, a *late* wrist frame (an
    older one than the newest stamped before the request). Returns (rerunner, bag, frames used)."""
    import copy
    import dataclasses

    import torch

    from vla_action_expert.executor import ExecutorConfig
    from vla_action_expert.policy import ActionExpertPolicy, chunk_noise_seed
    from vla_action_expert.runtime import ActionExpertRuntime, guide_weights
    from vla_tools.bags.rerun import RerunResult, load_recorded, write_rerun_bag
    d, robot, topics, rr0, first = setup
    pol = ActionExpertPolicy.random_init(rr0.policy.config.replace(wrist_image_size=16),
                                         rr0.policy.norm, seed=5)
    # a random init's FiLM modulation starts at zero (blind to the condition): give it weights,
    # so that which wrist frame the chunk saw changes the actions
    torch.manual_seed(6)
    with torch.no_grad():
        for name, p in pol.model.named_parameters():
            if ".mod." in name:
                p.normal_(0.0, 0.3)
    rr = copy.copy(rr0)  # same planner, the wrist-image expert; recorded latents, so that a
    rr.policy = pol      # wrist frame missing from the bag only affects its own chunk
    rr.cfg = dataclasses.replace(rr0.cfg, use_recorded_latents=True)
    obs = load_recorded(d / "obs", robot, topics)
    frames = obs.images[rr.cfg.wrist_camera]
    assert len(frames) >= 10
    rt = ActionExpertRuntime(pol, ExecutorConfig(strategy=rr.cfg.execution_strategy,
                                                 interpolation=rr.cfg.interpolation))
    js_log = [t for t, _, _ in obs.joint_states]
    chunks, used = [], []
    for k, lat in enumerate(first.latents[1:8]):
        t_req = lat["stamp_s"] + 0.03
        j = int(np.searchsorted(js_log, t_req, side="right")) - 1
        _, names, pos = obs.joint_states[j]
        newest = int(np.searchsorted([f[0] for f in frames], t_req, side="right")) - 1
        w = newest - 2 if k % 2 == 0 else newest  # the newer frames had not arrived yet
        assert w >= 0
        rt.on_latent(lat["latent"], lat["stamp_s"])
        rt.on_joint_state(names, pos, js_log[j], obs.joint_state_stamps[j])
        rt.on_wrist_image(frames[w][1], frames[w][0])
        req, why = rt.prepare(t_req)
        assert req is not None, why
        assert req.wrist_stamp_s == frames[w][0]
        obs_in = {"latent": req.latent, "latent_age_s": req.latent_age_s, "state": req.state,
                  "wrist_image": req.wrist_image}
        chunk = pol.predict_action_chunk(obs_in, seed=chunk_noise_seed(pol.seed, req.sequence - 1),
                                         guide=req.guide)
        commit_s = t_req + 0.004
        rt.commit(req, chunk, commit_s, 0.0)
        chunks.append({"sequence": req.sequence, "start_s": t_req, "request_s": t_req,
                       "state_stamp_s": req.state_stamp_s,
                       "state": (tuple(pol.config.action_names), req.state.copy()),
                       "wrist_stamp_s": req.wrist_stamp_s, "log_s": commit_s,
                       "latent_stamp_s": req.latent_stamp_s,
                       "guide_weight": guide_weights(req.guide),
                       "period_s": pol.config.step_period_s, "data": chunk})
        used.append(w)
    write_rerun_bag(d / "obs", tmp_path / "wrist_ref",
                    RerunResult(first.latents, chunks, [], []), robot, topics)
    return rr, tmp_path / "wrist_ref", used


def test_wrist_image_chunks_rerun_bit_identically_on_the_frame_they_saw(setup, tmp_path):
    from vla_tools.bags.rerun import load_recorded
    _, robot, topics, _, _ = setup
    rr, bag, used = _wrist_run(setup, tmp_path)
    rec = load_recorded(bag, robot, topics)
    frames = rec.images[rr.cfg.wrist_camera]
    assert [c["wrist_stamp_s"] for c in rec.chunks] == [frames[w][0] for w in used]
    res = rr.run(rec)
    assert not res.skipped and not res.diverged, res.skipped
    assert {x.name: x for x in res.divergences}["actions"].summary()["max_abs_error"] == 0.0
    assert [c["wrist_stamp_s"] for c in res.chunks] == [c["wrist_stamp_s"] for c in rec.chunks]


def test_wrist_image_missing_from_the_bag_skips_the_chunk_with_a_reason(setup, tmp_path):
    from vla_tools.bags.rerun import load_recorded
    _, robot, topics, _, _ = setup
    rr, bag, used = _wrist_run(setup, tmp_path)
    rec = load_recorded(bag, robot, topics)
    frames = rec.images[rr.cfg.wrist_camera]
    lost = frames[used[2]][0]
    rec.images[rr.cfg.wrist_camera] = [f for f in frames if f[0] != lost]  # a recorder lost it
    res = rr.run(rec)
    skipped = [s for s in res.skipped if s.startswith("chunk ")]  # (its latent lost an input)
    assert skipped == [f"chunk {c['sequence']}: its wrist image (stamp {lost:.6f}) is not in "
                       "the bag" for c in rec.chunks if c["wrist_stamp_s"] == lost]
    assert skipped and len(res.chunks) == len(rec.chunks) - len(skipped)
    assert res.diverged  # the chunk it could not re-run counts as a divergence


def test_bag_before_the_wrist_stamp_decodes_and_reruns_on_the_newest_frame(setup, tmp_path):
    """Older bags keep the old guess (the newest frame before the request): their chunks decode
    and re-run, and a chunk that saw a late frame is then (rightly) reported as diverged."""
    from vla_tools.bags.rerun import load_recorded
    _, robot, topics, _, _ = setup
    rr, bag, used = _wrist_run(setup, tmp_path)
    _write_old_chunk_bag(bag, tmp_path / "old", topics, ("wrist_image_stamp",))
    rec = load_recorded(tmp_path / "old", robot, topics)
    assert rec.chunks and all(c["wrist_stamp_s"] is None for c in rec.chunks)
    res = rr.run(rec)
    assert not res.skipped and res.diverged
    acts = {x.name: x for x in res.divergences}["actions"]
    h = rec.chunks[0]["data"].shape[0]
    assert acts.first_index // h == 0  # the first chunk saw a late frame
    frames = [f[0] for f in rec.images[rr.cfg.wrist_camera]]
    assert [c["wrist_stamp_s"] for c in res.chunks] == \
        [max(t for t in frames if t <= c["request_s"]) for c in rec.chunks]
