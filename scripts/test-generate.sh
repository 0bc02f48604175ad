#!/usr/bin/env bash
# End-to-end tests of `kinora generate` / `kinora regenerate` with the small test model: every output
# format probed with ffprobe, determinism across thread counts, image-to-video, keyframe correction,
# long clips through context windows, and clear failures for bad input. Ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${KINORA_SHARED:-$(cd "$root/.." && pwd)/shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp "$root/build/kinora" "$T/kinora"     # a private copy: a rebuild while the suite runs cannot break it
K="$T/kinora"
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok - $1"; }
bad()  { fail=$((fail+1)); echo "not ok - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
# failures: non-zero exit, a message naming the problem, nothing under OUT
fails_with() {  # fails_with PATTERN OUT -- command...
  local pat=$1 outp=$2; shift 3
  local msg; msg=$("$@" 2>&1 >/dev/null); local rc=$?
  [ $rc -ne 0 ] || { echo "  exit 0"; return 1; }
  echo "$msg" | grep -qi -- "$pat" || { echo "  message '$msg' lacks '$pat'"; return 1; }
  [ ! -e "$outp" ] || { echo "  $outp exists"; return 1; }
  ! ls "$(dirname "$outp")" 2>/dev/null | grep -q 'tmp-' || { echo "  temp file left"; return 1; }
}

M="$T/model"
/usr/bin/python3 "$root/tools/make_small_model.py" "$SHARED/testvectors/pipeline_t2v_a" "$M" || { echo "0 passed, 1 failed"; exit 1; }
G=(--model "$M" --size 32x32 --keyframes 4 --frames 10 --fps 8 --steps 3 --seed 7)

same_pixels() {  # same_pixels IMG_A IMG_B: both decode to identical, non-empty RGB
  [ -f "$1" ] && [ -f "$2" ] || { echo "  missing $1 or $2"; return 1; }
  local a b
  a=$(ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | md5sum); b=$(ffmpeg -v error -i "$2" -f rawvideo -pix_fmt rgb24 - | md5sum)
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "d41d8cd98f00b204e9800998ecf8427e  -" ]
}
probe() {  # probe FILE FIELD -> value of the first video stream
  ffprobe -v error -count_frames -select_streams v:0 -show_entries "stream=$2" -of default=nw=1:nk=1 "$1" 2>/dev/null | head -1
}
expect_probe() {  # expect_probe FILE CODEC PIXFMT FRAMES RATE
  local f=$1
  [ "$(probe "$f" codec_name)" = "$2" ] || { echo "  codec $(probe "$f" codec_name) != $2"; return 1; }
  [ -z "$3" ] || [ "$(probe "$f" pix_fmt)" = "$3" ] || { echo "  pix_fmt $(probe "$f" pix_fmt) != $3"; return 1; }
  [ "$(probe "$f" nb_read_frames)" = "$4" ] || { echo "  frames $(probe "$f" nb_read_frames) != $4"; return 1; }
  [ "$(probe "$f" width)x$(probe "$f" height)" = "32x32" ] || { echo "  size wrong"; return 1; }
  [ -z "$5" ] || [ "$(probe "$f" r_frame_rate)" = "$5" ] || { echo "  rate $(probe "$f" r_frame_rate) != $5"; return 1; }
}

