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


def _binding_arg_names(obj):
    """Keyword names from pybind11's signature line, e.g. 'f(self: X, a: int, b: str = ...)'."""
    doc = (obj.__doc__ or "").strip().splitlines()
    if not doc or "(" not in doc[0]:
        return None
    inner = doc[0][doc[0].index("(") + 1:doc[0].rindex(")")]
    names, depth, cur = [], 0, ""
    for ch in inner + ",":
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            if cur.strip():
                names.append(cur.split(":")[0].strip())
            cur = ""
        else:
            cur += ch
    return [n for n in names if n != "self"]


def test_stub_argument_names_are_the_bindings_keywords():
    # the stub once named keyword arguments that the bindings rejected (positional-only arg0..)
    path = pathlib.Path(lstmcore.__file__).with_name("_core.pyi")
    tree = ast.parse(path.read_text())

    def check(fn, obj, where):
        want = [a.arg for a in fn.args.args if a.arg != "self"]
        got = _binding_arg_names(obj)
        if got is not None and fn.name != "__init__":
            assert got == want, f"{where}: stub {want} vs binding {got}"

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            check(node, getattr(_core, node.name), node.name)
        elif isinstance(node, ast.ClassDef):
            cls = getattr(_core, node.name)
            for item in node.body:
                if (isinstance(item, ast.FunctionDef) and not item.name.startswith("__")
                        and not isinstance(getattr(cls, item.name), property)):
                    check(item, getattr(cls, item.name), f"{node.name}.{item.name}")
