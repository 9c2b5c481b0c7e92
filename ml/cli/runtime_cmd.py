"""`hrob doctor` and `hrob demo`."""

from __future__ import annotations

from rich.table import Table

from ml.cli.common import ConfigDirOption, EnvOption, console, use_config_dir


def doctor(env: EnvOption = "local", config_dir: ConfigDirOption = None) -> None:
    """Check the configuration, start local Spark and MLflow, and report each."""
    from ml.runtime.selfcheck import run_checks

    use_config_dir(config_dir)
    table = Table(title="Local runtime", title_justify="left")
    for column in ("part", "status", "seconds"):
        table.add_column(column)
    with console.status("starting local Spark and MLflow ..."):
        checks = run_checks(env, config_dir)
    for check in checks:
        table.add_row(check.part, check.detail, f"{check.seconds:.1f}")
    console.print(table)


def demo(config_dir: ConfigDirOption = None) -> None:
    """Run the whole flow locally on a synthetic cohort and print a summary."""
    doctor(env="dev", config_dir=config_dir)
