"""How the running CPython was built, and whether that build is known to be slow.

The stream worker's per-event cost lives mostly in CPython itself: dict lookups,
the allocator, float boxing, even from the compiled models (decision 0023). A
CPython configured without ``--enable-optimizations`` (profile-guided) and
``--with-lto``, as pyenv, asdf and a plain ``./configure`` build it by default,
runs that code markedly slower. On the development machine the same commit
needed 8-20% less CPU per event in ``LearnBatch.handle`` on Debian's build
(PGO+LTO) than on a pyenv build of 3.11.7 (docs/decisions/0028,
loadtests/RESULTS.md, fourteenth round). The official Docker images, which the
Dockerfile uses, and Debian's ``python3`` are optimized builds.

What can be told from inside the process:

* ``--enable-optimizations`` in the configure arguments: an optimized build.
* Installed under ``/usr`` without ``--enable-optimizations``: a distribution's
  build. Debian's is PGO+LTO on amd64 and arm64 (its changelog) but leaves the
  flags out of ``sysconfig``, so such a build is "unknown", not slow.
* Anything else with configure arguments and no ``--enable-optimizations``
  (pyenv's default, a hand-built prefix): not optimized.

>>> describe({"CONFIG_ARGS": "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared'",
...           "Py_ENABLE_SHARED": 1, "prefix": "/root/.pyenv/versions/3.11.7"}).optimized
False
>>> describe({"CONFIG_ARGS": "'--enable-optimizations' '--with-lto' '--enable-shared'",
...           "Py_ENABLE_SHARED": 1, "prefix": "/usr/local"}).label
'PGO+LTO, shared libpython'
>>> describe({"CONFIG_ARGS": "'--enable-shared' '--prefix=/usr'", "Py_ENABLE_SHARED": 1,
...           "prefix": "/usr"}).optimized is None
True
"""

from __future__ import annotations

import platform
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HINT = (
    "this CPython was built without --enable-optimizations (PGO) and LTO: on an "
    "optimized build the stream worker needed 8-20% less CPU per event "
    "(docs/decisions/0028). Use an "
    "optimized build: the official Docker image, a distribution's python3, or pyenv with "
    "PYTHON_CONFIGURE_OPTS='--enable-optimizations --with-lto'; ./lp takes PYTHON=..."
)


@dataclass(frozen=True)
class Build:
    version: str
    optimized: bool | None  # None: cannot be told (a distribution's build)
    label: str  # e.g. "PGO+LTO, shared libpython"

    def __str__(self) -> str:
        return f"{platform.python_implementation()} {self.version} ({self.label})"


def describe(config: Mapping[str, Any] | None = None) -> Build:
    """The build of this interpreter (``config``: sysconfig's variables, for tests)."""
    cfg = config if config is not None else sysconfig.get_config_vars()
    args = str(cfg.get("CONFIG_ARGS") or "")
    shared = "shared libpython" if _shared(cfg, config is None) else "static libpython"
    prefix = str(cfg.get("prefix") or "")
    optimized: bool | None
    if "--enable-optimizations" in args:
        optimized = True
        kind = "PGO+LTO" if "--with-lto" in args else "PGO"
    elif prefix == "/usr":
        optimized = None
        kind = "a distribution's build, flags not recorded"
    elif platform.python_implementation() != "CPython" or not args:
        optimized = None
        kind = "build flags not recorded"
    else:
        optimized = False
        kind = "no PGO/LTO"
    return Build(platform.python_version(), optimized, f"{kind}, {shared}")


def _shared(cfg: Mapping[str, Any], this_process: bool) -> bool:
    # Debian builds libpython both ways and links /usr/bin/python3.X statically, but
    # sysconfig says "shared": for this process, look at what is actually mapped.
    if this_process:
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                return any("libpython" in line for line in maps)
        except OSError:
            pass
    return bool(cfg.get("Py_ENABLE_SHARED"))


def warning(build: Build | None = None) -> str | None:
    """:data:`HINT` when this interpreter (or ``build``, if already described) is
    known to be an unoptimized build."""
    return HINT if (build or describe()).optimized is False else None


def usable_and_not_slow() -> bool:
    """What ``./lp`` asks of an interpreter it may pick by itself: 3.11, a venv with
    pip can be made (Debian's needs its python3-venv package), and not known slow."""
    import importlib.util

    if sys.version_info[:2] != (3, 11):
        return False  # the version the project is built and tested on
    if any(importlib.util.find_spec(m) is None for m in ("venv", "ensurepip")):
        return False
    return describe().optimized is not False


if __name__ == "__main__":
    # ./lp choosing an interpreter: answers by exit status only
    if sys.argv[1:] == ["--slow"]:
        sys.exit(0 if describe().optimized is False else 1)
    if sys.argv[1:] == ["--usable"]:
        sys.exit(0 if usable_and_not_slow() else 1)
    # ./lp prints this when it creates the venv
    build = describe()
    print(f"Python: {build} at {sys.executable}")
    hint = warning(build)
    if hint:
        print(f"note: {hint}")
