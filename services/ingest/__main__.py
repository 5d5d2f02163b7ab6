"""Run the ingest gateway: ``python -m services.ingest`` (settings from LEARNPULSE_INGEST_*)."""

from __future__ import annotations

import sys

from pydantic import ValidationError


def main() -> int:
    import uvicorn

    from learnpulse.stack.procs import StackError, check_port
    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings

    try:
        s = IngestSettings()  # type: ignore[call-arg]
        check_port(s.port, "ingest gateway", s.host)
    except ValidationError as exc:
        for err in exc.errors():
            name = "LEARNPULSE_INGEST_" + "__".join(str(p) for p in err["loc"]).upper()
            print(f"learnpulse ingest: {name}: {err['msg']}", file=sys.stderr)
        return 2
    except StackError as exc:
        print(f"learnpulse ingest: {exc}", file=sys.stderr)
        return 2
    from learnpulse.logs import setup_logging

    setup_logging(s.log_level)
    uvicorn.run(
        create_app(s),
        host=s.host,
        port=s.port,
        log_level=s.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
        loop="uvloop",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
