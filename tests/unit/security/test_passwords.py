"""Specification of hostplane.security.passwords: the password policy and argon2id hashing."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from hostplane.errors import InvalidInput
from hostplane.security.passwords import PasswordHashing, check_password_policy, common_passwords
from hostplane.settings import Settings

GOOD = "correct-Horse-battery-staple-9"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def hashing(settings: Settings) -> PasswordHashing:
    return PasswordHashing(settings)


def refusal(password: str, settings: Settings, **kwargs: str) -> tuple[str, str]:
    """The (field, rule) of the policy's refusal of a password."""
    with pytest.raises(InvalidInput) as caught:
        check_password_policy(password, settings, **kwargs)
    (problem,) = caught.value.fields
    return problem.field, problem.rule


def bundled_list_entries() -> list[str]:
    text = resources.files("hostplane").joinpath("data/common-passwords.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


# --- policy ----------------------------------------------------------------------------------------


def test_seven_characters_are_too_short(settings: Settings) -> None:
    assert refusal("Xq7#kP2", settings) == ("password", "min")


def test_eight_characters_are_enough(settings: Settings) -> None:
    check_password_policy("Xq7#kP2z", settings)


def test_a_hundred_characters_are_allowed(settings: Settings) -> None:
    check_password_policy("Zq7#kP2z-" * 11 + "x", settings)


def test_at_least_64_characters_are_always_allowed() -> None:
    with pytest.raises(ValidationError):
        make_settings(password_max_length=63)
    check_password_policy("k" * 31 + "Q" * 33, make_settings(password_max_length=64))


def test_the_minimum_length_cannot_be_configured_below_eight() -> None:
    with pytest.raises(ValidationError):
        make_settings(password_min_length=7)


def test_a_password_over_the_maximum_is_refused_not_truncated(settings: Settings) -> None:
    longest = "Zq7#kP2z" * (settings.password_max_length // 8) + "y" * (settings.password_max_length % 8)
    assert len(longest) == settings.password_max_length
    check_password_policy(longest, settings)
    assert refusal(longest + "y", settings) == ("password", "max")


@pytest.mark.parametrize("password", ["password", "PASSWORD", "PassWord", "Baseball", "TrustNo1", "qwertyuiop"])
def test_common_passwords_are_refused_in_any_case(settings: Settings, password: str) -> None:
    assert refusal(password, settings) == ("password", "uncompromised")


def test_every_entry_of_the_bundled_list_is_refused(settings: Settings) -> None:
    entries = bundled_list_entries()
    assert len(entries) > 10_000
    assert common_passwords() == frozenset(entry.lower() for entry in entries)
    for entry in (entries[0], entries[len(entries) // 2], entries[-1]):
        assert refusal(entry.upper(), settings) == ("password", "uncompromised")


def test_the_password_may_not_be_the_username_in_any_case(settings: Settings) -> None:
    assert refusal("Marguerite", settings, username="marguerite") == ("password", "uncompromised")
    check_password_policy("Marguerite-2", settings, username="marguerite")


@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused(settings: Settings, char: str) -> None:
    assert refusal(f"Zq7#kP2z{char}long-enough", settings) == ("password", "regex")


def test_the_refusal_names_the_field_it_was_given(settings: Settings) -> None:
    assert refusal("short", settings, field="new_password") == ("new_password", "min")


def test_spaces_and_non_ascii_letters_are_welcome(settings: Settings) -> None:
    check_password_policy("grüße aus köln, 東京 und zürich", settings)


# --- hashing ---------------------------------------------------------------------------------------


async def test_hashes_are_argon2id_with_the_configured_cost(hashing: PasswordHashing) -> None:
    stored = await hashing.hash(GOOD)
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert hashing.hash_sync(GOOD).startswith("$argon2id$v=19$m=1024,t=1,p=1$")


async def test_hashes_are_salted(hashing: PasswordHashing) -> None:
    assert await hashing.hash(GOOD) != await hashing.hash(GOOD)


async def test_the_right_password_verifies_and_needs_no_rehash(hashing: PasswordHashing) -> None:
    assert await hashing.verify(await hashing.hash(GOOD), GOOD) == (True, False)


async def test_a_wrong_password_does_not_verify(hashing: PasswordHashing) -> None:
    assert await hashing.verify(await hashing.hash(GOOD), GOOD + "!") == (False, False)


async def test_long_passwords_are_not_truncated(hashing: PasswordHashing) -> None:
    first = "Zq7#kP2z-" * 11 + "a"
    second = first[:-1] + "b"
    assert len(first) == len(second) == 100
    assert await hashing.verify(await hashing.hash(first), first) == (True, False)
    assert await hashing.verify(await hashing.hash(first), second) == (False, False)
    assert await hashing.verify(await hashing.hash(second), first) == (False, False)


async def test_a_hash_made_with_other_parameters_verifies_and_asks_for_a_rehash(settings: Settings) -> None:
    old = PasswordHashing(make_settings(argon2_time_cost=1, argon2_memory_kib=512))
    new = PasswordHashing(make_settings(argon2_time_cost=2, argon2_memory_kib=1024))
    assert await new.verify(await old.hash(GOOD), GOOD) == (True, True)
    assert await new.verify(await old.hash(GOOD), "not-" + GOOD) == (False, False)


async def test_verify_without_a_stored_hash_fails(hashing: PasswordHashing) -> None:
    assert await hashing.verify(None, GOOD) == (False, False)
    assert await hashing.verify(None, "") == (False, False)


async def test_verify_without_a_stored_hash_still_runs_argon2(
    hashing: PasswordHashing, argon2_verifications: list[str]
) -> None:
    checked = argon2_verifications
    assert await hashing.verify(None, GOOD) == (False, False)
    assert len(checked) == 1
    assert checked[0].startswith("$argon2id$v=19$m=1024,t=1,p=1$")


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$m=1024,t=1,p=1$broken", "$2b$12$abcdefghijk"])
async def test_a_malformed_stored_hash_fails_instead_of_raising(hashing: PasswordHashing, stored: str) -> None:
    assert await hashing.verify(stored, GOOD) == (False, False)
