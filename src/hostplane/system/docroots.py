"""The websites' folders on disk: `<www>/<username>/<domain>/public`, created with a default page, never through a
link planted below the www folder, and owned by the hosting user's Linux account when there is one."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from hostplane.errors import InvalidInput

SAFE_USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
INDEX = "index.html"


class Docroots:
    """Folders below one www folder. Blocking file work: call it in a thread."""

    def __init__(self, www: Path) -> None:
        self.www = www

    def path_for(self, username: str, name: str) -> Path:
        """The docroot of a site; refuses anything that would not stay a plain folder below the www folder."""
        if not SAFE_USERNAME.match(username):
            raise InvalidInput.on("username", "This account's name cannot be used for a folder.")
        path = self.www / username / name / "public"
        if os.path.normpath(path) != str(path) or self.www not in path.parents:
            raise InvalidInput.on("name", "This is not a valid domain name.", "regex")
        return path

    def create(self, docroot: Path, page: bytes, owner_ids: tuple[int, int] | None = None) -> list[Path]:
        """Create the docroot (world-readable: the nginx workers run as nobody) with `page` as its index when it
        is empty. Refuses to follow a symlink planted anywhere below the www folder. Returns the folders it
        created, deepest last. With `owner_ids`, the docroot and the page belong to that account (chowned through
        descriptors opened with O_NOFOLLOW; the folders above stay root's, so the user cannot swap them for
        links)."""
        self.www.mkdir(parents=True, exist_ok=True)
        os.chmod(self.www, 0o755)  # noqa: S103 (served by nginx)
        created: list[Path] = []
        current = self.www
        for part in docroot.relative_to(self.www).parts:
            current = current / part
            try:
                os.mkdir(current, 0o755)
                os.chmod(current, 0o755)  # noqa: S103 (served by nginx)
                created.append(current)
            except FileExistsError:
                if current.is_symlink() or not current.is_dir():
                    raise InvalidInput.on("name", "The website folder for this domain is not usable.") from None
        if not any(docroot.iterdir()):
            fd = os.open(docroot / INDEX, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                if owner_ids is not None:
                    os.fchown(handle.fileno(), *owner_ids)
                handle.write(page)
        if owner_ids is not None:
            folder = os.open(docroot, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchown(folder, *owner_ids)
            finally:
                os.close(folder)
        return created

    @staticmethod
    def remove(created: Iterable[Path]) -> None:
        """Take back the folders `create` made (deepest first)."""
        for folder in reversed(list(created)):
            shutil.rmtree(folder, ignore_errors=True)

    def missing(self, docroots: Iterable[Path]) -> list[Path]:
        """The docroots below the www folder that are not folders any more (removed by hand)."""
        return [path for path in docroots if self.www in path.parents and not path.is_dir()]
