"""fast_round is round(x, n) for floats, bit for bit: the learner states depend on it."""

import doctest
import random

from streams.models import rounding
from streams.models.rounding import fast_round


def test_doctests() -> None:
    assert doctest.testmod(rounding).failed == 0


def test_fast_round_is_round_including_ties_and_signed_zeros() -> None:
    rng = random.Random(9)
    for _ in range(20_000):
        k = rng.randrange(-100_000, 100_000)
        # decimal values times the decays and L2 factors the state uses hit ties often
        for x in (k / 1e4 * 0.999, k / 1e3 * 0.6, k / 1e3 * 0.9, k / 2 ** rng.randrange(1, 20)):
            for digits in (2, 3, 4):
                assert repr(fast_round(x, digits)) == repr(round(x, digits))


def test_the_state_update_shapes() -> None:
    # The expressions the models round: EWMA steps, Elo steps, unit-vector
    # components and sigmoid outputs, over wide ranges.
    rng = random.Random(3)
    for _ in range(50_000):
        v, a, y = rng.random(), rng.choice((0.05, 0.1, 0.2, 0.35)), rng.random()
        for x in (v + a * (y - v), 0.5 + 0.5 * v, v * rng.uniform(-40.0, 40.0), v * 1e-3):
            for digits in (2, 3, 4):
                assert repr(fast_round(x, digits)) == repr(round(x, digits))


def test_edges() -> None:
    tiny = [5e-324, 1e-300, 0.49999999999999994e-4, 0.5e-4, 0.50000000000000006e-4, 1.5e-3]
    big = [2.0**52 / 1e4, 2.0**52 / 1e4 + 0.5, 2.0**53, 1e300, 123456789.123456789]
    special = [0.0, float("inf"), 2.5, 0.125, 0.375, 1.0 - 2**-53]
    for v in tiny + big + special:
        for x in (v, -v):
            for digits in (0, 1, 2, 3, 4, 6):
                assert repr(fast_round(x, digits)) == repr(round(x, digits)), (x, digits)
    nan = fast_round(float("nan"), 4)
    assert nan != nan  # round() gives NaN back too
