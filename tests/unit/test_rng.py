"""The list draws' generator (streams/models/rng.py): the reference sequence,
the same numbers for the same seed, and the distributions the explorer uses."""

from __future__ import annotations

import math
import statistics

import pytest

from streams.models.rng import Rng


def test_matches_the_xoshiro128starstar_reference_sequence() -> None:
    r = Rng(0)
    r.s0, r.s1, r.s2, r.s3 = 1, 2, 3, 4
    assert [r.next32() for _ in range(6)] == [
        11520,
        0,
        5927040,
        70819200,
        2031721883,
        1637235492,
    ]


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    a, b, c = Rng(2**40 + 7), Rng(2**40 + 7), Rng(2**40 + 8)
    da = [a.random() for _ in range(20)]
    assert da == [b.random() for _ in range(20)]
    assert da != [c.random() for _ in range(20)]


def test_randrange_is_uniform_and_in_range() -> None:
    r = Rng(3)
    counts = [0] * 7
    for _ in range(70_000):
        counts[r.randrange(7)] += 1
    # 10,000 expected per bucket; 5 standard deviations is about 480.
    assert all(abs(n - 10_000) < 480 for n in counts), counts
    assert {Rng(s).randrange(1) for s in range(50)} == {0}
    with pytest.raises(ValueError):
        r.randrange(0)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (2.0, 5.0), (1.0, 30.0), (0.5, 0.5)])
def test_betavariate_has_the_beta_mean_and_variance(a: float, b: float) -> None:
    r = Rng(11)
    xs = [r.betavariate(a, b) for _ in range(40_000)]
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert all(0.0 <= x <= 1.0 for x in xs)
    assert abs(statistics.fmean(xs) - mean) < 5 * math.sqrt(var / len(xs))
    assert abs(statistics.pvariance(xs) - var) < 0.05 * var + 1e-4


def test_random_is_in_the_unit_interval_with_the_uniform_variance() -> None:
    r = Rng(5)
    xs = [r.random() for _ in range(100_000)]
    assert min(xs) >= 0.0
    assert max(xs) < 1.0
    assert abs(statistics.pvariance(xs) - 1 / 12) < 0.002


def test_the_same_draws_as_every_earlier_version() -> None:
    # Lists depend on these draws: a change of representation (the i64 state words)
    # must not change a single one. Values from the int implementation (7fa895e).
    r = Rng(2**40 + 12345)
    assert [r.random() for _ in range(3)] == [
        0.34228359704301536,
        0.2152531327201186,
        0.358671835874948,
    ]
    r = Rng(2**40 + 12345)
    _ = [r.random() for _ in range(5)]
    assert [r.betavariate(1.3, 2.7) for _ in range(3)] == [
        0.2095642978690517,
        0.17728840893174674,
        0.369604699323101,
    ]
    _ = [r.betavariate(1.3, 2.7) for _ in range(2)]
    assert [r.randrange(1000) for _ in range(5)] == [105, 298, 625, 815, 47]
    assert [r.gammavariate(0.5) for _ in range(3)] == [
        0.02169923214879987,
        0.07675373161896332,
        0.031187028295504987,
    ]
    assert [Rng(0).next32() for _ in range(1)] == [3809008728]
