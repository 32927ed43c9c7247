#!/bin/sh
# Runs one example; it exits non-zero when its own check fails.
exec "$@"
