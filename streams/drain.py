"""faust's consumer drain loop without a task race per record.

``faust.transport.consumer.Consumer._drain_messages`` hands each fetched
record to the conductor with ``wait_first(callback(message),
suspend_flow.wait())``: four tasks and an ``asyncio.wait`` per record, so that
a rebalance can abandon a delivery stuck behind flow control. When flow is
running (no rebalance in progress) the conductor's callback does not block,
so this loop awaits it directly and keeps ``wait_first`` for when flow is
suspended. The rest is faust 0.15's loop, unchanged (offset gaps, commit
cadence, read offsets, stop handling). Decision 0012.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport import consumer as faust_consumer

_ORIGINAL = faust_consumer.Consumer._drain_messages


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover - faust's loop
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    flow_active = self.app.flow_control.is_active
    suspended = self.suspend_flow.is_set
    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(faust_consumer.CONSUMER_FETCHING)
            ait = getmany(timeout=1.0)
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if flow_active() and not suspended():
                            await callback(message)
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                unset_flag(faust_consumer.CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(faust_consumer.CONSUMER_FETCHING)


# The loop above is faust-streaming 0.15's with one change; another faust may
# have changed its own, so it is only installed on the version it came from.
SUPPORTED = "0.15."


def install() -> bool:
    """Use the lean loop in this process (idempotent); False if faust is another version."""
    import faust

    if not faust.__version__.startswith(SUPPORTED):
        return False
    faust_consumer.Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    faust_consumer.Consumer._drain_messages = _ORIGINAL  # type: ignore[method-assign]
