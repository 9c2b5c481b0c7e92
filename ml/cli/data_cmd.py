"""`hrob data`: generate, profile and document the synthetic source tables."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from ml.cli.common import ConfigDirOption, EnvOption, JsonOption, console, err_console, use_config_dir
from ml.errors import HrobError

app = typer.Typer(no_args_is_help=True, help="Generate, profile and document the synthetic source tables.")


def _source_store(env: str, config_dir):
    from ml.config.loader import load_settings
    from ml.data.store import table_store
    from ml.runtime.spark import get_spark

    settings = load_settings(env, config_dir)
    return settings, table_store(get_spark(), settings.environment.source_schema)


@app.command("generate")
def generate(
    members: Annotated[int | None, typer.Option(help="Members to simulate (default: cohort.members).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: cohort.seed).")] = None,
    start: Annotated[str | None, typer.Option(help="First month, YYYY-MM (default: cohort.start).")] = None,
    end: Annotated[str | None, typer.Option(help="Last month, YYYY-MM (default: the current month).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing source tables.")] = False,
    partitions: Annotated[
        int | None,
        typer.Option(help="Spark partitions (default: one per 25,000 members); the tables do not depend on it."),
    ] = None,
    coding_drift: Annotated[
        str | None,
        typer.Option(
            help="Inject a coding-practice change, CONDITION:YYYY-MM[:KEPT]: from that month only KEPT "
            "(default 0.5) of the condition's diagnosis codes are recorded (to see what monitoring notices).",
        ),
    ] = None,
    influx: Annotated[
        str | None,
        typer.Option(
            help="Inject an influx of new members, YYYY-MM[:SHARE]: from that month SHARE (default 0.5) "
            "times the cohort's members join, pregnant and never enrolled before.",
        ),
    ] = None,
    env: EnvOption = "local",
    as_json: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Simulate a cohort and write the source tables (and the oracle) for an environment."""
    from ml.synth.generate import cohort_spec
    from ml.synth.generate import generate as run

    use_config_dir(config_dir)
    from ml.config.loader import load_settings

    cohort = load_settings(env, config_dir).project.cohort
    spec = cohort_spec(
        members if members is not None else cohort.members,
        seed if seed is not None else cohort.seed,
        start or cohort.start,
        end or cohort.end,
        partitions,
        drift=coding_drift,
        influx=influx,
    )
    started = time.perf_counter()
    if as_json:  # progress to stderr, the result alone on stdout
        settings, store = _source_store(env, config_dir)
        counts = run(store.spark, store, spec, overwrite=overwrite, progress=lambda m: err_console.print(m))
        seconds = time.perf_counter() - started
        print(json.dumps({"schema": store.namespace, "rows": counts, "seconds": round(seconds, 1)}, indent=1))
        return
    with console.status("starting Spark ...") as status:
        settings, store = _source_store(env, config_dir)

        def progress(message: str) -> None:
            console.print(f"[dim]{time.perf_counter() - started:6.1f}s[/dim] {message}")
            status.update(message + " ...")

        counts = run(store.spark, store, spec, overwrite=overwrite, progress=progress)
    table = Table(title=f"Source tables in {settings.environment.source_schema}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    seconds = time.perf_counter() - started
    episodes = counts["episodes"]
    console.print(
        f"[green]done[/green] in {seconds:.0f}s ({episodes / seconds:,.0f} episodes/s); "
        f"tables under {store.location('')}"
    )


@app.command("profile")
def profile(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    env: EnvOption = "local",
    config_dir: ConfigDirOption = None,
) -> None:
    """Base rates, recovered effect sizes, missingness and the oracle, next to their targets.

    Each is ok, uncertain (outside its tolerance, but the cohort is too small to tell) or
    off (outside even with sampling error allowed for); exit status 2 when any is off."""
    from ml.synth.profile import profile as run
    from ml.synth.profile import with_verdicts

    use_config_dir(config_dir)
    if as_json:
        _, store = _source_store(env, config_dir)
        result = with_verdicts(run(store))
        print(json.dumps(result, indent=1))
        _fail_if_off(result)
        return
    with console.status("profiling the source tables ..."):
        _, store = _source_store(env, config_dir)
        result = with_verdicts(run(store))
    console.print(
        f"{result['members']:,} members, {result['episodes']:,} episodes "
        f"({result['closed_episodes']:,} with outcomes); episodes per member: "
        + ", ".join(f"{k}: {v:,}" for k, v in result["episodes_per_member"].items())
    )
    rates = Table(title="Base rates", title_justify="left")
    for column in ("outcome", "observed", "target", "tolerance", "rows", ""):
        rates.add_column(column)
    for name, r in result["base_rates"].items():
        rates.add_row(
            name,
            f"{r['observed']:.2%}",
            f"{r['target']:.2%}",
            f"{r['low']:.2%}-{r['high']:.2%}",
            f"{r['rows']:,}",
            _MARKS[r["verdict"]],
        )
    console.print(rates)
    effects = Table(title="Effect sizes recovered from the data", title_justify="left")
    for column in ("risk factor -> outcome", "measure", "observed", "target", "exposed", ""):
        effects.add_column(column)
    for name, e in result["odds_ratios"].items():
        observed = "-" if e["observed"] is None else f"{e['observed']:.2f}"
        mark = _MARKS[e["verdict"]] if "verdict" in e else ""
        effects.add_row(name, e["measure"], observed, f"{e['target']:.2f}", f"{e['exposed']:,}", mark)
    console.print(effects)
    timing = Table(title="When the plan sees what", title_justify="left")
    for column in ("measure", "observed", "target", "tolerance", ""):
        timing.add_column(column)
    for name, t in result["timing"].items():
        if "target" not in t:
            timing.add_row(name, f"{t['observed']:.1f}", "", "", "")
            continue
        timing.add_row(
            name,
            f"{t['observed']:.1%}",
            f"{t['target']:.0%}",
            f"{t['low']:.0%}-{t['high']:.0%}",
            _MARKS[t["verdict"]],
        )
    console.print(timing)
    missing = Table(title="Missingness", title_justify="left")
    missing.add_column("information")
    missing.add_column("missing", justify="right")
    for name, share in result["missingness"].items():
        missing.add_row(name, f"{share:.1%}")
    console.print(missing)
    oracle = result["oracle"]
    console.print(
        f"Oracle (best possible model) on recorded labels: AUROC {oracle['auroc']:.3f}, "
        f"AUPRC {oracle['auprc']:.3f} at prevalence {oracle['prevalence']:.1%}"
    )
    _fail_if_off(result)


_MARKS = {"ok": "[green]ok[/green]", "uncertain": "[yellow]uncertain[/yellow]", "off": "[red]off[/red]"}


def _fail_if_off(result: dict) -> None:
    if result["status"] == "off":
        raise HrobError("some base rates or key effects are outside their targets beyond sampling error (marked 'off')")


@app.command("dictionary")
def dictionary(
    check: Annotated[bool, typer.Option("--check", help="Fail if docs/data_dictionary.md is out of date.")] = False,
) -> None:
    """Write docs/data_dictionary.md from the table definitions."""
    from ml.data.dictionary import DICTIONARY_PATH, render, write

    if check:
        if not DICTIONARY_PATH.exists() or DICTIONARY_PATH.read_text() != render():
            raise HrobError(f"{DICTIONARY_PATH.name} is out of date: run hrob data dictionary")
        console.print(f"{DICTIONARY_PATH.name} is up to date")
        return
    changed = write()
    console.print(f"{'wrote' if changed else 'unchanged:'} {DICTIONARY_PATH}")
