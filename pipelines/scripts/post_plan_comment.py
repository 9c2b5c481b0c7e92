"""Post a `cdktn diff` plan as a comment on the pull request that triggered the pipeline.

Uses the Azure DevOps REST API (pull request threads) with the pipeline's own access
token (System.AccessToken), which the pipeline gives to this step alone. Each
environment's plan has one comment: a later push to the pull request updates it instead
of opening another thread. Long plans are cut to fit a comment, with a link to the full
log; ANSI colours are stripped. Standard library only.

  python pipelines/scripts/post_plan_comment.py --env staging --plan cdktf.out/plan-staging.txt
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MAX_CHARS = 60_000  # Azure DevOps rejects comments much past 150 KB; keep them readable
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SUMMARY = re.compile(r"Plan: \d+ to add, \d+ to change, \d+ to destroy\.|No changes\.[^\n]*")
API_VERSION = "7.1"


@dataclass(frozen=True)
class PullRequest:
    collection_uri: str  # System.CollectionUri, e.g. https://dev.azure.com/org/
    project: str
    repository_id: str
    number: int
    build_url: str  # link to the pipeline run's log


def marker(env: str) -> str:
    """Invisible in the rendered comment; finds this environment's plan comment again."""
    return f"<!-- hrob-plan:{env} -->"


def format_comment(env: str, plan: str, build_url: str, max_chars: int = MAX_CHARS) -> str:
    text = ANSI.sub("", plan).strip()
    summary = SUMMARY.findall(text)
    headline = summary[-1] if summary else "no plan summary found in the output"
    cut = len(text) > max_chars
    if cut:
        text = text[:max_chars].rsplit("\n", 1)[0]
    body = [f"### `cdktn diff {env}`: {headline}", "", "```", text, "```"]
    if cut:
        body += ["", f"Plan truncated at {max_chars:,} characters: [full plan in the pipeline log]({build_url})"]
    else:
        body += ["", f"[Pipeline run]({build_url})"]
    return "\n".join([*body, marker(env)])


def _threads_url(pr: PullRequest) -> str:
    return (
        f"{pr.collection_uri.rstrip('/')}/{urllib.request.quote(pr.project)}/_apis/git/repositories/"
        f"{pr.repository_id}/pullRequests/{pr.number}/threads"
    )


def _call(method: str, url: str, token: str, payload: dict | None = None, timeout: float = 30) -> dict:
    request = urllib.request.Request(
        f"{url}?api-version={API_VERSION}",
        data=json.dumps(payload).encode() if payload is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def existing_comment(pr: PullRequest, token: str, env: str) -> tuple[int, int] | None:
    """(thread id, comment id) of this environment's earlier plan comment, if any."""
    for thread in _call("GET", _threads_url(pr), token).get("value", []):
        comments = thread.get("comments") or []
        if comments and marker(env) in (comments[0].get("content") or ""):
            return thread["id"], comments[0]["id"]
    return None


def post(pr: PullRequest, token: str, env: str, content: str) -> str:
    """Update this environment's plan comment, or open its thread; says which it did."""
    found = existing_comment(pr, token, env)
    if found:
        thread, comment = found
        _call("PATCH", f"{_threads_url(pr)}/{thread}/comments/{comment}", token, {"content": content})
        return f"updated the {env} plan on pull request {pr.number} (thread {thread})"
    payload = {"comments": [{"parentCommentId": 0, "content": content, "commentType": 1}], "status": 4}  # closed
    created = _call("POST", _threads_url(pr), token, payload)
    return f"posted the {env} plan to pull request {pr.number} (thread {created.get('id', '?')})"


def from_environment(env: dict[str, str]) -> PullRequest:
    """The pull request from the variables Azure Pipelines sets on a PR build."""
    names = ("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT", "BUILD_REPOSITORY_ID", "SYSTEM_PULLREQUEST_PULLREQUESTID")
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise SystemExit(f"error: post_plan_comment: {', '.join(missing)} not set: not a pull-request build")
    build_url = (
        f"{env['SYSTEM_COLLECTIONURI'].rstrip('/')}/{env['SYSTEM_TEAMPROJECT']}/_build/results"
        f"?buildId={env.get('BUILD_BUILDID', '')}&view=logs"
    )
    return PullRequest(
        env["SYSTEM_COLLECTIONURI"],
        env["SYSTEM_TEAMPROJECT"],
        env["BUILD_REPOSITORY_ID"],
        int(env["SYSTEM_PULLREQUEST_PULLREQUESTID"]),
        build_url,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--plan", required=True, help="File holding the output of cdktn diff.")
    parser.add_argument("--dry-run", action="store_true", help="Print the comment instead of posting it.")
    args = parser.parse_args(argv)
    try:
        plan = Path(args.plan).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise SystemExit(f"error: post_plan_comment: --plan {args.plan}: {error.strerror}") from None
    pr = from_environment(dict(os.environ)) if not args.dry_run else None
    comment = format_comment(args.env, plan, pr.build_url if pr else "(log)")
    if args.dry_run:
        print(comment)
        return 0
    token = os.environ.get("SYSTEM_ACCESSTOKEN")
    if not token:
        raise SystemExit("error: post_plan_comment: SYSTEM_ACCESSTOKEN not set (map $(System.AccessToken) in the step)")
    try:
        print(post(pr, token, args.env, comment))
    except OSError as error:  # URLError and HTTPError included
        raise SystemExit(f"error: post_plan_comment: posting to PR {pr.number} failed: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
