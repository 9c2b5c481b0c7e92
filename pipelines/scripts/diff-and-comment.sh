#!/usr/bin/env bash
# `cdktn diff ENV` with its output kept, posted on the pull request, and its exit
# status returned (a failed diff fails the pipeline after the comment is posted).
#   pipelines/scripts/diff-and-comment.sh staging
set -uo pipefail
env="${1:?usage: diff-and-comment.sh ENV}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
plan="$root/cdktf.out/plan-$env.txt"
mkdir -p "$root/cdktf.out"
make -C "$root" --no-print-directory diff ENV="$env" 2>&1 | tee "$plan"
status=${PIPESTATUS[0]}
"$root/.venv/bin/python" "$root/pipelines/scripts/post_plan_comment.py" --env "$env" --plan "$plan" || status=1
exit "$status"
