"""A dialect never imports another dialect: what two of them share lives in the shared modules of
hostplane.dialects (the parameter reader, the problem re-rendering, the login URLs)."""

from __future__ import annotations

import ast
from pathlib import Path

import hostplane.dialects

DIALECTS = Path(hostplane.dialects.__file__).parent


def imported_modules(source: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_dialect_imports_another_dialect() -> None:
    packages = sorted(path.name for path in DIALECTS.iterdir() if (path / "__init__.py").exists())
    assert {"openpanel", "pterodactyl", "easymail", "whm", "cpanel_sessions"} <= set(packages)
    for package in packages:
        for source in (DIALECTS / package).rglob("*.py"):
            for module in imported_modules(source):
                parts = module.split(".")
                if parts[:2] == ["hostplane", "dialects"] and len(parts) > 2 and parts[2] in packages:
                    assert parts[2] == package, f"{source.relative_to(DIALECTS)} imports {module}"
