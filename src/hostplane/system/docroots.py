"""The websites' folders on disk: `<www>/<username>/<domain>/public`, created with a default page, never through a
link planted below the www folder, and owned by the hosting user's Linux account when there is one."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hostplane.errors import Conflict, InvalidInput

log = logging.getLogger("hostplane.system")
SAFE_USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
INDEX = "index.html"


Ids = tuple[int, int]
"""(uid, gid) of a Linux account."""


@dataclass
class MovedSite:
    """What `Docroots.move` did, for `Docroots.move_back`."""

    old: Path
    """The site's folder before (`<www>/<old user>/<name>`)."""
    new: Path
    docroot: Path
    """The docroot after (below `new`): the tree whose owners changed."""
    renamed: bool = False
    made_user_folder: Path | None = None
    owners: tuple[Ids, Ids] | None = None
    """(from, to) of the ownership change."""
    chowned: dict[tuple[int, int], Ids] = field(default_factory=dict)
    """(st_dev, st_ino) of each entry whose owner changed -> its owner before."""


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

    def move(self, old_docroot: Path, new_docroot: Path, owners: tuple[Ids, Ids] | None) -> MovedSite:
        """Move a site's folder (the docroot's parent, `<www>/<user>/<name>`, root's) to another user's www folder
        by a rename, and give what the first owner held in the docroot to the second: every entry owned by
        `owners[0]` (uid; the gid too when it matches) becomes `owners[1]`'s; None changes no owner. The other
        user's site folder must not exist. A site whose folder is missing moves nothing (the caller creates the
        docroot). Blocking; on failure, what was done is taken back before raising."""
        old, new = old_docroot.parent, new_docroot.parent
        for folder in (old, new):
            if self.www not in folder.parents or os.path.normpath(folder) != str(folder):
                raise InvalidInput.on("name", "This is not a valid domain name.", "regex")
        moved = MovedSite(old=old, new=new, docroot=new_docroot, owners=owners)
        try:
            self._move(moved)
        except BaseException:
            self.move_back(moved)
            raise
        return moved

    def _move(self, moved: MovedSite) -> None:
        if os.path.lexists(moved.new):
            raise Conflict(f"The folder {moved.new} exists already: move it away or remove it first.")
        user_folder = moved.new.parent
        self.www.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(user_folder, 0o755)
            os.chmod(user_folder, 0o755)  # noqa: S103 (served by nginx)
            moved.made_user_folder = user_folder
        except FileExistsError:
            if user_folder.is_symlink() or not user_folder.is_dir():
                raise Conflict(f"The folder {user_folder} is not usable.") from None
        if not os.path.lexists(moved.old):
            return
        if moved.old.is_symlink() or not moved.old.is_dir():
            raise Conflict(f"The folder {moved.old} is not usable.")
        os.rename(moved.old, moved.new)
        moved.renamed = True
        docroot = moved.docroot
        if moved.owners is not None and moved.owners[0] != moved.owners[1] and docroot.is_dir():
            _chown_tree(docroot, moved.owners[0], moved.owners[1], moved.chowned)

    @staticmethod
    def move_back(moved: MovedSite) -> None:
        """Take back what `move` did: each step is tried on its own (a failure is logged; `hostplane reconcile`
        re-creates a docroot left missing)."""

        def owners() -> None:
            if moved.chowned and moved.owners is not None and moved.docroot.is_dir():
                _restore_owners(moved.docroot, moved.owners[1], moved.chowned)

        def rename() -> None:
            if moved.renamed and not os.path.lexists(moved.old):
                os.rename(moved.new, moved.old)
                moved.renamed = False

        def user_folder() -> None:
            if moved.made_user_folder is not None:
                with contextlib.suppress(OSError):  # not empty: another site of that user lives there now
                    os.rmdir(moved.made_user_folder)
                moved.made_user_folder = None

        for step in (owners, rename, user_folder):
            try:
                step()
            except OSError:
                log.exception("could not take back a step of moving %s to %s", moved.old, moved.new)


def _entries(top: Path) -> Iterable[tuple[int, str | None]]:
    """(directory fd, name) of every entry of the tree, `top` first as (its fd, None), never following a link: the
    user may change the tree while it is walked, and a link swapped in is changed itself, never its target."""
    for _path, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        yield dirfd, None
        for name in filenames:
            yield dirfd, name
        for name in dirnames:  # a link to a folder is listed here, and not walked: change the link itself
            if stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
                yield dirfd, name


def _stat(dirfd: int, name: str | None) -> os.stat_result:
    return os.fstat(dirfd) if name is None else os.stat(name, dir_fd=dirfd, follow_symlinks=False)


def _chown(dirfd: int, name: str | None, ids: Ids) -> None:
    if name is None:
        os.fchown(dirfd, *ids)
    else:
        os.chown(name, *ids, dir_fd=dirfd, follow_symlinks=False)


def _chown_tree(top: Path, before: Ids, after: Ids, changed: dict[tuple[int, int], Ids]) -> None:
    """Give `after` every entry of the tree whose uid is `before`'s (the gid too when it is `before`'s); records
    each change in `changed`."""
    for dirfd, name in _entries(top):
        info = _stat(dirfd, name)
        if info.st_uid != before[0]:
            continue
        gid = after[1] if info.st_gid == before[1] else info.st_gid
        changed[(info.st_dev, info.st_ino)] = (info.st_uid, info.st_gid)
        _chown(dirfd, name, (after[0], gid))


def _restore_owners(top: Path, now: Ids, changed: dict[tuple[int, int], Ids]) -> None:
    for dirfd, name in _entries(top):
        info = _stat(dirfd, name)
        previous = changed.get((info.st_dev, info.st_ino))
        if previous is not None and info.st_uid == now[0]:
            _chown(dirfd, name, previous)
