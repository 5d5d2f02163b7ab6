"""Module constants of the compiled modules are ``Final`` (docs/decisions/0026).

Compiled, a module-level name that is not ``Final`` is looked up in the
module's dict on every read, and a tuple or float read that way is unboxed
each time: ``rounding.fast_round`` built a 7-float tuple per call.
"""

from __future__ import annotations

import ast
import re

from learnpulse import native

CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _is_final(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return isinstance(node, ast.Name) and node.id == "Final"


def constants_not_final(source: str) -> list[str]:
    """Module-level UPPER_CASE names assigned without ``Final`` (TypeVars aside)."""
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "TypeVar":
                continue
            for target in node.targets:
                # A, B = 1, 2 cannot be Final: one constant per line.
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                out += [t.id for t in names if isinstance(t, ast.Name) and CONSTANT.match(t.id)]
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and CONSTANT.match(node.target.id)
            and not _is_final(node.annotation)
        ):
            out.append(node.target.id)
    return out


def test_the_check_finds_plain_and_annotated_constants() -> None:
    src = (
        "from typing import Final, TypeVar\n"
        "A = 1\n_B: tuple[float, ...] = (1.0,)\nC: Final = 2\nD: Final[int] = 3\n"
        "T = TypeVar('T')\nlower = 4\nE, F = 5, 6\n"
    )
    assert constants_not_final(src) == ["A", "_B", "E", "F"]


def test_compiled_modules_declare_their_constants_final() -> None:
    missing = {
        m: names
        for m in native.MODULES
        if (names := constants_not_final(native.source_path(m).read_text()))
    }
    assert missing == {}
