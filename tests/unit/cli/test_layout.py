"""The command line is thin: one module per command group, each calling the core. No module of the CLI imports a
dialect (a dialect translates foreign requests; the CLI speaks to the core) or runs SQL itself."""

from __future__ import annotations

import ast
from pathlib import Path

import typer.main

import hostplane.cli
from hostplane.cli import app

CLI = Path(hostplane.cli.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_cli_module_imports_a_dialect_or_sqlalchemy() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert {path.stem for path in modules} >= {"__init__", "common", "setup", "users", "mail", "login"}
    for path in modules:
        for name in imported_modules(path):
            assert not name.startswith("hostplane.dialects"), (path.name, name)
            assert not name.startswith("sqlalchemy"), (path.name, name)


def test_every_command_keeps_its_name() -> None:
    group = typer.main.get_group(app)
    assert list(group.commands) == [
        "init", "serve", "login-url", "doctor", "reconcile",
        "user", "api-key", "plan", "settings", "jobs", "tls", "domain", "mail",
    ]  # fmt: skip
    subcommands = {
        name: sorted(command.commands) for name, command in group.commands.items() if hasattr(command, "commands")
    }
    assert subcommands == {
        "user": ["create", "disable", "enable", "list", "reset-2fa", "set-password"],
        "api-key": ["create"],
        "plan": ["assign", "create", "list"],
        "settings": ["set", "show"],
        "jobs": ["list", "watch"],
        "tls": ["renew"],
        "domain": ["add", "delete", "list", "move"],
        "mail": ["domain", "mailbox"],
    }
