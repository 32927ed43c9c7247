#!/usr/bin/env bash
set -euo pipefail
out=$("$1")
[[ $out == 49 ]] || { echo "expected 49, got: $out" >&2; exit 1; }
