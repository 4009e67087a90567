#!/usr/bin/env bash
# Plan every task YAML changed since BASE (a commit) offline; print one Markdown comment.
# Sets the step output `failed=true` when any plan fails (bad task, policy violation).
set -u
base="${1:?usage: plan-changed.sh BASE_COMMIT}"
policy_args=()
[ -f ci/policy.yaml ] && policy_args=(--policy ci/policy.yaml)
failed=false
mapfile -t files < <(git diff --name-only --diff-filter=AM "$base"...HEAD -- 'tasks/*.yaml' 'tasks/*.yml' 'tasks/**/*.yaml' 'tasks/**/*.yml' | sort -u)
if [ "${#files[@]}" -eq 0 ]; then
  echo "No task files changed."
  exit 0
fi
for f in "${files[@]}"; do
  echo "#### \`$f\`"
  echo
  # One cluster per task file, named after it, so plans are stable across runs.
  name="$(basename "${f%.*}" | tr -c 'A-Za-z0-9._-\n' '-')"
  if out="$(skyc plan -o markdown --offline "${policy_args[@]}" -c "$name" "$f" 2>&1)"; then
    echo "$out"
  else
    failed=true
    echo '```'
    echo "$out"
    echo '```'
  fi
  echo
done
[ -n "${GITHUB_OUTPUT:-}" ] && echo "failed=$failed" >> "$GITHUB_OUTPUT"
exit 0
