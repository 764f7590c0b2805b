"""`hostplane tls renew`: renew the ACME certificates that are due, watching the renewal jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from hostplane.cli.common import console, run
from hostplane.cli.jobs import report, watch
from hostplane.jobs.service import JobView
from hostplane.runtime import Runtime
from hostplane.tls.acme import AcmeService

app = typer.Typer(help="Website certificates.", no_args_is_help=True)


@app.command("renew")
def tls_renew(
    timeout: Annotated[float, typer.Option(min=0, help="Longest wait for the renewals, in seconds.")] = 900,
) -> None:
    """Renew now every ACME certificate that expires within `acme_renew_before_days` days."""

    async def action(rt: Runtime) -> list[JobView]:
        started = await AcmeService(rt).renew_due()
        if not started:
            console.print("No certificate is due for renewal.")
            return []
        return await watch(rt, [job.id for job in started], timeout)

    report(run(action))