# --- formats
check "mp4 generated" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/a.mp4"
check "mp4 is h264 yuv420p, 10 frames at 8 fps" expect_probe "$T/a.mp4" h264 yuv420p 10 8/1
check "webm generated" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/a.webm"
check "webm is vp9 yuv420p, 10 frames" expect_probe "$T/a.webm" vp9 yuv420p 10 8/1
check "gif generated" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/a.gif"
check "gif has 10 frames" expect_probe "$T/a.gif" gif "" 10 ""
check "y4m generated" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/a.y4m"
check "y4m is rawvideo, 10 frames at 8 fps" expect_probe "$T/a.y4m" rawvideo "" 10 8/1
check "png folder generated" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/pngs/"
check "png folder has 10 frames" test "$(ls "$T/pngs" | grep -c '^[0-9]\{5\}\.png$')" = 10
check "--codec av1 --crf 40 into .mkv" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/a_av1.mkv" --codec av1 --crf 40
check "  ... is av1 yuv420p, 10 frames at 8 fps" expect_probe "$T/a_av1.mkv" av1 yuv420p 10 8/1
check "--codec ffv1 into .mkv" "$K" generate "a red apple bouncing" "${G[@]}" -o "$T/a_ffv1.mkv" --codec ffv1
check "  ... holds the PNG folder's frames exactly" bash -c "[ \"\$(ffmpeg -v error -i '$T/a_ffv1.mkv' -f rawvideo -pix_fmt rgb24 - | md5sum)\" = \"\$(ffmpeg -v error -i '$T/pngs/%05d.png' -f rawvideo -pix_fmt rgb24 - | md5sum)\" ]"
check "--codec h265 at 32x32 fails before generating, naming the size" bash -c "! '$K' generate 'a red apple' ${G[*]} -o '$T/small.mp4' --codec h265 2>&1 | grep -q 'H.265 is written only from 64x16 up, not 32x32' && exit 1; [ ! -e '$T/small.mp4' ]"
check "--fps 8 --seconds 1.5" "$K" generate "a cat" --model "$M" --size 32x32 --keyframes 4 --steps 3 --fps 8 --seconds 1.5 -o "$T/s.y4m"
check "--seconds gives round(fps*seconds) = 12 frames" test "$(probe "$T/s.y4m" nb_read_frames)" = 12
# --- determinism across thread counts
"$K" generate "a rocket moving up" "${G[@]}" --threads 1 -o "$T/t1.y4m" && "$K" generate "a rocket moving up" "${G[@]}" --threads 3 -o "$T/t3.y4m"
check "same seed, 1 vs 3 threads: byte-identical y4m" cmp -s "$T/t1.y4m" "$T/t3.y4m"
"$K" generate "a rocket moving up" "${G[@]}" --threads 2 -o "$T/t2.mp4" && "$K" generate "a rocket moving up" "${G[@]}" --threads 1 -o "$T/t1b.mp4"
check "same seed, 1 vs 2 threads: byte-identical mp4" cmp -s "$T/t1b.mp4" "$T/t2.mp4"
"$K" generate "a rocket moving up" "${G[@]}" --seed 8 -o "$T/seed8.y4m"
check "another seed gives other frames" bash -c "[ -s '$T/seed8.y4m' ] && ! cmp -s '$T/t1.y4m' '$T/seed8.y4m'"
# --- motion guidance (the prompt with its motion words reversed as a second negative)
"$K" generate "a cat on grass" "${G[@]}" --motion-guidance 0 -o "$T/mg0.y4m" && "$K" generate "a cat on grass" "${G[@]}" --motion-guidance 4 -o "$T/mg4.y4m"
check "motion guidance leaves a prompt without motion words as it is" cmp -s "$T/mg0.y4m" "$T/mg4.y4m"
"$K" generate "a rocket moving up" "${G[@]}" --motion-guidance 0 -o "$T/mu0.y4m" && "$K" generate "a rocket moving up" "${G[@]}" --motion-guidance 4 -o "$T/mu4.y4m"
check "motion guidance changes a prompt with a motion word" bash -c "[ -s '$T/mu4.y4m' ] && ! cmp -s '$T/mu0.y4m' '$T/mu4.y4m'"
"$K" generate "a rocket moving up" "${G[@]}" --motion-guidance 2.5 --keyframes-out "$T/kfm" -o "$T/mu25.y4m"
check "settings.json records motion_guidance" /usr/bin/python3 -c "import json,sys; assert json.load(open('$T/kfm/settings.json'))['motion_guidance']==2.5"
check "regenerate --harmonize keeps the recorded motion guidance" "$K" regenerate --from "$T/kfm" --harmonize 0.5 -o "$T/kfmr/"
# a model's generation_defaults.json sets the guidance it was measured best with; flags override it
cp -r "$M" "$T/md"; echo '{"guidance": 3, "motion_guidance": 2}' > "$T/md/generation_defaults.json"
"$K" generate "a rocket moving up" --model "$T/md" "${G[@]:2}" --keyframes-out "$T/kfd" -o "$T/md.y4m" && "$K" generate "a rocket moving up" "${G[@]}" --guidance 3 --motion-guidance 2 -o "$T/mdx.y4m"
check "generation_defaults.json gives the same frames as the flags" bash -c "[ -s '$T/md.y4m' ] && cmp -s '$T/md.y4m' '$T/mdx.y4m'"
check "settings.json records the model's defaults as used" /usr/bin/python3 -c "import json; d=json.load(open('$T/kfd/settings.json')); assert d['guidance']==3 and d['motion_guidance']==2, d"
"$K" generate "a rocket moving up" --model "$T/md" "${G[@]:2}" --guidance 7.5 --motion-guidance 0 -o "$T/mdo.y4m"
check "flags override generation_defaults.json" cmp -s "$T/mdo.y4m" "$T/mu0.y4m"
# ... and the sampler: the model's recommended one, recorded in settings.json; --sampler outranks it
echo '{"guidance": 3, "sampler": "euler"}' > "$T/md/generation_defaults.json"
"$K" generate "a rocket moving up" --model "$T/md" "${G[@]:2}" --keyframes-out "$T/kfs" -o "$T/ms.y4m" &&
  "$K" generate "a rocket moving up" "${G[@]}" --guidance 3 --sampler euler -o "$T/msx.y4m"
