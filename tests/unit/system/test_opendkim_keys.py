"""Where the DKIM keys live: OpenDKIM's safe-key rule checked as OpenDKIM checks it, the state folder's key folder
when OpenDKIM accepts it, a root-owned folder of the instance under `dkim_safe_root` when it does not (a clone under
/tmp), and one line with the fix when no folder can work."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostplane.settings import Settings
from hostplane.system import opendkim
from hostplane.system.opendkim import DkimKeyFolderUnsafe, OpenDkimDriver, instance_id, unsafe_folders

NOBODY = 65534


@pytest.fixture
def safe_dir() -> Iterator[Path]:
    """A root-owned 0755 folder under /run: every folder above it is one OpenDKIM accepts."""
    folder = Path(tempfile.mkdtemp(prefix="hp-safe-", dir="/run"))
    folder.chmod(0o755)
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):  # some folders below are read-only for their owner
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def driver(state: Path, safe_root: Path, **overrides: object) -> OpenDkimDriver:
    values: dict[str, object] = {"state_dir": state, "dkim_safe_root": safe_root}
    values.update(overrides)
    return OpenDkimDriver.from_settings(Settings(**values))  # type: ignore[arg-type]


def reasons(path: Path) -> list[str]:
    return [str(item) for item in unsafe_folders(path)]


def test_the_rule_is_opendkims(safe_dir: Path) -> None:
    """The cases checked against `opendkim -t` (SERVICES.md): what it signs with, and what it refuses."""
    cases = {"root-0755": 0o755, "root-0775": 0o775, "sticky": 0o1777, "nobody-0755": 0o755, "nobody-0555": 0o555}
    for name, mode in cases.items():
        folder = safe_dir / name
        folder.mkdir()
        if name.startswith("nobody"):
            os.chown(folder, NOBODY, -1)
        folder.chmod(mode)
    assert reasons(safe_dir / "root-0755" / "k.key") == []
    assert reasons(safe_dir / "root-0775") == []  # group root has no other member
    assert reasons(safe_dir / "nobody-0555") == []  # its owner cannot write to it
    assert reasons(safe_dir / "sticky") == [f"{safe_dir}/sticky is writable by others"]
    assert reasons(safe_dir / "nobody-0755") == [
        f"{safe_dir}/nobody-0755 is writable by its owner uid {NOBODY}, neither root nor opendkim"
    ]
    assert reasons(Path("/tmp/hp-nowhere/keys")) == ["/tmp is writable by others"]
    private = safe_dir / "private"
    private.mkdir(mode=0o700)
    (private / "open").mkdir()
    (private / "open").chmod(0o777)
    assert reasons(private / "open") == [f"{private}/open is writable by others"]  # checked even below a 0700


def test_a_state_folder_opendkim_accepts_keeps_the_keys(safe_dir: Path) -> None:
    signer = driver(safe_dir / "state", safe_dir / "var-lib-hostplane")
    folder = signer.key_folder
    assert folder.path == safe_dir / "state" / "mail" / "dkim-keys"
    assert not folder.moved and folder.problem() is None and folder.note() is None


def test_a_state_folder_under_tmp_sends_the_keys_to_the_instance_folder_under_the_safe_root(
    tmp_path: Path, safe_dir: Path
) -> None:
    safe_root = safe_dir / "var" / "lib" / "hostplane"  # missing: made by prepare()
    signer = driver(tmp_path / "state", safe_root)
    folder = signer.key_folder
    instance = instance_id(tmp_path / "state")
    assert re.fullmatch(r"[0-9a-f]{12}", instance)
    assert folder.path == safe_root / instance / "dkim"
    assert folder.problem() is None
    assert folder.note() == (
        f"DKIM keys: {safe_root / instance / 'dkim'} (OpenDKIM would refuse them in the state folder: "
        "/tmp is writable by others)"
    )
    # Stable for one state folder, its own for another.
    assert driver(tmp_path / "state", safe_root).key_dir == folder.path
    assert driver(tmp_path / "other", safe_root).key_dir != folder.path

    umask = os.umask(0o077)  # whatever the umask, OpenDKIM must enter every folder it made
    try:
        signer.put_key("example.com", "mail", b"-----BEGIN PRIVATE KEY-----\n")
    finally:
        os.umask(umask)
    for made in (safe_dir / "var", safe_dir / "var" / "lib", safe_root, safe_root / instance, folder.path):
        info = made.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o755), made
    assert [key.path for key in signer.installed_keys()] == [folder.path / "mail._domainkey.example.com.key"]
    assert unsafe_folders(folder.path) == []
    signer.check_key_folder()
    assert str(folder.path) in (signer.config_dir / "KeyTable").read_text()


def test_with_safe_keys_off_the_keys_stay_in_the_state_folder(tmp_path: Path, safe_dir: Path) -> None:
    folder = driver(tmp_path / "state", safe_dir, dkim_require_safe_keys=False).key_folder
    assert folder.path == tmp_path / "state" / "mail" / "dkim-keys"
    assert folder.problem() is None


def test_a_configured_folder_is_never_moved_and_a_refused_one_is_named_with_the_fix(tmp_path: Path) -> None:
    signer = driver(tmp_path / "state", Path("/run"), dkim_key_dir=tmp_path / "keys")
    assert signer.key_dir == tmp_path / "keys"
    problem = signer.key_folder.problem()
    assert problem == (
        f"OpenDKIM would refuse the keys in {tmp_path / 'keys'} (HOSTPLANE_DKIM_KEY_DIR): /tmp is writable by "
        "others. Fix: set HOSTPLANE_DKIM_KEY_DIR to a folder owned by root that no other user can write to, nor any "
        "folder above it (or HOSTPLANE_DKIM_REQUIRE_SAFE_KEYS=false, for development only)."
    )
    with pytest.raises(DkimKeyFolderUnsafe) as refused:
        signer.check_key_folder()
    assert str(refused.value) == problem


def test_without_root_and_without_a_safe_folder_the_problem_says_to_run_as_root(
    tmp_path: Path, safe_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opendkim.os, "geteuid", lambda: 1000)
    folder = driver(tmp_path / "state", safe_dir / "hostplane").key_folder
    problem = folder.problem()
    assert problem is not None
    assert problem.startswith(f"OpenDKIM would refuse the keys in {tmp_path / 'state' / 'mail' / 'dkim-keys'}: ")
    assert "/tmp is writable by others; and in " in problem
    assert f"{safe_dir / 'hostplane'} would be made by uid 1000, neither root nor opendkim" in problem
    assert "Fix: run `hostplane` as root, or set HOSTPLANE_DKIM_KEY_DIR" in problem
    assert "\n" not in problem
