#!/usr/bin/env bash
# The generation service end to end over loopback (127.0.0.1 only): every route and error of the
# contract, tenant isolation, limits, idempotency, batches, events, SIGKILL recovery and SIGTERM drain.
# Success-path checks (content, ranges, keyframes, keyframe replacement, re-run after SIGKILL) need a
# working pipeline: while kn_pipeline_open reports "unsupported" for the test model they are counted
# and printed as SKIP; any other model error fails them.
#   KINORA_SHARED=/work/shared scripts/test-service.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SHARED=${KINORA_SHARED:-$(cd "$root/.." && pwd)/shared}
BIN=$root/build/kinora
[ -x "$BIN" ] || make -j2 all >/dev/null 2>&1 || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d)
# a private copy: a concurrent rebuild of build/kinora must not pull the binary out from under a restart
cp "$BIN" "$tmp/kinora" && BIN=$tmp/kinora
# the small test model as the pipeline's own tests build it (token table widened to the tokenizer)
MODEL=${KINORA_SERVE_MODEL:-}
if [ -z "$MODEL" ]; then
  MODEL=$tmp/pipeline_t2v_a
  python3 tools/make_small_model.py "$SHARED/testvectors/pipeline_t2v_a" "$MODEL" > /dev/null || MODEL=$SHARED/testvectors/pipeline_t2v_a
fi
pass=0; fail=0; skip=0
PID=; PORT=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

ok() { if [ "$1" = 0 ]; then pass=$((pass+1)); echo "ok - $2"; else fail=$((fail+1)); echo "not ok - $2"; [ -n "${3:-}" ] && echo "    $3"; fi; }
check() { local name=$1; shift; if "$@"; then ok 0 "$name"; else ok 1 "$name" "code=$CODE body=$(head -c 400 "$tmp/body" 2>/dev/null)"; fi; }

start() {   # start DATA_DIR [serve options]: sets PID and PORT
  local data=$1; shift
  : > "$tmp/server.log"
  "$BIN" serve --data "$data" --port 0 --bind 127.0.0.1 "$@" > "$tmp/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$tmp/server.log")
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  echo "server did not start:"; cat "$tmp/server.log"; return 1
}
bail() { fail=$((fail+1)); echo "not ok - server start"; echo "$pass passed, $fail failed"; exit 1; }
stop_kill() { kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }
stop_term() { kill -TERM "$PID"; wait "$PID"; local rc=$?; PID=; return $rc; }