check "generation_defaults.json's sampler gives the same frames as --sampler" bash -c "[ -s '$T/ms.y4m' ] && cmp -s '$T/ms.y4m' '$T/msx.y4m'"
"$K" generate "a rocket moving up" "${G[@]}" --guidance 3 -o "$T/msd.y4m"
check "  ... not the scheduler config's frames" bash -c "[ -s '$T/msd.y4m' ] && ! cmp -s '$T/ms.y4m' '$T/msd.y4m'"
check "settings.json records the model's sampler" /usr/bin/python3 -c "import json; d=json.load(open('$T/kfs/settings.json')); assert d['sampler']=='euler', d"
"$K" generate "a rocket moving up" --model "$T/md" "${G[@]:2}" --sampler ddim -o "$T/msd2.y4m" &&
  "$K" generate "a rocket moving up" "${G[@]}" --guidance 3 --sampler ddim -o "$T/msd3.y4m"
check "--sampler outranks generation_defaults.json's" bash -c "[ -s '$T/msd2.y4m' ] && cmp -s '$T/msd2.y4m' '$T/msd3.y4m'"
echo '{"sampler": "warp9"}' > "$T/md/generation_defaults.json"
check "unknown sampler in generation_defaults.json names it and the file" fails_with "generation_defaults.json.*warp9" "$T/md4.mp4" -- "$K" generate x --model "$T/md" "${G[@]:2}" -o "$T/md4.mp4"
echo '{"guidance": 3, "motion_guidnce": 2}' > "$T/md/generation_defaults.json"
check "unknown key in generation_defaults.json names it" fails_with "motion_guidnce" "$T/md1.mp4" -- "$K" generate x --model "$T/md" "${G[@]:2}" -o "$T/md1.mp4"
echo '{"guidance": 300}' > "$T/md/generation_defaults.json"
check "out-of-range guidance in generation_defaults.json" fails_with "generation_defaults.json" "$T/md2.mp4" -- "$K" generate x --model "$T/md" "${G[@]:2}" -o "$T/md2.mp4"
echo '{"guidance": ' > "$T/md/generation_defaults.json"
check "malformed generation_defaults.json names the file" fails_with "generation_defaults.json" "$T/md3.mp4" -- "$K" generate x --model "$T/md" "${G[@]:2}" -o "$T/md3.mp4"
check "--motion-guidance -1 is a usage error (exit 2)" bash -c "'$K' generate x ${G[*]} --motion-guidance -1 -o '$T/mgbad.mp4' 2>/dev/null; [ \$? -eq 2 ]"
# --- json
out=$("$K" generate "a dog" "${G[@]}" -o "$T/j.mp4" --json)
check "--json reports frames and keyframe positions" bash -c "echo '$out' | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"frames\"]==10 and d[\"keyframe_frames\"]==[0,3,6,9], d'"
# --- long clip through context windows (motion modules see at most 16 frames)
check "20 keyframes > max_seq_length 16 (context windows)" "$K" generate "a fish" --model "$M" --size 16x16 --keyframes 20 --frames 20 --fps 8 --steps 2 -o "$T/long.y4m"
check "long clip has 20 frames" test "$(probe "$T/long.y4m" nb_read_frames)" = 20
# --- image-to-video and keyframe correction
ffmpeg -v error -f lavfi -i "testsrc=size=48x40:rate=1" -frames:v 1 "$T/in.png"
check "image-to-video runs" "$K" generate "a moving test card" "${G[@]}" --image "$T/in.png" --keyframes-out "$T/kf" -o "$T/i2v/"
check "keyframes folder has 4 PNGs and settings.json" test -f "$T/kf/00003.png" -a -f "$T/kf/settings.json"
check "first output frame equals first keyframe" same_pixels "$T/i2v/00000.png" "$T/kf/00000.png"
ffmpeg -v error -y -f lavfi -i "color=c=red:s=32x32" -frames:v 1 "$T/kf/00002.png"
check "regenerate (stage 2 only) after replacing keyframe 2" "$K" regenerate --from "$T/kf" -o "$T/re/"
check "replaced keyframe appears exactly at its frame (6)" same_pixels "$T/re/00006.png" "$T/kf/00002.png"
check "regenerate --codec ffv1 into .mkv: the PNG folder's frames exactly" bash -c "'$K' regenerate --from '$T/kf' -o '$T/re.mkv' --codec ffv1 2>/dev/null && [ \"\$(ffmpeg -v error -i '$T/re.mkv' -f rawvideo -pix_fmt rgb24 - | md5sum)\" = \"\$(ffmpeg -v error -i '$T/re/%05d.png' -f rawvideo -pix_fmt rgb24 - | md5sum)\" ]"
check "regenerate --codec prores into .mp4 fails naming the container, leaving nothing" bash -c "'$K' regenerate --from '$T/kf' -o '$T/re_prores.mp4' --codec prores 2>&1 | grep -q 'mp4 container cannot hold ProRes' && [ ! -e '$T/re_prores.mp4' ]"
check "regenerate --harmonize 0.5" "$K" regenerate --from "$T/kf" --harmonize 0.5 -o "$T/reh/"
check "harmonized: replaced keyframe kept exactly" same_pixels "$T/reh/00006.png" "$T/kf/00002.png"
check "harmonized: other keyframes changed" bash -c "[ -f '$T/reh/00003.png' ] && ! cmp -s '$T/re/00003.png' '$T/reh/00003.png'"
# --- failures (fails_with, above)
check "missing model folder" fails_with "not found" "$T/e1.mp4" -- "$K" generate "x" --model "$T/nope" -o "$T/e1.mp4"
cp -r "$M" "$T/trunc"; f="$T/trunc/unet/diffusion_pytorch_model.safetensors"; truncate -s $(( $(stat -c %s "$f") / 2 )) "$f"
check "truncated safetensors names the file" fails_with "diffusion_pytorch_model.safetensors" "$T/e2.mp4" -- "$K" generate "x" --model "$T/trunc" -o "$T/e2.mp4"
poison() {  # poison FILE TENSOR_PART: set the first element of the first tensor whose name has PART to NaN
  /usr/bin/python3 - "$1" "$2" <<'EOF2'
import json, struct, sys
f = open(sys.argv[1], "r+b"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
name = sorted(k for k in h if k != "__metadata__" and sys.argv[2] in k)[0]
nan = {"F32": struct.pack("<f", float("nan")), "F16": b"\x00\x7e", "BF16": b"\xc0\x7f"}[h[name]["dtype"]]
f.seek(8 + n + h[name]["data_offsets"][0]); f.write(nan)
EOF2
}
cp -r "$M" "$T/nanu"; poison "$T/nanu/unet/diffusion_pytorch_model.safetensors" conv_in.weight
check "NaN in the UNet's weights is an error" fails_with "not finite" "$T/e9.mp4" -- "$K" generate "x" --model "$T/nanu" "${G[@]:2}" -o "$T/e9.mp4"
cp -r "$M" "$T/nanv"; poison "$T/nanv/vae/diffusion_pytorch_model.safetensors" decoder.conv_out.weight
check "NaN in the VAE decoder's weights is an error" fails_with "decoder" "$T/e10.mp4" -- "$K" generate "x" --model "$T/nanv" "${G[@]:2}" -o "$T/e10.mp4"
check "size not a multiple of 8" fails_with "multiple of 8" "$T/e3.mp4" -- "$K" generate "x" "${G[@]}" --size 60x60 -o "$T/e3.mp4"
check "frames beyond the limit" fails_with "frames" "$T/e4.mp4" -- "$K" generate "x" "${G[@]}" --frames 5000 -o "$T/e4.mp4"
echo "not an image" > "$T/bad.png"
check "unreadable image" fails_with "bad.png" "$T/e5.mp4" -- "$K" generate "x" "${G[@]}" --image "$T/bad.png" -o "$T/e5.mp4"
check "missing image" fails_with "nope.png" "$T/e6.mp4" -- "$K" generate "x" "${G[@]}" --image "$T/nope.png" -o "$T/e6.mp4"
check "unwritable output path" fails_with "/proc/kinora-nope" "/proc/kinora-nope/x.mp4" -- "$K" generate "x" "${G[@]}" -o /proc/kinora-nope/x.mp4
check "an extension no format goes by fails before generating" fails_with "'.xyz'" "$T/e11.xyz" -- "$K" generate "x" "${G[@]}" --keyframes-out "$T/e11kf" -o "$T/e11.xyz"
check "  ... so no keyframes were made" test ! -e "$T/e11kf"
check "mkv generated (H.264)" bash -c "'$K' generate 'a red apple bouncing' ${G[*]} -o '$T/a.mkv' 2>/dev/null && [ \"\$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 '$T/a.mkv')\" = h264 ]"
check "unknown sampler names it" fails_with "warp9" "$T/e7.mp4" -- "$K" generate "x" "${G[@]}" --sampler warp9 -o "$T/e7.mp4"
# stopped midway (SIGTERM; a script's background job ignores SIGINT): exit 128 + 15, nothing written
mkdir "$T/sig"
"$K" generate x --model "$M" --size 64x64 --keyframes 4 --frames 8 --steps 20 -o "$T/sig/g.mp4" --keyframes-out "$T/sig/kf" 2>"$T/sig.log" & gpid=$!
sleep 1; kill -TERM $gpid; wait $gpid; grc=$?
check "SIGTERM while generating exits 143" test "$grc" -eq 143
check "  ... says so, and leaves nothing behind" bash -c "grep -q 'stopped by SIGTERM' '$T/sig.log' && [ -z \"\$(ls -A '$T/sig')\" ]"
check "bad --steps is a usage error (exit 2)" bash -c "'$K' generate x ${G[*]} --steps 0 -o '$T/e8.mp4' 2>/dev/null; [ \$? -eq 2 ]"
echo "generate: $pass passed, $fail failed"
