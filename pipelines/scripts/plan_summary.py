"""Put a saved plan's text on the Azure Pipelines run summary, where the approver of the
deployment that follows reads it (`##vso[task.uploadsummary]`), with the counts of what it
adds, changes and destroys first.

  python pipelines/scripts/plan_summary.py --env prod --plan cdktf.out/stacks/prod/plan.txt
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

FENCE = "```"


def summary(env: str, text: str) -> str:
    counts = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", text)
    headline = (
        f"**{env}**: {counts.group(1)} to add, {counts.group(2)} to change, {counts.group(3)} to destroy"
        if counts
        else f"**{env}**: no changes"
        if "No changes." in text
        else f"**{env}**: see the plan below"
    )
    body = text.replace(FENCE, "'''")  # the plan cannot close the block it is shown in
    return f"# Plan to apply: {env}\n\n{headline}\n\n{FENCE}\n{body}\n{FENCE}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--plan", required=True, type=Path)
    args = parser.parse_args(argv)
    if not args.plan.is_file():
        print(f"error: plan_summary: {args.plan} does not exist: make plan-file ENV={args.env} first", file=sys.stderr)
        return 2
    page = args.plan.with_name(f"plan-{args.env}.md")
    page.write_text(summary(args.env, args.plan.read_text()))
    print(f"##vso[task.uploadsummary]{page.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
