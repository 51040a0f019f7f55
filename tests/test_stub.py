"""_core.pyi names exactly what the compiled module defines (a hand-written stub that lost a
function is how scikit_build_example's stub drifted)."""

import ast
import pathlib

import lstmcore
from lstmcore import _core


def _stub():
    path = pathlib.Path(lstmcore.__file__).with_name("_core.pyi")
    tree = ast.parse(path.read_text())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and node.target.id.isupper():  # module constants
            top.add(node.target.id)
        elif isinstance(node, ast.ClassDef):
            top.add(node.name)
            members = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("__"):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign):
                    members.add(item.target.id)
            classes[node.name] = members
    return top, classes


def _public(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


def test_stub_matches_module():
    top, classes = _stub()
    assert top == _public(_core)
    for name, members in classes.items():
        assert members == _public(getattr(_core, name)), name
