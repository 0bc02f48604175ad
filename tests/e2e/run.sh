#!/usr/bin/env bash
# Runs the web page test against a fresh `kinora serve` on 127.0.0.1 (called by scripts/test-service.sh).
# Needs node, npm and /usr/bin/chromium; installs playwright-core from package-lock.json with `npm ci`.
# Usage: tests/e2e/run.sh MODEL_DIR  -> prints "N passed, N failed"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
MODEL=$1
BIN=${KINORA_BIN:-$root/build/kinora}
if ! command -v node >/dev/null || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "SKIP page test: node or chromium missing"; echo "0 passed, 1 failed"; exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "not ok - npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi
tmp=$(mktemp -d)
"$BIN" keys create --data "$tmp/d" --tenant web | tail -1 > "$tmp/key"
"$BIN" serve --data "$tmp/d" --port 0 --workers 1 --threads 2 --model "$MODEL" > "$tmp/log" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$tmp/log"); [ -n "$port" ] && break; sleep 0.05; done
ok=$(curl -s -H "Authorization: Bearer $(cat "$tmp/key")" "http://127.0.0.1:$port/v1/models" | jq -r '.data[0].available')
python3 - "$tmp/kf.png" <<'PY'
import sys, zlib, struct
w = h = 64
raw = b"".join(b"\0" + bytes([30, 60, 220]) * w for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
node "$here/page.test.js" "http://127.0.0.1:$port" "$(cat "$tmp/key")" "$ok" "$tmp/kf.png" "${E2E_OUT:-$tmp}"
rc=$?
kill -TERM "$pid"; wait "$pid"
rm -rf "$tmp"
exit $rc
