#!/usr/bin/env bash
# Runs every test binary in DIR; prints each binary's output and a closing "N passed, N failed".
set -u
dir=$1
pass=0; fail=0; crashed=0
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    echo "$out" | grep -v '^ok - ' || true
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    if [ -z "$line" ]; then
        echo "not ok - $(basename "$t") crashed or printed no summary (exit $rc)"; fail=$((fail+1)); crashed=1; continue
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
    pass=$((pass+p)); fail=$((fail+f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "not ok - $(basename "$t") exited $rc"; fail=$((fail+1)); }
done
echo "unit ($dir): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
