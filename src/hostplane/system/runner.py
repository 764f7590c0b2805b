"""Running programs: argv lists only (never a shell), always with a timeout, never blocking the event loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


class CommandError(RuntimeError):
    """A program failed or timed out; `result` holds what it said (for the admin, not for end users)."""

    def __init__(self, message: str, result: Completed | None = None) -> None:
        super().__init__(message)
        self.result = result


async def run(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    check: bool = True,
) -> Completed:
    """Run a program and wait for it (asynchronously); kill it when the timeout passes."""
    if isinstance(argv, str) or not argv:
        raise TypeError("argv must be a non-empty list of arguments")
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env} if env is not None else None,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise CommandError(f"{argv[0]} did not finish within {timeout:g} s") from exc
    result = Completed(tuple(argv), process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
    if check and result.returncode != 0:
        raise CommandError(f"{argv[0]} exited with {result.returncode}: {result.output[-2000:]}", result)
    return result


def run_sync(argv: Sequence[str], *, timeout: float = 30.0, check: bool = True) -> Completed:
    """The same for code that is not async (CLI set-up, tests)."""
    completed = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    result = Completed(tuple(argv), completed.returncode, completed.stdout, completed.stderr)
    if check and result.returncode != 0:
        raise CommandError(f"{argv[0]} exited with {result.returncode}: {result.output[-2000:]}", result)
    return result
