"""Run the delivery API: ``python -m services.delivery``."""

from __future__ import annotations

import sys

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
    uvicorn.run(create_app(s), host=s.host, port=s.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
