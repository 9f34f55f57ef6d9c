"""The .pyi stub names exactly what the native module exposes (methods and properties included)."""

from __future__ import annotations

import ast
from pathlib import Path

import lanner._lanner as native

STUB = Path(lanner_file := native.__file__).parent / "_lanner.pyi"


def _stub_names():
    tree = ast.parse(STUB.read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            members[node.name] = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AnnAssign)) and not isinstance(n, ast.AnnAssign)} | {
                n.target.id for n in node.body if isinstance(n, ast.AnnAssign)
            }
        elif isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
    return top, members


def test_stub_matches_module():
    top, members = _stub_names()
    public = {n for n in dir(native) if not n.startswith("_")} | {"__version__"}
    assert top == public, f"stub only: {top - public}; module only: {public - top}"
    for cls, names in members.items():
        obj = getattr(native, cls)
        if issubclass(obj, BaseException):
            continue
        actual = {n for n in dir(obj) if not n.startswith("__") or n in ("__iter__", "__next__", "__len__", "__enter__", "__exit__", "__init__")}
        actual -= {n for n in dir(object) if n != "__init__"} - {"__init__"}
        missing = {n for n in actual if n not in names and n not in ("__init__",)}
        extra = {n for n in names if n not in dir(obj) and n != "__init__"}
        assert not missing, f"{cls}: in module, not in stub: {missing}"
        assert not extra, f"{cls}: in stub, not in module: {extra}"
