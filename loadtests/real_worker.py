"""The real stream worker (``python -m streams``), optionally with benchmark patches.

    LP_BENCH_PATCHES=uvloop LEARNPULSE_STREAMS_...=... .venv/bin/python -m loadtests.real_worker

Without ``LP_BENCH_PATCHES`` this is exactly ``streams.__main__.main()``.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from loadtests.patches import apply_from_env

    apply_from_env()
    from streams.__main__ import main

    sys.exit(main())
