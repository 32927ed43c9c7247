#!/usr/bin/env bash
# Every README code block announced by "<!-- example: PATH -->" must be PATH's
# contents, word for word, so the README only shows code that CI compiles
# and runs.
set -euo pipefail
readme=README.md
checked=0
while IFS= read -r path; do
  expected=$(cat "$path")
  actual=$(awk -v marker="<!-- example: $path -->" '
    $0 == marker { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$readme")
  if [[ "$expected" != "$actual" ]]; then
    echo "README.md's snippet for $path differs from the file:" >&2
    diff <(echo "$actual") <(echo "$expected") >&2 || true
    exit 1
  fi
  checked=$((checked + 1))
done < <(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' "$readme")
((checked > 0)) || { echo "no example snippets found in README.md" >&2; exit 1; }
echo "$checked README snippet(s) match their example files"
