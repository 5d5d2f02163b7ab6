"""loadtests.generic_calls: callgrind's compressed records back to Python lines."""

from __future__ import annotations

from loadtests.generic_calls import generic_calls

C_SOURCE = "\n".join(
    [
        "PyObject *CPyDef_m___f(PyObject *x) {",  # 1
        "    r0 = PyObject_VectorcallMethod(name, args, 2, 0);",  # 2
        "    if (unlikely(r0 == NULL)) {",  # 3
        '        CPy_AddTraceback("streams/m.py", "f", 12, CPyStatic_m___globals);',  # 4
        "    }",  # 5
        "    r1 = CPyDict_GetItem(d, k);",  # 6
        "    r2 = PyObject_Vectorcall(fn, args, 1, 0);",  # 7
        '        CPy_AddTraceback("streams/m.py", "f", 14, CPyStatic_m___globals);',  # 8
    ]
)

# Positions are absolute, relative (+n/-n) or repeated (*); names are defined once
# as "(id) name" and then referred to as "(id)".
PROFILE = """\
positions: line
events: Ir
fl=(1) /work/main/build/streams/__native_native.c
fn=(1) CPyDef_m___f
1 10
cfi=(2) Objects/call.c
cfn=(2) PyObject_VectorcallMethod
calls=3 100
+1 900
cfn=(3) CPyDict_GetItem
calls=5 200
+4 50
cfn=(4) PyObject_Vectorcall'2
calls=2 300
+1 400
cfn=(2)
calls=1 100
-5 300
fl=(3) Objects/other.c
fn=(5) elsewhere
cfn=(2)
calls=7 100
10 70
"""


def test_generic_calls_are_counted_per_python_line() -> None:
    calls, cost = generic_calls(PROFILE, C_SOURCE)
    # Line 2's two records (+1 and -5 both land on it), line 7's vectorcall; the
    # direct dict lookup and the call made outside the compiled file are not counted.
    assert calls == {("streams/m.py", "f", 12): 4, ("streams/m.py", "f", 14): 2}
    assert cost == {("streams/m.py", "f", 12): 1200, ("streams/m.py", "f", 14): 400}


GLOBALS_C = "\n".join(
    [
        "double CPyDef_m___g(double x) {",  # 1
        "    r0 = CPyStatic_m___globals;",  # 2
        "    r1 = CPyStatics[7]; /* '_SCALE' */",  # 3
        "    r2 = CPyDict_GetItem(r0, r1);",  # 4
        '        CPy_AddTraceback("streams/m.py", "g", 21, CPyStatic_m___globals);',  # 5
        "    r3 = CPyDict_GetItem(d, k);",  # 6
        '        CPy_AddTraceback("streams/m.py", "g", 22, CPyStatic_m___globals);',  # 7
    ]
)

GLOBALS_PROFILE = """\
positions: line
events: Ir
fl=(1) /work/main/build/streams/__native_native.c
fn=(1) CPyDef_m___g
cfn=(2) CPyDict_GetItem
calls=9 100
4 900
cfn=(2)
calls=5 200
+2 500
cfn=(3) PyObject_Vectorcall
calls=1 100
-2 50
"""


def test_global_lookups_are_counted_by_name() -> None:
    # Only the lookup in the module's globals dict (line 4) counts, under the
    # global's name; a dict lookup on a value (line 6) and a generic call do not.
    calls, cost = generic_calls(GLOBALS_PROFILE, GLOBALS_C, globals_read=True)
    assert calls == {("streams/m.py", "g:_SCALE", 21): 9}
    assert cost == {("streams/m.py", "g:_SCALE", 21): 900}
