"""`hostplane settings show|set`: the panel-wide run-time settings (panel/service.py: two-factor policy, issuer)."""

from __future__ import annotations

from typing import Annotated

import typer

from hostplane import bootstrap
from hostplane.cli.common import EXIT_SETTINGS, console, err, run
from hostplane.panel.service import PanelSettings, PanelSettingsService

app = typer.Typer(help="Panel-wide run-time settings (two-factor policy and issuer).", no_args_is_help=True)


def _print(current: PanelSettings) -> None:
    console.print(f"two_factor_policy: {'on' if current.two_factor_policy else 'off'}")
    console.print(f"two_factor_issuer: {current.two_factor_issuer}", soft_wrap=True, markup=False)


@app.command("show")
def settings_show() -> None:
    """Show the run-time settings as they apply now."""
    _print(run(lambda rt: PanelSettingsService(rt).current()))


@app.command("set")
def settings_set(
    two_factor_policy: Annotated[
        bool | None,
        typer.Option(
            "--two-factor-policy/--no-two-factor-policy",
            help="Require two-factor of every account (accounts without it may only set it up).",
            show_default=False,
        ),
    ] = None,
    two_factor_issuer: Annotated[
        str | None, typer.Option(help="The issuer authenticator apps show (1 to 64 characters, no ':').")
    ] = None,
) -> None:
    """Change run-time settings; the others keep their values. Each change goes to the activity log."""
    if two_factor_policy is None and two_factor_issuer is None:
        err.print("Nothing to change: give --two-factor-policy, --no-two-factor-policy or --two-factor-issuer.")
        raise typer.Exit(EXIT_SETTINGS)
    current = run(
        lambda rt: PanelSettingsService(rt).update(
            bootstrap.CLI_ACTOR, two_factor_policy=two_factor_policy, two_factor_issuer=two_factor_issuer
        )
    )
    _print(current)
