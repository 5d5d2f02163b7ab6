"""loadtests.handle_bench: timed runs rotate the variants' order, so none is always first."""

from __future__ import annotations

from collections import Counter

from loadtests.handle_bench import run_order


def test_each_variant_runs_first_equally_often_and_every_repeat_runs_all() -> None:
    names = ["base", "before", "patched"]
    orders = [run_order(names, rep) for rep in range(6)]
    assert all(sorted(o) == sorted(names) for o in orders)
    assert Counter(o[0] for o in orders) == {"base": 2, "before": 2, "patched": 2}
    # Two variants, an even number of repeats: each is second in half the pairs.
    pairs = [run_order(["base", "before"], rep) for rep in range(4)]
    assert Counter(p[1] for p in pairs) == {"base": 2, "before": 2}


def test_a_tree_with_its_own_venv_runs_on_its_own_interpreter(tmp_path) -> None:
    import sys

    from loadtests.handle_bench import interpreter

    assert interpreter(None) == sys.executable
    assert interpreter(str(tmp_path)) == sys.executable  # no venv there: this one
    own = tmp_path / ".venv" / "bin" / "python"
    own.parent.mkdir(parents=True)
    own.symlink_to(sys.executable)
    assert interpreter(str(tmp_path)) == str(own)
