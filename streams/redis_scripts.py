"""Lua scripts sent as EVALSHA in one pipelined round trip, reloaded if Redis lost them.

SCRIPT LOAD rather than EVAL so a script's body crosses the wire once per
server, not once per call. A server that restarted or failed over has an empty
script cache: every EVALSHA of the pipeline then fails with NOSCRIPT before
running anything, so loading the scripts and sending the pipeline again
repeats no write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# (script body, KEYS, ARGV)
Call = tuple[str, Sequence[Any], Sequence[Any]]


@cache
def sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


async def eval_many(redis: Redis, calls: Sequence[Call]) -> list[Any]:
    """EVALSHA each call in one pipeline, in order; their replies in the same order.

    Any other error reply is raised (the first one).
    """
    for attempt in (0, 1):
        pipe = redis.pipeline(transaction=False)
        for script, ks, args in calls:
            pipe.evalsha(sha(script), len(ks), *ks, *args)
        replies = await pipe.execute(raise_on_error=False)
        if not any(isinstance(r, NoScriptError) for r in replies):
            for r in replies:
                if isinstance(r, Exception):
                    raise r
            return list(replies)
        if attempt == 0:
            for script in dict.fromkeys(c[0] for c in calls):
                await redis.script_load(script)
    raise RuntimeError("Redis kept forgetting the scripts it was just sent")
