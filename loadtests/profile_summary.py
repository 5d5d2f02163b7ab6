"""Summarise py-spy ``--format raw`` stacks: where a process spends its CPU samples.

    .venv/bin/python -m loadtests.profile_summary /tmp/prof/real.txt [--top 25]

Self time is the innermost frame of each sample; inclusive time counts a
function once per sample it appears in. Groups give the share of broad parts
(faust/mode/aiokafka, confluent-kafka, redis, fastavro, LearnPulse models...).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from rich.console import Group
from rich.table import Table

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")
# (part, file path prefixes as py-spy prints them); the innermost matching frame wins
GROUPS = (
    ("faust/mode/aiokafka", ("faust/", "mode/", "aiokafka/", "venusian/", "yarl/")),
    ("asyncio/uvloop/selectors", ("asyncio/", "uvloop/", "selectors.py", "concurrent/")),
    ("redis client", ("redis/", "hiredis/")),
    ("fastavro / schemas", ("fastavro/", "schemas/")),
    ("prometheus", ("prometheus_client/", "socketserver.py", "http/")),
    ("confluent-kafka", ("confluent_kafka/",)),
    ("orjson", ("orjson",)),
    ("streams/models", ("streams/models/",)),
    ("streams (other)", ("streams/",)),
    ("learnpulse", ("learnpulse/",)),
    ("loadtests", ("loadtests/",)),
)


def parse(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if f]
        # py-spy puts a "process ..." / "thread ..." frame first; skip non-code frames
        code = [f for f in frames if _FRAME.match(f)]
        if not code:
            continue
        total += count
        leaf = _short(code[-1])
        self_t[leaf] += count
        for name in {_short(f) for f in code}:
            incl[name] += count
        groups[_group(code)] += count
    return self_t, incl, groups, total


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m.group('fn')} ({file})"


def _group(code: list[str]) -> str:
    # attribute a sample to the innermost frame that belongs to a known group
    for frame in reversed(code):
        m = _FRAME.match(frame)
        file = m.group("file") if m else ""
        for name, markers in GROUPS:
            if file.startswith(markers):
                return name
    return "other"


def summarise(path: Path, title: str = "", top: int = 25) -> Group:
    self_t, incl, groups, total = parse(path)
    total = max(total, 1)
    g = Table(title=f"{title}: {total} samples, share by innermost known part")
    g.add_column("part")
    g.add_column("%", justify="right")
    for name, n in groups.most_common():
        g.add_row(name, f"{100 * n / total:.1f}")
    t = Table(title=f"{title}: top self time")
    t.add_column("function")
    t.add_column("self %", justify="right")
    for name, n in self_t.most_common(top):
        t.add_row(name, f"{100 * n / total:.1f}")
    i = Table(title=f"{title}: top inclusive time")
    i.add_column("function")
    i.add_column("incl %", justify="right")
    for name, n in incl.most_common(top + 15):
        i.add_row(name, f"{100 * n / total:.1f}")
    return Group(g, t, i)


if __name__ == "__main__":
    from rich.console import Console

    args = sys.argv[1:]
    n = 25
    if "--top" in args:
        k = args.index("--top")
        n = int(args[k + 1])
        del args[k : k + 2]
    for a in args:
        Console(width=160).print(summarise(Path(a), title=Path(a).stem, top=n))
