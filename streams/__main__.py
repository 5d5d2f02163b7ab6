"""Run one stream worker: ``python -m streams`` (settings from LEARNPULSE_STREAMS_*)."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError


def main() -> int:
    from streams.settings import StreamsSettings

    try:
        settings = StreamsSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        print(f"learnpulse streams: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    import asyncio

    import uvloop

    # faust takes its loop from the policy: uvloop cuts its per-message floor ~30%.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from learnpulse.logs import setup_logging

    setup_logging(settings.log_level)
    from streams.worker import build

    w = build(settings)
    _report_compiled()
    if settings.metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            print(
                f"learnpulse streams: cannot serve metrics on {settings.metrics_host}:"
                f"{settings.metrics_port}: {exc}",
                file=sys.stderr,
            )
            return 2
    w.reader.start()
    if not w.reader.wait_idle(30):
        logging.getLogger("streams").warning("reference data not caught up after 30 s")
    from streams.agents.cluster_interests import ClusterAgent

    clusterer = ClusterAgent(w)
    clusterer.start()
    from streams.gctune import tune

    tune(settings.gc_threshold)
    from faust.worker import Worker as FaustWorker

    worker = FaustWorker(
        w.app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    try:
        worker.execute_from_commandline()
    finally:
        clusterer.stop()
        w.reader.stop()
        w.record_sink.close()
        if w.store.changelog is not None:
            w.store.changelog.close()
    return 0


def _report_compiled() -> None:
    from learnpulse import interpreter, native
    from streams.metrics import COMPILED_MODELS, INTERPRETER_BUILD

    log = logging.getLogger("streams")
    if native.in_use():
        COMPILED_MODELS.set(1)
        log.info("models: compiled (learnpulse/native.py)")
    else:
        COMPILED_MODELS.set(0)
        log.warning(
            "models: plain Python, 1.2-1.4x the CPU per event (%s); "
            "build them with: python -m learnpulse.native build",
            native.guard() or "not loaded",
        )
    build = interpreter.describe()
    INTERPRETER_BUILD.labels({True: "yes", False: "no", None: "unknown"}[build.optimized]).set(1)
    log.info("interpreter: %s", build)
    hint = interpreter.warning(build)
    if hint:
        log.warning("interpreter: %s", hint)


if __name__ == "__main__":
    sys.exit(main())
