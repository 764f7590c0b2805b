"""The credential cache: reads skip the database, and no change is hidden for longer than the TTL."""

import datetime as dt

from hostplane.auth.models import User
from hostplane.clock import ManualClock
from hostplane.security.credentials import CachedCredential, CredentialCache

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def entry(user_id: int = 1, valid_until: dt.datetime = LATER) -> CachedCredential:
    return CachedCredential(user=User(id=user_id, username=f"u{user_id}"), valid_until=valid_until, session_id="s")


def test_a_cached_credential_is_returned_until_the_ttl_ends() -> None:
    clock = ManualClock(NOW)
    cache = CredentialCache(ttl_seconds=60, clock=clock)
    cache.put("token", entry(), cache.generation)
    clock.advance(60)
    assert cache.get("token", NOW) is not None
    clock.advance(0.001)
    assert cache.get("token", NOW) is None


def test_a_credential_is_never_served_past_its_own_expiry() -> None:
    cache = CredentialCache(ttl_seconds=60)
    cache.put("token", entry(valid_until=NOW + dt.timedelta(seconds=1)), cache.generation)
    assert cache.get("token", NOW) is not None
    assert cache.get("token", NOW + dt.timedelta(seconds=1)) is None


def test_forgetting_a_user_drops_all_of_their_credentials_and_only_theirs() -> None:
    cache = CredentialCache(ttl_seconds=60)
    generation = cache.generation
    cache.put("alice-1", entry(1), generation)
    cache.put("alice-2", entry(1), generation)
    cache.put("bob", entry(2), generation)
    cache.forget_user(1)
    assert cache.get("alice-1", NOW) is None
    assert cache.get("alice-2", NOW) is None
    assert cache.get("bob", NOW) is not None


def test_a_lookup_that_raced_with_a_change_is_not_cached() -> None:
    cache = CredentialCache(ttl_seconds=60)
    generation_before_lookup = cache.generation
    cache.forget_user(1)  # a revocation commits while the lookup is in flight
    cache.put("token", entry(1), generation_before_lookup)
    assert cache.get("token", NOW) is None


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = CredentialCache(ttl_seconds=0)
    cache.put("token", entry(), cache.generation)
    assert cache.get("token", NOW) is None
