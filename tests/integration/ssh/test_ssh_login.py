"""SSH keys added through the API log in to the hosting user's Linux account over a real sshd; removing the key
(or disabling the user) revokes the login at once. Runs as root: real useradd/userdel, sshd on a loopback port."""

from __future__ import annotations

import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostplane.runtime import Runtime
from hostplane.system.runner import Completed, run
from hostplane.system.ssh import linux_name
from tests.api.test_ssh_keys_api import GeneratedKey, ssh_keygen
from tests.conftest import Account, Api
from tests.integration.ssh.conftest import Sshd, mode, owner, shadow_password, ssh_argv

KEYS = "/api/v1/account/ssh-keys"


async def ssh(server: Sshd, key: Path, user: str, *command: str) -> Completed:
    return await run(ssh_argv(server, key, user, *command), timeout=60, check=False)


async def add_key(api: Api, key: GeneratedKey, name: str = "laptop") -> dict[str, Any]:
    response = await api.post(KEYS, json={"name": name, "public_key": key.text})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_key_added_through_the_api_logs_in_and_removing_it_revokes_the_login(
    sshd: Sshd, user_api: Api, make_account: Callable[..., Any], panel_username: str, tmp_path: Path
) -> None:
    account: Account = await make_account(panel_username)
    name = linux_name(panel_username)
    key = ssh_keygen(tmp_path, "id_ed25519", "-t", "ed25519")
    private = tmp_path / "id_ed25519"
    await user_api.login(account)

    before = await ssh(sshd, private, name, "true")
    assert before.returncode == 255, "no key is authorized yet"

    added = await add_key(user_api, key)
    assert added["fingerprint"] == key.fingerprint  # what `ssh-keygen -lf` says
    logged_in = await ssh(sshd, private, name, "id", "-un")
    assert logged_in.returncode == 0, f"{logged_in.output}\n--- sshd log:\n{sshd.log_text()}"
    assert logged_in.stdout.strip() == name

    response = await user_api.post(f"{KEYS}/remove", json={"fingerprint": key.fingerprint})
    assert response.status_code == 204, response.text
    after = await ssh(sshd, private, name, "true")
    assert after.returncode == 255
    assert "Permission denied (publickey)" in after.output


async def test_only_the_users_own_keys_log_in_to_its_account(
    sshd: Sshd, user_api: Api, make_account: Callable[..., Any], panel_username: str, tmp_path: Path
) -> None:
    account: Account = await make_account(panel_username)
    name = linux_name(panel_username)
    mine = ssh_keygen(tmp_path, "mine", "-t", "ed25519")
    ssh_keygen(tmp_path, "other", "-t", "ed25519")  # a valid key pair the panel never heard of
    await user_api.login(account)
    await add_key(user_api, mine)
    assert (await ssh(sshd, tmp_path / "mine", name, "true")).returncode == 0, sshd.log_text()
    assert (await ssh(sshd, tmp_path / "other", name, "true")).returncode == 255
    assert (await ssh(sshd, tmp_path / "mine", "root", "true")).returncode == 255


async def test_the_account_and_its_key_file_have_the_modes_sshd_requires(
    runtime: Runtime, user_api: Api, make_account: Callable[..., Any], panel_username: str, tmp_path: Path
) -> None:
    account: Account = await make_account(panel_username)
    name = linux_name(panel_username)
    entry = pwd.getpwnam(name)
    home = Path(entry.pw_dir)
    assert home == runtime.settings.system_users_home / name
    assert entry.pw_uid >= 1000 and entry.pw_gecos == f"Hostplane user {panel_username}"
    assert shadow_password(name) == "*"  # no password login, but not locked ("!"), which sshd would refuse
    key = ssh_keygen(tmp_path, "id_ecdsa", "-t", "ecdsa")
    await user_api.login(account)
    await add_key(user_api, key)

    ssh_dir, authorized = home / ".ssh", home / ".ssh" / "authorized_keys"
    assert (owner(home), mode(home)) == (name, 0o711)
    assert (owner(ssh_dir), mode(ssh_dir)) == (name, 0o700)
    assert (owner(authorized), mode(authorized)) == (name, 0o600)
    assert authorized.read_text() == f"{key.bare}\n"  # the bare key, no option prefix, nothing else
    assert (owner(home.parent), mode(home.parent)) == ("root", 0o755)


async def test_a_symlinked_ssh_folder_is_refused_and_the_key_not_stored(
    user_api: Api, make_account: Callable[..., Any], panel_username: str, tmp_path: Path
) -> None:
    account: Account = await make_account(panel_username)
    home = Path(pwd.getpwnam(linux_name(panel_username)).pw_dir)
    (home / ".ssh" / "authorized_keys").unlink()
    (home / ".ssh").rmdir()
    target = tmp_path / "target"
    target.mkdir()
    (home / ".ssh").symlink_to(target)  # what a user with a shell could do to make root write elsewhere
    key = ssh_keygen(tmp_path, "id_ed25519", "-t", "ed25519")
    await user_api.login(account)

    response = await user_api.post(KEYS, json={"name": "laptop", "public_key": key.text})
    assert response.status_code == 500
    assert response.json()["code"] == "system_user_failed"
    assert list(target.iterdir()) == []
    assert (await user_api.get(KEYS)).json() == []


async def test_disabling_the_user_revokes_the_login_and_enabling_restores_it(
    sshd: Sshd,
    user_api: Api,
    admin_api: Api,
    admin: Account,
    make_account: Callable[..., Any],
    panel_username: str,
    tmp_path: Path,
) -> None:
    account: Account = await make_account(panel_username)
    name = linux_name(panel_username)
    key = ssh_keygen(tmp_path, "id_ed25519", "-t", "ed25519")
    await user_api.login(account)
    await add_key(user_api, key)
    await admin_api.login(admin)
    private = tmp_path / "id_ed25519"

    response = await admin_api.post(f"/api/v1/admin/users/{account.user.id}/disable")
    assert response.status_code == 200, response.text
    assert (await ssh(sshd, private, name, "true")).returncode == 255
    response = await admin_api.post(f"/api/v1/admin/users/{account.user.id}/enable")
    assert response.status_code == 200, response.text
    assert (await ssh(sshd, private, name, "true")).returncode == 0, sshd.log_text()
