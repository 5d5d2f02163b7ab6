"""The ranker's learning step over fixed slots, for ``loadtests.slots_probe`` (compiled there).

The probe compares it with what the worker does today: a feature dict keyed by
strings (``features_dict`` below, the shape of ``ranker.features``) and the
worker's own ``SharedPrior.learn_all`` over three weight dicts.
``learn_slots`` is the same arithmetic, in the same order, over fixed slots:
feature names mapped to indexes once, weights in lists. Not used by the worker.
"""

from __future__ import annotations

import math


def _sigmoid(z: float) -> float:  # ranker.sigmoid: a cross-module call would cost more
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _round4(x: float) -> float:  # fast_round(x, 4), inlined as learn_all inlines it
    t = x * 1e4
    if -(2.0**52) < t < 2.0**52:
        f = t // 1.0
        d = t - f
        return round(x, 4) if d == 0.5 else (f + 1.0 if d > 0.5 else f) / 1e4
    return round(x, 4)


def features_dict(base: dict[str, float], extra: list[tuple[str, float]]) -> dict[str, float]:
    """As ``ranker.features`` builds its dict: the item's static part copied, then
    the learner-dependent keys added one by one."""
    x = base.copy()
    for k, v in extra:
        x[k] = v
    return x


def features_slots(
    base_idx: list[int],
    base_val: list[float],
    extra_idx: list[int],
    extra_val: list[float],
    idx: list[int],
    val: list[float],
) -> int:
    """Fill ``idx``/``val`` (preallocated) with the example's slots; returns their count.

    A key of ``extra`` that is also in ``base`` overwrites it, as in the dict."""
    n = 0
    for i in range(len(base_idx)):
        idx[n] = base_idx[i]
        val[n] = base_val[i]
        n += 1
    for j in range(len(extra_idx)):
        k = extra_idx[j]
        for i in range(n):
            if idx[i] == k:
                val[i] = extra_val[j]
                break
        else:
            idx[n] = k
            val[n] = extra_val[j]
            n += 1
    return n


def learn_slots(
    gw: list[float],
    sw: list[float],
    lw: list[float],
    idx: list[int],
    val: list[float],
    n: int,
    y: float,
    weight: float,
    lr_g: float,
    l2_g: float,
    lr_s: float,
    l2_s: float,
    lr: float,
    l2: float,
) -> None:
    """``SharedPrior.learn_all`` with a learner section, over slots."""
    dg = ds = dl = 0.0
    for i in range(n):
        k = idx[i]
        v = val[i]
        dg += gw[k] * v
        ds += sw[k] * v
        dl += lw[k] * v
    z_g = 0.0 + dg
    z_s = z_g + ds
    g_g = (_sigmoid(z_g) - y) * weight
    g_s = (_sigmoid(z_s) - y) * weight
    g_l = (_sigmoid(z_s + dl) - y) * weight
    for i in range(n):
        k = idx[i]
        v = val[i]
        a = gw[k]
        b = sw[k]
        c = lw[k]
        gw[k] = a - lr_g * (g_g * v + l2_g * a)
        sw[k] = b - lr_s * (g_s * v + l2_s * b)
        lw[k] = _round4(c - lr * (g_l * v + l2 * c))
