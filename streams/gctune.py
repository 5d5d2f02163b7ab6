"""The cyclic garbage collector's thresholds for a long-running worker (decision 0017).

Nearly everything a batch allocates (decoded records, the dicts of a ranking,
rendered values) is freed by reference counting the moment it is dropped; the
cyclic collector finds nothing there. With Python's default young threshold
(700 allocations) it still ran a young collection every few events, and each
older collection walked every long-lived object: faust, the reference data,
the shared models. Measured: about 5% of the learner processing
(``loadtests/RESULTS.md``, fifth round).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def tune(young: int) -> None:
    """Freeze what start-up built, and collect the young generation every ``young`` allocations.

    ``young`` <= 0 keeps Python's defaults (and freezes nothing).
    """
    if young <= 0:
        return
    gc.collect()
    # Objects alive now (imports, the app, the reference data read at start-up)
    # live as long as the process: leave them out of every later collection.
    gc.freeze()
    gc.set_threshold(young, 20, 20)
    log.info("gc: young threshold %d, %d start-up objects frozen", young, gc.get_freeze_count())
