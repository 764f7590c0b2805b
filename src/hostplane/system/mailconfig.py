"""Shared by the Postfix and Dovecot drivers: rendering templates, staging, validating and swapping configs."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import jinja2

from hostplane.system.files import atomic_write

SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+-]+$")
"""Paths written into service configs: absolute, no spaces, quotes, '$', '%' or newlines."""


class ConfigRejected(RuntimeError):
    """A rendered config failed its validator: nothing was swapped in, the previous config stays live."""

    def __init__(self, service: str, output: str) -> None:
        super().__init__(f"the new {service} configuration was refused by its validator: {output[-1500:]}")
        self.service = service
        self.output = output


_environment: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _environment
    if _environment is None:
        _environment = jinja2.Environment(
            loader=jinja2.PackageLoader("hostplane", "templates"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 (service configs, not HTML; every value is validated first)
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _environment


def render(template: str, **values: object) -> str:
    return environment().get_template(template).render(**values)


def safe_path(path: Path) -> str:
    text = str(path)
    if not SAFE_PATH.match(text) or "/../" in text or text.endswith("/.."):
        raise ValueError(f"unsafe path for a service config: {text!r}")
    return text


async def stage_validate_swap(
    live_dir: Path,
    files: Callable[[Path], Mapping[str, str]],
    validate: Callable[[Path], Awaitable[None]],
) -> bool:
    """Render the whole set for a staging folder, validate it there, then replace each live file atomically.

    `files(directory)` renders the set as it should be when it lives in `directory` (configs name their own
    siblings by absolute path). Returns whether anything changed. On a validation failure ConfigRejected is
    raised and the live files are untouched; if a swap fails half-way, the previous files are put back.
    """
    live = files(live_dir)
    current = await asyncio.to_thread(_read_all, live_dir, list(live))
    if all(current[name] == content for name, content in live.items()):
        return False
    staging = live_dir.with_name(live_dir.name + ".staging")
    await asyncio.to_thread(_write_staging, staging, files(staging))
    try:
        await validate(staging)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    await asyncio.to_thread(_swap, live_dir, live, current)
    return True


def _read_all(directory: Path, names: list[str]) -> dict[str, str | None]:
    return {name: _read(directory / name) for name in names}


def _write_staging(staging: Path, contents: Mapping[str, str]) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, content in contents.items():
        atomic_write(staging / name, content.encode())


def _swap(live_dir: Path, live: Mapping[str, str], current: Mapping[str, str | None]) -> None:
    """Replace each file atomically; if one write fails, put back the ones already replaced."""
    live_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    try:
        for name, content in live.items():
            atomic_write(live_dir / name, content.encode())
            written.append(name)
    except BaseException:
        for name in written:
            previous = current[name]
            if previous is None:
                (live_dir / name).unlink(missing_ok=True)
            else:
                atomic_write(live_dir / name, previous.encode())
        raise


async def start_daemon(argv: list[str], *, timeout: float = 60.0) -> None:
    """Run a program that puts a daemon in the background and exits. Its output goes to a temporary file, not
    a pipe: the daemon inherits the descriptors, and a pipe would never reach end-of-file while it lives."""
    with tempfile.TemporaryFile() as output:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
        )
        try:
            code = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise RuntimeError(f"{argv[0]} did not finish within {timeout:g} s") from exc
        if code != 0:
            output.seek(0)
            text = output.read().decode(errors="replace").strip()
            raise RuntimeError(f"{argv[0]} exited with {code}: {text[-2000:]}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
