"""The stream worker's model code compiled to C with mypyc, and the guard against stale builds.

    .venv/bin/python -m learnpulse.native build     # what ./lp runs when sources changed
    .venv/bin/python -m learnpulse.native status

Why (docs/decisions/0016-compiled-models.md): the per-learner models are typed
Python; compiled from the same source, with the same results, the worker needs
17-34% less CPU per event (loadtests/RESULTS.md, fourth round). ``./lp``
compiles them after installing (about 45 s on 2 cores); the extension modules
(``*.so``) land next to their sources and are not committed.

A compiled module is used only while its build is current: the build writes a
stamp with the hash of every compiled source, and importing ``streams`` checks
it. If any source changed since the build (or ``LEARNPULSE_NATIVE=0``), every
listed module is imported from its ``.py`` instead: all or none, because
compiled modules call each other directly. Without a build, plain Python runs,
only slower.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import orjson

ROOT = Path(__file__).resolve().parent.parent
# The per-event path of the stream worker. Not listed: streams/reference.py (a
# reader thread and locks; its lookups are indexed) and the faust/Kafka/Redis glue.
MODULES: tuple[str, ...] = (
    "streams.models.candidates",
    "streams.models.clusters",
    "streams.models.dropout_features",
    "streams.models.explain",
    "streams.models.explore",
    "streams.models.interest",
    "streams.models.learner",
    "streams.models.mastery",
    "streams.models.nudge_policy",
    "streams.models.peers",
    "streams.models.popularity",
    "streams.models.ranker",
    "streams.models.recommend",
    "streams.models.rhythm",
    "streams.models.rng",
    "streams.models.rounding",
    "streams.models.state",
    "streams.avro_read",
    "streams.avro_write",
    "streams.batch",
    "streams.clustering",
    "streams.engagement",
    "streams.listcache",
    "streams.skills",
)
GROUP = "streams.native"  # the shared library: streams/native__mypyc*.so
STAMP = ROOT / "streams" / ".native-stamp.json"


def source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def fingerprint(root: Path = ROOT) -> dict[str, str]:
    """What a build depends on: the interpreter, mypyc, and each source's hash."""
    out = {"python": sys.version, "abi": str(sysconfig.get_config_var("EXT_SUFFIX"))}
    try:
        import mypy.version

        out["mypyc"] = mypy.version.__version__
    except ImportError:  # a runtime without the build tools can still check sources
        out["mypyc"] = "?"
    for m in MODULES:
        out[m] = hashlib.sha256(source_path(m, root).read_bytes()).hexdigest()
    return out


def stale_reason(root: Path = ROOT) -> str | None:
    """None when the compiled modules in ``root`` match their sources, else why not."""
    stamp = root / STAMP.relative_to(ROOT)
    if not stamp.exists():
        return "not built"
    try:
        built = orjson.loads(stamp.read_bytes())
    except orjson.JSONDecodeError:
        return "unreadable build stamp"
    now = fingerprint(root)
    for key, value in now.items():
        if key == "mypyc":
            continue  # the runtime need not have the compiler installed
        if built.get(key) != value:
            return f"{key} changed since the build" if key in MODULES else f"{key} differs"
    return None


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Imports the listed modules from their ``.py``, never from a stale extension."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname, self.root))


_state: dict[str, str | None] = {}


def guard() -> str | None:
    """Use the compiled modules only if current; returns why not (None: compiled in use).

    Called by ``streams/__init__.py`` before any listed module can be imported.
    """
    if "reason" in _state:
        return _state["reason"]
    if os.environ.get("LEARNPULSE_NATIVE", "1").lower() in ("0", "false", "no", "off"):
        reason: str | None = "LEARNPULSE_NATIVE=0"
    else:
        reason = stale_reason()
    if reason is not None:
        sys.meta_path.insert(0, _SourceFirst(ROOT))
    _state["reason"] = reason
    return reason


def in_use() -> bool:
    """Whether the listed modules imported in this process are the compiled ones."""
    mod = sys.modules.get("streams.models.ranker")
    return mod is not None and not str(getattr(mod, "__file__", "")).endswith(".py")


def clean(root: Path = ROOT) -> None:
    # Every extension module under streams/, not only the listed ones: one left
    # behind by a module taken off the list would still be imported before its .py.
    for so in (root / "streams").rglob("*.so"):
        so.unlink()
    (root / STAMP.relative_to(ROOT)).unlink(missing_ok=True)


def build(root: Path = ROOT, quiet: bool = True) -> None:
    """Compile the listed modules in place (mypyc + the C compiler); writes the stamp."""
    clean(root)
    # setuptools relinks an extension only when its C changed, whatever the
    # interpreter: objects and libraries built for another Python would be kept.
    # Each interpreter gets its own directories.
    tag = hashlib.sha256(f"{sys.version}\0{os.path.realpath(sys.executable)}".encode()).hexdigest()
    code = (
        "import sys\n"
        "temp = sys.argv.pop()\n"
        "from setuptools import setup\n"
        "from mypyc.build import mypycify\n"
        "setup(name='learnpulse-native', packages=[], py_modules=[],\n"
        # Third-party and uncompiled imports are typed Any: without this, mypyc
        # type-checks numpy and River too (minutes, for no faster code).
        "      ext_modules=mypycify(['--follow-imports=skip', *sys.argv[1:]],\n"
        f"                           opt_level='3', group_name={GROUP!r}),\n"
        "      script_args=['build_ext', '--inplace', '--build-temp', temp,\n"
        "                   '--build-lib', temp + '/lib'])\n"
    )
    files = [str(source_path(m, root).relative_to(root)) for m in MODULES]
    out = subprocess.run(
        [sys.executable, "-c", code, *files, f"build/native/{tag[:12]}"],
        cwd=root,
        capture_output=quiet,
        text=True,
    )
    if out.returncode != 0:
        clean(root)
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-30:]) if quiet else ""
        raise RuntimeError(f"mypyc build failed (exit {out.returncode})\n{tail}")
    (root / STAMP.relative_to(ROOT)).write_bytes(
        orjson.dumps(fingerprint(root), option=orjson.OPT_INDENT_2)
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "status"
    if cmd == "status":
        reason = stale_reason()
        print("compiled modules: current" if reason is None else f"compiled modules: {reason}")
        return 0
    if cmd == "build":
        if "--if-stale" in args and stale_reason() is None:
            return 0
        print("compiling the stream models with mypyc (about a minute)", file=sys.stderr)
        try:
            build(quiet="--verbose" not in args)
        except (RuntimeError, OSError) as exc:
            print(f"{exc}\nthe worker runs as plain Python (slower)", file=sys.stderr)
            return 1
        return 0
    if cmd == "clean":
        clean()
        return 0
    print("usage: python -m learnpulse.native [status|build [--if-stale] [--verbose]|clean]")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