# req KEY METHOD PATH [curl args...]: CODE, $tmp/body, $tmp/headers
req() {
  local key=$1 method=$2 path=$3; shift 3
  local auth=(); [ -n "$key" ] && auth=(-H "Authorization: Bearer $key")
  CODE=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "http://127.0.0.1:$PORT$path")
}
jb() { jq -r "$1" "$tmp/body" 2>/dev/null; }
header() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
newkey() { "$BIN" keys create --data "$1" --tenant "$2" | tail -1; }
wait_state() {  # wait_state KEY ID SECONDS STATE-REGEX: final state in STATE
  local t=0; STATE=
  while [ "$t" -lt $(($3 * 10)) ]; do
    req "$1" GET "/v1/videos/$2"; STATE=$(jb .state)
    [[ "$STATE" =~ ^($4)$ ]] && return 0
    sleep 0.1; t=$((t+1))
  done
  return 1
}
png() {  # png PATH W H R G B: a solid-colour PNG
  python3 - "$@" <<'PY'
import sys, zlib, struct
p, w, h, r, g, b = sys.argv[1], *map(int, sys.argv[2:])
raw = b"".join(b"\0" + bytes([r, g, b]) * w for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(p, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                    chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
}

D=$tmp/data
A=$(newkey "$D" alice); B=$(newkey "$D" bob); R=$(newkey "$D" mallory)
[[ "$A" =~ ^kn_[0-9a-f]{40}$ ]]; ok $? "keys create prints the key as its last line"
"$BIN" keys revoke --data "$D" "$R" >/dev/null; ok $? "keys revoke"
"$BIN" keys list --data "$D" | grep -q "mallory.*revoked"; ok $? "keys list shows the revoked key"
! sqlite3 "$D/kinora.db" "SELECT hash FROM keys" 2>/dev/null | grep -q "${A#kn_}"; ok $? "keys are stored hashed"

start "$D" --workers 1 --threads 2 --model "$MODEL" --max-prompt 200 --max-frames 64 --max-steps 50 --max-pixels 65536 --max-body 300000 --drain 5 || bail

! "$BIN" serve --data "$D" --port 0 > "$tmp/second.log" 2>&1; ok $? "a second server on the same data folder is refused"
grep -q "another kinora serve" "$tmp/second.log"; ok $? "... with a clear message"

# ---- unauthenticated routes
req "" GET /healthz; check "healthz" [ "$CODE" = 200 ]
req "" GET /readyz; check "readyz" [ "$CODE" = 200 ]
req "" GET /openapi.json; check "openapi.json is JSON with the paths" [ "$CODE" = 200 -a "$(jb '.paths | has("/v1/videos/{id}/keyframes/{k}")')" = true ]
req "" GET /; check "web page" grep -q '<form id="gen"' "$tmp/body"
req "" GET /metrics; check "metrics" grep -q '^kinora_queue_depth ' "$tmp/body"

# ---- authentication
req "" GET /v1/videos; check "no key -> 401" [ "$CODE" = 401 ]
req "kn_0000000000000000000000000000000000000000" GET /v1/videos; check "unknown key -> 401" [ "$CODE" = 401 ]
req "$R" GET /v1/videos; check "revoked key -> 401" [ "$CODE" = 401 ]
CODE=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "X-API-Key: $A" "http://127.0.0.1:$PORT/v1/models"); check "X-API-Key header" [ "$CODE" = 200 ]

req "$A" GET /v1/models
check "models lists the test model" [ "$(jb '.data[0].id')" = "$(basename "$MODEL")" ]
MODEL_OK=$(jb '.data[0].available'); MODEL_STATUS=$(jb '.data[0].status')
echo "# model status: $MODEL_STATUS ($(jb '.data[0].error'))"

# ---- validation and limits
J=(-H 'Content-Type: application/json')
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "a cat",'; check "malformed JSON -> 400" [ "$CODE" = 400 ]
req "$A" POST /v1/videos "${J[@]}" --data '[1,2]'; check "non-object -> 422" [ "$CODE" = 422 ]
req "$A" POST /v1/videos "${J[@]}" --data '{"steps": 2, "keyframes": 2, "frames": 4}'; check "missing prompt -> 422 naming prompt" [ "$CODE" = 422 -a "$(jb .error.field)" = prompt ]
req "$A" POST /v1/videos "${J[@]}" --data "{\"prompt\": \"$(printf 'a%.0s' $(seq 201))\"}"; check "long prompt -> 413 naming prompt" [ "$CODE" = 413 -a "$(jb .error.field)" = prompt ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "steps": 51}'; check "steps over limit -> 422 naming steps" [ "$CODE" = 422 -a "$(jb .error.field)" = steps ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "frames": 65}'; check "frames over limit -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = frames ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "fps": 30, "seconds": 10}'; check "fps*seconds over limit -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = seconds ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "size": "512x512"}'; check "pixels over limit -> 422 naming size" [ "$CODE" = 422 -a "$(jb .error.field)" = size ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "size": "65x64"}'; check "size not multiple of 8 -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = size ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "motion_guidance": 51}'; check "motion_guidance over 50 -> 422 naming it" [ "$CODE" = 422 -a "$(jb .error.field)" = motion_guidance ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "motion_guidance": "high"}'; check "motion_guidance not a number -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = motion_guidance ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "sampler": "magic"}'; check "unknown sampler -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = sampler ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "model": "other"}'; check "unknown model -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = model ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "stpes": 3}'; check "unknown field -> 422 naming it" [ "$CODE" = 422 -a "$(jb .error.field)" = stpes ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "seed": -1}'; check "negative seed -> 422" [ "$CODE" = 422 -a "$(jb .error.field)" = seed ]
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "x", "image": "bm90IGFuIGltYWdl"}'; check "non-image base64 -> 422 naming image" [ "$CODE" = 422 -a "$(jb .error.field)" = image ]
head -c 400000 /dev/zero | tr '\0' a > "$tmp/big"
req "$A" POST /v1/videos "${J[@]}" --data-binary @"$tmp/big"; check "oversized body -> 413" [ "$CODE" = 413 ]
req "$A" GET /v1/nothing; check "unknown route -> 404" [ "$CODE" = 404 ]
req "$A" PATCH /v1/videos; check "wrong method -> 405" [ "$CODE" = 405 ]

