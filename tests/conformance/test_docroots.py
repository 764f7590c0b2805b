"""The docroots' contract (DocrootStore), kept by the real folders (Docroots) and by FakeDocroots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostplane.errors import InvalidInput
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


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    www = tmp_path / "www"
    if request.param == "fake":
        fake = FakeDocroots(www)
        return Harness(fake, www, fake.exists, lambda docroot: fake.files.get(docroot / "index.html"))

    def page(docroot: Path) -> bytes | None:
        index = docroot / "index.html"
        return index.read_bytes() if index.is_file() else None

    return Harness(Docroots(www), www, Path.exists, page)


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
