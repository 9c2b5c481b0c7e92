"""Entry point of the `hrob` command. Sub-commands import heavy libraries only when run."""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from ml.cli import (
    config_cmd,
    data_cmd,
    features_cmd,
    infra_cmd,
    model_cmd,
    monitor_cmd,
    outreach_cmd,
    run_cmd,
    runtime_cmd,
)
from ml.cli.common import err_console
from ml.errors import user_error

app = typer.Typer(
    name="hrob",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help="HROB risk model: synthetic data, features, training, inference and infrastructure.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"hrob {version('hrob-mlops')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show third-party progress bars and chatter (Hyperopt, xgboost)."
    ),
) -> None:
    """HROB risk model: synthetic data, features, training, inference and infrastructure."""
    from ml.runtime.verbosity import set_verbose

    set_verbose(verbose)


app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(features_cmd.app, name="features")
app.add_typer(infra_cmd.app, name="infra")
app.add_typer(model_cmd.app, name="model")
app.add_typer(monitor_cmd.app, name="monitor")
app.add_typer(outreach_cmd.app, name="outreach")
app.command("run")(run_cmd.run)
app.command("doctor")(runtime_cmd.doctor)
app.command("demo")(runtime_cmd.demo)
app.command("ui")(runtime_cmd.ui)


def main() -> None:
    """Usage errors are typer's (usage line and message, exit 2); user errors are one line."""
    try:
        app()
    except Exception as error:
        known = user_error(error)
        if known is None:
            raise
        # literally: a message may hold square brackets (a cron field, a list) that markup would eat
        err_console.print(Text.assemble(("error:", "bold red"), " ", str(known)), soft_wrap=True)
        sys.exit(known.exit_code)


if __name__ == "__main__":
    main()
