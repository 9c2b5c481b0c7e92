"""`hrob features`: the feature mappings and a direct run of the feature job."""

from __future__ import annotations

from typing import Annotated

import typer

from ml.cli.common import ConfigDirOption, EnvOption, console, use_config_dir

app = typer.Typer(no_args_is_help=True, help="Feature mappings and the feature job.")


@app.command("mappings")
def mappings(
    write: Annotated[
        bool, typer.Option("--write", help="Add new features to their default group in the file.")
    ] = False,
    env: EnvOption = "local",
    config_dir: ConfigDirOption = None,
) -> None:
    """Check feature_mappings.yml against the computed features (or update it with --write)."""
    from ml.config.feature_models import FeatureMappings
    from ml.config.loader import MAPPINGS_FILE, load_project, load_settings
    from ml.config.yaml_files import read_yaml
    from ml.features import mappings as m
    from ml.features.definitions import catalogue
    from ml.runtime.paths import config_dir as resolve

    use_config_dir(config_dir)
    path = resolve(config_dir) / MAPPINGS_FILE
    if write:
        windows = load_project(env, config_dir).features.lookback_months
        current = FeatureMappings.model_validate(read_yaml(path)) if path.exists() else None
        groups = m.merged(current, windows)
        m.write(path, groups)
        console.print(f"wrote {sum(map(len, groups.values()))} features in {len(groups)} groups to {path}")
        return
    settings = load_settings(env, config_dir)
    computed = [f.name for f in catalogue(settings.project.features.lookback_months)]
    m.check(computed, settings.features.mappings, str(path))
    console.print(f"[green]ok[/green] {len(computed)} computed features, each mapped to one group")


@app.command("build")
def build(
    as_of: Annotated[str, typer.Option(help="Snapshot date, YYYY-MM-DD (default: today).")] = "",
    backfill_from: Annotated[str, typer.Option(help="Also backfill weekly snapshots since this date.")] = "",
    env: EnvOption = "local",
    config_dir: ConfigDirOption = None,
) -> None:
    """Run the feature job directly (the deployed job runs ml/jobs/features.py)."""
    from ml.config.loader import load_settings
    from ml.features.job import run
    from ml.jobs.entry import parse_date

    use_config_dir(config_dir)
    run(
        load_settings(env, config_dir),
        parse_date(as_of, "--as-of"),
        parse_date(backfill_from, "--backfill-from") if backfill_from else None,
    )


@app.command("dictionary")
def dictionary(
    check: Annotated[
        bool, typer.Option("--check", help="Fail (exit 2) if docs/feature_dictionary.md is out of date.")
    ] = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Write docs/feature_dictionary.md from the catalogue and configs/features/."""
    from ml.config.loader import load_settings
    from ml.errors import HrobError
    from ml.features.dictionary import FEATURE_DICTIONARY_PATH, render

    use_config_dir(config_dir)
    text = render(load_settings("local", config_dir))
    current = FEATURE_DICTIONARY_PATH.read_text() if FEATURE_DICTIONARY_PATH.exists() else None
    if check:
        if current != text:
            raise HrobError(f"{FEATURE_DICTIONARY_PATH.name} is out of date: run hrob features dictionary")
        console.print(f"{FEATURE_DICTIONARY_PATH.name} is up to date", markup=False)
        return
    if current != text:
        FEATURE_DICTIONARY_PATH.write_text(text)
    console.print(f"{'wrote' if current != text else 'unchanged:'} {FEATURE_DICTIONARY_PATH}", markup=False)
