"""A real nginx for one test: the project's rendered embedded configuration under the test's state folder, serving
docroots and an ACME webroot from a folder of their own outside pytest's temporary root (see `served_folders`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from hostplane.domains.websites import Websites
from hostplane.runtime import Runtime
from hostplane.settings import Settings
from hostplane.system.nginx import NginxDriver


@contextlib.contextmanager
def served_folders() -> Iterator[dict[str, Path]]:
    """Settings (`www_dir`, `acme_webroot`) for the folders nginx's workers read, in a folder of their own under
    /tmp (0711), removed at the end.

    Not below the test's tmp_path: the workers run as `nobody` and must traverse every folder above a docroot or
    the ACME webroot, and above tmp_path is /tmp/pytest-of-<user>, which every pytest run that starts on the machine
    sets back to 0700 (pytest keeps that folder private). From that moment the workers get EACCES, which
    `try_files` answers with 404: a site's index page, or an HTTP-01 answer Pebble fetches, is suddenly "not found"
    in the middle of a test whenever another test run starts beside this one."""
    root = Path(tempfile.mkdtemp(prefix="hpw-", dir="/tmp"))
    try:
        os.chmod(root, 0o711)  # the workers only traverse it
        yield {"www_dir": root / "www", "acme_webroot": root / "acme"}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_served_outside_pytest_temp(settings: Settings) -> None:
    """Refuse served folders below /tmp/pytest-of-<user> (see `served_folders` for why they fail there)."""
    for folder in (settings.resolved_www_dir, settings.resolved_acme_webroot):
        if any(part.startswith("pytest-of-") for part in folder.parts):
            raise AssertionError(
                f"{folder} is below pytest's temporary root, which any pytest run starting beside this one makes "
                "0700, so nginx's workers could not read it: give the settings the `nginx_served` fixture's folders"
            )


@contextlib.asynccontextmanager
async def running_nginx(runtime: Runtime) -> AsyncIterator[NginxDriver]:
    """Our nginx started with the sites the database holds; stopped by its own pid at the end, even when the test
    fails, and SIGKILLed if that master is somehow still there."""
    check_served_outside_pytest_temp(runtime.settings)
    driver = NginxDriver.from_settings(runtime.settings)
    try:
        await driver.start(await Websites(runtime, driver).sites())
        yield driver
    finally:
        pid = driver.master_pid()
        await driver.stop()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
