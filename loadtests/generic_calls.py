"""Where compiled code makes generic calls or reads module globals, by Python line.

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        --collect-atstart=no --dump-before=getppid \\
        --toggle-collect=CPyPy_batch___LearnBatch___handle \\
        --toggle-collect=CPyPy_batch___LearnBatch___save_states \\
        .venv/bin/python -m loadtests.handle_bench --child --events 4000 \\
        --learners 10000 --batch 40 --warm 20000
    .venv/bin/python -m loadtests.generic_calls /tmp/cg.out [--top 40]

mypyc compiles an operation to a direct C call when it knows the receiver's
type; otherwise it emits a generic call (``PyObject_VectorcallMethod``: a method
looked up by name, or ``PyObject_Vectorcall``: a call through an object).
Decision 0025 says how to avoid them on hot paths. This reads the profile's
``calls=`` records made from ``build/streams/__native_native.c`` to those
functions, and maps each call's C line to the Python line of the next
``CPy_AddTraceback`` after it (mypyc puts one after every call that can fail).

It also counts reads of module globals: a module-level name that is not
``Final`` is looked up in the module's dict (``CPyDict_GetItem``) every time a
compiled function reads it, and a tuple or float read that way is unboxed on
each read. ``Final`` constants are compiled in.

The C file must be the one the profiled build was compiled from: profile, then
read, before the next build. Prints calls and inclusive instructions per line.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[1]
C_FILE = ROOT / "build" / "streams" / "__native_native.c"
GENERIC = re.compile(
    r"^(PyObject_VectorcallMethod|PyObject_Vectorcall|_PyObject_Vectorcall"
    r"|PyObject_Call|PyObject_CallObject)$"
)
TRACEBACK = re.compile(r'CPy_AddTraceback\("([^"]+)", "([^"]+)", (\d+)')
GLOBAL_NAME = re.compile(r"CPyStatics\[\d+\]; /\* '([^']+)' \*/")

Site = tuple[str, str, int]  # python file, function, line


def python_line(c_lines: list[str], c_line: int) -> Site:
    """The Python (file, function, line) of the first traceback at or after ``c_line``."""
    for j in range(c_line - 1, min(c_line + 60, len(c_lines))):
        m = TRACEBACK.search(c_lines[j])
        if m:
            return m.group(1), m.group(2), int(m.group(3))
    return "?", "?", 0


def global_reads(c_lines: list[str]) -> dict[int, str]:
    """C line (1-based) of each module-global lookup -> the global's name."""
    out: dict[int, str] = {}
    for i, text in enumerate(c_lines):
        if "CPyDict_GetItem(" not in text or i < 2:
            continue
        m = GLOBAL_NAME.search(c_lines[i - 1])
        if m is not None and "___globals;" in c_lines[i - 2]:
            out[i + 1] = m.group(1)
    return out


def generic_calls(
    profile: str, c_source: str, globals_read: bool = False
) -> tuple[Counter[Site], Counter[Site]]:
    """(calls, inclusive instructions) per Python line, for generic calls from ``c_source``.

    With ``globals_read``, for module-global lookups instead; the site's function
    name is then ``function:global``.
    """
    c_lines = c_source.split("\n")
    reads = global_reads(c_lines) if globals_read else {}
    names: dict[tuple[str, str], str] = {}

    def name(kind: str, text: str) -> str:
        # callgrind compresses names: "(12) name" defines id 12, "(12)" reuses it.
        m = re.match(r"\((\d+)\)(?: (.*))?$", text)
        if m is None:
            return text
        if m.group(2):
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), text)

    calls: Counter[Site] = Counter()
    cost: Counter[Site] = Counter()
    file = callee = ""
    pending: int | None = None
    line = 0
    for raw in profile.split("\n"):
        if raw.startswith(("fl=", "fi=", "fe=")):
            file = name("fl", raw[3:])
        elif raw.startswith(("cfi=", "cfl=")):
            name("fl", raw[4:])
        elif raw.startswith("fn="):
            name("fn", raw[3:])
        elif raw.startswith("cfn="):
            callee = name("fn", raw[4:])
        elif raw.startswith("calls="):
            pending = int(raw[6:].split()[0])
        elif raw and (raw[0].isdigit() or raw[0] in "+-*"):
            # A cost line: its position is absolute, relative (+n/-n) or the same (*).
            first, *rest = raw.split()
            if first[0] in "+-":
                line += int(first)
            elif first != "*":
                line = int(first)
            if pending is not None:
                if not file.endswith("__native_native.c"):
                    pass
                elif globals_read:
                    if line in reads and callee.split("'")[0] == "CPyDict_GetItem":
                        py_file, func, py_line = python_line(c_lines, line)
                        site = (py_file, f"{func}:{reads[line]}", py_line)
                        calls[site] += pending
                        cost[site] += int(rest[0]) if rest else 0
                elif GENERIC.match(callee.split("'")[0]):
                    site = python_line(c_lines, line)
                    calls[site] += pending
                    cost[site] += int(rest[0]) if rest else 0
                pending = None
    return calls, cost


def main(
    profile: Annotated[Path, typer.Argument(help="callgrind out file")],
    top: Annotated[int, typer.Option(help="lines to print")] = 40,
    c_file: Annotated[Path, typer.Option(help="the C source of the profiled build")] = C_FILE,
    globals_read: Annotated[
        bool, typer.Option("--globals", help="module-global lookups instead of generic calls")
    ] = False,
) -> None:
    """Print the generic calls (or global lookups) per Python line; see the module docstring."""
    calls, cost = generic_calls(profile.read_text(), c_file.read_text(), globals_read)
    print(f"{'global lookups' if globals_read else 'generic calls'}: {sum(calls.values()):,}")
    sources: dict[str, list[str]] = {}
    for (file, func, line), n in calls.most_common(top):
        path = ROOT / file
        if file not in sources:
            sources[file] = path.read_text().split("\n") if path.is_file() else []
        text = sources[file][line - 1].strip()[:70] if 0 < line <= len(sources[file]) else ""
        print(f"{n:9,d} {cost[(file, func, line)]:14,d}  {file}:{line} {func} | {text}")


if __name__ == "__main__":
    typer.run(main)
