"""Local parts and domain names are checked strictly before anything reaches a lookup table or a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostplane.errors import InvalidInput
from hostplane.mail.service import local_part, quota
from hostplane.system.mailpaths import MailPaths


@pytest.mark.parametrize(
    ("given", "kept"),
    [("alice", "alice"), ("Alice", "alice"), ("first.last", "first.last"), ("a_b-c9", "a_b-c9"), ("0", "0")],
)
def test_local_parts_are_lowercased_and_kept(given: str, kept: str) -> None:
    assert local_part(given) == kept


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../etc",
        "a/b",
        "..",
        ".",
        ".alice",
        "alice.",
        "a..b",
        "a+b",
        "a b",
        "a@b",
        "a\r\nb",
        "a\x00b",
        "-alice",
        "al'ice",
        'al"ice',
        "a%b",
        "a\\b",
        "élise",
        "a" * 65,
    ],
)
def test_local_parts_outside_the_grammar_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as error:
        local_part(bad)
    assert error.value.fields[0].field == "local_part"


def test_the_longest_local_part_is_64_characters() -> None:
    assert local_part("a" * 64) == "a" * 64


@pytest.mark.parametrize("bad", [-1, 1024 * 1024 + 1])
def test_quotas_outside_the_range_are_refused(bad: int) -> None:
    with pytest.raises(InvalidInput):
        quota(bad, 100)


def test_no_quota_given_means_the_default_and_zero_means_unlimited() -> None:
    assert quota(None, 100) == 100
    assert quota(0, 100) == 0


def test_a_mailbox_home_never_leaves_the_mail_root() -> None:
    paths = MailPaths(root=Path("/srv/mail"))
    assert str(paths.mailbox_home("example.com", "alice")) == "/srv/mail/vmail/example.com/alice"
    for domain, local in (("..", "x"), ("example.com", ".."), ("a/b", "x"), ("example.com", "x/y")):
        with pytest.raises(ValueError, match="escapes"):
            paths.mailbox_home(domain, local)
