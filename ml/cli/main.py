"""Entry point of the `hrob` command. Sub-commands import heavy libraries only when run."""

from __future__ import annotations

import sys

import typer

from ml.cli import config_cmd, data_cmd, infra_cmd, runtime_cmd
from ml.cli.common import err_console
from ml.errors import HrobError

app = typer.Typer(
    name="hrob",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help="HROB risk model: synthetic data, features, training, inference and infrastructure.",
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(infra_cmd.app, name="infra")
app.command("doctor")(runtime_cmd.doctor)
app.command("demo")(runtime_cmd.demo)


def main() -> None:
    try:
        app(standalone_mode=False)
    except HrobError as error:
        err_console.print(f"[bold red]error:[/bold red] {error}", soft_wrap=True)
        sys.exit(error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as error:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise


if __name__ == "__main__":
    main()
