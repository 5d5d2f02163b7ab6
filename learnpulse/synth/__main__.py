"""Write a synthetic organisation's records and events as JSON lines, or time it.

python -m learnpulse.synth --learners 1000 --days 7 --out /tmp/org
python -m learnpulse.synth --learners 100000 --days 1 --bench
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from learnpulse.synth.org import Organisation


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m learnpulse.synth", description=__doc__)
    ap.add_argument("--learners", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--out", type=Path, help="folder for <kind>.jsonl and events.jsonl")
    ap.add_argument("--bench", action="store_true", help="only time generation")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    org = Organisation.generate(args.learners, seed=args.seed)
    t_org = time.perf_counter() - t0
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for kind, records in org.reference_records().items():
            (args.out / f"{kind}.jsonl").write_bytes(
                b"".join(orjson.dumps(r) + b"\n" for r in records)
            )
    t1 = time.perf_counter()
    n = 0
    if args.out and not args.bench:
        with (args.out / "events.jsonl").open("wb") as f:
            for ev in org.events(days=args.days):
                f.write(orjson.dumps(ev) + b"\n")
                n += 1
    else:
        for _ev in org.events(days=args.days):
            n += 1
    dt = time.perf_counter() - t1
    print(
        f"org of {args.learners} learners in {t_org:.2f} s; {n} events over {args.days:g} days "
        f"in {dt:.2f} s = {n / max(dt, 1e-9):,.0f} events/s"
    )


if __name__ == "__main__":
    main()
