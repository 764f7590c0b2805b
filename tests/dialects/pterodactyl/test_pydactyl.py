"""The `py-dactyl` client library (PyPI), used as its users use it, against a real `hostplane serve` over HTTP.

py-dactyl's account methods send what Pterodactyl 1.x expects, and get what Pterodactyl answers: its
`enable_2fa` sends no password and its `disable_2fa` sends a DELETE without a body, so both are refused as
Pterodactyl 1.11 refuses them (the password is required), with py-dactyl's own PterodactylApiError. Its
`api_key_create` and `api_key_delete` send no password either, and with a client key they work within the key's
own rights.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
from pydactyl import PterodactylClient
from pydactyl.exceptions import PterodactylApiError

from hostplane.auth import totp
from tests.live_server import RunningPanel, launched_panels

pytestmark = pytest.mark.integration  # a real `hostplane serve` in a subprocess, over sockets

PASSWORD = "Py-dactyl-user-pass-1"
NEW_PASSWORD = "Py-dactyl-user-pass-2"


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPanel]:
    with launched_panels(tmp_path_factory) as start:
        yield start(True)


@pytest.fixture(scope="module")
def make_user(panel: RunningPanel) -> Callable[[str], str]:
    """Creates a user through the native admin API; returns a login token of that user (from the user port)."""
    admin_login = httpx.post(
        panel.url(panel.admin_port, "/api/v1/auth/login"),
        json={"username": "admin", "password": panel.admin_password},
        timeout=10,
    )
    assert admin_login.status_code == 200, admin_login.text
    admin = {"Authorization": f"Bearer {admin_login.json()['token']}"}

    def make(username: str) -> str:
        created = httpx.post(
            panel.url(panel.admin_port, "/api/v1/admin/users"),
            headers=admin,
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        return login(panel, username, PASSWORD)

    return make


def login(panel: RunningPanel, username: str, password: str) -> str:
    response = httpx.post(
        panel.url(panel.user_port, "/api/v1/auth/login"), json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def client(panel: RunningPanel, api_key: str) -> Any:
    """py-dactyl's client API object (`client.account...`), as its documentation shows."""
    return PterodactylClient(panel.user_url, api_key, retries=0).client


def wait_for_settled_step(margin: float = 3.0) -> int:
    """The `hostplane serve` process behind py-dactyl runs on the machine's clock: this end-to-end test waits (at
    most `margin` seconds) for a step with room to type a code, as a person with an authenticator app would."""
    left = totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS
    if left < margin:
        time.sleep(left + 0.05)
    return totp.current_step(time.time())


def test_get_account(panel: RunningPanel, make_user: Callable[[str], str]) -> None:
    api = client(panel, make_user("ada"))
    account = api.account.get_account()
    assert account["object"] == "user"
    assert account["attributes"]["username"] == "ada"
    assert account["attributes"]["email"] == "ada@example.com"
    assert account["attributes"]["admin"] is False


def test_api_keys_create_list_use_and_delete(panel: RunningPanel, make_user: Callable[[str], str]) -> None:
    api = client(panel, make_user("grace"))
    created = api.account.api_key_create("py-dactyl", ["127.0.0.1", "10.0.0.0/8"])
    identifier = created["attributes"]["identifier"]
    secret_token = created["meta"]["secret_token"]
    assert created["attributes"]["allowed_ips"] == ["127.0.0.1", "10.0.0.0/8"]

    listed = api.account.api_key_list()
    assert [(key["identifier"], key["description"]) for key in listed] == [(identifier, "py-dactyl")]

    with_key = client(panel, secret_token)
    assert with_key.account.get_account()["attributes"]["username"] == "grace"
    assert [key["identifier"] for key in with_key.account.api_key_list()] == [identifier]

    deleted = api.account.api_key_delete(identifier)
    assert deleted.status_code == 204
    assert api.account.api_key_list() == []
    with pytest.raises(requests.HTTPError) as refused:
        with_key.account.get_account()
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["errors"][0]["code"] == "AuthenticationException"


