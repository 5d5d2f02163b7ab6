"""A small seeded random generator for the per-list draws (xoshiro128**).

Every ranking and every sampled negative seeds its own generator from the
learner and their event count, so the same state gives the same list. With
``random.Random`` that seeding (a Mersenne Twister's 624 words, set up by
interpreted code) and ``betavariate`` (interpreted) cost about 5% of the learner
processing; this one is compiled with the models (``learnpulse/native.py``)
and seeds four 32-bit words.

Every operation stays below 2**63, so compiled and plain Python give the same
numbers. Draws: ``random`` in [0, 1) with 53 bits, ``randrange(n)`` without
modulo bias, ``gammavariate`` (Marsaglia-Tsang) and ``betavariate``.

Examples
--------
>>> a, b = Rng(42), Rng(42)
>>> [a.randrange(10) for _ in range(5)] == [b.randrange(10) for _ in range(5)]
True
>>> 0.0 <= Rng(7).random() < 1.0
True
"""

from __future__ import annotations

import math
from typing import Final, Protocol

from mypy_extensions import i64

M32: Final = 0xFFFFFFFF
TWO_PI: Final = 2.0 * math.pi


def _mix(z: int) -> int:
    """splitmix32's finaliser: spreads one seed word over all 32 bits."""
    z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
    z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
    return z ^ (z >> 16)


class Rng:
    """xoshiro128** (Blackman and Vigna, 2018); period 2**128 - 1.

    The state words are ``i64``: compiled, the steps are plain C integer
    operations instead of Python's tagged integers with overflow checks (the
    draws were ~5% of the instructions of a live batch). No step passes
    2**44, so the numbers are the same; run as plain Python, ``i64`` is ``int``.
    """

    s0: i64
    s1: i64
    s2: i64
    s3: i64

    def __init__(self, seed: int) -> None:
        seed &= 0xFFFFFFFFFFFFFFFF
        lo, hi = seed & M32, seed >> 32
        self.s0 = i64(_mix((lo + 0x9E3779B9) & M32))
        self.s1 = i64(_mix((hi + 0x3C6EF372) & M32))
        self.s2 = i64(_mix((lo ^ 0xDAA66D2B) & M32))
        self.s3 = i64(_mix((hi ^ 0x78DDE6E4) & M32) or 1)  # never the all-zero state

    def next32(self) -> i64:
        m: i64 = 0xFFFFFFFF
        s0, s1, s2, s3 = self.s0, self.s1, self.s2, self.s3
        r = (s1 * 5) & m
        r = (((r << 7) | (r >> 25)) & m) * 9 & m
        t = (s1 << 9) & m
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 11) | (s3 >> 21)) & m
        self.s0, self.s1, self.s2, self.s3 = s0, s1, s2, s3
        return r

    def random(self) -> float:
        """Uniform in [0, 1), 53 random bits."""
        a = float(self.next32() >> 5)  # 27 bits
        b = float(self.next32() >> 6)  # 26 bits
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)

    def randrange(self, n: int) -> int:
        """Uniform in [0, n) for 0 < n <= 2**32, by rejection (no modulo bias)."""
        if n <= 0 or n > 0x100000000:
            raise ValueError(f"randrange({n}): n must be in 1..2**32")
        limit = 0x100000000 - (0x100000000 % n)
        while True:
            r = int(self.next32())
            if r < limit:
                return r % n

    def gauss(self) -> float:
        """Standard normal (Box-Muller; one of the pair is used)."""
        u = 1.0 - self.random()  # (0, 1]: log is finite
        return math.sqrt(-2.0 * math.log(u)) * math.cos(TWO_PI * self.random())

    def gammavariate(self, alpha: float) -> float:
        """Gamma(alpha, 1) for alpha > 0 (Marsaglia and Tsang, 2000)."""
        if alpha <= 0.0:
            raise ValueError(f"gammavariate: alpha must be > 0, got {alpha}")
        if alpha < 1.0:
            # Gamma(a) = Gamma(a + 1) * U ** (1 / a)
            return self.gammavariate(alpha + 1.0) * (1.0 - self.random()) ** (1.0 / alpha)
        d = alpha - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        while True:
            x = self.gauss()
            v = 1.0 + c * x
            if v <= 0.0:
                continue
            v = v * v * v
            u = 1.0 - self.random()
            if u < 1.0 - 0.0331 * (x * x) * (x * x):
                return d * v
            if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
                return d * v

    def betavariate(self, alpha: float, beta: float) -> float:
        """Beta(alpha, beta) for alpha, beta > 0."""
        x = self.gammavariate(alpha)
        y = self.gammavariate(beta)
        return x / (x + y)


class Draws(Protocol):
    """What the list's draws need: :class:`Rng`, or ``random.Random`` in examples."""

    def betavariate(self, alpha: float, beta: float) -> float: ...

    def randrange(self, n: int) -> int: ...
