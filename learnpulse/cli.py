"""The ``learnpulse`` command: run the embedded stack, the demo, evaluations, keys."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from learnpulse.stack.procs import StackError

app = typer.Typer(
    help="LearnPulse: real-time personalization for workplace learning.",
    no_args_is_help=True,
    add_completion=False,
)
evaluate_app = typer.Typer(
    help="Offline evaluations on real and synthetic data.", no_args_is_help=True
)
app.add_typer(evaluate_app, name="evaluate")
console = Console()


def _mount_optional() -> None:
    """Sub-commands whose modules may be absent in a partial checkout."""
    import importlib

    for module, attr, name, target in (("services.ingest.keys_cli", "app", "keys", app),):
        try:
            sub = getattr(importlib.import_module(module), attr)
        except ImportError:
            continue
        target.add_typer(sub, name=name, help="Producer credentials of the ingest gateway.")
    for module, name in (
        ("learnpulse.evaluate.knowledge_tracing", "knowledge-tracing"),
        ("learnpulse.evaluate.dropout", "dropout"),
        ("learnpulse.evaluate.recommendations", "recommendations"),
        ("learnpulse.evaluate.nudges", "nudges"),
        ("learnpulse.evaluate.clusters", "clusters"),
    ):
        try:
            cmd = importlib.import_module(module).command
        except (ImportError, AttributeError):
            continue
        evaluate_app.command(name)(cmd)


_mount_optional()


def _start_stack(
    workdir: Path,
    workers: int,
    partitions: int,
    kafka_port: int,
    redis_port: int,
    ingest_port: int,
    delivery_port: int,
) -> Any:
    from learnpulse.stack.runner import EmbeddedStack, StackConfig

    cfg = StackConfig(
        workdir=workdir,
        workers=workers,
        partitions=partitions,
        kafka_port=kafka_port,
        redis_port=redis_port,
        ingest_port=ingest_port,
        delivery_port=delivery_port,
    )
    stack = EmbeddedStack(cfg, say=lambda m: console.print(f"[dim]·[/] {m}"))
    try:
        stack.start()
    except StackError as exc:
        stack.stop()
        console.print(f"[red bold]cannot start the stack:[/] {exc}")
        raise typer.Exit(2) from exc
    except BaseException:
        stack.stop()
        raise
    stack.write_state()
    return stack


def _on_term(*_a: Any) -> None:
    raise KeyboardInterrupt


Workdir = Annotated[Path, typer.Option(help="Logs and state of the embedded stack")]
Ports = dict(kafka_port=0, redis_port=0, ingest_port=0, delivery_port=0)


@app.command()
def up(
    workdir: Workdir = Path(".lp/stack"),
    workers: Annotated[int, typer.Option(help="Stream worker processes")] = 1,
    partitions: Annotated[int, typer.Option(help="Partitions of learner-keyed topics")] = 4,
    kafka_port: Annotated[int, typer.Option(help="Broker port (0 = free port)")] = 0,
    redis_port: Annotated[int, typer.Option(help="Redis port (0 = free port)")] = 0,
    ingest_port: Annotated[int, typer.Option(help="Ingest gateway port (0 = free port)")] = 0,
    delivery_port: Annotated[int, typer.Option(help="Delivery API port (0 = free port)")] = 0,
) -> None:
    """Run the embedded stack (Tansu, Redis, workers, HTTP services) until Ctrl-C."""
    signal.signal(signal.SIGTERM, _on_term)
    stack = _start_stack(
        workdir, workers, partitions, kafka_port, redis_port, ingest_port, delivery_port
    )
    try:
        _print_endpoints(stack)
        console.print("[green]stack is up[/]; Ctrl-C stops it")
        while True:
            time.sleep(1)
            for p in stack.worker_procs:
                if not p.alive():
                    console.print(f"[red]{p.name} exited[/]; log: {p.log_path}")
                    raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        stack.stop()


def _print_endpoints(stack: Any) -> None:
    for name, url in stack.endpoints.items():
        console.print(f"  [cyan]{name:>18}[/] {url}")
    token = stack.dev_ingest_key()
    if token:
        console.print(
            f"  [cyan]{'ingest API key':>18}[/] {token}  (development key, this run only)"
        )
        console.print(
            "  [dim]try: curl -X POST " + stack.endpoints["ingest"] + "/xapi/statements "
            f"-H 'Authorization: Bearer {token}' -H 'X-Experience-API-Version: 1.0.3' "
            '-H \'Content-Type: application/json\' -d \'{"actor": {"account": '
            '{"homePage": "https://lms.example.com", "name": "ada"}}, '
            '"verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}, '
            '"object": {"id": "https://lms.example.com/course/sql-101"}}\'[/]',
            soft_wrap=True,
        )


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="Stop after N seconds and summarise")
    ] = None,
    learners: Annotated[int, typer.Option(help="Learners in the synthetic organisation")] = 300,
    rate: Annotated[float, typer.Option(help="Events per second to produce")] = 200.0,
    workdir: Workdir = Path(".lp/demo"),
    workers: Annotated[int, typer.Option(help="Stream worker processes")] = 1,
) -> None:
    """The whole pipeline on the embedded stack with a synthetic organisation, live."""
    from learnpulse.demo import run_demo

    signal.signal(signal.SIGTERM, _on_term)
    stack = _start_stack(workdir, workers, 4, **Ports)
    try:
        _print_endpoints(stack)
        token_hint = _learner_page(stack)
        if token_hint:
            console.print(f"  [cyan]{'learner page':>18}[/] {token_hint}")
        summary = run_demo(stack, learners, rate, duration)
        console.print("[bold]summary[/]")
        for k, v in summary.items():
            console.print(f"  {k}: {v}")
        if summary["recommendation_updates"] == 0:
            console.print(
                f"[red]no recommendations were written[/]; see the worker logs in {workdir}"
            )
            raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def _learner_page(stack: Any) -> str | None:
    """A link to the reference page for one synthetic learner, if the API offers one."""
    base = stack.endpoints.get("delivery")
    try:
        from services.delivery.tokens import mint  # type: ignore[import-not-found]
    except ImportError:
        return base
    return f"{base}/?token={mint(stack.token_secret.encode(), 'lrn-00001', ttl_s=86400)}"


def main() -> None:
    try:
        app()
    except StackError as exc:
        console.print(f"[red bold]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
