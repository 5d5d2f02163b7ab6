"""Run the delivery API: ``python -m services.delivery`` (settings from LEARNPULSE_DELIVERY_*)."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from pydantic import ValidationError


def main() -> int:
    import uvicorn

    from learnpulse.stack.procs import StackError, check_port
    from services.delivery.app import create_app
    from services.delivery.settings import DeliverySettings

    try:
        s = DeliverySettings()  # type: ignore[call-arg]
        check_port(s.port, "delivery API", s.host)
    except (ValidationError, StackError) as exc:
        print(f"learnpulse delivery: {exc}", file=sys.stderr)
        return 2
    from learnpulse.logs import setup_logging

    setup_logging(s.log_level)
    app = create_app(s)

    class Server(uvicorn.Server):
        """Ends open event streams on SIGTERM/SIGINT, so shutdown does not wait on them."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            deps: Any = getattr(app.state, "deps", None)
            loop = getattr(self, "_loop", None)
            if deps is not None and loop is not None:
                loop.call_soon_threadsafe(deps.hub.close_streams)
            super().handle_exit(sig, frame)

        async def serve(self, sockets: Any = None) -> None:
            import asyncio

            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

    config = uvicorn.Config(
        app,
        host=s.host,
        port=s.port,
        log_level=s.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
        loop="uvloop",
    )
    Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
