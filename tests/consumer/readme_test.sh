#!/usr/bin/env bash
# The README's "Using cf from your Bazel workspace" must show this workspace's
# set-up: the code block after "<!-- consumer: .bazelrc -->" is .bazelrc word
# for word, and the one after "<!-- consumer: WORKSPACE -->" has the same
# statements as WORKSPACE (comments, blank lines, workspace() and the value of
# path = "..." aside).
# Usage: readme_test.sh README.md .bazelrc WORKSPACE
set -euo pipefail
readme=$1 bazelrc=$2 workspace=$3

block() {  # the code block after "<!-- consumer: $1 -->"
  awk -v marker="<!-- consumer: $1 -->" '
    $0 == marker { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$readme"
}

statements() {  # stdin -> its lines minus comments, blanks, workspace(), path
  sed -E -e 's/(^|[[:space:]]+)#.*$//' -e 's/path = "[^"]*"/path = .../' |
    grep -v -E '^[[:space:]]*$|^workspace\(' || true
}

check() {  # check <what> <actual> <expected>
  if [[ -z $2 ]]; then
    echo "README.md has no code block after <!-- consumer: $1 -->" >&2
    exit 1
  elif [[ $2 != "$3" ]]; then
    echo "README.md's $1 block differs from tests/consumer/$1 (< README, > file):" >&2
    diff <(echo "$2") <(echo "$3") >&2 || true
    exit 1
  fi
}

check .bazelrc "$(block .bazelrc)" "$(cat "$bazelrc")"
check WORKSPACE "$(block WORKSPACE | statements)" "$(statements <"$workspace")"
echo "README.md shows tests/consumer's .bazelrc and WORKSPACE"
