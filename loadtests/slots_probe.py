"""How much a fixed-slot layout would save on the ranker's learning step: a first data point.

    .venv/bin/python -m loadtests.slots_probe [--examples 200000] [--repeats 5]

The profiles (RESULTS.md, ninth round) put about 18% of the worker's CPU in
CPython's dict lookups by string key, under the compiled models. Decision 0023
names a different data layout as the lever. This probe measures it on one
kernel before anyone rewrites the models: ``loadtests/slots_kernels.py`` holds
the worker's feature build and fused three-layer SGD step (``ranker.features``
and ``SharedPrior.learn_all``) twice: over string-keyed dicts as today, and
over fixed slots (names mapped to indexes once, weights in lists). Both are
compiled with mypyc into a temporary directory, as ``learnpulse.native`` builds
the worker, and run on the same examples (a 20-key feature vector like the
ranker's, from a 60-name vocabulary). The probe checks that both end with the
same weights, then prints the CPU per example of each, best of ``--repeats``.

It measures one kernel, not the worker. The learner's weights stay dicts in
the stored state today, so a real rewrite would also pay to convert them on
load and save, or would have to change the packed format (decision 0014).
Never asserts a timing.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loadtests.harness import machine_line

console = Console(width=120)
KERNELS = Path(__file__).with_name("slots_kernels.py")
BASE_KEYS = 4  # b, f:<format>, dur, t:<topic>: ItemInfo.base
EXTRA_KEYS = 16  # path, prog, gap, lvl, the log shares, peer, new, ...


def compile_kernels(tmp: Path) -> Any:
    """mypyc-compile the kernels into ``tmp`` and import them from there."""
    src = tmp / "lp_slots_kernels.py"
    shutil.copy(KERNELS, src)
    code = (
        "from setuptools import setup\n"
        "from mypyc.build import mypycify\n"
        "setup(name='lp-slots', packages=[], py_modules=[],\n"
        "      ext_modules=mypycify(['lp_slots_kernels.py'], opt_level='3'),\n"
        "      script_args=['build_ext', '--inplace', '--build-temp', 'build'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("mypyc build failed:\n" + (out.stdout + out.stderr)[-3000:])
    built = next(tmp.glob("lp_slots_kernels.*.so"))
    spec = importlib.util.spec_from_file_location("lp_slots_kernels", built)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def examples(n: int, seed: int = 7) -> tuple[list[str], list[Any]]:
    """A vocabulary and ``n`` examples: (base items, extra items, label, weight)."""
    rng = random.Random(seed)
    vocab = [f"k{i}" for i in range(20)]
    vocab += [f"f:{f}" for f in ("video", "article", "quiz", "course", "podcast")]
    vocab += [f"t:topic{i}" for i in range(35)]
    shared = vocab[:20]
    out = []
    for _ in range(n):
        base = [("k0", 1.0), (rng.choice(vocab[20:25]), 1.0), ("k1", rng.random())]
        base.append((rng.choice(vocab[25:]), 1.0))
        extra = [(k, rng.uniform(-3.0, 1.0)) for k in rng.sample(shared[2:], EXTRA_KEYS)]
        out.append((base, extra, float(rng.random() < 0.3), 1.0))
    return vocab, out


def main(
    n: Annotated[int, typer.Option("--examples", help="learning steps per pass")] = 200_000,
    repeats: Annotated[int, typer.Option(help="passes of each layout; the best is printed")] = 5,
) -> None:
    """Measure and print; see the module docstring."""
    console.print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        console.print("compiling the two kernels with mypyc (about 20 s)")
        k = compile_kernels(Path(tmp))
    vocab, exs = examples(n)
    slot = {name: i for i, name in enumerate(vocab)}
    as_slots = [
        (
            [slot[a] for a, _ in base],
            [v for _, v in base],
            [slot[a] for a, _ in extra],
            [v for _, v in extra],
            y,
            w,
        )
        for base, extra, y, w in exs
    ]
    as_dicts = [(dict(base), extra, y, w) for base, extra, y, w in exs]
    rates = (0.02, 0.02, 1e-4, 0.05, 0.02)

    def run_dict() -> tuple[float, list[dict[str, float]]]:
        gw: dict[str, float] = {}
        sw: dict[str, float] = {}
        lw: dict[str, float] = {}
        t0 = time.process_time()
        for base, extra, y, w in as_dicts:
            k.learn_dict(gw, sw, lw, k.features_dict(base, extra), y, w, *rates)
        return time.process_time() - t0, [gw, sw, lw]

    def run_slots() -> tuple[float, list[list[float]]]:
        gw, sw, lw = [0.0] * len(vocab), [0.0] * len(vocab), [0.0] * len(vocab)
        idx, val = [0] * len(vocab), [0.0] * len(vocab)
        t0 = time.process_time()
        for bi, bv, ei, ev, y, w in as_slots:
            m = k.features_slots(bi, bv, ei, ev, idx, val)
            k.learn_slots(gw, sw, lw, idx, val, m, y, w, *rates)
        return time.process_time() - t0, [gw, sw, lw]

    best = {"dict": float("inf"), "slots": float("inf")}
    for _ in range(repeats):
        td, wd = run_dict()
        ts, ws = run_slots()
        best["dict"], best["slots"] = min(best["dict"], td), min(best["slots"], ts)
    same = all(
        wd[layer].get(name, 0.0) == ws[layer][i]
        for layer in range(3)
        for i, name in enumerate(vocab)
    )
    t = Table(title=f"Feature build + three-layer SGD step, {n:,} examples, best of {repeats}")
    t.add_column("layout")
    t.add_column("µs per example", justify="right")
    t.add_column("against dicts", justify="right")
    for name, sec in best.items():
        t.add_row(name, f"{sec / n * 1e6:.2f}", f"{best['dict'] / sec:.2f}x")
    console.print(t)
    console.print(f"same weights at the end: {'yes' if same else 'NO: the layouts disagree'}")


if __name__ == "__main__":
    typer.run(main)
