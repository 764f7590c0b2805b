"""The dialects' layer rules, read from their source: a dialect translates and calls the core. It imports no other
dialect (shared code lives outside them), and it holds no SQL: no SQLAlchemy, no unit of work of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import hostplane.dialects

DIALECTS = Path(hostplane.dialects.__file__).parent
NAMES = sorted(path.name for path in DIALECTS.iterdir() if (path / "__init__.py").exists())
UNITS_OF_WORK = {"reading", "writing"}


def modules() -> list[tuple[str, Path, ast.Module]]:
    """(dialect, file, tree) for every module of every dialect."""
    return [
        (name, path, ast.parse(path.read_text(), str(path)))
        for name in NAMES
        for path in sorted((DIALECTS / name).rglob("*.py"))
    ]


def imported(tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_dialects_are_found() -> None:
    assert {"easymail", "openpanel", "pterodactyl", "whm", "cpanel_sessions"} <= set(NAMES)


def test_no_dialect_imports_another() -> None:
    crossing = [
        f"{path.relative_to(DIALECTS)}: {module}"
        for name, path, tree in modules()
        for module in imported(tree)
        for other in NAMES
        if other != name and f"{module}.".startswith(f"hostplane.dialects.{other}.")
    ]
    assert crossing == []


def test_no_dialect_holds_sql_or_a_unit_of_work() -> None:
    found: list[str] = []
    for _name, path, tree in modules():
        where = path.relative_to(DIALECTS)
        found += [f"{where}: import {module}" for module in imported(tree) if module.split(".")[0] == "sqlalchemy"]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in UNITS_OF_WORK:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select":
                found.append(f"{where}:{node.lineno}: select(...)")
    assert found == []
