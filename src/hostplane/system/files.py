"""File writes that are safe against crashes and prying: atomic replace, private modes, no clobbering."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write to a temporary file beside the target, fsync, then rename over it: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def create_exclusive(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create the file only if it does not exist yet; returns whether it was created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return True


def make_private(path: Path) -> None:
    """Owner-only access to a file that exists (e.g. the SQLite database: it holds password hashes)."""
    if path.exists():
        os.chmod(path, 0o600)


def any_present(paths: Iterable[Path]) -> bool:
    """Whether any of these paths exists (a dangling symbolic link counts: somebody made it)."""
    return any(os.path.lexists(path) for path in paths)
