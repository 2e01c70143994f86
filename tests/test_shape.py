"""The shape between modules: no import cycle, and no process state at module level.

One pip process is one object (:class:`ltt_hook.process.PipProcess`), built by the patch step and
handed to the wrappers; a module holds constants and tables only. These tests read the source of
``ltt_hook/`` (its import graph, deferred and type-checking imports included) and the imported
modules' own names.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from dataclasses import is_dataclass
from pathlib import Path
from typing import Dict, List, Set

import pytest

from ltt_hook._packaging import Version

PACKAGE = Path(__file__).resolve().parent.parent / "ltt_hook"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> Set[str]:
    """The ltt_hook modules ``name`` imports anywhere in its source (top level, in functions,
    under ``if TYPE_CHECKING``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)  # `from . import config`
    return {m for m in found if m in MODULES and m != name}


def _graph() -> Dict[str, Set[str]]:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    for name in graph:  # importing a.b runs a/__init__.py first
        graph[name] -= {p for p in MODULES if name.startswith(p + ".")}
    return graph


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle_deferred_and_type_only_imports_included():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_start_up_module_imports_only_the_patch():
    """``_pth`` runs in every interpreter that may be pip: at its top level only ``os``, ``sys``
    and the package's own ``TRUTHY`` and ``CollectorPaused`` (the package is imported already); the patch when pip is
    the program."""
    tree = ast.parse(MODULES["ltt_hook._pth"].read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [(getattr(n, "module", None) or "", a.name) for n in top for a in n.names]
    assert sorted(names) == [("", "os"), ("", "sys"), ("ltt_hook", "CollectorPaused"), ("ltt_hook", "TRUTHY")]
    assert _graph()["ltt_hook._pth"] <= {"ltt_hook.pip_patch"}


# --------------------------------------------------------------------------- module-level state

_CONSTANT = (str, bytes, int, float, bool, type(None), re.Pattern, types.MappingProxyType)


def _constant(value: object) -> bool:
    """A value no code can change: plain immutable values (a version, a function), and tuples and
    frozensets of them, named tuples and frozen dataclasses included."""
    if isinstance(value, (*_CONSTANT, types.FunctionType, Version)):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_constant(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        return bool(type(value).__dataclass_params__.frozen)  # type: ignore[attr-defined]
    return False


def _table(name: str, value: object) -> bool:
    """A table: upper-case, non-empty, plain values in dicts and tuples (the rows of ``data.py``)."""
    if not (name.lstrip("_").isupper() and isinstance(value, (dict, tuple)) and value):
        return False
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return all(_constant(k) and (_constant(v) or _table(name, v)) for k, v in items)


def _declared(value: object) -> bool:
    """What a module defines rather than holds: functions, classes, modules, loggers, typing
    aliases."""
    import __future__

    import functools
    import logging

    kinds = (types.FunctionType, types.BuiltinFunctionType, type, types.ModuleType, logging.Logger,
             __future__._Feature)
    if isinstance(value, functools._lru_cache_wrapper):  # a memo: state when it is ltt_hook's own
        return not str(getattr(value, "__module__", "")).startswith("ltt_hook")
    return isinstance(value, kinds) or type(value).__module__ in ("typing", "typing_extensions")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_holds_constants_and_tables_only(name):
    module = importlib.import_module(name)
    state = [attr for attr, value in vars(module).items()
             if not (attr.startswith("__") and attr.endswith("__"))
             and not _declared(value) and not _constant(value) and not _table(attr, value)]
    assert state == [], f"{name} holds process state at module level: {state}"


def test_no_module_writes_a_global():
    written = [(name, node.lineno) for name, path in MODULES.items()
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, (ast.Global, ast.Nonlocal))]
    assert written == []


def test_the_state_check_finds_state():
    assert not _constant([]) and not _table("_CACHE", {}) and not _table("PAGES", {"a": []})
    assert _table("TABLE", {"a": ("b", 1)}) and _constant((1, frozenset({"x"})))
