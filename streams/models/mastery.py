"""Per-learner skill mastery: streaming knowledge tracing with one shared online model.

Each answer (a learner, the skills of the question, correct or not, event time)
first gets a prediction of P(correct), then teaches two things:

* the learner's ``mastery`` section (a small JSON-able dict, mutated in place):
  per-skill successes, failures, a recency-weighted correctness, the current
  run of right/wrong answers, how much this learner beats the model on the skill
  (residual), when it was last practised; and learner-wide an Elo ability, two
  residual rates, the attempt count and the current run on one skill;
* the shared part (global across learners): an online logistic regression
  (River ``LogisticRegression`` with AdaGrad) over features engineered from
  that section, plus Elo skill difficulties.

Features (why each is there, measured on ASSISTments 2015; see
``learnpulse.evaluate.knowledge_tracing``):

* PFA-style log counts of successes/failures with per-skill weights, and a
  one-hot of the capped (successes, failures) pair: the learning curve per skill;
* the current streak on the skill and the length of the current run on one
  skill (skill builders end after three right in a row);
* recency-weighted correctness on the skill; the learner's Elo ability;
  residual rates (how much better than predicted the learner has done lately,
  overall and on this skill): learner ability that adjusts for skill difficulty;
* transfer: for the 8 most recently practised other skills, their recency-
  weighted correctness with a weight per (other skill, this skill) pair;
* time since the skill was last practised (forgetting; neutral on data
  without real times);
* all but the transfer features are also copied per segment (first answer of
  the learner, first answer on the skill, same run, returning to a skill):
  in effect one specialised model per segment, +0.0015 AUC.

The section keeps at most ``max_skills`` skills, the most recently practised,
with rounded numbers (a few hundred bytes for a typical learner).

Examples
--------
>>> model = SkillModel()
>>> section: dict = {}
>>> for i in range(6):
...     p = model.learn(section, ["fractions"], True, t_ms=60_000 * i)
>>> model.mastery(section, "fractions") > model.mastery({}, "fractions")
True
>>> 0.0 < model.predict(section, ["fractions", "decimals"]) < 1.0
True
>>> sorted(model.skills(section))
['fractions']
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import islice
from typing import Any, Final, Literal, Protocol

from river import linear_model, optim, utils

from streams.models.rounding import fast_round

Section = dict[str, Any]
Features = dict[str, float]
Engine = Literal["river", "fast"]

FORMAT: Final = 1
NO_SKILL: Final = "?"  # stands for "no skill tagged" so such answers still inform ability
MINUTE_MS: Final = 60_000

# Layout of one per-skill entry in section["sk"][skill] (a list, to stay small).
SUCC: Final = 0
FAIL: Final = 1
EWR: Final = 2
STREAK: Final = 3
RES: Final = 4
MINUTE: Final = 5

_EW_RATE: Final = 0.3  # per-skill recency-weighted correctness
_RES_RATES: Final[tuple[float, ...]] = (0.1, 0.02)  # learner residual rates: recent, long-run
_SKILL_RES_RATE: Final = 0.3
_ELO_K: Final = 0.4
_ELO_K_DECAY: Final = 0.05
_ELO_DIFF_RATE: Final = 0.01
_MAX_STREAK: Final = 4
_MAX_COUNT: Final = 5
_MAX_RUN: Final = 10

# Feature names, made once: the one-hots from tables, the per-skill and per-segment
# names from memos. Built per call (f-strings, concatenations, then hashed for the
# dict) they were about a third of _skill_features' instructions (callgrind).
_C_KEYS: Final[tuple[tuple[str, ...], ...]] = tuple(
    tuple(f"c:{i}:{j}" for j in range(_MAX_COUNT + 1)) for i in range(_MAX_COUNT + 1)
)
_K_KEYS: Final[tuple[str, ...]] = tuple(f"k:{i}" for i in range(-_MAX_STREAK, _MAX_STREAK + 1))
_RUN_KEYS: Final[tuple[str, ...]] = tuple(f"run:{i}" for i in range(_MAX_RUN + 1))
_LOG_KEYS: Final = 64  # int(log2(1 + x)) of any count or minute span stays below this
_N_KEYS: Final[tuple[str, ...]] = tuple(f"n:{i}" for i in range(_LOG_KEYS))
_G_KEYS: Final[tuple[str, ...]] = tuple(f"g:{i}" for i in range(_LOG_KEYS))
# skill -> ("s:" + skill, "ls:" + skill, "lf:" + skill); segment -> name -> segment + name.
# Bounded by the catalog's skills; cleared past the cap all the same.
_SKILL_KEYS: Final[dict[str, tuple[str, str, str]]] = {}
_SEG_KEYS: Final[dict[str, dict[str, str]]] = {"F|": {}, "N|": {}, "S|": {}, "R|": {}}
_KEYS_MAX: Final = 50_000


def _skill_keys(s: str) -> tuple[str, str, str]:
    keys = _SKILL_KEYS.get(s)
    if keys is None:
        if len(_SKILL_KEYS) >= _KEYS_MAX:
            _SKILL_KEYS.clear()
        keys = _SKILL_KEYS[s] = ("s:" + s, "ls:" + s, "lf:" + s)
    return keys


def _sigmoid(z: float) -> float:
    if z < -35.0:
        return 1e-15
    if z > 35.0:
        return 1.0 - 1e-15
    return 1.0 / (1.0 + math.exp(-z))


class _Learner(Protocol):
    def proba(self, x: Features) -> float: ...

    def learn(self, x: Features, y: bool, p: float) -> None: ...

    def weights(self) -> dict[str, float]: ...

    def accumulators(self) -> dict[str, float]: ...


class _RiverLearner:
    """River ``LogisticRegression`` + AdaGrad; the bias is the feature ``b``."""

    def __init__(self, lr: float, w: dict[str, float], g2: dict[str, float]) -> None:
        # intercept_lr=0: River's intercept uses plain SGD; the ``b`` feature gets AdaGrad.
        self.model = linear_model.LogisticRegression(optimizer=optim.AdaGrad(lr), intercept_lr=0.0)
        # River has no public setter for learned state: these are the attributes it reads.
        self.model._weights = utils.VectorDict(dict(w))
        self.model.optimizer.g2 = defaultdict(float, g2)

    def proba(self, x: Features) -> float:
        return float(self.model.predict_proba_one(x)[True])

    def learn(self, x: Features, y: bool, p: float) -> None:
        self.model.learn_one(x, y)

    def weights(self) -> dict[str, float]:
        return dict(self.model.weights)

    def accumulators(self) -> dict[str, float]:
        return dict(self.model.optimizer.g2)


class _FastLearner:
    """The same AdaGrad logistic regression as ``_RiverLearner``, in plain dicts.

    About half the CPU per event (it reuses the prediction it has just made);
    same update rule, so checkpoints are interchangeable between engines.
    """

    def __init__(self, lr: float, w: dict[str, float], g2: dict[str, float]) -> None:
        self.lr = lr
        self.w = dict(w)
        self.g2 = dict(g2)

    def proba(self, x: Features) -> float:
        # A float accumulator: compiled, sum() over a generator adds boxed numbers
        # (the same additions in the same order).
        w = self.w
        z = 0.0
        for k, v in x.items():
            z += w.get(k, 0.0) * v
        return _sigmoid(z)

    def learn(self, x: Features, y: bool, p: float) -> None:
        err = p - (1.0 if y else 0.0)  # gradient of log-loss w.r.t. the logit
        w, g2, lr = self.w, self.g2, self.lr
        for k, v in x.items():
            g = err * v
            acc = g2.get(k, 0.0) + g * g
            g2[k] = acc
            w[k] = w.get(k, 0.0) - lr * g / math.sqrt(acc + 1e-8)

    def weights(self) -> dict[str, float]:
        return dict(self.w)

    def accumulators(self) -> dict[str, float]:
        return dict(self.g2)


def _minute(t_ms: int | None) -> int | None:
    return None if t_ms is None else int(t_ms // MINUTE_MS)


class SkillModel:
    """Streaming knowledge tracing: shared online model + per-learner sections.

    Parameters
    ----------
    engine
        ``"river"`` (River ``LogisticRegression``) or ``"fast"`` (the same update
        in plain Python dicts, about twice as fast).
    lr
        AdaGrad learning rate.
    max_skills
        Skills kept per learner (least recently practised dropped first).
    transfer
        How many other recently practised skills feed the transfer features.
    """

    def __init__(
        self,
        *,
        engine: Engine = "river",
        lr: float = 0.1,
        max_skills: int = 32,
        transfer: int = 8,
    ) -> None:
        if engine not in ("river", "fast"):
            raise ValueError(f"engine must be 'river' or 'fast', not {engine!r}")
        self.engine: Engine = engine
        self.lr = lr
        self.max_skills = max_skills
        self.transfer = transfer
        self.difficulty: dict[str, float] = {}  # Elo difficulty per skill (shared)
        self.n_learned = 0
        self._learner: _Learner = self._make_learner({}, {})
        # mastery() of the section learned last, per skill, until the next learn():
        # the skill view and the ranker's cache both ask for the skills just practised.
        self._memo_section: Section | None = None
        self._memo_n = -1
        self._memo: dict[str, float] = {}

    def _make_learner(self, w: dict[str, float], g2: dict[str, float]) -> _Learner:
        if self.engine == "river":
            return _RiverLearner(self.lr, w, g2)
        return _FastLearner(self.lr, w, g2)

    # ----------------------------------------------------------------- features
    def features(self, section: Section, skills: list[str], t_ms: int | None = None) -> Features:
        """The feature dict for the next answer on ``skills`` (several skills: averaged)."""
        skills = skills or [NO_SKILL]
        if len(skills) == 1:
            return self._skill_features(section, skills[0], t_ms, 1.0, {})
        x: Features = {}
        scale = 1.0 / len(skills)
        for s in skills:
            self._skill_features(section, s, t_ms, scale, x)
        return x

    def _skill_features(
        self, sec: Section, s: str, t_ms: int | None, scale: float, x: Features
    ) -> Features:
        sk: dict[str, list[Any]] = sec.get("sk") or {}
        e = sk.get(s)
        n = sec.get("n", 0)
        last_skill = sec.get("ls")
        names = _skill_keys(s)
        f: Features = {"b": 1.0, names[0]: 1.0, _N_KEYS[int(math.log2(1 + n))]: 1.0}
        th = sec.get("th", 0.0)
        if th:
            f["th"] = th
        res = sec.get("r")
        if res:
            f["r0"], f["r1"] = res[0], res[1]
        if e is None:
            seg = "F|" if n == 0 else "N|"
            f["c:0:0"] = 1.0
        else:
            succ, fail, streak = e[SUCC], e[FAIL], e[STREAK]
            seg = "S|" if last_skill == s else "R|"
            if succ:
                f[names[1]] = math.log1p(succ)
            if fail:
                f[names[2]] = math.log1p(fail)
            f[_C_KEYS[min(succ, _MAX_COUNT)][min(fail, _MAX_COUNT)]] = 1.0
            f[_K_KEYS[max(-_MAX_STREAK, min(_MAX_STREAK, streak)) + _MAX_STREAK]] = 1.0
            f["ew"] = e[EWR] - 0.5
            if e[RES]:
                f["sr"] = e[RES]
            now = _minute(t_ms) if t_ms is not None else sec.get("t")
            if now is not None:
                f[_G_KEYS[int(math.log2(1 + max(0, now - e[MINUTE])))]] = 1.0
        run = sec.get("run", 0) if last_skill == s else 0
        f[_RUN_KEYS[min(run, _MAX_RUN)]] = 1.0
        seg_keys = _SEG_KEYS[seg]
        if len(seg_keys) >= _KEYS_MAX:
            seg_keys.clear()
        for k, v in f.items():
            v *= scale
            x[k] = x.get(k, 0.0) + v
            sk_name = seg_keys.get(k)
            if sk_name is None:
                sk_name = seg_keys[k] = seg + k
            x[sk_name] = x.get(sk_name, 0.0) + v
        # Transfer from the most recently practised other skills (dict order = recency).
        for s2 in islice((o for o in reversed(sk) if o != s), self.transfer):
            k = f"t:{s2}:{s}"
            x[k] = x.get(k, 0.0) + (sk[s2][EWR] - 0.5) * scale
        return x

    # ------------------------------------------------------------------- public
    def predict(self, section: Section, skills: list[str], t_ms: int | None = None) -> float:
        """P(the learner answers a question on ``skills`` correctly); no side effects."""
        return self._learner.proba(self.features(section, skills, t_ms))

    def learn(self, section: Section, skills: list[str], correct: bool, t_ms: int) -> float:
        """Predict, then learn from the answer; return the prediction made before learning.

        Mutates ``section`` (this learner) and the shared model.
        """
        skills = skills or [NO_SKILL]
        x = self.features(section, skills, t_ms)
        p = self._learner.proba(x)
        self._learner.learn(x, correct, p)
        self.n_learned += 1
        self._update_section(section, skills, correct, p, _minute(t_ms) or 0)
        return p

    def mastery(self, section: Section, skill: str) -> float:
        """Learner-facing mastery of ``skill`` in [0, 1]: P(correct) on it now.

        Remembered for the section last passed in until any ``learn`` (the only
        thing that changes a section or the weights), so asking twice costs once.
        """
        if section is not self._memo_section or self.n_learned != self._memo_n:
            self._memo_section, self._memo_n, self._memo = section, self.n_learned, {}
        v = self._memo.get(skill)
        if v is None:
            v = self._memo[skill] = self.predict(section, [skill])
        return v

    def skills(self, section: Section) -> dict[str, float]:
        """Mastery of every skill the section remembers, most recently practised last."""
        return {s: round(self.mastery(section, s), 4) for s in section.get("sk") or {}}

    # ------------------------------------------------------------------- update
    def _update_section(
        self, sec: Section, skills: list[str], correct: bool, p: float, minute: int
    ) -> None:
        y = 1.0 if correct else 0.0
        n = sec.get("n", 0)
        sk: dict[str, list[Any]] = sec.setdefault("sk", {})
        # Elo: learner ability vs the (shared) difficulty of the skills.
        diff = sum(self.difficulty.get(s, 0.0) for s in skills) / len(skills)
        th = sec.get("th", 0.0)
        surprise = y - _sigmoid(th - diff)
        sec["th"] = fast_round(th + _ELO_K / (1.0 + _ELO_K_DECAY * n) * surprise, 4)
        for s in skills:
            self.difficulty[s] = self.difficulty.get(s, 0.0) - _ELO_DIFF_RATE * surprise
        # Residual: how much better than the model predicted this learner did.
        res = y - p
        r = sec.get("r") or [0.0, 0.0]
        sec["r"] = [fast_round(v + a * (res - v), 4) for v, a in zip(r, _RES_RATES, strict=True)]
        for s in skills:
            e = sk.pop(s, None) or [0, 0, 0.5, 0, 0.0, minute]
            if correct:
                e[SUCC] += 1
                e[STREAK] = e[STREAK] + 1 if e[STREAK] > 0 else 1
            else:
                e[FAIL] += 1
                e[STREAK] = e[STREAK] - 1 if e[STREAK] < 0 else -1
            e[EWR] = fast_round(e[EWR] + _EW_RATE * (y - e[EWR]), 3)
            e[RES] = fast_round(e[RES] + _SKILL_RES_RATE * (res - e[RES]), 3)
            e[MINUTE] = minute
            sk[s] = e  # re-inserted last: dict order is recency order
        while len(sk) > self.max_skills:
            del sk[next(iter(sk))]
        first = skills[0]
        sec["run"] = sec.get("run", 0) + 1 if sec.get("ls") == first else 1
        sec["ls"] = first
        sec["n"] = n + 1
        sec["t"] = minute

    # -------------------------------------------------------------- checkpoints
    def to_dict(self) -> dict[str, Any]:
        """The shared state as a JSON-able dict (learner sections live elsewhere)."""
        return {
            "format": FORMAT,
            "engine": self.engine,
            "lr": self.lr,
            "max_skills": self.max_skills,
            "transfer": self.transfer,
            "n_learned": self.n_learned,
            "difficulty": dict(self.difficulty),
            "weights": self._learner.weights(),
            "g2": self._learner.accumulators(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkillModel:
        """Rebuild a model saved with ``to_dict`` (same predictions, same future updates)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported SkillModel format {data.get('format')!r}")
        model = cls(
            engine=data["engine"],
            lr=data["lr"],
            max_skills=data["max_skills"],
            transfer=data["transfer"],
        )
        model.n_learned = int(data["n_learned"])
        model.difficulty = {str(k): float(v) for k, v in data["difficulty"].items()}
        model._learner = model._make_learner(data["weights"], data["g2"])
        return model
