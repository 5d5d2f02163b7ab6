"""How much a fixed-slot layout would save on the ranker's learning step: a first data point.

    .venv/bin/python -m loadtests.slots_probe [--examples 200000] [--repeats 5]

The profiles (RESULTS.md, ninth round) put about 18% of the worker's CPU in
CPython's dict lookups by string key, under the compiled models. Decision 0023
names a different data layout as the lever. This probe measures it on one
kernel before anyone rewrites the models: the worker's own compiled
``SharedPrior.learn_all`` (the fused three-layer SGD step) on feature dicts
built as ``ranker.features`` builds them, against ``loadtests/slots_kernels.py``
doing the same arithmetic over fixed slots (names mapped to indexes once,
weights in lists), compiled with mypyc into a temporary directory as
``learnpulse.native`` builds the worker. Both run on the same examples (20
features from a 41-name vocabulary: the rule weights' names, formats, topics).
The probe checks that both end with the same weights in all three layers,
then prints the CPU per example of each, best of ``--repeats``.

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
EXTRA_KEYS = 16  # path, prog, gap, lvl, the log shares, peer, new, ...
LEARNER_LR, LEARNER_L2 = 0.05, 0.02  # learn_all's defaults, as Recommender passes them


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
    """A vocabulary and ``n`` examples: (base items, extra items, label, weight).

    Under ``ranker.LEARNER_MAX_WEIGHTS`` names, so the learner layer is never trimmed."""
    from streams.models.ranker import RULE_WEIGHTS

    rng = random.Random(seed)
    rules = list(RULE_WEIGHTS)
    formats = [f"f:{f}" for f in ("video", "article", "quiz", "course", "podcast")]
    topics = [f"t:topic{i}" for i in range(15)]
    vocab = [*rules, "dur", *formats, *topics]
    out = []
    for _ in range(n):
        # ItemInfo.base: bias, format, duration, topic; then the per-learner features
        base = [("b", 1.0), (rng.choice(formats), 1.0), ("dur", rng.random())]
        base.append((rng.choice(topics), 1.0))
        extra = [(k, rng.uniform(-3.0, 1.0)) for k in rng.sample(rules[1:], EXTRA_KEYS)]
        out.append((base, extra, float(rng.random() < 0.3), 1.0))
    return vocab, out


def learn_both(k: Any, vocab: list[str], exs: list[Any]) -> tuple[Any, list[list[float]]]:
    """Run the examples through the worker's ``learn_all`` and through ``learn_slots``;
    returns (the prior and learner section, the slot weights). For the tests."""
    from streams.models.ranker import SharedPrior

    prior, section = SharedPrior(), dict[str, Any]()
    slots = Slots(k, vocab, prior)
    for base, extra, y, w in exs:
        prior.learn_all("seg", k.features_dict(dict(base), extra), y, w, section)
    slots.run(slots.encode(exs))
    return (prior, section), [slots.gw, slots.sw, slots.lw]


class Slots:
    """The slot side: weights in lists, initialised as a fresh ``SharedPrior``."""

    def __init__(self, k: Any, vocab: list[str], prior: Any) -> None:
        self.k = k
        self.index = {name: i for i, name in enumerate(vocab)}
        self.gw = [float(prior.globe.weights.get(name, 0.0)) for name in vocab]
        self.sw = [0.0] * len(vocab)
        self.lw = [0.0] * len(vocab)
        self.idx, self.val = [0] * len(vocab), [0.0] * len(vocab)
        self.rates = (
            prior.globe.lr,
            prior.globe.l2,
            prior.segment_lr,
            prior.segment_l2,
            LEARNER_LR,
            LEARNER_L2,
        )

    def encode(self, exs: list[Any]) -> list[Any]:
        ix = self.index
        return [
            (
                [ix[a] for a, _ in b],
                [v for _, v in b],
                [ix[a] for a, _ in e],
                [v for _, v in e],
                y,
                w,
            )
            for b, e, y, w in exs
        ]

    def run(self, encoded: list[Any]) -> None:
        k, gw, sw, lw, idx, val, rates = (
            self.k,
            self.gw,
            self.sw,
            self.lw,
            self.idx,
            self.val,
            self.rates,
        )
        for bi, bv, ei, ev, y, w in encoded:
            m = k.features_slots(bi, bv, ei, ev, idx, val)
            k.learn_slots(gw, sw, lw, idx, val, m, y, w, *rates)


def agree(prior: Any, section: dict[str, Any], vocab: list[str], slots: list[list[float]]) -> bool:
    layers = (prior.globe.weights, prior.segments["seg"].weights, section.get("w") or {})
    return all(
        [layer.get(name, 0.0) for name in vocab] == s
        for layer, s in zip(layers, slots, strict=True)
    )


def main(
    n: Annotated[int, typer.Option("--examples", help="learning steps per pass")] = 200_000,
    repeats: Annotated[int, typer.Option(help="passes of each layout; the best is printed")] = 5,
) -> None:
    """Measure and print; see the module docstring."""
    from learnpulse import native
    from streams.models.ranker import SharedPrior

    console.print(machine_line())
    if not native.in_use():
        raise typer.BadParameter(
            "the worker's models are not compiled here, so the dict side would run as "
            "plain Python: build them first (python -m learnpulse.native build)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        console.print("compiling the slot kernels with mypyc (about 20 s)")
        k = compile_kernels(Path(tmp))
    vocab, exs = examples(n)
    as_dicts = [(dict(base), extra, y, w) for base, extra, y, w in exs]
    encoded = Slots(k, vocab, SharedPrior()).encode(exs)

    def run_dict() -> tuple[float, Any, dict[str, Any]]:
        prior, section = SharedPrior(), dict[str, Any]()
        learn, features = prior.learn_all, k.features_dict
        t0 = time.process_time()
        for base, extra, y, w in as_dicts:
            learn("seg", features(base, extra), y, w, section)
        return time.process_time() - t0, prior, section

    def run_slots() -> tuple[float, list[list[float]]]:
        slots = Slots(k, vocab, SharedPrior())
        t0 = time.process_time()
        slots.run(encoded)
        return time.process_time() - t0, [slots.gw, slots.sw, slots.lw]

    best = {"dict": float("inf"), "slots": float("inf")}
    for _ in range(repeats):
        td, prior, section = run_dict()
        ts, ws = run_slots()
        best["dict"], best["slots"] = min(best["dict"], td), min(best["slots"], ts)
    same = agree(prior, section, vocab, ws)
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
