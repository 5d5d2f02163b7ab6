"""Skill mastery model: probabilities, direction of learning, checkpoints, bounded state."""

from __future__ import annotations

import copy
import doctest
import random

import orjson
import pytest

from streams.models import mastery
from streams.models.mastery import SkillModel

ENGINES = ("river", "fast")
MIN = 60_000


def _warm(model: SkillModel, learners: int = 60, seed: int = 1) -> None:
    """Teach the shared model a population: able learners get most answers right."""
    rng = random.Random(seed)
    t = 0
    for i in range(learners):
        section: dict = {}
        ability = 0.4 + 0.5 * (i % 2)
        for _ in range(25):
            skill = rng.choice(["a", "b", "c", "d"])
            t += MIN
            model.learn(section, [skill], rng.random() < ability, t)


@pytest.mark.parametrize("engine", ENGINES)
def test_predictions_are_probabilities(engine: str) -> None:
    model = SkillModel(engine=engine)  # type: ignore[arg-type]
    _warm(model)
    section: dict = {}
    for i, ok in enumerate([True, False, True, True, False] * 4):
        p = model.learn(section, ["a", "b"] if i % 3 else ["c"], ok, i * MIN)
        assert 0.0 < p < 1.0
    for skill in ["a", "b", "c", "never-seen"]:
        assert 0.0 < model.predict(section, [skill]) < 1.0
        assert 0.0 <= model.mastery(section, skill) <= 1.0
    assert 0.0 < model.predict(section, []) < 1.0  # untagged question still gets a guess


@pytest.mark.parametrize("engine", ENGINES)
def test_correct_answers_raise_mastery_and_wrong_ones_lower_it(engine: str) -> None:
    model = SkillModel(engine=engine)  # type: ignore[arg-type]
    _warm(model)
    good: dict = {}
    bad: dict = {}
    start = model.mastery({}, "b")
    for i in range(8):
        model.learn(good, ["b"], True, i * MIN)
        model.learn(bad, ["b"], False, i * MIN)
    assert model.mastery(good, "b") > start + 0.1
    assert model.mastery(bad, "b") < start - 0.1
    assert model.predict(good, ["b"]) > model.predict(bad, ["b"])
    # one more right answer after a run of wrong ones moves the estimate up
    before = model.mastery(bad, "b")
    model.learn(bad, ["b"], True, 9 * MIN)
    assert model.mastery(bad, "b") > before


@pytest.mark.parametrize("engine", ENGINES)
def test_learn_returns_the_prediction_made_before_learning(engine: str) -> None:
    model = SkillModel(engine=engine)  # type: ignore[arg-type]
    _warm(model)
    section: dict = {}
    model.learn(section, ["a"], True, MIN)
    expected = model.predict(section, ["a"], 2 * MIN)
    assert model.learn(section, ["a"], False, 2 * MIN) == pytest.approx(expected, abs=1e-12)
    assert model.predict(section, ["a"], 3 * MIN) != pytest.approx(expected, abs=1e-6)
    # the answer itself cannot leak into the prediction made for it
    # (a checkpoint round trip, not deepcopy: compiled model classes do not pickle)
    twin = SkillModel.from_dict(orjson.loads(orjson.dumps(model.to_dict())))
    s1, s2 = copy.deepcopy(section), copy.deepcopy(section)
    assert model.learn(s1, ["b"], True, 4 * MIN) == twin.learn(s2, ["b"], False, 4 * MIN)


@pytest.mark.parametrize("engine", ENGINES)
def test_checkpoint_round_trip_gives_identical_predictions(engine: str) -> None:
    model = SkillModel(engine=engine)  # type: ignore[arg-type]
    _warm(model)
    section: dict = {}
    _ = model.learn(section, ["a"], True, MIN), model.learn(section, ["d"], False, 2 * MIN)
    restored = SkillModel.from_dict(orjson.loads(orjson.dumps(model.to_dict())))
    for skills in (["a"], ["b"], ["a", "d"], ["new"]):
        assert restored.predict(section, skills) == model.predict(section, skills)
    # and they keep learning the same way
    s1, s2 = copy.deepcopy(section), copy.deepcopy(section)
    for i, ok in enumerate([True, True, False, True]):
        p1 = model.learn(s1, ["c"], ok, (3 + i) * MIN)
        p2 = restored.learn(s2, ["c"], ok, (3 + i) * MIN)
        assert p1 == pytest.approx(p2, abs=1e-12)
    assert s1 == s2


def test_checkpoints_move_between_engines() -> None:
    river = SkillModel(engine="river")
    _warm(river)
    section: dict = {}
    river.learn(section, ["a"], True, MIN)
    data = river.to_dict()
    data["engine"] = "fast"
    fast = SkillModel.from_dict(data)
    assert fast.predict(section, ["a"]) == pytest.approx(river.predict(section, ["a"]), abs=1e-9)


def test_unknown_checkpoint_format_is_refused() -> None:
    data = SkillModel().to_dict()
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        SkillModel.from_dict(data)


def test_section_stays_bounded_after_a_thousand_skills() -> None:
    model = SkillModel(engine="fast", max_skills=32)
    section: dict = {}
    for i in range(1000):
        model.learn(section, [f"skill-{i}"], i % 3 != 0, i * MIN)
    assert len(section["sk"]) == 32
    assert list(section["sk"])[-1] == "skill-999"  # most recent kept, oldest dropped
    assert "skill-0" not in section["sk"]
    assert len(orjson.dumps(section)) < 2500
    assert len(model.skills(section)) == 32


def test_same_events_from_fresh_state_give_same_state() -> None:
    rng = random.Random(7)
    events = [([rng.choice("abcde")], rng.random() < 0.7, i * MIN) for i in range(300)]

    def replay() -> tuple[dict, dict]:
        model = SkillModel()
        section: dict = {}
        for skills, ok, t in events:
            model.learn(section, skills, ok, t)
        return section, model.to_dict()

    assert replay() == replay()


def test_predict_and_mastery_do_not_change_the_section() -> None:
    model = SkillModel()
    section: dict = {}
    model.learn(section, ["a"], True, MIN)
    frozen = copy.deepcopy(section)
    model.predict(section, ["a", "b"])
    model.skills(section)
    model.mastery(section, "z")
    assert section == frozen


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine"):
        SkillModel(engine="torch")  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(mastery).failed == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_remembered_mastery_is_what_a_fresh_prediction_gives(engine: mastery.Engine) -> None:
    # mastery() remembers its answers for the section it was last asked about,
    # until the next learn(): interleaved learners, skills and repeats must all
    # give exactly the prediction made from scratch.
    model = SkillModel(engine=engine)
    _warm(model, learners=10)
    rng = random.Random(3)
    sections: list[dict] = [{} for _ in range(4)]
    seen = set()
    for i in range(300):
        section = rng.choice(sections)
        if rng.random() < 0.4:
            model.learn(section, [rng.choice("abcde")], rng.random() < 0.6, i * MIN)
        skill = rng.choice("abcdez")
        got = model.mastery(section, skill)
        assert got == model.predict(section, [skill])
        assert model.mastery(section, skill) == got  # asked again: the same, remembered
        # an equal copy is another section: computed again, and equal
        assert model.mastery(copy.deepcopy(section), skill) == got
        seen.add(round(got, 6))
    assert len(seen) > 20  # the sequence really moved the estimates
