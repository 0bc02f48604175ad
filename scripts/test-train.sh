#!/usr/bin/env bash
# End-to-end tests of `kinora train` on a tiny pipeline (tests/data/train/tiny_pipeline: configs only)
# and a small synthetic data set: every stage runs and writes a loadable pipeline folder, the VAE and
# UNet losses fall, a resumed run reproduces the uninterrupted loss curve exactly, the result
# generates a video, and bad input fails clearly. Ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp "$root/build/kinora" "$T/kinora"
K="$T/kinora"
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok - $1"; }
bad()  { fail=$((fail+1)); echo "not ok - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
fails_with() {  # fails_with NAME PATTERN CMD...: non-zero exit and PATTERN in stderr
  local name=$1 pat=$2; shift 2
  if "$@" >"$T/out" 2>"$T/err"; then bad "$name (exit 0)"; return; fi
  if grep -q -- "$pat" "$T/err"; then ok "$name"; else bad "$name: stderr was: $(head -c 300 "$T/err")"; fi
}

INIT="$T/init"
cp -r "$root/tests/data/train/tiny_pipeline" "$INIT"
cp -r "$root/models/default/tokenizer" "$INIT/tokenizer"
"$K" dataset "$T/data" --clips 48 --frames 4 --size 32 --seed 3 >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
TR=(--data "$T/data" --threads 2 --quiet --batch 2 --frames 4 --save-every 5 --warmup 2)

# --- the VAE stage from random initialisation
check "vae stage runs" "$K" train --stage vae --init "$INIT" --out "$T/s1" --steps 30 --lr 2e-3 --ema 0.9 "${TR[@]}"
check "vae checkpoint written" test -f "$T/s1/vae/diffusion_pytorch_model.safetensors" -a -f "$T/s1/vae/optimizer.safetensors" \
  -a -f "$T/s1/vae/trainer_state.json" -a -f "$T/s1/loss_vae.csv" -a -f "$T/s1/loss_vae.png"
check "vae config carries a measured scaling_factor" /usr/bin/python3 -c "
import json,sys; s=json.load(open('$T/s1/vae/config.json'))['scaling_factor']; sys.exit(0 if s != 1.0 and s > 0 else 1)"
loss_falls() {  # loss_falls CSV: the mean of the last 5 losses is below the mean of the first 5
  /usr/bin/python3 - "$1" <<'EOF'
import csv, sys
rows = [float(r["loss"]) for r in csv.DictReader(open(sys.argv[1]))]
a, b = sum(rows[:5]) / 5, sum(rows[-5:]) / 5
print(f"  first {a:.4f} last {b:.4f}")
sys.exit(0 if b < 0.8 * a else 1)
EOF
}
check "vae loss falls" loss_falls "$T/s1/loss_vae.csv"

# --- joint text encoder + UNet on clips, from the VAE stage's folder
check "joint stage runs" "$K" train --stage joint --init "$T/s1" --out "$T/s2" --steps 30 --lr 1e-3 "${TR[@]}"
check "unet and text encoder checkpoints" test -f "$T/s2/unet/diffusion_pytorch_model.safetensors" -a -f "$T/s2/text_encoder/model.safetensors" \
  -a -f "$T/s2/vae/diffusion_pytorch_model.safetensors" -a -f "$T/s2/tokenizer/vocab.json" -a ! -f "$T/s2/vae/optimizer.safetensors"
check "unet loss falls" loss_falls "$T/s2/loss_joint.csv"

# --- v-prediction on a zero-terminal-SNR schedule with trailing timesteps (the default model's)
sched_as() {  # sched_as SRC DST PRED ZSNR: copy a pipeline folder, its scheduler set to prediction type PRED and,
              # with ZSNR 1, rescaled to zero terminal SNR with trailing timesteps
  cp -r "$1" "$2" && rm -f "$2"/*/optimizer.safetensors "$2"/*/trainer_state.json && /usr/bin/python3 - "$2" "$3" "$4" <<'EOF2'
import json, sys
p = sys.argv[1] + "/scheduler/scheduler_config.json"
c = json.load(open(p))
c["prediction_type"] = sys.argv[2]
if sys.argv[3] == "1": c.update(rescale_betas_zero_snr=True, timestep_spacing="trailing")
json.dump(c, open(p, "w"))
EOF2
}
sched_as "$T/s1" "$T/iv" v_prediction 1
check "v-prediction joint stage runs" "$K" train --stage joint --init "$T/iv" --out "$T/sv" --steps 30 --lr 1e-3 --min-snr 0 "${TR[@]}"
# (no "falls" check here: on this tiny model the v loss drops in the first steps and then plateaus within the
# noise of the timestep draws, so first-vs-last comparisons pass or fail with the seed)
check "v-prediction losses are finite" /usr/bin/python3 -c "
import csv, math, sys; r = [float(x['loss']) for x in csv.DictReader(open('$T/sv/loss_joint.csv'))]
sys.exit(0 if len(r) == 30 and all(math.isfinite(v) for v in r) else 1)"
# one step each on the same schedule, seed and weighting: only the target differs, so the losses must
sched_as "$T/s1" "$T/iv1" v_prediction 0
"$K" train --stage joint --init "$T/iv1" --out "$T/sv1" --steps 1 --min-snr 0 "${TR[@]}" >/dev/null 2>&1
"$K" train --stage joint --init "$T/s1" --out "$T/se1" --steps 1 --min-snr 0 "${TR[@]}" >/dev/null 2>&1
first_loss() { sed -n 2p "$1/loss_joint.csv" | cut -d, -f2; }
same_first_loss() {  # same_first_loss DIR_A DIR_B: both one-step runs logged a loss, and the same one
  local a b; a=$(first_loss "$1"); b=$(first_loss "$2"); [ -n "$a" ] && [ -n "$b" ] && [ "$a" = "$b" ]
}
other_first_loss() {  # other_first_loss DIR_A DIR_B: both logged a loss, and they differ
  local a b; a=$(first_loss "$1"); b=$(first_loss "$2"); [ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ]
}
check "v-prediction trains on its own target" other_first_loss "$T/sv1" "$T/se1"
check "v-prediction pipeline generates" "$K" generate "a red apple moving left" --model "$T/sv" --size 32x32 --keyframes 4 \
  --frames 8 --steps 2 -o "$T/gv.mp4"
# --motion-weight: 0 is the plain loss exactly; otherwise the same step's loss is reweighted
"$K" train --stage joint --init "$T/s1" --out "$T/sm0" --steps 1 --min-snr 0 --motion-weight 0 "${TR[@]}" >/dev/null 2>&1
"$K" train --stage joint --init "$T/s1" --out "$T/sm3" --steps 1 --min-snr 0 --motion-weight 3 "${TR[@]}" >/dev/null 2>&1
check "motion weight 0 is the plain loss" same_first_loss "$T/sm0" "$T/se1"
check "motion weight reweights the loss" other_first_loss "$T/sm3" "$T/se1"
"$K" train --stage joint --init "$T/s1" --out "$T/ss1" --steps 1 --min-snr 0 --timestep-shift 1 "${TR[@]}" >/dev/null 2>&1
"$K" train --stage joint --init "$T/s1" --out "$T/ss3" --steps 1 --min-snr 0 --timestep-shift 3 "${TR[@]}" >/dev/null 2>&1
check "timestep shift 1 is the uniform draw" same_first_loss "$T/ss1" "$T/se1"
check "timestep shift 3 draws other timesteps" other_first_loss "$T/ss3" "$T/se1"
# --reverse: 0 is the plain loss exactly; 1 plays the reversible clips backwards under reversed captions
"$K" train --stage joint --init "$T/s1" --out "$T/sr0" --steps 1 --min-snr 0 --reverse 0 "${TR[@]}" >/dev/null 2>&1
"$K" train --stage joint --init "$T/s1" --out "$T/sr1" --steps 1 --min-snr 0 --reverse 1 "${TR[@]}" >/dev/null 2>&1
check "reverse 0 is the plain loss" same_first_loss "$T/sr0" "$T/se1"
check "reverse 1 trains on reversed clips" other_first_loss "$T/sr1" "$T/se1"
fails_with "reverse on single frames" "2 or more frames" "$K" train --stage image --init "$T/s1" --out "$T/xr" --steps 1 --reverse 0.5 "${TR[@]}"
fails_with "reverse above 1" "reverse" "$K" train --stage joint --init "$T/s1" --out "$T/xr2" --steps 1 --reverse 1.5 "${TR[@]}"
fails_with "timestep shift below 1" "timestep-shift" "$K" train --stage joint --init "$T/s1" --out "$T/xs" --steps 1 --timestep-shift 0.5 "${TR[@]}"
fails_with "motion weight on single frames" "2 or more frames" "$K" train --stage image --init "$T/s1" --out "$T/xm" --steps 1 --motion-weight 3 "${TR[@]}"
sched_as "$T/s1" "$T/ie" epsilon 1
fails_with "epsilon on a zero-SNR schedule" "v_prediction" "$K" train --stage joint --init "$T/ie" --out "$T/xe" --steps 1 "${TR[@]}"

# --oversample: with P = 1 every batch item comes from the clips that show a listed motion, so a copy
# of the data set whose other training clips are unreadable still trains; with P = 0 it does not
cp -r "$T/data" "$T/dgrow"
/usr/bin/python3 - "$T/dgrow" <<'EOF2'
import json, os, sys
d = sys.argv[1]
for line in open(d + "/captions.jsonl"):
    j = json.loads(line)
    if j["split"] == "train" and not set(j["motions"]) & {"growing", "shrinking"}:
        open(os.path.join(d, j["frames"]), "w").close()
EOF2
OV=(--stage joint --init "$T/s1" --data "$T/dgrow" --threads 2 --quiet --batch 2 --frames 4 --warmup 2 --steps 4 --min-snr 0)
check "oversample 1 draws only the listed motions" "$K" train "${OV[@]}" --out "$T/so1" --oversample growing,shrinking --oversample-p 1
fails_with "without oversampling the other clips are read" "frames" "$K" train "${OV[@]}" --out "$T/so0"
"$K" train --stage joint --init "$T/s1" --out "$T/sg" --steps 1 --min-snr 0 --oversample growing --oversample-p 1 "${TR[@]}" >/dev/null 2>&1
check "oversampling draws other clips" other_first_loss "$T/sg" "$T/se1"
fails_with "oversample an unknown motion" "not a motion" "$K" train --stage joint --init "$T/s1" --out "$T/xo1" --steps 1 --oversample sideways --oversample-p 0.5 "${TR[@]}"
fails_with "oversample without a probability" "oversample" "$K" train --stage joint --init "$T/s1" --out "$T/xo2" --steps 1 --oversample growing "${TR[@]}"
fails_with "oversample on the vae stage" "UNet stages" "$K" train --stage vae --init "$T/s1" --out "$T/xo3" --steps 1 --oversample growing --oversample-p 0.5 "${TR[@]}"

# --- exact resume: 10 steps straight vs 5 + 5 (the schedule spans 10 in both)
J=(--stage joint --init "$T/s1" --steps 10 "${TR[@]}")
"$K" train "${J[@]}" --out "$T/r1" >/dev/null 2>&1
"$K" train "${J[@]}" --out "$T/r2" --max-hours 0.0000001 >/dev/null 2>&1   # stops after its first step
"$K" train "${J[@]}" --out "$T/r2" >/dev/null 2>&1
same_curve() { diff <(cut -d, -f1-4 "$1") <(cut -d, -f1-4 "$2") >/dev/null; }
check "resumed run reproduces the loss curve" same_curve "$T/r1/loss_joint.csv" "$T/r2/loss_joint.csv"
check "resumed weights identical" cmp -s "$T/r1/unet/diffusion_pytorch_model.safetensors" "$T/r2/unet/diffusion_pytorch_model.safetensors"
"$K" train "${J[@]}" --oversample growing,shrinking --oversample-p 0.5 --out "$T/r3" >/dev/null 2>&1
"$K" train "${J[@]}" --oversample growing,shrinking --oversample-p 0.5 --out "$T/r4" --max-hours 0.0000001 >/dev/null 2>&1
"$K" train "${J[@]}" --oversample growing,shrinking --oversample-p 0.5 --out "$T/r4" >/dev/null 2>&1
check "an oversampled run resumes exactly" same_curve "$T/r3/loss_joint.csv" "$T/r4/loss_joint.csv"
check "oversampling changes the curve" bash -c "! diff <(cut -d, -f1-4 '$T/r1/loss_joint.csv') <(cut -d, -f1-4 '$T/r3/loss_joint.csv') >/dev/null"

# --- stopped by a signal (SIGTERM; a script's background job ignores SIGINT): a checkpoint at the
# step it stopped after, exit 128 + 15, and the same run goes on from there
"$K" train --stage vae --init "$INIT" --out "$T/sig" --steps 1000000 "${TR[@]}" 2>"$T/sig.log" & tpid=$!
sleep 2; kill -TERM $tpid; wait $tpid; trc=$?
check "SIGTERM while training exits 143" test "$trc" -eq 143
sigstep=$(tail -1 "$T/sig/loss_vae.csv" 2>/dev/null | cut -d, -f1)
check "  ... after a checkpoint at its last step ($sigstep), saying so" bash -c "[ -n '$sigstep' ] && [ '$sigstep' -gt 0 ] && grep -q '\"step\": \"$sigstep\"' '$T/sig/vae/trainer_state.json' && grep -q 'stopped by SIGTERM after a checkpoint' '$T/sig.log'"
check "  ... with no temporary file left" bash -c "! find '$T/sig' -name '*tmp-*' | grep -q ."
check "  ... and resumes from it" bash -c "'$K' train --stage vae --init '$INIT' --out '$T/sig' --steps \$(( $sigstep + 2 )) ${TR[*]} && [ \$(tail -1 '$T/sig/loss_vae.csv' | cut -d, -f1) -eq \$(( $sigstep + 2 )) ]"

# --- other stages
check "image stage runs" "$K" train --stage image --init "$T/s1" --out "$T/s3" --steps 3 "${TR[@]}"
check "motion stage runs" "$K" train --stage motion --init "$T/s2" --out "$T/s4" --steps 3 "${TR[@]}"
motion_only() {  # the motion stage changed motion-module weights only
  /usr/bin/python3 - "$T/s2/unet/diffusion_pytorch_model.safetensors" "$T/s4/unet/diffusion_pytorch_model.safetensors" <<'EOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
changed = [k for k in a if a[k] != b[k]]
bad = [k for k in changed if "motion_modules" not in k]
print(f"  {len(changed)} tensors changed, {len(bad)} outside the motion modules")
sys.exit(0 if changed and not bad else 1)
EOF
}
check "motion stage trains only motion modules" motion_only

# --- the trained folder is a pipeline the generator loads
check "trained pipeline generates" "$K" generate "a red apple moving left" --model "$T/s2" --size 32x32 --keyframes 4 --frames 8 \
  --steps 2 -o "$T/g.mp4"

# --- kinora eval --model: generate the captions' keyframes and score them
E=(eval --model "$T/s2" --data "$T/data" --split train --clips 3 --steps 2 --keyframes 4 --threads 2)
"$K" "${E[@]}" --grid "$T/grid.png" > "$T/ev1" 2>/dev/null
check "eval of a model reports object and motion accuracy" grep -q "^object accuracy: .*chance" "$T/ev1"
check "eval motion line" grep -q "^motion accuracy: .* of 3 objects\|^motion accuracy: .* of [0-9]* objects" "$T/ev1"
check "eval grid and captions written" test -s "$T/grid.png" -a -s "$T/grid.png.txt"
"$K" "${E[@]}" --clips-out "$T/evall" > "$T/ev2" 2>/dev/null
check "eval is deterministic" diff <(grep accuracy "$T/ev1") <(grep accuracy "$T/ev2")
# --skip: a validation slice repeats the same clips (same caption, same seed) as a run from the start
"$K" eval --model "$T/s2" --data "$T/data" --split train --skip 1 --clips 2 --steps 2 --keyframes 4 --threads 2 \
  --clips-out "$T/evskip" > /dev/null 2>&1
check "eval --skip 1 generates the split's second clip as the full run did" \
  cmp "$T/evall/clips/000001/frames.u8" "$T/evskip/clips/000000/frames.u8"
check "eval --skip 1 keeps the split's second caption" \
  diff <(sed -n 2p "$T/evall/captions.jsonl" | grep -o '"caption": *"[^"]*"') \
       <(sed -n 1p "$T/evskip/captions.jsonl" | grep -o '"caption": *"[^"]*"')
"$K" "${E[@]}" --sampler euler --clips-out "$T/eveuler" > "$T/ev3" 2>/dev/null
check "eval --sampler euler reports its sampler" grep -q "sampler: euler" "$T/ev3"
check "  ... and samples with it (other keyframes than the model's DDIM)" \
  bash -c "! cmp -s '$T/evall/clips/000000/frames.u8' '$T/eveuler/clips/000000/frames.u8'"
fails_with "eval with an unknown sampler names it" 'unknown sampler "warp9"' "$K" "${E[@]}" --sampler warp9
fails_with "eval with a missing model" "not found" "$K" eval --model "$T/none" --data "$T/data" --clips 1
fails_with "eval needs one of --truth and --model" "exactly one" "$K" eval --model "$T/s2" --truth --data "$T/data"

# --- export: the shipped form (EMA weights in f16, no optimizer state) generates too
check "export to f16" "$K" train --export "$T/s2" --out "$T/exp"
check "export has no optimizer state or logs" bash -c "! ls '$T/exp'/*/optimizer.safetensors '$T/exp'/loss_* 2>/dev/null | grep -q ."
check "exported weights are f16" grep -q '"F16"' "$T/exp/unet/diffusion_pytorch_model.safetensors"
check "exported pipeline generates" "$K" generate "a cat face moving up" --model "$T/exp" --size 32x32 --keyframes 4 --frames 8 \
  --steps 2 -o "$T/e.mp4"
fails_with "export from a missing folder" "not found" "$K" train --export "$T/none" --out "$T/x7"

# --- fine-tuning on feedback: approved videos with captions
mkdir -p "$T/approved"
cp "$T/g.mp4" "$T/approved/one.mp4"
ffmpeg -v error -f lavfi -i "testsrc=size=48x40:rate=8:duration=1" -pix_fmt yuv420p "$T/approved/two.mp4"
printf '{"video": "one.mp4", "caption": "a red apple moving left", "size": 32, "num_frames": 4}\n{"video": "two.mp4", "caption": "a test pattern", "size": 32, "num_frames": 4}\n' \
  > "$T/approved/approved.jsonl"
check "fine-tune on approved clips" "$K" train --stage joint --init "$T/s2" --data "$T/approved" --out "$T/s5" --steps 3 \
  --threads 2 --quiet --batch 2 --frames 4
check "fine-tuned weights differ from the start" bash -c "! cmp -s '$T/s2/unet/diffusion_pytorch_model.safetensors' '$T/s5/unet/diffusion_pytorch_model.safetensors'"
check "a run started from another run's folder keeps only its own loss log" bash -c \
  "[ ! -e '$T/s2/loss_vae.csv' ] && [ ! -e '$T/s5/loss_vae.png' ] && [ \$(grep -c '^[0-9]' '$T/s5/loss_joint.csv') -eq 3 ]"

# --- bad input
fails_with "unknown stage" "stage" "$K" train --stage nope --init "$INIT" --data "$T/data" --out "$T/x1"
fails_with "missing data set" "captions.jsonl" "$K" train --stage vae --init "$INIT" --data "$T/none" --out "$T/x2"
fails_with "missing init folder" "not found" "$K" train --stage vae --init "$T/none" --data "$T/data" --out "$T/x3"
fails_with "image stage without VAE weights" "vae" "$K" train --stage image --init "$INIT" --data "$T/data" --out "$T/x4" --steps 1
mkdir -p "$T/bad" && cp -r "$T/s1/." "$T/bad/"
head -c 1000 "$T/s1/vae/diffusion_pytorch_model.safetensors" > "$T/bad/vae/diffusion_pytorch_model.safetensors"
fails_with "truncated weights" "safetensors" "$K" train --stage vae --init "$T/bad" --data "$T/data" --out "$T/x5" --steps 1
fails_with "frames beyond the clips" "frames" "$K" train --stage joint --init "$T/s1" --data "$T/data" --out "$T/x6" --frames 9 --steps 1
fails_with "usage without --out" "usage" "$K" train --stage vae --init "$INIT" --data "$T/data"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
