"""The worker's collector settings (decision 0017), in a child interpreter so the
test process keeps its own collector state."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc, json
from streams.gctune import tune
before = gc.get_threshold()
tune({young})
after, frozen = gc.get_threshold(), gc.get_freeze_count()
print(json.dumps({{"before": before, "after": after, "frozen": frozen}}))
"""


def run(young: int) -> dict[str, list[int] | int]:
    import json

    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(young=young)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_tune_raises_the_young_threshold_and_freezes_start_up_objects() -> None:
    got = run(10_000)
    assert got["after"] == [10_000, 20, 20]
    assert got["frozen"] > 1000  # the interpreter's and streams' own objects at least


def test_zero_keeps_python_defaults() -> None:
    got = run(0)
    assert got["after"] == got["before"]
    assert got["frozen"] == 0
