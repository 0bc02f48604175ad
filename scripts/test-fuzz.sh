#!/usr/bin/env bash
# CI suite: every libFuzzer harness for 60 s (scripts/fuzz.sh); one test per harness.
exec "$(dirname "$0")/fuzz.sh" "${FUZZ_SECONDS:-60}"
