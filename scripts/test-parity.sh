#!/usr/bin/env bash
# Parity: `kinora check` over the shared reference cases and the project's own cases. A PASS line is a
# passed test, FAIL a failed one; UNSUPPORTED (a kind not implemented yet) is counted as failed too.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${KINORA_SHARED:-$(cd "$root/.." && pwd)/shared}
dirs=()
[ -d "$SHARED/testvectors" ] && dirs+=("$SHARED/testvectors") || echo "warning: $SHARED/testvectors not found"
[ -d "$root/tests/vectors" ] && dirs+=("$root/tests/vectors")
out=$("$root/build/kinora" check "${dirs[@]}" 2>&1)
echo "$out"
p=$(echo "$out" | grep -cE '  PASS  ' || true)
f=$(echo "$out" | grep -cE '  (FAIL|UNSUPPORTED)  ' || true)
echo "parity: $p passed, $f failed"
