"""Just enough PromQL reading to list the metric names and label matchers an expression uses.

No PromQL parser ships for Python, so expressions are reduced step by step: string
literals, range/offset brackets and grouping clauses (``by (...)``) are removed,
then every identifier not followed by ``(`` (a function call) and not a keyword
is a metric name. ``test_metric_names.py`` checks this reader on known cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
    }
)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)


@dataclass
class Usage:
    """Metric names an expression reads, and the label matchers put on each."""

    names: set[str] = field(default_factory=set)
    matchers: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def read(expr: str) -> Usage:
    """Metric names and selector matchers in ``expr``.

    >>> u = read('histogram_quantile(0.99, sum by (le) (rate(x_bucket{le="1.0"}[5m])))')
    >>> sorted(u.names), u.matchers
    (['x_bucket'], {'x_bucket': [('le', '=', '1.0')]})
    """
    usage = Usage()
    for name, body in _SELECTOR.findall(expr):
        usage.matchers.setdefault(name, []).extend(_MATCHER.findall(body))
    s = re.sub(r"\{[^}]*\}", " ", expr)  # matchers (with their strings)
    s = re.sub(r'"(?:[^"\\]|\\.)*"', " ", s)  # remaining strings
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", s)
    s = _GROUPING.sub(" ", s)
    for m in _IDENT.finditer(s):
        word = m.group(0)
        rest = s[m.end() :].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"[0-9.eE+-]+", word):
            continue
        usage.names.add(word)
    return usage
