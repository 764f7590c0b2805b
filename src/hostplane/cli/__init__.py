"""The `hostplane` command: one module per command group, each parsing its options and calling the core.

- setup: init, serve, doctor, reconcile (the host as a whole)
- users (`user`), api_keys (`api-key`), plans (`plan`), panel_settings (`settings`), jobs (`jobs`), tls (`tls`),
  domains (`domain`), mail (`mail domain`, `mail mailbox`), login (`login-url`)
- common: settings loading, running an async action with a runtime, the principal a command acts for, error
  printing and exit codes (1: a core error; 2: settings invalid or unable to work on this host)
"""

from __future__ import annotations

import typer

from hostplane.cli import api_keys, domains, jobs, login, mail, panel_settings, plans, setup, tls, users

app = typer.Typer(help="Hostplane, the hosting control panel.", no_args_is_help=True)
app.command()(setup.init)
app.command()(setup.serve)
app.command("login-url")(login.login_url)
app.command()(setup.doctor)
app.command()(setup.reconcile)
app.add_typer(users.app, name="user")
app.add_typer(api_keys.app, name="api-key")
app.add_typer(plans.app, name="plan")
app.add_typer(panel_settings.app, name="settings")
app.add_typer(jobs.app, name="jobs")
app.add_typer(tls.app, name="tls")
app.add_typer(domains.app, name="domain")
app.add_typer(mail.app, name="mail")


def main() -> None:
    app()