# ---- submit, lifecycle
req "$A" POST /v1/videos "${J[@]}" --data '{"prompt": "a red ball rolling left", "steps": 2, "keyframes": 2, "frames": 4, "size": "64x64", "seed": 1, "motion_guidance": 2}'
check "submit -> 202 with id" [ "$CODE" = 202 -a -n "$(jb .id)" ]
check "the job records motion_guidance" [ "$(jb '.params.motion_guidance == 2')" = true ]
V1=$(jb .id)
check "Location header" [ "$(header Location)" = "/v1/videos/$V1" ]
wait_state "$A" "$V1" 120 "succeeded|failed"
if [ "$MODEL_OK" = true ]; then
  check "job succeeds with the test model" [ "$STATE" = succeeded ]
else
  check "job fails with the pipeline's error" [ "$STATE" = failed -a -n "$(jb .error)" ]
fi
check "job has timings and attempts" [ "$(jb '.timings.finished_at != null and .attempts == 1')" = true ]
req "$B" GET "/v1/videos/$V1"; check "another tenant's id -> 404" [ "$CODE" = 404 ]
req "$B" POST "/v1/videos/$V1/cancel"; check "another tenant's cancel -> 404" [ "$CODE" = 404 ]
req "$B" DELETE "/v1/videos/$V1"; check "another tenant's delete -> 404" [ "$CODE" = 404 ]
req "$B" GET "/v1/videos/$V1/content"; check "another tenant's content -> 404" [ "$CODE" = 404 ]
req "$B" GET "/v1/videos"; check "another tenant's list is empty" [ "$(jb '.data | length')" = 0 ]
req "$A" GET "/v1/videos/nope"; check "unknown id -> 404" [ "$CODE" = 404 ]
CODE=$(curl -s -N --max-time 10 -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $A" "http://127.0.0.1:$PORT/v1/videos/$V1/events")
check "events stream ends with a done event" grep -q '^event: done' "$tmp/body"
req "$A" POST "/v1/videos/$V1/cancel"; check "cancel a finished job -> 409" [ "$CODE" = 409 ]

# multipart submission with an image
png "$tmp/in.png" 64 64 200 40 40
req "$A" POST /v1/videos -F prompt="from an image" -F steps=2 -F keyframes=2 -F frames=4 -F image=@"$tmp/in.png"
check "multipart submit with image -> 202" [ "$CODE" = 202 -a "$(jb .params.steps)" = 2 ]
VIMG=$(jb .id)
req "$A" POST /v1/videos "${J[@]}" --data "{\"prompt\": \"b64\", \"steps\": 2, \"keyframes\": 2, \"frames\": 4, \"image\": \"data:image/png;base64,$(base64 -w0 "$tmp/in.png")\"}"
check "base64 image submit -> 202" [ "$CODE" = 202 ]

# ---- idempotency
BODY='{"prompt": "idempotent", "steps": 2, "keyframes": 2, "frames": 4, "seed": 7}'
req "$A" POST /v1/videos "${J[@]}" -H 'Idempotency-Key: k-1' --data "$BODY"; I1=$(jb .id)
req "$A" POST /v1/videos "${J[@]}" -H 'Idempotency-Key: k-1' --data "$BODY"; I2=$(jb .id)
check "same Idempotency-Key + body -> same job" [ "$CODE" = 202 -a "$I1" = "$I2" -a "$(header Idempotent-Replayed)" = true ]
req "$A" POST /v1/videos "${J[@]}" -H 'Idempotency-Key: k-1' --data '{"prompt": "different"}'
check "same key, different body -> 409" [ "$CODE" = 409 ]
req "$B" POST /v1/videos "${J[@]}" -H 'Idempotency-Key: k-1' --data "$BODY"
check "same key, other tenant -> a new job" [ "$CODE" = 202 -a "$(jb .id)" != "$I1" ]

# ---- listing
req "$A" GET "/v1/videos?limit=2"; C1=$(jb .next_cursor); N1=$(jb '.data | length')
req "$A" GET "/v1/videos?limit=2&cursor=$C1"; N2=$(jb '.data | length')
check "pagination: limit and cursor" [ "$N1" = 2 -a "$N2" -ge 2 -a "$C1" != null ]
req "$A" GET "/v1/videos?state=queued&limit=100"; check "filter by state" [ "$(jb '[.data[].state] | unique | . == [] or . == ["queued"]')" = true ]
req "$A" GET "/v1/videos?limit=0"; check "bad limit -> 422" [ "$CODE" = 422 ]
req "$A" GET "/v1/videos?state=bogus"; check "bad state filter -> 422" [ "$CODE" = 422 ]

# ---- batches
req "$A" POST /v1/batches "${J[@]}" --data '[{"prompt": "one", "steps": 2, "keyframes": 2, "frames": 4}, {"prompt": "two", "steps": 2, "keyframes": 2, "frames": 4}]'
check "batch from a JSON array -> 202" [ "$CODE" = 202 -a "$(jb .count)" = 2 ]
BT=$(jb .id)
printf '{"prompt": "l1", "steps": 2, "keyframes": 2, "frames": 4}\n{"prompt": "l2", "steps": 2, "keyframes": 2, "frames": 4}\n{"prompt": "l3", "steps": 2, "keyframes": 2, "frames": 4}\n' > "$tmp/b.jsonl"
req "$A" POST /v1/batches -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/b.jsonl"
check "batch from JSONL -> 202" [ "$CODE" = 202 -a "$(jb .count)" = 3 ]
req "$A" GET "/v1/batches/$BT"; check "get batch" [ "$CODE" = 200 -a "$(jb '.jobs | length')" = 2 ]
req "$B" GET "/v1/batches/$BT"; check "another tenant's batch -> 404" [ "$CODE" = 404 ]
req "$A" POST /v1/batches "${J[@]}" --data '[{"prompt": "ok"}, {"prompt": "bad", "steps": 999}]'
check "batch with a bad item -> 422 naming it" [ "$CODE" = 422 -a "$(jb .error.field)" = "[1].steps" ]
req "$A" POST /v1/batches "${J[@]}" --data '[{"prompt": "ok"'; check "malformed batch -> 400" [ "$CODE" = 400 ]

# ---- success path (needs a working pipeline)
success_checks() {
  wait_state "$A" "$VIMG" 120 "succeeded|failed"; check "image-to-video job succeeds" [ "$STATE" = succeeded ]
  req "$A" GET "/v1/videos/$V1/content"; local size; size=$(stat -c %s "$tmp/body")
  check "content is an MP4" [ "$CODE" = 200 -a "$(header Content-Type)" = video/mp4 ] && head -c 12 "$tmp/body" | grep -q ftyp
  req "$A" GET "/v1/videos/$V1/content" -H 'Range: bytes=0-99'
  check "Range -> 206 with Content-Range" [ "$CODE" = 206 -a "$(stat -c %s "$tmp/body")" = 100 -a "$(header Content-Range)" = "bytes 0-99/$size" ]
  req "$A" GET "/v1/videos/$V1/content" -H 'Range: bytes=-10'; check "suffix range -> 206, 10 bytes" [ "$CODE" = 206 -a "$(stat -c %s "$tmp/body")" = 10 ]
  req "$A" GET "/v1/videos/$V1/content" -H "Range: bytes=$((size + 10))-"; check "unsatisfiable range -> 416" [ "$CODE" = 416 -a "$(header Content-Range)" = "bytes */$size" ]
  req "$A" GET "/v1/videos/$V1/keyframes"; local nk; nk=$(jb .count)
  check "keyframe list" [ "$CODE" = 200 -a "$nk" = 2 ]
  req "$A" GET "/v1/videos/$V1/keyframes/0"; check "keyframe PNG" [ "$CODE" = 200 -a "$(header Content-Type)" = image/png ]
  req "$A" GET "/v1/videos/$V1/keyframes/9"; check "missing keyframe -> 404" [ "$CODE" = 404 ]
  png "$tmp/kf.png" 64 64 20 200 20
  req "$A" PUT "/v1/videos/$V1/keyframes/1" -H 'Content-Type: image/png' --data-binary @"$tmp/kf.png"
  check "replace keyframe -> 202 new version" [ "$CODE" = 202 -a "$(jb .version)" = 2 -a "$(jb .parent)" = "$V1" ]
  local V2; V2=$(jb .id)
  wait_state "$A" "$V2" 120 "succeeded|failed"; check "rebuilt video succeeds ($(jb .params.rebuild_method))" [ "$STATE" = succeeded ]
  req "$A" GET "/v1/videos/$V2/keyframes/1"; cmp -s "$tmp/body" "$tmp/kf.png" || python3 - "$tmp/body" <<'PY'
import sys, zlib
d = open(sys.argv[1], "rb").read(); i = d.index(b"IDAT"); n = int.from_bytes(d[i-4:i], "big")
raw = zlib.decompress(d[i+4:i+4+n]); sys.exit(0 if raw[1:4] == bytes([20, 200, 20]) else 1)
PY
  ok $? "rebuilt video's keyframe 1 is the uploaded image"
  req "$A" GET "/v1/videos/$V2/content"; check "rebuilt content" [ "$CODE" = 200 ]
  req "$A" PUT "/v1/videos/$V1/keyframes/0" -H 'Content-Type: text/plain' --data 'nope'; check "replace with a non-image -> 422" [ "$CODE" = 422 ]
}
if [ "$MODEL_OK" = true ]; then
  success_checks
elif [ "$MODEL_STATUS" = unsupported ]; then
  skip=$((skip+13)); echo "SKIP 13 success-path checks: the pipeline reports unsupported ($MODEL_STATUS)"
  req "$A" GET "/v1/videos/$V1/content"; check "content of a failed job -> 409" [ "$CODE" = 409 ]
  req "$A" GET "/v1/videos/$V1/keyframes"; check "keyframes of a failed job -> 409" [ "$CODE" = 409 ]
  req "$A" PUT "/v1/videos/$V1/keyframes/0" -H 'Content-Type: image/png' --data-binary @"$tmp/in.png"; check "replace keyframe of a failed job -> 409" [ "$CODE" = 409 ]
else
  ok 1 "test model cannot be opened: $MODEL_STATUS"
fi

# ---- delete
req "$A" DELETE "/v1/videos/$V1"; check "delete -> 204" [ "$CODE" = 204 ]
req "$A" GET "/v1/videos/$V1"; check "deleted -> 404" [ "$CODE" = 404 ]
[ ! -e "$D/videos/$V1" ]; ok $? "delete removes the outputs"

req "" GET /metrics
check "metrics: jobs by state, stage histogram, cpu, memory" bash -c "grep -q '^kinora_jobs{state=\"failed\"}' '$tmp/body' && grep -q '^kinora_stage_seconds_bucket{stage=\"load\",le=\"+Inf\"}' '$tmp/body' && grep -q '^kinora_process_cpu_seconds_total' '$tmp/body' && grep -q '^kinora_process_resident_memory_bytes [1-9]' '$tmp/body' && grep -q '^kinora_frame_seconds_count' '$tmp/body' && grep -q '^kinora_denoise_steps_per_second ' '$tmp/body'"
stop_term; ok $? "SIGTERM: clean exit"

# ---- queue, quota, cancel with no workers
D2=$tmp/data2
A2=$(newkey "$D2" alice); B2=$(newkey "$D2" bob)
start "$D2" --workers 0 --tenant-quota 2 --max-queue 3 || bail
req "$A2" POST /v1/videos "${J[@]}" --data '{"prompt": "q1"}'; Q1=$(jb .id)
req "$A2" POST /v1/videos "${J[@]}" --data '{"prompt": "q2"}'; Q2=$(jb .id)
check "queue position" [ "$(jb .queue_position)" = 2 -a "$(jb .state)" = queued ]
req "$A2" POST /v1/videos "${J[@]}" --data '{"prompt": "q3"}'
check "tenant quota -> 429 + Retry-After" [ "$CODE" = 429 -a -n "$(header Retry-After)" ]
req "$B2" POST /v1/videos "${J[@]}" --data '{"prompt": "b1"}'; check "other tenant still admitted" [ "$CODE" = 202 ]
req "$B2" POST /v1/videos "${J[@]}" --data '{"prompt": "b2"}'; check "bounded queue -> 429" [ "$CODE" = 429 -a "$(jb .error.code)" = queue_full ]
req "$A2" POST "/v1/videos/$Q1/cancel"; check "cancel a queued job" [ "$CODE" = 202 -a "$(jb .state)" = cancelled ]
req "$A2" GET "/v1/videos/$Q2"; check "queue position moves up" [ "$(jb .queue_position)" = 1 ]
req "$A2" POST "/v1/videos/$Q1/cancel"; check "cancel twice -> 409" [ "$CODE" = 409 ]

# ---- SIGKILL while clients submit: every 202 survives, nothing half-written
stop_kill
start "$D2" --workers 0 --tenant-quota 1000 --max-queue 1000 || bail
( for i in $(seq 60); do
    curl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $A2" -H 'Content-Type: application/json' \
      --data "{\"prompt\": \"kill $i\"}" "http://127.0.0.1:$PORT/v1/videos" | tr -d '\r' | sed -n 's|^Location: /v1/videos/||p'
  done > "$tmp/accepted" ) &
CLIENT=$!
sleep 1.5; stop_kill; wait $CLIENT
start "$D2" --workers 0 || bail
missing=0; n=0
while read -r id; do n=$((n+1)); req "$A2" GET "/v1/videos/$id"; [ "$CODE" = 200 ] || missing=$((missing+1)); done < "$tmp/accepted"
check "SIGKILL mid-submission: all $n accepted jobs are still there" [ "$missing" = 0 -a "$n" -gt 0 ]
check "database integrity after SIGKILL" [ "$(sqlite3 "$D2/kinora.db" 'PRAGMA integrity_check' 2>/dev/null || echo ok)" = ok ]
stop_term; ok $? "SIGTERM with no workers"

# restart with a worker: every queued job runs exactly once
start "$D2" --workers 2 --threads 1 || bail   # no model: each job fails at once, which is all this needs
for _ in $(seq 300); do req "$A2" GET "/v1/videos?state=queued&limit=1"; [ "$(jb '.data | length')" = 0 ] && break; sleep 0.1; done
req "$A2" GET "/v1/videos?state=running&limit=1"; while [ "$(jb '.data | length')" != 0 ]; do sleep 0.2; req "$A2" GET "/v1/videos?state=running&limit=1"; done
twice=$(sqlite3 "$D2/kinora.db" "SELECT COUNT(*) FROM jobs WHERE attempts > 1 OR state IN ('queued','running')" 2>/dev/null || echo 0)
check "after restart every job ran once and finished" [ "$twice" = 0 ]
stop_term; ok $? "SIGTERM after the queue drained"

# ---- SIGKILL / SIGTERM with a running job (needs a working pipeline)
if [ "$MODEL_OK" = true ]; then
  D3=$tmp/data3; A3=$(newkey "$D3" alice)
  start "$D3" --workers 1 --threads 1 --model "$MODEL" --drain 0 || bail
  req "$A3" POST /v1/videos "${J[@]}" --data '{"prompt": "long", "steps": 150, "keyframes": 4, "frames": 8}'; L=$(jb .id)
  wait_state "$A3" "$L" 60 "running|succeeded|failed"; killed_in=$STATE
  stop_kill
  start "$D3" --workers 1 --threads 1 --model "$MODEL" --drain 0 || bail
  wait_state "$A3" "$L" 300 "succeeded|failed"
  want=1; [ "$killed_in" = running ] && want=2
  check "SIGKILL while $killed_in: the job runs again and succeeds once (attempts $(jb .attempts))" [ "$STATE" = succeeded -a "$(jb .attempts)" = "$want" ]
  ls "$D3/videos" | grep -q tmp; ok $((1 - $?)) "no temp outputs left behind"
  req "$A3" POST /v1/videos "${J[@]}" --data '{"prompt": "drain", "steps": 150, "keyframes": 4, "frames": 8}'; L2=$(jb .id)
  wait_state "$A3" "$L2" 60 "running|succeeded"
  stop_term; ok $? "SIGTERM with a running job exits cleanly"
  st=$(sqlite3 "$D3/kinora.db" "SELECT state FROM jobs WHERE id='$L2'" 2>/dev/null)
  check "SIGTERM re-queued or finished the running job" [ "$st" = queued -o "$st" = succeeded ]
else
  skip=$((skip+4)); echo "SKIP 4 running-job recovery checks: the pipeline reports $MODEL_STATUS"
fi

# ---- the model's generation_defaults.json: a request that names no guidance or sampler gets the
# model's (the worker keeps the request's where it names them)
if [ "$MODEL_OK" = true ]; then
  MD=$tmp/model_with_defaults; cp -r "$MODEL" "$MD"; echo '{"guidance": 3, "sampler": "euler"}' > "$MD/generation_defaults.json"
  D6=$tmp/data6; A6=$(newkey "$D6" alice)
  start "$D6" --workers 1 --threads 1 --model "$MD" --drain 0 || bail
  P='"prompt": "a red ball rolling left", "steps": 2, "keyframes": 2, "frames": 4, "size": "64x64", "seed": 3'
  req "$A6" POST /v1/videos "${J[@]}" --data "{$P}"; W1=$(jb .id)
  req "$A6" POST /v1/videos "${J[@]}" --data "{$P, \"sampler\": \"ddim\", \"guidance\": 7.5}"; W2=$(jb .id)
  wait_state "$A6" "$W1" 120 "succeeded|failed"; s1=$STATE; wait_state "$A6" "$W2" 120 "succeeded|failed"; s2=$STATE
  req "$A6" GET "/v1/videos/$W1/keyframes/1"; cp "$tmp/body" "$tmp/w1.png"
  req "$A6" GET "/v1/videos/$W2/keyframes/1"; cp "$tmp/body" "$tmp/w2.png"
  stop_term
  for w in "3 euler kw1" "7.5 ddim kw2"; do set -- $w
    "$BIN" generate "a red ball rolling left" --model "$MODEL" --steps 2 --keyframes 2 --frames 4 --size 64x64 --seed 3 \
      --guidance "$1" --sampler "$2" --keyframes-out "$tmp/$3" -o "$tmp/$3.mp4" > /dev/null 2>&1
  done
  same_png() { /usr/bin/python3 -c 'import sys; from PIL import Image; a, b = (Image.open(p).convert("RGB").tobytes() for p in sys.argv[1:]); sys.exit(a != b)' "$1" "$2"; }
  check "no guidance or sampler in the request: the model's (guidance 3, euler), as the CLI makes them" \
    bash -c "[ $s1 = succeeded ] && $(declare -f same_png); same_png '$tmp/w1.png' '$tmp/kw1/00001.png'"
  check "the request's guidance and sampler outrank the model's" \
    bash -c "[ $s2 = succeeded ] && $(declare -f same_png); same_png '$tmp/w2.png' '$tmp/kw2/00001.png' && ! same_png '$tmp/w2.png' '$tmp/w1.png'"
else
  skip=$((skip+2)); echo "SKIP 2 generation-defaults checks: the pipeline reports $MODEL_STATUS"
fi

# ---- rate limit
D4=$tmp/data4; A4=$(newkey "$D4" alice)
start "$D4" --workers 0 --rate 0.5 --burst 3 || bail
codes=""; ra=""; for _ in $(seq 6); do req "$A4" GET /v1/models; codes="$codes $CODE"; [ "$CODE" = 429 ] && ra=$(header Retry-After); done
rl_ok() { [ -n "$ra" ] && [[ "$codes" == " 200 200 200 429"* ]]; }
check "per-key rate limit: burst 3, then 429 + Retry-After ($codes)" rl_ok
req "" GET /healthz; check "health is not rate limited" [ "$CODE" = 200 ]
stop_term; ok $? "SIGTERM"

# ---- outputs without the pipeline: keyframe replacement rebuilds a fixture video by cross-fade
D5=$tmp/data5; A5=$(newkey "$D5" alice)
now=$(date +%s)
sqlite3 "$D5/kinora.db" "INSERT INTO jobs(id,tenant,kind,version,state,progress,params,created,started,finished,attempts) VALUES('vid_fixture','alice','generate',1,'succeeded',1,'{\"prompt\":\"p\",\"negative_prompt\":\"\",\"seed\":1,\"steps\":2,\"guidance\":7.5,\"sampler\":\"\",\"keyframes\":3,\"frames\":9,\"fps\":8.0,\"width\":64,\"height\":64,\"model\":\"\",\"image_strength\":0.9}',$now,$now,$now,1)"
mkdir -p "$D5/videos/vid_fixture/keyframes"
png "$D5/videos/vid_fixture/keyframes/00000.png" 64 64 0 0 0
png "$D5/videos/vid_fixture/keyframes/00001.png" 64 64 100 100 100
png "$D5/videos/vid_fixture/keyframes/00002.png" 64 64 250 250 250
start "$D5" --workers 1 --threads 1 || bail
req "$A5" GET /v1/videos/vid_fixture/keyframes; check "keyframe list (fixture)" [ "$CODE" = 200 -a "$(jb .count)" = 3 ]
req "$A5" GET /v1/videos/vid_fixture/keyframes/2; check "keyframe PNG (fixture)" cmp -s "$tmp/body" "$D5/videos/vid_fixture/keyframes/00002.png"
req "$A5" GET /v1/videos/vid_fixture/keyframes/3; check "keyframe out of range -> 404" [ "$CODE" = 404 ]
png "$tmp/green.png" 64 64 20 200 20
req "$A5" PUT /v1/videos/vid_fixture/keyframes/1 -H 'Content-Type: image/png' --data-binary @"$tmp/green.png"
check "replace keyframe -> 202, version 2 of the video" [ "$CODE" = 202 -a "$(jb .version)" = 2 -a "$(jb .parent)" = vid_fixture -a "$(jb .kind)" = rebuild ]
V5=$(jb .id)
wait_state "$A5" "$V5" 60 "succeeded|failed"
check "rebuild succeeds by cross-fade" [ "$STATE" = succeeded -a "$(jb .params.rebuild_method)" = crossfade ]
req "$A5" GET "/v1/videos/$V5/content"; size=$(stat -c %s "$tmp/body")
check "content is an MP4" [ "$CODE" = 200 -a "$(header Content-Type)" = video/mp4 -a "$(head -c 12 "$tmp/body" | tail -c 8 | head -c 4)" = ftyp ]
req "$A5" GET "/v1/videos/$V5/content" -H 'Range: bytes=0-99'
check "Range -> 206 with Content-Range" [ "$CODE" = 206 -a "$(stat -c %s "$tmp/body")" = 100 -a "$(header Content-Range)" = "bytes 0-99/$size" ]
req "$A5" GET "/v1/videos/$V5/content" -H 'Range: bytes=-10'; check "suffix range -> 206, 10 bytes" [ "$CODE" = 206 -a "$(stat -c %s "$tmp/body")" = 10 ]
req "$A5" GET "/v1/videos/$V5/content" -H "Range: bytes=$((size + 10))-"; check "unsatisfiable range -> 416" [ "$CODE" = 416 -a "$(header Content-Range)" = "bytes */$size" ]
req "$A5" GET "/v1/videos/$V5/content" -H "Range: bytes=5-2"; check "reversed range -> 416" [ "$CODE" = 416 ]
req "$A5" GET "/v1/videos/$V5/keyframes/1"
python3 - "$tmp/body" <<'PY'
import sys, zlib
d = open(sys.argv[1], "rb").read(); i = d.index(b"IDAT"); n = int.from_bytes(d[i-4:i], "big")
raw = zlib.decompress(d[i+4:i+4+n]); sys.exit(0 if raw[1:4] == bytes([20, 200, 20]) else 1)
PY
ok $? "the new version's keyframe 1 is the uploaded image"
req "$A5" PUT "/v1/videos/$V5/keyframes/0" -F image=@"$tmp/green.png"; check "multipart replacement of a rebuilt video -> version 3" [ "$CODE" = 202 -a "$(jb .version)" = 3 ]
req "$A5" PUT "/v1/videos/$V5/keyframes/0" -H 'Content-Type: text/plain' --data 'nope'; check "replace with a non-image -> 422" [ "$CODE" = 422 ]
ls "$D5/videos" | grep -q tmp; ok $((1 - $?)) "no temp outputs left behind"
stop_term; ok $? "SIGTERM"

# ---- the web page in headless Chromium
KINORA_BIN=$BIN tests/e2e/run.sh "$MODEL" > "$tmp/e2e.log" 2>&1
cat "$tmp/e2e.log"
line=$(grep -oE '^[0-9]+ passed, [0-9]+ failed' "$tmp/e2e.log" | tail -1)
if [ -n "$line" ]; then pass=$((pass + ${line%% passed*})); f=${line#*, }; fail=$((fail + ${f%% failed})); else ok 1 "page test produced no summary"; fi
s=$(grep -oE '^SKIP: [0-9]+' "$tmp/e2e.log" | grep -oE '[0-9]+'); skip=$((skip + ${s:-0}))

[ "$skip" -gt 0 ] && echo "SKIP: $skip checks skipped (pipeline: $MODEL_STATUS)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
