"""Stopping the worker on a failure it must not survive.

faust logs a crashed agent or task and keeps the process alive doing nothing;
a worker that no longer consumes (or cannot write its effects) must exit
instead, so its supervisor restarts it and the uncommitted batch is processed
again (docs/decisions/0002).
"""

from __future__ import annotations

import logging
import os
from typing import NoReturn

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE


def stop_worker(what: str) -> NoReturn:
    """Log ``what`` failed with the current exception, flush logs, exit at once."""
    log.critical("%s; exiting so the worker restarts", what, exc_info=True)
    logging.shutdown()
    os._exit(EXIT_CODE)
