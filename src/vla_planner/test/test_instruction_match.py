"""Nearest trained instruction: exact strings pass, paraphrases map, unrelated text is refused."""
import json

import numpy as np
import pytest

from vla_planner.instruction_match import InstructionMatcher, InstructionSet, group_by_shared_phrasings, \
    read_instruction_set, \
    write_instruction_set

VOCAB = ("pick", "red", "blue", "cube", "lift", "dance")


def bag_of_words(texts):
    """A deterministic stand-in sentence encoder: word counts over a tiny vocabulary."""
    return np.array([[t.split().count(w) for w in VOCAB] + [0.01] for t in texts], float)


TRAINED = ("pick red cube", "pick blue cube")


def test_trained_instruction_is_given_as_is_with_similarity_one():
    m = InstructionMatcher(InstructionSet(TRAINED), bag_of_words).interpret("pick red cube")
    assert (m.matched, m.similarity) == ("pick red cube", 1.0)


def test_unseen_phrasing_maps_to_the_most_similar_trained_instruction():
    m = InstructionMatcher(InstructionSet(TRAINED), bag_of_words).interpret("lift blue cube")
    assert m.matched == "pick blue cube" and 0.5 < m.similarity < 1.0


def test_text_close_to_no_trained_instruction_is_refused_with_the_closest_named():
    with pytest.raises(ValueError, match="not close to any trained instruction.*similarity"):
        InstructionMatcher(InstructionSet(TRAINED, min_similarity=0.5), bag_of_words).interpret("dance")


def test_exact_mode_refuses_any_untrained_phrasing():
    with pytest.raises(ValueError, match="only its trained phrasings"):
        InstructionMatcher(InstructionSet(TRAINED, match="exact"), bag_of_words).interpret("lift blue cube")


@pytest.mark.parametrize("bad", [np.full((2, 7), np.nan), np.zeros((2, 7)), np.ones((3, 7)), np.ones(7)])
def test_unusable_embeddings_of_the_trained_set_are_an_error(bad):
    with pytest.raises(ValueError, match="embedding"):
        InstructionMatcher(InstructionSet(TRAINED), lambda texts: bad)


@pytest.mark.parametrize("kw", [{"match": "fuzzy"}, {"min_similarity": 1.5},
                                {"min_similarity": float("nan")}, {"instructions": ()},
                                {"instructions": ("ok", " ")}])
def test_instruction_set_rejects_bad_fields(kw):
    args = {"instructions": TRAINED, **kw}
    with pytest.raises(ValueError):
        InstructionSet(tuple(args.pop("instructions")), **args)


def test_instruction_file_round_trips_and_a_missing_file_is_none(tmp_path):
    assert read_instruction_set(tmp_path) is None
    s = InstructionSet(TRAINED, "nearest", 0.6, groups=(0, 1), min_margin=0.05)
    write_instruction_set(tmp_path, s)
    assert read_instruction_set(tmp_path) == s


@pytest.mark.parametrize("content", ["{not json", json.dumps({"match": "nearest"}),
                                     json.dumps({"instructions": [], "match": "nearest"})])
def test_corrupt_instruction_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "instructions.json").write_text(content)
    with pytest.raises(ValueError, match="instructions.json"):
        read_instruction_set(tmp_path)


def test_phrasings_sharing_a_string_form_one_meaning():
    texts, groups = group_by_shared_phrasings([
        ["hand red left to right", "transfer left to right"],
        ["hand blue left to right", "transfer left to right"],
        ["hand red right to left", "transfer right to left"]])
    g = dict(zip(texts, groups))
    assert g["hand red left to right"] == g["hand blue left to right"] == g["transfer left to right"]
    assert g["hand red right to left"] == g["transfer right to left"] != g["transfer left to right"]
    assert list(texts) == sorted(texts) and sorted(set(groups)) == [0, 1]


def test_empty_phrasing_lists_give_no_instructions():
    assert group_by_shared_phrasings([]) == ((), ())


def test_text_as_close_to_two_meanings_is_refused_as_ambiguous():
    # "pick cube" is equally close to the red and the blue instruction
    iset = InstructionSet(TRAINED, groups=(0, 1), min_similarity=0.1, min_margin=0.03)
    with pytest.raises(ValueError, match="ambiguous.*rephrase"):
        InstructionMatcher(iset, bag_of_words).interpret("pick cube")


def test_close_phrasings_of_one_meaning_are_not_ambiguous():
    iset = InstructionSet(("pick red cube", "lift red cube", "pick blue cube"), groups=(0, 0, 1),
                          min_similarity=0.1, min_margin=0.03)
    m = InstructionMatcher(iset, bag_of_words).interpret("pick lift red cube")
    assert m.matched in ("pick red cube", "lift red cube")


def test_groups_of_another_length_than_the_instructions_are_an_error():
    with pytest.raises(ValueError, match="groups"):
        InstructionSet(TRAINED, groups=(0,))


SIDED = ("transfer the cube from the left arm to the right arm",
         "transfer the cube from the right arm to the left arm")


def _order_blind(texts):
    """A sentence encoder that, like mean pooling in the small MiniLM, cannot see word order."""
    words = sorted({w for t in SIDED for w in t.split()} | {"should", "take"})
    return np.array([[t.split().count(w) for w in words] + [0.01] for t in texts], float)


@pytest.mark.parametrize("text, meant", [
    ("the right arm should take the cube from the left arm", SIDED[0]),
    ("the left arm should take the cube from the right arm", SIDED[1]),
])
def test_a_named_source_side_resolves_what_the_encoder_cannot(text, meant):
    iset = InstructionSet(SIDED, groups=(0, 1), min_similarity=0.1)
    assert InstructionMatcher(iset, _order_blind).interpret(text).matched == meant


def test_without_side_roles_the_mirror_images_stay_ambiguous():
    iset = InstructionSet(SIDED, groups=(0, 1), min_similarity=0.1, side_roles=False)
    with pytest.raises(ValueError, match="ambiguous"):
        InstructionMatcher(iset, _order_blind).interpret("the right arm should take the cube from the left arm")


def test_a_source_side_no_trained_instruction_has_is_refused():
    iset = InstructionSet(SIDED[:1], min_similarity=0.1)
    with pytest.raises(ValueError, match="right side as the source"):
        InstructionMatcher(iset, _order_blind).interpret("take the cube from the right arm")


def test_side_roles_must_be_a_json_bool(tmp_path):
    (tmp_path / "instructions.json").write_text(json.dumps({"instructions": ["a"], "side_roles": "yes"}))
    with pytest.raises(ValueError, match="side_roles"):
        read_instruction_set(tmp_path)
