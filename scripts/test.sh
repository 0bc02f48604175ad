#!/usr/bin/env bash
# The test command: installs packages, builds, runs every suite, and ends with "N passed, N failed".
#   scripts/test.sh              everything (as CI)
#   scripts/test.sh --no-setup   skip the package check
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SHARED=${KINORA_SHARED:-$(cd "$root/.." && pwd)/shared}
[ "${1:-}" = "--no-setup" ] || scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
total_pass=0; total_fail=0
tally() {   # tally NAME LOGFILE: add the last "N passed, N failed" of the log
  local line p f
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -1 | grep -oE '[0-9]+ passed, [0-9]+ failed')
  if [ -z "$line" ]; then echo "suite $1: no summary line (crashed?)"; total_fail=$((total_fail+1)); return; fi
  p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
  total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
  echo "suite $1: $line"
}
logs=$(mktemp -d)
if ! make -j"$jobs" all > "$logs/build.log" 2>&1; then
  tail -50 "$logs/build.log"; echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
echo "== unit tests"
make -j"$jobs" unit 2>&1 | grep -v '^cc \|^ar ' | tee "$logs/unit.log"; tally unit "$logs/unit.log"
echo "== unit tests under ASan/UBSan"
make -j"$jobs" santest 2>&1 | grep -v '^cc \|^ar ' | tee "$logs/san.log"; tally asan-ubsan "$logs/san.log"
for suite in scripts/test-*.sh; do
  [ -x "$suite" ] || continue
  name=$(basename "$suite" .sh); name=${name#test-}
  echo "== $name"
  KINORA_SHARED="$SHARED" "$suite" 2>&1 | tee "$logs/$name.log"; tally "$name" "$logs/$name.log"
done
rm -rf "$logs"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
