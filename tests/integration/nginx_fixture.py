"""A real nginx for one test: the project's rendered embedded configuration under the test's state folder."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator

from hostplane.domains.websites import Websites
from hostplane.runtime import Runtime
from hostplane.system.nginx import NginxDriver


@contextlib.asynccontextmanager
async def running_nginx(runtime: Runtime) -> AsyncIterator[NginxDriver]:
    """Our nginx started with the sites the database holds; stopped by its own pid at the end, even when the test
    fails, and SIGKILLed if that master is somehow still there."""
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