def test_a_key_from_an_address_outside_its_list_is_refused(
    panel: RunningPanel, make_user: Callable[[str], str]
) -> None:
    api = client(panel, make_user("linus"))
    created = api.account.api_key_create("elsewhere", ["10.0.0.0/8"])
    with pytest.raises(requests.HTTPError) as refused:
        client(panel, created["meta"]["secret_token"]).account.get_account()
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["errors"][0]["code"] == "AccessDeniedHttpException"
    native = httpx.get(
        panel.url(panel.user_port, "/api/v1/account"),
        headers={"Authorization": f"Bearer {created['meta']['secret_token']}"},
        timeout=10,
    )
    assert native.status_code == 403


def test_invalid_api_key_input_raises_pydactyls_api_error(panel: RunningPanel, make_user: Callable[[str], str]) -> None:
    api = client(panel, make_user("edsger"))
    with pytest.raises(PterodactylApiError) as error:
        api.account.api_key_create("bad ips", ["hodor", "127.0.0.1", "hodor/24"])
    assert "allowed_ips.0" in str(error.value)
    assert "allowed_ips.2" in str(error.value)
    assert api.account.api_key_list() == []


def native_key(panel: RunningPanel, session: str, **fields: Any) -> str:
    """A key with fields Pterodactyl's requests cannot say (scopes, expiry), made through the native API."""
    response = httpx.post(
        panel.url(panel.user_port, "/api/v1/account/api-keys"),
        headers={"Authorization": f"Bearer {session}"},
        json={"description": "native", **fields},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def listed(api: Any) -> list[tuple[str, list[str]]]:
    return [(key["identifier"], key["allowed_ips"]) for key in api.account.api_key_list()]


def assert_refused(error: pytest.ExceptionInfo[requests.HTTPError], status: int, code: str) -> None:
    response = error.value.response
    assert response is not None
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code


def test_an_api_key_makes_and_deletes_keys_without_the_password(
    panel: RunningPanel, make_user: Callable[[str], str]
) -> None:
    api = client(panel, make_user("barbara"))
    key = api.account.api_key_create("ci", [])
    with_key = client(panel, key["meta"]["secret_token"])
    made = with_key.account.api_key_create("made-by-ci", [])
    assert client(panel, made["meta"]["secret_token"]).account.get_account()["attributes"]["username"] == "barbara"
    assert len(api.account.api_key_list()) == 2
    assert with_key.account.api_key_delete(made["attributes"]["identifier"]).status_code == 204
    assert [identifier for identifier, _ in listed(api)] == [key["attributes"]["identifier"]]


def test_a_key_limited_to_some_addresses_makes_keys_only_within_them(
    panel: RunningPanel, make_user: Callable[[str], str]
) -> None:
    """The panel sees py-dactyl at 127.0.0.1: a key limited to 127.0.0.0/8 may make one limited to 127.0.0.1."""
    api = client(panel, make_user("frances"))
    unlimited = api.account.api_key_create("unlimited", [])["attributes"]["identifier"]
    with_key = client(panel, api.account.api_key_create("loopback", ["127.0.0.0/8"])["meta"]["secret_token"])
    inside = with_key.account.api_key_create("inside", ["127.0.0.1"])
    assert inside["attributes"]["allowed_ips"] == ["127.0.0.1"]
    before = listed(api)
    for allowed_ips in (["10.0.0.0/8"], [], ["127.0.0.1", "10.0.0.1"]):
        with pytest.raises(requests.HTTPError) as refused:
            with_key.account.api_key_create("beyond", allowed_ips)
        assert_refused(refused, 403, "AccessDeniedHttpException")
    assert listed(api) == before
    assert with_key.account.api_key_delete(unlimited).status_code == 204
    assert unlimited not in [identifier for identifier, _ in listed(api)]


def test_a_read_only_or_expiring_key_cannot_make_a_key_through_py_dactyl(
    panel: RunningPanel, make_user: Callable[[str], str]
) -> None:
    """A read-only key changes no key; an expiring one cannot make a key here, where keys never expire."""
    session = make_user("katherine")
    api = client(panel, session)
    victim = api.account.api_key_create("victim", [])["attributes"]["identifier"]
    read_only = client(panel, native_key(panel, session, scopes=["account:read"]))
    in_ten_days = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    expiring = client(panel, native_key(panel, session, expires_at=in_ten_days))
    before = listed(api)
    for with_key in (read_only, expiring):
        with pytest.raises(requests.HTTPError) as refused:
            with_key.account.api_key_create("more", [])
        assert_refused(refused, 403, "AccessDeniedHttpException")
    with pytest.raises(requests.HTTPError) as refused:
        read_only.account.api_key_delete(victim)
    assert_refused(refused, 403, "AccessDeniedHttpException")
    assert listed(api) == before


def test_a_deleted_key_is_refused_as_before(panel: RunningPanel, make_user: Callable[[str], str]) -> None:
    api = client(panel, make_user("margaret"))
    key = api.account.api_key_create("gone", [])
    api.account.api_key_delete(key["attributes"]["identifier"])
    with pytest.raises(requests.HTTPError) as refused:
        client(panel, key["meta"]["secret_token"]).account.api_key_create("more", [])
    assert_refused(refused, 401, "AuthenticationException")
    assert api.account.api_key_list() == []


def test_update_email_and_password(panel: RunningPanel, make_user: Callable[[str], str]) -> None:
    token = make_user("alan")
    other_session = login(panel, "alan", PASSWORD)
    api = client(panel, token)
    assert api.account.update_email("alan@example.org", PASSWORD).status_code == 204
    assert api.account.get_account()["attributes"]["email"] == "alan@example.org"
    assert api.account.update_password(PASSWORD, NEW_PASSWORD, NEW_PASSWORD).status_code == 204
    with pytest.raises(requests.HTTPError) as ended:
        client(panel, other_session).account.get_account()
    assert ended.value.response.status_code == 401
    assert client(panel, login(panel, "alan", NEW_PASSWORD)).account.get_account()["attributes"]["username"] == "alan"
    with pytest.raises(PterodactylApiError):
        api.account.update_password(NEW_PASSWORD, "x", "y")


def test_two_factor_setup_and_the_calls_that_lack_a_password(
    panel: RunningPanel, make_user: Callable[[str], str]
) -> None:
    token = make_user("hedy")
    api = client(panel, token)
    setup = api.account.get_2fa_setup_code()
    assert setup["data"]["image_url_data"].startswith("data:image/png;base64,")
    secret = setup["data"]["secret"]
    step = wait_for_settled_step()

    with pytest.raises(PterodactylApiError) as no_password:
        api.account.enable_2fa(totp.code_at(secret, step - 1))
    assert "password" in str(no_password.value)

    enabled = httpx.post(
        panel.url(panel.user_port, "/api/client/account/two-factor"),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        json={"code": totp.code_at(secret, step - 1), "password": PASSWORD},
        timeout=10,
    )
    assert enabled.status_code == 200, enabled.text
    assert len(enabled.json()["attributes"]["tokens"]) == 10

    with pytest.raises(PterodactylApiError) as no_body:
        api.account.disable_2fa(PASSWORD)  # py-dactyl sends the DELETE without its data
    assert "password" in str(no_body.value)
    challenge = httpx.post(
        panel.url(panel.user_port, "/api/v1/auth/login"), json={"username": "hedy", "password": PASSWORD}, timeout=10
    )
    assert challenge.json()["two_factor_required"] is True

    with pytest.raises(PterodactylApiError):
        api.account.get_2fa_setup_code()  # 400: already enabled
