"""The docroots' contract (DocrootStore), kept by the real folders (Docroots) and by FakeDocroots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostplane.errors import Conflict, InvalidInput
from hostplane.system.docroots import Docroots
from hostplane.system.fake import FakeDocroots
from hostplane.system.interfaces import DocrootStore
from tests.conformance.conftest import IMPLEMENTATIONS


@dataclass
class Harness:
    store: DocrootStore
    www: Path
    exists: Callable[[Path], bool]
    page: Callable[[Path], bytes | None]
    """The index page of a docroot, None if it has none."""
    owner: Callable[[Path], tuple[int, int] | None]
    """(uid, gid) of a docroot made or moved with owners, None when root's."""


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    www = tmp_path / "www"
    if request.param == "fake":
        fake = FakeDocroots(www)
        return Harness(
            fake,
            www,
            fake.exists,
            lambda docroot: fake.files.get(docroot / "index.html"),
            lambda docroot: fake.owners.get(docroot),
        )

    def page(docroot: Path) -> bytes | None:
        index = docroot / "index.html"
        return index.read_bytes() if index.is_file() else None

    def owner(docroot: Path) -> tuple[int, int] | None:
        info = docroot.stat()
        return None if info.st_uid == 0 else (info.st_uid, info.st_gid)

    return Harness(Docroots(www), www, Path.exists, page, owner)


def test_a_docroot_is_a_plain_folder_below_the_www_folder(harness: Harness) -> None:
    assert harness.store.path_for("alice", "example.com") == harness.www / "alice" / "example.com" / "public"


@pytest.mark.parametrize(
    ("username", "name"), [("alice", ".."), ("alice", "../bob"), ("Alice", "a.test"), ("a/b", "x")]
)
def test_names_that_would_leave_the_www_folder_are_refused(harness: Harness, username: str, name: str) -> None:
    with pytest.raises(InvalidInput):
        harness.store.path_for(username, name)


def test_create_makes_the_missing_folders_with_the_page_and_returns_them_deepest_last(harness: Harness) -> None:
    docroot = harness.store.path_for("alice", "example.com")
    created = harness.store.create(docroot, b"<p>hello</p>")
    assert created == [harness.www / "alice", harness.www / "alice" / "example.com", docroot]
    assert harness.exists(docroot)
    assert harness.page(docroot) == b"<p>hello</p>"
    sibling = harness.store.path_for("alice", "example.org")
    assert harness.store.create(sibling, b"x") == [harness.www / "alice" / "example.org", sibling]


def test_an_existing_docroot_keeps_its_page(harness: Harness) -> None:
    docroot = harness.store.path_for("alice", "example.com")
    harness.store.create(docroot, b"first")
    assert harness.store.create(docroot, b"second") == []
    assert harness.page(docroot) == b"first"


def test_remove_takes_back_exactly_the_folders_create_made(harness: Harness) -> None:
    first = harness.store.path_for("alice", "example.com")
    harness.store.create(first, b"x")
    second = harness.store.path_for("alice", "example.org")
    created = harness.store.create(second, b"y")
    harness.store.remove(created)
    assert not harness.exists(second)
    assert not harness.exists(harness.www / "alice" / "example.org")
    assert harness.exists(first) and harness.page(first) == b"x"


def test_missing_names_the_docroots_below_the_www_folder_that_are_gone(harness: Harness) -> None:
    present = harness.store.path_for("alice", "example.com")
    harness.store.create(present, b"x")
    gone = harness.store.path_for("alice", "example.org")
    outside = harness.www.parent / "elsewhere" / "public"
    assert harness.store.missing([present, gone, outside]) == [gone]


ALICE, BOB = (40001, 40001), (40002, 40002)
"""Accounts that own docroots (any ids do: root may give files to any)."""


def test_a_moved_site_lives_under_the_new_user_with_its_files_and_owner(harness: Harness) -> None:
    old = harness.store.path_for("alice", "example.com")
    harness.store.create(old, b"mine", ALICE)
    new = harness.store.path_for("bob", "example.com")
    harness.store.move(old, new, (ALICE, BOB))
    assert not harness.exists(old) and not harness.exists(old.parent)
    assert harness.page(new) == b"mine"
    assert harness.owner(new) == BOB


def test_move_back_puts_the_site_and_its_owner_back(harness: Harness) -> None:
    old = harness.store.path_for("alice", "example.com")
    harness.store.create(old, b"mine", ALICE)
    new = harness.store.path_for("bob", "example.com")
    moved = harness.store.move(old, new, (ALICE, BOB))
    harness.store.move_back(moved)
    assert harness.page(old) == b"mine"
    assert harness.owner(old) == ALICE
    assert not harness.exists(new)


def test_a_site_folder_the_new_user_has_already_is_a_conflict_and_nothing_moves(harness: Harness) -> None:
    old = harness.store.path_for("alice", "example.com")
    harness.store.create(old, b"mine", ALICE)
    new = harness.store.path_for("bob", "example.com")
    harness.store.create(new, b"theirs", BOB)
    with pytest.raises(Conflict):
        harness.store.move(old, new, (ALICE, BOB))
    assert harness.page(old) == b"mine" and harness.owner(old) == ALICE
    assert harness.page(new) == b"theirs" and harness.owner(new) == BOB


def test_a_site_without_a_folder_moves_nothing(harness: Harness) -> None:
    old = harness.store.path_for("alice", "example.com")
    new = harness.store.path_for("bob", "example.com")
    moved = harness.store.move(old, new, None)
    assert not harness.exists(new)  # the caller makes the docroot (a reconcile would)
    harness.store.move_back(moved)
    assert not harness.exists(old)


def test_a_move_out_of_the_www_folder_is_refused(harness: Harness) -> None:
    old = harness.store.path_for("alice", "example.com")
    harness.store.create(old, b"mine")
    with pytest.raises(InvalidInput):
        harness.store.move(old, harness.www.parent / "elsewhere" / "public", None)
    assert harness.page(old) == b"mine"
