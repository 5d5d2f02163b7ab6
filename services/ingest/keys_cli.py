"""``learnpulse keys ...``: create, list, revoke (and back up) producer credentials.

Redis comes from ``--redis-url`` or ``LEARNPULSE_INGEST_REDIS_URL``. The token
is printed once, at creation; only its salted HMAC is stored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from services.ingest.fields import now_ms
from services.ingest.keystore import FORMATS, Credential, KeyStore, new_credential

app = typer.Typer(
    help="Producer credentials of the ingest gateway.", no_args_is_help=True, add_completion=False
)
console = Console()

RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url", help="Redis URL (default: LEARNPULSE_INGEST_REDIS_URL)", show_default=False
    ),
]


def _store(redis_url: str | None) -> KeyStore:
    import redis
    from pydantic import ValidationError

    if redis_url is None:
        from services.ingest.settings import RedisSettings

        try:
            redis_url = RedisSettings().redis_url.get_secret_value()  # type: ignore[call-arg]
        except ValidationError as exc:
            console.print("[red]no Redis: pass --redis-url or set LEARNPULSE_INGEST_REDIS_URL[/]")
            raise typer.Exit(2) from exc
    return KeyStore(redis.Redis.from_url(redis_url, socket_timeout=5))


@app.command()
def create(
    tool: Annotated[str, typer.Argument(help="Producer tool id, e.g. lms, video, quiz")],
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source", "-s", help="Extra source ids this key may send as (native events)"
        ),
    ] = None,
    fmt: Annotated[
        list[str] | None,
        typer.Option(
            "--format", "-f", help=f"Formats allowed (default: all of {', '.join(FORMATS)})"
        ),
    ] = None,
    verb: Annotated[
        list[str] | None, typer.Option("--verb", help="Canonical verbs allowed (default: any)")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Events/s for this tool")] = None,
    burst: Annotated[int | None, typer.Option(help="Burst size for this tool")] = None,
    note: Annotated[str, typer.Option(help="Free text, e.g. who asked for it")] = "",
    redis_url: RedisUrl = None,
) -> None:
    """Create a key and print its token (shown once)."""
    try:
        cred, token = new_credential(
            tool,
            sources=tuple(source or ()),
            formats=tuple(fmt or FORMATS),
            verbs=tuple(verb or ()),
            rate_per_s=rate,
            burst=burst,
            note=note,
            now_ms=now_ms(),
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    _store(redis_url).add(cred)
    key_id, secret = token.split(".", 1)
    console.print(f"key id  {cred.key_id}  (tool {cred.tool}, formats {', '.join(cred.formats)})")
    console.print("token   (shown once; store it as a secret)")
    typer.echo(token)
    console.print(
        f"[dim]Bearer: Authorization: Bearer {key_id}.<secret>   "
        f"Basic (xAPI): user {key_id}, password <secret>[/]"
    )


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """List keys (never their secrets)."""
    creds = _store(redis_url).all()
    if as_json:
        for c in creds:
            typer.echo(orjson.dumps(c.public()).decode())
        return
    table = Table("key id", "tool", "formats", "sources", "verbs", "rate", "state")
    for c in creds:
        table.add_row(
            c.key_id,
            c.tool,
            ",".join(c.formats),
            ",".join(c.sources) or "-",
            ",".join(c.verbs) or "any",
            str(c.rate_per_s or "default"),
            "revoked" if c.revoked else "active",
        )
    console.print(table)


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (lpk_...)")], redis_url: RedisUrl = None
) -> None:
    """Revoke a key (gateways stop accepting it within their key cache time)."""
    try:
        _store(redis_url).revoke(key_id, now_ms())
    except KeyError as exc:
        console.print(f"[red]no key {key_id}[/]")
        raise typer.Exit(1) from exc
    console.print(f"revoked {key_id}")


@app.command("export")
def export_keys(redis_url: RedisUrl = None) -> None:
    """Print all credentials (salted hashes, no secrets) as JSON lines, for backup."""
    for c in _store(redis_url).all():
        sys.stdout.write(c.to_json().decode() + "\n")


@app.command("import")
def import_keys(
    path: Annotated[Path, typer.Argument(help="File written by `keys export`")],
    redis_url: RedisUrl = None,
) -> None:
    """Restore credentials from an export (Redis is a projection; keys are not)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    creds: list[Any] = [Credential.from_json(ln) for ln in lines]
    console.print(f"restored {_store(redis_url).restore(creds)} keys")
