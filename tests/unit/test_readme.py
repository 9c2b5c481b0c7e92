"""The README and docs/ say what is true: the top fits one screen, every command shown
exists with the options shown, the cheap ones run as written, and every quoted feature
name, make target and file exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml.cli.main import app
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]
GENERATED = {"feature_dictionary.md", "data_dictionary.md"}  # checked by their own --check
# Commands that need no Spark, no network and no cohort: run exactly as the page shows them.
CHEAP = {("config", "check"), ("config", "show"), ("features", "dictionary"), ("features", "mappings")}


def _text(page: Path) -> str:
    return page.read_text()


def _commands(page: Path) -> list[list[str]]:
    """Every `hrob ...` command line in a fenced block or in backticks, as arguments."""
    found = []
    for line in re.findall(r"(?:\.venv/bin/)?\bhrob ([^`#\n]*)", _text(page)):
        line = line.split("  #")[0].strip().rstrip(".,;:)")
        if not line or any(p in line for p in ("ENV", "JOB", "...", "KEY=VALUE", "TEXT", "TASK", "<")):
            continue
        try:
            found.append(shlex.split(line))
        except ValueError:
            continue
    return found


def test_the_top_fits_one_screen_and_shows_the_two_commands():
    text = _text(README)
    top = text.split("\n## ")[0]
    assert len(top.splitlines()) <= 30, "the part above the first section fits one screen"
    blocks = re.findall(r"```bash\n(.*?)```", top, re.S)
    assert len(blocks) == 1
    assert [line.split("#")[0].strip() for line in blocks[0].strip().splitlines()] == ["make demo", "make test"]
    assert {"## For DevOps engineers", "## For data scientists", "## For care management"} <= set(
        re.findall(r"^## .*$", text, re.M)
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_quoted_exists(page):
    targets = set(re.findall(r"^([a-z0-9-]+):", (REPO_ROOT / "Makefile").read_text(), re.M))
    quoted = set(re.findall(r"`make ([a-z0-9-]+)", _text(page)))
    assert quoted <= targets, sorted(quoted - targets)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_quoted_exists(page):
    text = _text(page)
    linked = [m for m in re.findall(r"\]\(([^)#\s]+)", text) if not m.startswith("http")]
    for link in linked:
        assert (page.parent / link).exists(), f"{page.name}: link {link}"
    quoted = re.findall(r"`((?:configs|ml|infra|pipelines|benchmarks|docs|tests|tools|scripts)/[\w./-]+)`", text)
    for path in quoted:
        assert (REPO_ROOT / path.rstrip("/")).exists(), f"{page.name}: {path}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in GENERATED], ids=lambda p: p.name)
def test_every_feature_name_quoted_exists(page):
    from ml.config.loader import load_settings
    from ml.features.definitions import descriptions

    settings = load_settings("local")
    known = set(descriptions(settings.project.features.lookback_months))
    quoted = set(re.findall(r"`([a-z0-9_]+__[a-z0-9_]+(?:__[a-z0-9_]+)?)`", _text(page)))
    quoted = {q for q in quoted if not q.startswith(("labs__unicorn", "ml__"))}
    assert quoted <= known, sorted(quoted - known)


def _command_path(args: list[str]) -> tuple[list[str], list[str]]:
    """(sub-command names, the options used) of a command line."""
    path = []
    for arg in args:
        if arg.startswith("-"):
            break
        path.append(arg)
    options = [a.split("=")[0] for a in args if a.startswith("--")]
    return path, options


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_shown_exists_with_its_options(page):
    runner = CliRunner()
    for args in _commands(page):
        path, options = _command_path(args)
        # positional values (a job name) are not sub-commands: walk down while help succeeds
        while path:
            shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
            if shown.exit_code == 0 and "Usage:" in shown.output:
                break
            path = path[:-1]
        helped = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert helped.exit_code == 0, f"{page.name}: hrob {' '.join(args)}"
        for option in options:
            assert option in helped.output, f"{page.name}: hrob {' '.join(args)}: no option {option}"


def test_the_cheap_commands_of_the_readme_run_as_written():
    runner = CliRunner()
    ran = []
    for args in _commands(README):
        if tuple(args[:2]) in CHEAP:
            if args[:2] == ["features", "dictionary"]:
                args = [*args, "--check"]  # as written it rewrites the file: check it is current instead
            result = runner.invoke(app, args, env={"COLUMNS": "200"})
            assert result.exit_code == 0, f"hrob {' '.join(args)}: {result.output}"
            ran.append(args[:2])
    assert ["config", "check"] in ran and ["features", "dictionary"] in ran
