#!/usr/bin/env bash
# CLI tests of `kinora interpolate` and `kinora eval-interp` on small generated inputs (a PNG folder
# and an .mp4 from FFmpeg's testsrc): frame counts and rates with ffprobe, --factor and --fps
# semantics, thread invariance, a long input read as it goes, rotated input, sound, a variable frame
# rate, and error exits. Ends with
# "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
K="$root/build/kinora"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok - $1"; }
bad()  { fail=$((fail+1)); echo "not ok - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
exits() {  # exits CODE CMD...: the command fails with exactly CODE
  local want=$1; shift
  "$@" > "$T/err.log" 2>&1; local rc=$?
  [ "$rc" -eq "$want" ] || { echo "  exit $rc, expected $want"; tail -3 "$T/err.log"; return 1; }
}
probe() {  # probe FILE FIELD -> value of the first video stream
  ffprobe -v error -count_frames -select_streams v:0 -show_entries "stream=$2" -of default=nw=1:nk=1 "$1" 2>/dev/null | head -1
}
expect_video() {  # expect_video FILE FRAMES RATE
  local n r
  n=$(probe "$1" nb_read_frames); r=$(probe "$1" r_frame_rate)
  [ "$n" = "$2" ] || { echo "  $1: $n frames, expected $2"; return 1; }
  [ "$r" = "$3" ] || { echo "  $1: rate $r, expected $3"; return 1; }
}
count_png() { find "$1" -maxdepth 1 -name '*.png' | wc -l; }
pixels() { ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | md5sum | cut -d' ' -f1; }
same_pixels() { [ "$(pixels "$1")" = "$(pixels "$2")" ]; }
differs() { ! same_pixels "$1" "$2"; }
same_folder() {
  local f
  for f in "$1"/*.png; do same_pixels "$f" "$2/$(basename "$f")" || return 1; done
  [ "$(count_png "$1")" = "$(count_png "$2")" ]
}

[ -x "$K" ] || { echo "build/kinora is missing"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$T/frames" "$T/out2" "$T/fps" "$T/t1" "$T/t3"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -t 1 -start_number 0 "$T/frames/%05d.png" || { echo "0 passed, 1 failed"; exit 1; }
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -t 1 -pix_fmt yuv420p -c:v libx264 "$T/in.mp4" || { echo "0 passed, 1 failed"; exit 1; }

# --- PNG folder in and out
check "folder --factor 2 into an existing empty folder" "$K" interpolate "$T/frames" -o "$T/out2" --factor 2 --threads 2
check "folder output has 2*(8-1)+1 = 15 frames" test "$(count_png "$T/out2")" -eq 15
check "output frame 2*i is input frame i" same_pixels "$T/out2/00006.png" "$T/frames/00003.png"
check "last output frame is the last input frame" same_pixels "$T/out2/00014.png" "$T/frames/00007.png"
check "in-between frame is new" differs "$T/out2/00005.png" "$T/out2/00004.png"
check "1 and 3 threads give the same frames" bash -c "'$K' interpolate '$T/frames' -o '$T/t1' --factor 3 --threads 1 2>/dev/null && '$K' interpolate '$T/frames' -o '$T/t3' --factor 3 --threads 3 2>/dev/null"
check "  ... identical" same_folder "$T/t1" "$T/t3"

# --- video in and out
check "mp4 --factor 3" "$K" interpolate "$T/in.mp4" -o "$T/f3.mp4" --factor 3 --threads 2
check "mp4 --factor 3: 22 frames at 24 fps" expect_video "$T/f3.mp4" 22 24/1
check "on a terminal, a progress line with the frames expected" bash -c "script -qc \"'$K' interpolate '$T/in.mp4' -o '$T/tty.mp4' --factor 2\" /dev/null | tr '\r' '\n' | grep -q 'interpolate .*/~15 '"
check "  ... and none when stderr is not one" bash -c "! '$K' interpolate '$T/in.mp4' -o '$T/notty.mp4' --factor 2 2>&1 | grep -q 'interpolate \['"
check "mkv and mov out (H.264)" bash -c "'$K' interpolate '$T/in.mp4' -o '$T/f2.mkv' --factor 2 2>/dev/null && '$K' interpolate '$T/in.mp4' -o '$T/f2.mov' --factor 2 2>/dev/null"
check "  ... 15 frames at 16 fps each" bash -c "$(declare -f probe expect_video); expect_video '$T/f2.mkv' 15 16/1 && expect_video '$T/f2.mov' 15 16/1 && [ \$(probe '$T/f2.mkv' codec_name) = h264 ]"
check "--codec h265 --crf 26 into .mp4: H.265 tagged hvc1, 15 frames" bash -c "'$K' interpolate '$T/in.mp4' -o '$T/h265.mp4' --factor 2 --codec h265 --crf 26 2>/dev/null && $(declare -f probe expect_video); expect_video '$T/h265.mp4' 15 16/1 && [ \$(probe '$T/h265.mp4' codec_name) = hevc ] && [ \$(probe '$T/h265.mp4' codec_tag_string) = hvc1 ]"
check "  ... the same bytes on one core as on all (x265's own threads do not change the file)" bash -c "taskset -c 0 '$K' interpolate '$T/in.mp4' -o '$T/h265_1core.mp4' --factor 2 --codec h265 --crf 26 2>/dev/null && cmp -s '$T/h265.mp4' '$T/h265_1core.mp4'"
check "--codec ffv1 into .mkv keeps the frames exactly (the PNG output's)" bash -c "'$K' interpolate '$T/in.mp4' -o '$T/ffv1.mkv' --factor 2 --codec ffv1 2>/dev/null && '$K' interpolate '$T/in.mp4' -o '$T/ffv1png/' --factor 2 2>/dev/null && [ \"\$(ffmpeg -v error -i '$T/ffv1.mkv' -f rawvideo -pix_fmt rgb24 - | md5sum)\" = \"\$(ffmpeg -v error -i '$T/ffv1png/%05d.png' -f rawvideo -pix_fmt rgb24 - | md5sum)\" ]"
check "--codec ffv1 into .mp4 exits 1 naming the container, leaving nothing" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/ffv1.mp4" --factor 2 --codec ffv1
check "  ... said so" grep -q 'ffv1.mp4: the mp4 container cannot hold FFV1' "$T/err.log"
check "  ... and wrote nothing beside it" bash -c "[ -z \"\$(ls '$T' | grep '^ffv1.mp4')\" ]"
check "--crf 70 exits 2 (usage)" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/crf.mp4" --factor 2 --crf 70
check "--crf 55 for H.264 exits 1 naming its range" bash -c "'$K' interpolate '$T/in.mp4' -o '$T/crf.mp4' --factor 2 --crf 55 2>&1 | grep -q \"crf 55 is outside H.264's 0..51\" && [ ! -e '$T/crf.mp4' ]"
check "avi out (FFmpeg's default for it, MPEG-4)" "$K" interpolate "$T/in.mp4" -o "$T/f2.avi" --factor 2
check "  ... 15 frames at 16 fps" bash -c "$(declare -f probe expect_video); expect_video '$T/f2.avi' 15 16/1 && [ \$(probe '$T/f2.avi' codec_name) = mpeg4 ]"
# stopped midway (SIGTERM; a script's background job ignores SIGINT): exit 128 + 15, nothing left
ffmpeg -v error -f lavfi -i testsrc2=size=640x480:rate=25 -t 4 -pix_fmt yuv420p -c:v libx264 "$T/big.mp4"
mkdir "$T/sigout"
"$K" interpolate "$T/big.mp4" -o "$T/sigout/big.mp4" --factor 8 2>"$T/sig.log" & sigpid=$!
sleep 1; kill -TERM $sigpid; wait $sigpid; sigrc=$?
check "SIGTERM midway exits 143" test "$sigrc" -eq 143
check "  ... says so (not that it wrote), and leaves nothing in the output's folder" bash -c "grep -q 'stopped by SIGTERM' '$T/sig.log' && ! grep -q ' -> ' '$T/sig.log' && [ -z \"\$(ls -A '$T/sigout')\" ]"
# a download that stopped: an MP4 with its index first, cut to a third, is refused, not read as a
# shorter video
ffmpeg -v error -i "$T/big.mp4" -c copy -movflags +faststart "$T/whole.mp4"
head -c $(( $(stat -c %s "$T/whole.mp4") / 3 )) "$T/whole.mp4" > "$T/cut.mp4"
check "an MP4 cut short exits 1" exits 1 "$K" interpolate "$T/cut.mp4" -o "$T/cut-out.mp4" --factor 2
check "  ... saying so, and writes nothing" bash -c "grep -q 'cut.mp4: the file is cut short' '$T/err.log' && [ ! -e '$T/cut-out.mp4' ]"
cp "$T/in.mp4" "$T/self.mp4"; ln -s self.mp4 "$T/selflink.mp4"
check "OUT the input itself (through a link) exits 2" exits 2 "$K" interpolate "$T/selflink.mp4" -o "$T/self.mp4" --factor 2
check "  ... naming it, and the input is untouched" bash -c "grep -q 'is the input itself' '$T/err.log' && cmp -s '$T/in.mp4' '$T/self.mp4'"
check "a rate MPEG-2 video cannot store (--fps 47 into .ts) exits 1" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/r47.ts" --fps 47
check "  ... naming rates it can" grep -q "such as 23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60 fps" "$T/err.log"
check "a size DV cannot store exits 1" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/small.dv" --factor 2
check "  ... naming the one it stores, and formats that take any" grep -q "DV of 4:2:0 frames holds only 720x576 at 25 fps (PAL DV25), not 96x64 at 16 fps; .mp4 and .mkv take any" "$T/err.log"
ffmpeg -v error -f lavfi -i testsrc=size=720x576:rate=5 -t 1 -pix_fmt yuv420p -c:v libx264 "$T/pal5.mp4"
check "720x576 at 10 fps into DV (it would play at 25) exits 1" exits 1 "$K" interpolate "$T/pal5.mp4" -o "$T/pal10.dv" --factor 2
check "  ... naming the rate" grep -q "holds only 720x576 at 25 fps (PAL DV25), not 720x576 at 10 fps" "$T/err.log"
check "  ... and 25 fps goes in" bash -c "'$K' interpolate '$T/pal5.mp4' -o '$T/pal25.dv' --fps 25 2>/dev/null && [ \$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 '$T/pal25.dv') = 21 ]"
check "a size H.263 (.3gp) cannot store exits 1" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/small.3gp" --factor 2
check "  ... naming the five it stores" grep -q "H.263 holds only 128x96, 176x144, 352x288, 704x576 or 1408x1152, not 96x64" "$T/err.log"
check "an extension FFmpeg knows no video format by exits 1" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/x.xyz" --factor 2
check "  ... naming it" grep -q "'.xyz'" "$T/err.log"
check "mp4 --fps 20" "$K" interpolate "$T/in.mp4" -o "$T/f20.mp4" --fps 20 --threads 2
# inputs at 0 .. 7/8 s; outputs at k/20 s for k/20 <= 0.875: k = 0..17
check "mp4 --fps 20: 18 frames at 20 fps" expect_video "$T/f20.mp4" 18 20/1
check "mp4 --fps 6 (fewer frames) into a folder" "$K" interpolate "$T/in.mp4" -o "$T/fps/" --fps 6 --threads 2
# k/6 <= 0.875: k = 0..5
check "  ... 6 frames" test "$(count_png "$T/fps")" -eq 6
check "mp4 in, y4m out, --factor 1 copies" "$K" interpolate "$T/in.mp4" -o "$T/copy.y4m" --factor 1
check "  ... 8 frames at 8 fps" expect_video "$T/copy.y4m" 8 8/1
check "folder in, mp4 out with --input-fps 8 --factor 2" "$K" interpolate "$T/frames" -o "$T/fromdir.mp4" --factor 2 --input-fps 8 --threads 2
check "  ... 15 frames at 16 fps" expect_video "$T/fromdir.mp4" 15 16/1

# --- the standard input, a pipe and the standard output: through a private folder in $TMPDIR that
# is gone afterwards, whatever happened
mkdir "$T/tmp"
check "IN - (the standard input)" bash -c "cat '$T/in.mp4' | TMPDIR='$T/tmp' '$K' interpolate - -o '$T/stdin.mp4' --factor 2 2>/dev/null"
check "  ... 15 frames at 16 fps, the file's own frames" bash -c "$(declare -f probe expect_video pixels same_pixels); expect_video '$T/stdin.mp4' 15 16/1 && same_pixels '$T/stdin.mp4' '$T/notty.mp4'"
mkfifo "$T/fifo"
cat "$T/in.mp4" > "$T/fifo" &
check "IN a named pipe" env TMPDIR="$T/tmp" "$K" interpolate "$T/fifo" -o "$T/fifo.mp4" --factor 2
check "  ... the file's own frames" same_pixels "$T/fifo.mp4" "$T/notty.mp4"
check "OUT - (the standard output) with --format mkv" bash -c "TMPDIR='$T/tmp' '$K' interpolate '$T/in.mp4' -o - --format mkv --factor 2 > '$T/stdout.mkv' 2>/dev/null"
check "  ... Matroska, 15 frames at 16 fps, the file's own frames" bash -c "$(declare -f probe expect_video pixels same_pixels); expect_video '$T/stdout.mkv' 15 16/1 && same_pixels '$T/stdout.mkv' '$T/f2.mkv' && ffprobe -v error -show_entries format=format_name '$T/stdout.mkv' | grep -q matroska"
check "both at once, with sound kept" bash -c "ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -f lavfi -i sine=d=1 -t 1 -pix_fmt yuv420p -c:v libx264 -c:a aac '$T/av_in.mp4' && cat '$T/av_in.mp4' | TMPDIR='$T/tmp' '$K' interpolate - -o - --format mp4 --factor 2 2>/dev/null | cat > '$T/av_out.mp4'"
check "  ... 15 frames and an AAC stream" bash -c "$(declare -f probe expect_video); expect_video '$T/av_out.mp4' 15 16/1 && ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 '$T/av_out.mp4' | grep -qx aac"
# (15 y4m frames of 96x64, 138 KB, are more than a pipe holds, so the writer meets the closed end)
check "a reader that stops early (| head): exit 1, Broken pipe" bash -c "TMPDIR='$T/tmp' '$K' interpolate '$T/in.mp4' -o - --format y4m --factor 2 2>'$T/epipe.log' | head -c 100 > /dev/null; [ \${PIPESTATUS[0]} -eq 1 ] && grep -q 'Broken pipe' '$T/epipe.log'"
"$K" interpolate - -o "$T/stall.mp4" --factor 2 < <(sleep 20) 2>"$T/stall.log" & stallpid=$!
sleep 1; kill -TERM $stallpid; wait $stallpid; stallrc=$?
check "SIGTERM while the standard input stalls: exit 143 at once, nothing written" bash -c "[ $stallrc -eq 143 ] && grep -q 'stopped by SIGTERM' '$T/stall.log' && [ ! -e '$T/stall.mp4' ]"
check "garbage on the standard input: exit 1, naming it so, not the private folder" bash -c "echo garbage | TMPDIR='$T/tmp' '$K' interpolate - -o '$T/garbage.mp4' --factor 2 2>'$T/err.log'; [ \$? -eq 1 ] && grep -q '^kinora: the standard input: cannot open as a video' '$T/err.log' && ! grep -q '$T/tmp' '$T/err.log'"
check "a crf H.264 does not take, to the standard output: exit 1, naming it so" bash -c "TMPDIR='$T/tmp' '$K' interpolate '$T/in.mp4' -o - --format mp4 --factor 2 --crf 60 2>'$T/err.log' >/dev/null; [ \$? -eq 1 ] && grep -q \"^kinora: the standard output: crf 60 is outside H.264's\" '$T/err.log'"
check "-o - without --format exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o - --factor 2
check "--format with a file OUT exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/fmt.mp4" --format mkv --factor 2
check "--format that is not an extension exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o - --format ../x --factor 2
check "a TMPDIR that does not exist: exit 1, naming it" bash -c "cat '$T/in.mp4' | TMPDIR='$T/nowhere' '$K' interpolate - -o '$T/nowhere.mp4' --factor 2 2>'$T/err.log'; [ \$? -eq 1 ] && grep -q '$T/nowhere' '$T/err.log' && [ ! -e '$T/nowhere.mp4' ]"
check "the temporary folder is gone after each of them" test -z "$(ls -A "$T/tmp")"

# --- transparency: kept where OUT holds it (its alpha interpolated as a video of its own), and a note
# where it is not; an input whose alpha is opaque throughout says nothing
ffmpeg -v error -f lavfi -i "testsrc2=s=96x64:r=8:d=1,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,30),0,255)'" \
  -vf "split[a][b];[a]palettegen=reserve_transparent=1[p];[b][p]paletteuse=alpha_threshold=128" "$T/sticker.gif"
ffmpeg -v error -f lavfi -i "testsrc2=s=96x64:r=8:d=1" -pix_fmt yuva444p10le -c:v prores_ks -profile:v 4444 "$T/opaque.mov"
alpha_values() {  # alpha_values FILE X W [DECODER]: the distinct alpha values of columns X..X+W-1 of every frame
  ffmpeg -v error ${4:+-c:v $4} -i "$1" -vf "format=rgba,alphaextract,crop=$3:ih:$2:0,format=gray" -f rawvideo - |
    od -An -v -tu1 | tr -s ' ' '\n' | grep -v '^$' | sort -un | tr '\n' ' '
}
"$K" interpolate "$T/sticker.gif" -o "$T/sticker2.gif" --factor 2 2> "$T/alpha.log"
check "a transparent GIF is interpolated, keeping its transparency, its alpha first (a note)" bash -c "[ -s '$T/sticker2.gif' ] && grep -q 'sticker.gif is partly transparent (alpha): its alpha is interpolated first' '$T/alpha.log' && ! grep -q 'no transparency' '$T/alpha.log'"
check "  ... its 15 frames clear where the input is, opaque elsewhere" test "$(probe "$T/sticker2.gif" nb_read_frames) $(alpha_values "$T/sticker2.gif" 0 28)/ $(alpha_values "$T/sticker2.gif" 32 64)" = "15 0 / 255 "
ffmpeg -v error -f lavfi -i "testsrc2=s=96x64:r=8:d=1" "$T/opaque.gif"   # a GIF's frames have alpha, opaque here
check "an opaque GIF: no note, and the bytes --no-alpha gives" bash -c "'$K' interpolate '$T/opaque.gif' -o '$T/opaque2.gif' --factor 2 2>&1 | grep -q transparen && exit 1; '$K' interpolate '$T/opaque.gif' -o '$T/opaque3.gif' --factor 2 --no-alpha 2>/dev/null && cmp -s '$T/opaque2.gif' '$T/opaque3.gif'"
"$K" interpolate "$T/sticker.gif" -o "$T/sticker3.gif" --factor 2 --no-alpha 2> "$T/alpha.log"
check "--no-alpha: a note saying OUT is opaque, and it is" bash -c "grep -q 'sticker.gif is partly transparent (alpha): .*sticker3.gif has no transparency.*not asked for' '$T/alpha.log' && [ '$(alpha_values "$T/sticker3.gif" 0 96)' = '255 ' ]"
"$K" interpolate "$T/sticker.gif" -o "$T/sticker.webp" --factor 2 2>/dev/null; "$K" interpolate "$T/sticker.gif" -o "$T/sticker.apng" --factor 2 2>/dev/null
# FFmpeg 5.1 decodes no animated WebP: Pillow reads both (frames, loop, clear columns, and the WebP's colour
# against the lossless APNG's where opaque: this saturated, sharp testsrc2 is hard for lossy WebP, 21.8 dB
# on average at quality 90; at the quality 2 libwebp read from the writer's quantiser before, 18.6)
check "animated WebP and APNG keep it too, looping as GIFs do; the WebP's colour near the APNG's" /usr/bin/python3 -c "
import sys; import numpy as np; from PIL import Image
w, a = Image.open('$T/sticker.webp'), Image.open('$T/sticker.apng')
ok, db = w.n_frames == a.n_frames == 15 and w.info.get('loop') == 0 and a.info.get('loop') == 0, []
for i in range(15):
    w.seek(i); a.seek(i)
    x, y = np.asarray(w.convert('RGBA')).astype(float), np.asarray(a.convert('RGBA')).astype(float)
    ok &= bool((x[:, :28, 3] == 0).all() and (y[:, :28, 3] == 0).all() and (x[:, 32:, 3] == 255).all() and (y[:, 32:, 3] == 255).all())
    db.append(10 * np.log10(255 ** 2 / np.mean((x[:, 32:, :3] - y[:, 32:, :3]) ** 2)))
sys.exit(0 if ok and np.mean(db) > 20.5 else 1)"
ffmpeg -v error -f lavfi -i "color=c=black@0.0:s=64x48:d=1,format=rgba,drawbox=x=10:y=10:w=20:h=20:c=red@1:t=fill" \
  -vf "split[a][b];[a]palettegen=reserve_transparent=1[p];[b][p]paletteuse" -c:v png -pix_fmt pal8 "$T/pal8.mov"
check "palette frames with a transparent entry (PNG in QuickTime) into .mp4: a note that it holds none" bash -c "'$K' interpolate '$T/pal8.mov' -o '$T/pal8.mp4' --factor 2 2>&1 | grep -q 'pal8.mov is partly transparent (alpha): .*its format holds none'"
"$K" interpolate "$T/pal8.mov" -o "$T/pal8.webm" --factor 2 2>/dev/null && "$K" interpolate "$T/pal8.webm" -o "$T/pal8png/" --factor 1 2>/dev/null
check "  ... into .webm: VP9 with alpha, which Kinora reads back (libvpx) into RGBA PNG frames" test "$(probe "$T/pal8png/00003.png" pix_fmt) $(alpha_values "$T/pal8.webm" 0 6 libvpx-vp9)" = "rgba 0 "
check "ProRes 4444 whose alpha is opaque: no such note" bash -c "'$K' interpolate '$T/opaque.mov' -o '$T/opaque2.mp4' --factor 2 2>&1 | grep -q 'transparen' && exit 1; [ -s '$T/opaque2.mp4' ]"
"$K" interpolate "$T/opaque.mov" -o "$T/opaque2.mov" --factor 2 --codec prores 2>/dev/null
check "  ... and --codec prores writes 422 HQ from it, as from any opaque input" test "$(probe "$T/opaque2.mov" pix_fmt)" = yuv422p10le
ffmpeg -v error -f lavfi -i "testsrc2=s=96x64:r=8:d=1,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,20+4*N),0,255)'" \
  -pix_fmt yuva444p10le -c:v prores_ks -profile:v 4444 "$T/clear.mov"
"$K" interpolate "$T/clear.mov" -o "$T/clear2.mov" --factor 2 --codec prores 2>/dev/null
check "transparent ProRes 4444 with --codec prores: 4444 again, clear where every input frame is" test "$(probe "$T/clear2.mov" pix_fmt) $(alpha_values "$T/clear2.mov" 0 20)" = "yuva444p12le 0 "

# --- a display matrix (a phone's portrait video is stored sideways): frames come out upright, as
# the ffmpeg tool shows them: the stored frames turned by the matrix's rotation (counter-clockwise
# degrees, as ffprobe prints it)
check "mp4 --factor 1 into a folder" "$K" interpolate "$T/in.mp4" -o "$T/plain/" --factor 1
for turn in "90 transpose=cclock" "180 hflip,vflip" "270 transpose=clock"; do
  set -- $turn
  ffmpeg -v error -i "$T/in.mp4" -c copy -metadata:s:v:0 rotate=$1 "$T/rot$1.mp4"
  ffmpeg -v error -i "$T/plain/00003.png" -vf "$2" "$T/turned$1.png"
  check "rotate=$1 mp4 --factor 1 into a folder" "$K" interpolate "$T/rot$1.mp4" -o "$T/rot$1/" --factor 1
  check "  ... its frames are the stored ones turned ($2)" same_pixels "$T/rot$1/00003.png" "$T/turned$1.png"
done

# --- interlaced input: each field becomes a frame at its own time (yadif's rule), and those frames are
# interpolated; --no-deinterlace interpolates the woven frames as they are. The truth is the 50 fps
# clip whose fields were woven into 25 frames (a texture panning 3 px a field), read by Kinora itself
# (its colour conversion).
mkdir -p "$T/itruth" "$T/deint" "$T/woven"
ffmpeg -v error -f lavfi -i testsrc2=size=480x240:rate=1 -frames:v 1 -vf gblur=sigma=1.5 "$T/itex.png"
ffmpeg -v error -loop 1 -framerate 50 -i "$T/itex.png" -vf "crop=96:64:x='3*n':y='60+sin(n/5)*20'" -frames:v 50 \
  -pix_fmt yuv420p -c:v ffv1 "$T/truth50.mkv"
ffmpeg -v error -i "$T/truth50.mkv" -vf tinterlace=4,setfield=tff -pix_fmt yuv420p \
  -c:v libx264 -crf 10 -x264-params interlaced=1 "$T/inter.mp4"
psnr_folders() {  # psnr_folders A B -> PSNR over all frames (RGB, as the folders hold them)
  ffmpeg -v info -i "$1/%05d.png" -i "$2/%05d.png" -lavfi '[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr' \
    -f null - 2>&1 | grep -o 'average:[0-9.]*' | cut -d: -f2
}
"$K" interpolate "$T/truth50.mkv" -o "$T/itruth/" --factor 1 2>/dev/null
check "an interlaced clip (25 frames, top field first), --factor 2 into a folder" bash -c "'$K' interpolate '$T/inter.mp4' -o '$T/deint/' --factor 2 2>'$T/inter.log'"
check "  ... notes that it is interlaced and that each field is a frame" grep -q "is interlaced (top field first): each field is a frame (yadif), 50 a second" "$T/inter.log"
check "  ... 50 frames: one per field, the last field the last frame" test "$(count_png "$T/deint")" -eq 50
check "--no-deinterlace: the woven frames, 2*(25-1)+1 = 49" bash -c "'$K' interpolate '$T/inter.mp4' -o '$T/woven/' --factor 2 --no-deinterlace 2>'$T/woven.log' && [ \$(find '$T/woven' -name '*.png' | wc -l) -eq 49 ]"
check "  ... with a note that they are interpolated as they are" grep -q "is interlaced (top field first); its frames are interpolated as they are" "$T/woven.log"
check "eval-interp on it says its woven frames are scored" bash -c "'$K' eval-interp '$T/inter.mp4' --frames 7 --no-minterpolate 2>&1 >/dev/null | grep -q 'is interlaced (top field first): its woven frames are dropped, rebuilt and scored as they are'"
deint_db=$(psnr_folders "$T/deint" "$T/itruth"); woven_db=$(psnr_folders "$T/woven" "$T/itruth")
echo "  deinterlaced $deint_db dB, woven $woven_db dB against the 50 fps truth"
check "  ... the fields' frames are nearer the 50 fps truth than the woven frames' interpolation, by 10 dB" \
  awk -v d="$deint_db" -v w="$woven_db" 'BEGIN { exit !(d != "" && w != "" && d > w + 10) }'
mkdir -p "$T/yadif" "$T/yadifk"
ffmpeg -v error -i "$T/inter.mp4" -vf yadif=mode=send_field -c:v ffv1 "$T/yadif.mkv"
"$K" interpolate "$T/yadif.mkv" -o "$T/yadifk/" --factor 1 2>/dev/null
check "  ... each the very frame FFmpeg's yadif=mode=send_field makes of that field (read as Kinora reads)" same_folder "$T/deint" "$T/yadifk"
ffmpeg -v error -f lavfi -i testsrc2=size=96x64:rate=50 -t 1 -vf tinterlace=5,setfield=bff -pix_fmt yuv420p \
  -c:v libx264 -crf 10 -x264-params interlaced=1:bff=1 "$T/bff.mp4"
ffmpeg -v error -i "$T/bff.mp4" -vf yadif=mode=send_field -c:v ffv1 "$T/bffy.mkv"
mkdir -p "$T/bffd" "$T/bffyk"
"$K" interpolate "$T/bffy.mkv" -o "$T/bffyk/" --factor 1 2>/dev/null
check "bottom field first: 50 frames, yadif's too" bash -c "'$K' interpolate '$T/bff.mp4' -o '$T/bffd/' --factor 2 2>'$T/bff.log' && grep -q 'bottom field first' '$T/bff.log'"
check "  ... the same frames" same_folder "$T/bffd" "$T/bffyk"
# progressive segmented frames (PsF): the truth's every other frame, 25 progressive pictures coded as
# interlaced frames (each flagged so): kept as frames, not split into fields that would repeat each
ffmpeg -v error -i "$T/truth50.mkv" -vf "select=not(mod(n\,2))" -fps_mode passthrough -pix_fmt yuv420p -c:v libx264 \
  -crf 10 -x264-params interlaced=1 -flags +ildct+ilme "$T/psf.mp4"
mkdir -p "$T/psf" "$T/psfw"
check "PsF (25 pictures flagged interlaced), --factor 2: 2*(25-1)+1 = 49 frames, not 50 fields" bash -c "'$K' interpolate '$T/psf.mp4' -o '$T/psf/' --factor 2 2>'$T/psf.log' && [ \$(find '$T/psf' -name '*.png' | wc -l) -eq 49 ]"
check "  ... with a note saying so" grep -q "is flagged interlaced (top field first) but both fields of each frame show one moment" "$T/psf.log"
"$K" interpolate "$T/psf.mp4" -o "$T/psfw/" --factor 2 --no-deinterlace 2>/dev/null
check "  ... the frames --no-deinterlace gives" same_folder "$T/psf" "$T/psfw"
ffmpeg -v error -f lavfi -i testsrc2=size=96x64:rate=25 -t 1 -pix_fmt yuv420p -c:v mpeg2video -field_order tt "$T/said.mkv"
check "a stream said to be interlaced whose frames are flagged progressive: its 25 frames, 2*(25-1)+1 = 49" bash -c "'$K' interpolate '$T/said.mkv' -o '$T/said2.mkv' --factor 2 2>'$T/said.log' && [ \$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 '$T/said2.mkv') = 49 ]"
check "  ... with a note saying so" grep -q "says it is interlaced (top field first) but its frames are flagged progressive" "$T/said.log"
check "interlaced --factor 2 into mp4: 50 frames at 50 fps" bash -c "'$K' interpolate '$T/inter.mp4' -o '$T/inter2.mp4' --factor 2 2>/dev/null"
check "  ... counted" expect_video "$T/inter2.mp4" 50 50/1
check "  ... and progressive" test "$(probe "$T/inter2.mp4" field_order)" = progressive
check "interlaced --factor 1: 25 frames at 25 fps, each a deinterlaced first field" bash -c "'$K' interpolate '$T/inter.mp4' -o '$T/inter1.mkv' --factor 1 2>/dev/null"
check "  ... counted" expect_video "$T/inter1.mkv" 25 25/1
check "interlaced --fps 100: 99 frames up to the last field" bash -c "'$K' interpolate '$T/inter.mp4' -o '$T/inter100.mkv' --fps 100 2>/dev/null"
check "  ... counted" expect_video "$T/inter100.mkv" 99 100/1
# a broadcast that changes size midway: the second clip's fields are scaled to the first's size
ffmpeg -v error -i "$T/inter.mp4" -c copy -f mpegts "$T/ia.ts"
ffmpeg -v error -f lavfi -i testsrc2=size=128x96:rate=50 -t 0.4 -vf tinterlace=4,setfield=tff -pix_fmt yuv420p \
  -c:v libx264 -x264-params interlaced=1 -f mpegts "$T/ib.ts"
cat "$T/ia.ts" "$T/ib.ts" > "$T/ijoined.ts"
check "interlaced and changing size midway, --factor 1 into mkv" bash -c "'$K' interpolate '$T/ijoined.ts' -o '$T/ijoined.mkv' --factor 1 2>/dev/null"
check "  ... 35 frames of 96x64" bash -c "$(declare -f probe); [ \$(probe '$T/ijoined.mkv' nb_read_frames) = 35 ] && [ \$(probe '$T/ijoined.mkv' width) = 96 ]"
check "  ... and a progressive one gets no such note" bash -c "'$K' interpolate '$T/in.mp4' -o '$T/prog.mp4' --factor 2 2>'$T/prog.log' && ! grep -q interlaced '$T/prog.log'"
check "  ... nor from eval-interp" bash -c "! '$K' eval-interp '$T/in.mp4' --frames 7 --no-minterpolate 2>&1 >/dev/null | grep -q interlaced"

# --- a start timecode is kept at the new rate: the same instant, its frames counted at the new rate
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -t 1 -pix_fmt yuv420p -c:v libx264 -timecode 10:00:00:12 "$T/tc.mov"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=30000/1001 -t 1 -pix_fmt yuv420p -c:v libx264 -timecode '01:00:00;02' "$T/df.mov"
tc_of() { ffprobe -v error -show_entries stream_tags=timecode -of csv=p=0 "$1" | grep . | head -1; }
check "timecode 10:00:00:12 at 25 fps, --factor 2 into mov: 10:00:00:24 at 50" bash -c "$(declare -f tc_of); '$K' interpolate '$T/tc.mov' -o '$T/tc2.mov' --factor 2 2>/dev/null && [ \"\$(tc_of '$T/tc2.mov')\" = 10:00:00:24 ]"
check "drop-frame 01:00:00;02 at 29.97, --factor 2: 01:00:00;04 at 59.94" bash -c "$(declare -f tc_of); '$K' interpolate '$T/df.mov' -o '$T/df2.mov' --factor 2 2>/dev/null && [ \"\$(tc_of '$T/df2.mov')\" = '01:00:00;04' ]"
check "  ... --fps 25: 01:00:00:02 (drop-frame labels follow the clock)" bash -c "$(declare -f tc_of); '$K' interpolate '$T/df.mov' -o '$T/df25.mov' --fps 25 2>/dev/null && [ \"\$(tc_of '$T/df25.mov')\" = 01:00:00:02 ]"

# --- every audio stream comes along (a film's languages), with its language and default flag
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -f lavfi -i sine=frequency=880:sample_rate=48000 -map 0 -map 1 -map 2 -t 2 -c:v libx264 -pix_fmt yuv420p \
  -c:a:0 aac -c:a:1 libopus -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra -disposition:a:0 default \
  -disposition:a:1 0 "$T/two.mkv"
tracks() { ffprobe -v error -select_streams a -show_entries stream=codec_name:stream_tags=language:stream_disposition=default -of csv=p=0 "$1" | tr '\n' ' '; }
check "two audio streams (eng AAC default, fra Opus), --factor 2 into mkv: both, as they were" bash -c "$(declare -f tracks); '$K' interpolate '$T/two.mkv' -o '$T/two2.mkv' --factor 2 2>/dev/null && [ \"\$(tracks '$T/two2.mkv')\" = 'aac,1,eng opus,0,fra ' ]"
check "  ... into webm: the AAC one re-encoded, the note naming it" bash -c "$(declare -f tracks); '$K' interpolate '$T/two.mkv' -o '$T/two2.webm' --factor 2 2>'$T/two.log' && [ \"\$(tracks '$T/two2.webm')\" = 'opus,1,eng opus,0,fra ' ] && grep -q 'audio stream 1 (eng): webm holds no aac audio, so the sound was re-encoded as libopus' '$T/two.log'"
check "  ... into flv, which holds one: the first, and a note for the second" bash -c "'$K' interpolate '$T/two.mkv' -o '$T/two2.flv' --factor 2 2>'$T/two.log' && [ \$(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 '$T/two2.flv' | wc -l) = 1 ] && grep -q 'audio stream 2 (fra): flv holds no second audio stream, so it was left out' '$T/two.log'"

# --- subtitles and chapters come along, on the video's clock: copied where OUT holds their codec,
# text subtitles re-encoded where it holds another (SubRip into MP4 as its timed text), else left out
printf '1\n00:00:00,200 --> 00:00:00,600\nHello there\n\n2\n00:00:00,700 --> 00:00:01,500\n<i>Second</i> line\n' > "$T/s.srt"
printf ';FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=Opening\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=2000\ntitle=Rest\n' > "$T/chap.txt"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -i "$T/s.srt" -i "$T/chap.txt" -map 0 -map 1 -map_chapters 2 -t 2 \
  -c:v libx264 -bf 0 -pix_fmt yuv420p -c:s srt -metadata:s:s:0 language=fra "$T/sub.mkv"
subs() { ffmpeg -v error -i "$1" -map 0:s:0 -f srt - 2>/dev/null | tr -d '\r'; }
chapters() { ffprobe -v error -show_chapters -of csv=p=0 -show_entries chapter=start_time:chapter_tags=title "$1" | tr '\n' ' '; }
check "a clip with SubRip subtitles and chapters, --factor 2 into mkv" bash -c "'$K' interpolate '$T/sub.mkv' -o '$T/sub2.mkv' --factor 2 2>'$T/sub.log' && ! grep -q subtitles '$T/sub.log'"
check "  ... the subtitles copied: same events, same times, their language" bash -c "$(declare -f subs probe); [ \"\$(subs '$T/sub2.mkv')\" = \"\$(subs '$T/sub.mkv')\" ] && [ \"\$(ffprobe -v error -select_streams s:0 -show_entries stream_tags=language -of csv=p=0 '$T/sub2.mkv')\" = fra ]"
check "  ... and the chapters with their titles" bash -c "$(declare -f chapters); [ \"\$(chapters '$T/sub2.mkv')\" = '0.000000,Opening 0.500000,Rest ' ]"
# with AAC sound Matroska moves every stream by its priming packet (21 ms), and the chapters with them
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -f lavfi -i sine=f=440:r=48000 -i "$T/chap.txt" -map 0 -map 1 \
  -map_chapters 2 -t 2 -c:v libx264 -pix_fmt yuv420p -c:a aac "$T/chapaac.mkv"
since_video() {   # since_video FILE: the second chapter's start less the video's
  echo "$(ffprobe -v error -show_chapters -of csv=p=0 -show_entries chapter=start_time "$1" | sed -n 2p)" \
       "$(ffprobe -v error -select_streams v -show_entries stream=start_time -of csv=p=0 "$1")" | awk '{print $1 - $2}'
}
same_place() {   # same_place IN OUT: the second chapter as far from the first frame in both, to 1 ms
  awk -v a="$(since_video "$1")" -v b="$(since_video "$2")" 'BEGIN { d = a - b; exit !(a > 0.45 && (d < 0 ? -d : d) < 0.0015) }'
}
check "with AAC sound into mkv, the chapters stay where they were on the video (to 1 ms)" bash -c "$(declare -f since_video same_place); '$K' interpolate '$T/chapaac.mkv' -o '$T/chapaac2.mkv' --factor 2 2>/dev/null && same_place '$T/chapaac.mkv' '$T/chapaac2.mkv'"
check "  ... and into webm, the sound re-encoded as Opus (its own 7 ms)" bash -c "$(declare -f since_video same_place); '$K' interpolate '$T/chapaac.mkv' -o '$T/chapaac2.webm' --factor 2 2>/dev/null && same_place '$T/chapaac.mkv' '$T/chapaac2.webm'"
# two AAC streams: at 8 kHz the priming packet is 128 ms, and the muxer moves everything by the
# stream that goes furthest before 0, though the 48 kHz one has the first packet from 0 in the file
# (the second chapter at 1 s, as the video starts 128 ms in)
printf ';FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Opening\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Rest\n' > "$T/chap1s.txt"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -f lavfi -i sine=f=440:r=48000 -f lavfi -i sine=f=300:r=8000 \
  -i "$T/chap1s.txt" -map 0 -map 1 -map 2 -map_chapters 3 -t 2 -c:v libx264 -pix_fmt yuv420p -c:a aac "$T/chapaac2x.mkv"
check "  ... and with two sounds primed differently (21 and 128 ms), by the larger" bash -c "$(declare -f since_video same_place); '$K' interpolate '$T/chapaac2x.mkv' -o '$T/chapaac2x2.mkv' --factor 2 2>/dev/null && same_place '$T/chapaac2x.mkv' '$T/chapaac2x2.mkv'"
check "into mp4: re-encoded as its timed text, with a note" bash -c "'$K' interpolate '$T/sub.mkv' -o '$T/sub2.mp4' --factor 2 2>'$T/sub.log' && grep -q 'mp4 holds no subrip subtitles, so they were re-encoded as mov_text' '$T/sub.log'"
check "  ... the same events at the same times" bash -c "$(declare -f subs); [ \"\$(subs '$T/sub2.mp4')\" = \"\$(subs '$T/sub.mkv')\" ]"
check "  ... and the chapters" bash -c "$(declare -f chapters); [ \"\$(chapters '$T/sub2.mp4')\" = '0.000000,Opening 0.500000,Rest ' ]"
check "into avi (no subtitles there): left out, with a note" bash -c "'$K' interpolate '$T/sub.mkv' -o '$T/sub2.avi' --factor 2 2>'$T/sub.log' && grep -q 'avi holds no subrip subtitles, so they were left out' '$T/sub.log'"
ffmpeg -v error -i "$T/sub.mkv" -map 0 -c copy -c:s ass -attach "$T/chap.txt" -metadata:s:t mimetype=application/x-truetype-font \
  -metadata:s:t filename=font.ttf "$T/att.mkv"
check "an attached file (an ASS subtitle's font) into mkv: kept, byte for byte" bash -c "'$K' interpolate '$T/att.mkv' -o '$T/att2.mkv' --factor 2 2>/dev/null && cd '$T' && ffmpeg -v error -dump_attachment:t:0 '$T/font_out.ttf' -i '$T/att2.mkv' -f null - 2>/dev/null; cmp -s '$T/font_out.ttf' '$T/chap.txt'"
check "  ... into mp4: left out, with a note" bash -c "'$K' interpolate '$T/att.mkv' -o '$T/att2.mp4' --factor 2 2>'$T/att.log' && grep -q 'mp4 holds no attachments, so its attached files (fonts) were left out' '$T/att.log'"
check "into a GIF: a note that it holds none" bash -c "'$K' interpolate '$T/sub.mkv' -o '$T/sub2.gif' --factor 2 2>'$T/sub.log' && grep -q 'the output holds no subtitles, so they were left out' '$T/sub.log'"
check "--no-subtitles: neither subtitles nor chapters" bash -c "'$K' interpolate '$T/sub.mkv' -o '$T/nosub.mkv' --factor 2 --no-subtitles 2>/dev/null && [ -z \"\$(ffprobe -v error -select_streams s -show_entries stream=index -of csv=p=0 '$T/nosub.mkv')\" ] && [ -z \"\$(ffprobe -v error -show_chapters -of csv=p=0 '$T/nosub.mkv')\" ]"

# --- what the pixels mean beyond their values: a PAL DVD's 16:9 pixels (64:45) and its colour tags
# come through; a sideways stream's pixel shape is turned with its frames, as the ffmpeg tool does
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -t 1 -vf setsar=64/45 -pix_fmt yuv420p -c:v libx264 \
  -color_primaries bt470bg -color_trc smpte170m -colorspace bt470bg "$T/pal.mp4"
check "a clip with 64:45 pixels and BT.470 BG tags, --factor 2 into mp4 and webm" bash -c "'$K' interpolate '$T/pal.mp4' -o '$T/pal2.mp4' --factor 2 2>/dev/null && '$K' interpolate '$T/pal.mp4' -o '$T/pal2.webm' --factor 2 2>/dev/null"
check "  ... the mp4 keeps the pixel shape and the primaries and transfer" bash -c "$(declare -f probe); [ \$(probe '$T/pal2.mp4' sample_aspect_ratio) = 64:45 ] && [ \$(probe '$T/pal2.mp4' color_primaries) = bt470bg ] && [ \$(probe '$T/pal2.mp4' color_transfer) = smpte170m ]"
check "  ... the webm too (its display width, 136.5, in whole pixels)" bash -c "$(declare -f probe); [ \$(probe '$T/pal2.webm' display_aspect_ratio) = 137:64 ] && [ \$(probe '$T/pal2.webm' color_primaries) = bt470bg ]"
ffmpeg -v error -i "$T/pal.mp4" -c copy -metadata:s:v:0 rotate=90 "$T/palrot.mp4"
check "  ... turned a quarter: 64x96 with 45:64 pixels" bash -c "$(declare -f probe); '$K' interpolate '$T/palrot.mp4' -o '$T/palrot2.mp4' --factor 2 2>/dev/null && [ \$(probe '$T/palrot2.mp4' width)x\$(probe '$T/palrot2.mp4' height) = 64x96 ] && [ \$(probe '$T/palrot2.mp4' sample_aspect_ratio) = 45:64 ]"

# --- tags: what describes the content is kept (title, creation time, the sound's language), what
# describes the old encoding is not (the encoder's name); the timecode is set again at the new rate
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1 \
  -pix_fmt yuv420p -c:v libx264 -c:a aac -metadata title="Harbour at dawn" -metadata creation_time=2024-05-01T06:30:00Z \
  -metadata:s:a:0 language=fra -metadata:s:v:0 timecode=01:00:00:00 "$T/tagged.mp4"
tags() { ffprobe -v error -show_entries format_tags:stream_tags -of compact "$1"; }
for ext in mp4 mkv webm; do
  check "a tagged clip, --factor 2 into $ext" "$K" interpolate "$T/tagged.mp4" -o "$T/tagged2.$ext" --factor 2
  check "  ... keeps its title, creation time and the sound's language" bash -c "$(declare -f tags); tags '$T/tagged2.$ext' > '$T/tags.txt' && grep -q 'title=Harbour at dawn' '$T/tags.txt' && grep -q 'creation_time=2024-05-01T06:30:00' '$T/tags.txt' && grep -q 'language=fra' '$T/tags.txt'"
  check "  ... its timecode at the new rate (01:00:00:00 still), but not its encoder" bash -c "grep -qi 'timecode=01:00:00:00' '$T/tags.txt' && ! grep -qi 'encoder=Lav[fc]5' '$T/tags.txt'"
done

# --- sound: copied unchanged into an output that holds it (re-encoded into one that does not), lined
# up with the first frame
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 \
  -pix_fmt yuv420p -c:v libx264 -c:a aac "$T/av.mp4"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=8 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 \
  -vf "setpts=PTS+0.5/TB" -pix_fmt yuv420p -c:v libx264 -c:a aac "$T/late.mp4"
pcm() { ffmpeg -v error -i "$1" -map 0:a -f s16le - | md5sum | cut -d' ' -f1; }
pcm_bytes() { ffmpeg -v error -i "$1" -map 0:a -f s16le - | wc -c; }
check "a clip with sound, --factor 2 into an mp4" "$K" interpolate "$T/av.mp4" -o "$T/av2.mp4" --factor 2
check "  ... has the same sound, sample for sample" bash -c "$(declare -f pcm); [ \"\$(pcm '$T/av2.mp4')\" = \"\$(pcm '$T/av.mp4')\" ]"
check "  ... and --no-audio leaves it out" bash -c "'$K' interpolate '$T/av.mp4' -o '$T/mute.mp4' --factor 2 --no-audio 2>/dev/null && [ -z \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_type -of csv=p=0 '$T/mute.mp4')\" ]"
check "  ... a WebM, which holds no AAC, gets it re-encoded as Opus" bash -c "'$K' interpolate '$T/av.mp4' -o '$T/av2.webm' --factor 2 2>'$T/note.log' && [ \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 '$T/av2.webm')\" = opus ]"
check "  ... as many samples as the input" bash -c "$(declare -f pcm_bytes); [ \$(pcm_bytes '$T/av2.webm') -eq \$(pcm_bytes '$T/av.mp4') ]"
check "  ... and says so" grep -q "webm holds no aac audio, so the sound was re-encoded as libopus" "$T/note.log"
check "  ... into an MPEG-TS, which holds AAC but keeps no table of it, copied" bash -c "'$K' interpolate '$T/av.mp4' -o '$T/av2.ts' --fps 25 2>/dev/null && ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 '$T/av2.ts' | grep -qx aac"
check "  ... into an Ogg, re-encoded as Vorbis, with no complaint of FFmpeg's on the way" bash -c "'$K' interpolate '$T/av.mp4' -o '$T/av2.ogv' --factor 2 2>'$T/ogg.log' && [ \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 '$T/av2.ogv')\" = vorbis ] && ! grep -q ' @ 0x' '$T/ogg.log'"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -f lavfi -i sine=frequency=440:sample_rate=44100 -t 2 -c:v mpeg4 \
  -c:a wmav2 "$T/wma.avi"
check "  ... WMA into a NUT, which keeps no block alignment (WMA then decodes to nothing): re-encoded, with a note" bash -c "'$K' interpolate '$T/wma.avi' -o '$T/wma.nut' --factor 2 2>'$T/nut.log' && grep -q 'nut holds no wmav2 audio, so the sound was re-encoded' '$T/nut.log'"
check "  ... and its 2 s decode without an error" bash -c "[ -z \"\$(ffmpeg -v error -i '$T/wma.nut' -map 0:a -f null - 2>&1)\" ] && [ \$(ffmpeg -v error -i '$T/wma.nut' -map 0:a -f s16le -ac 1 -ar 44100 - | wc -c) -ge 176000 ]"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -f lavfi -i sine=frequency=440:sample_rate=44100 -t 1 \
  -pix_fmt yuv420p -c:v libx264 -c:a aac "$T/av44.mp4"
check "  ... into an MXF, which takes PCM at 48 kHz only, re-encoded at 48 kHz" bash -c "'$K' interpolate '$T/av44.mp4' -o '$T/av44.mxf' --factor 2 2>'$T/mxf.log' && [ \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name,sample_rate -of csv=p=0 '$T/av44.mxf')\" = pcm_s16le,48000 ] && grep -q 'at 44100 Hz, so the sound was re-encoded as pcm_s16le at 48000 Hz' '$T/mxf.log'"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1 \
  -pix_fmt yuv420p -c:v libx264 -c:a pcm_s16le "$T/pcm48.mov"
check "  ... and 48 kHz PCM copied into it (MXF takes a sound only beside its video)" bash -c "'$K' interpolate '$T/pcm48.mov' -o '$T/pcm48.mxf' --factor 2 2>/dev/null && [ \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 '$T/pcm48.mxf')\" = pcm_s16le ]"
# more than 8 channels: planar sound has more planes than a frame's first 8 pointers (this crashed
# the Ogg writer); a layout FFmpeg cannot remix (10 channels with back and side pairs) costs the
# sound, not the video
tone() { local e=; for i in $(seq 1 "$1"); do e="$e${e:+|}sin(2*PI*(300+20*$i)*t)"; done; echo "$e"; }
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -f lavfi -i "aevalsrc=$(tone 16):c=hexadecagonal:s=48000" -t 1 \
  -pix_fmt yuv420p -c:v libx264 -c:a pcm_s16le "$T/ch16.mov"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -f lavfi -i "aevalsrc=$(tone 10):c=FL+FR+FC+LFE+BL+BR+FLC+FRC+BC+SL:s=48000" \
  -t 1 -pix_fmt yuv420p -c:v libx264 -c:a pcm_s16le "$T/ch10.mov"
check "  ... 16 channels into an Ogg: 16 channels of Vorbis" bash -c "'$K' interpolate '$T/ch16.mov' -o '$T/ch16.ogv' --factor 2 2>/dev/null && [ \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name,channels -of csv=p=0 '$T/ch16.ogv')\" = vorbis,16 ]"
check "  ... and into a WebM, whose Opus takes at most 8: stereo" bash -c "'$K' interpolate '$T/ch16.mov' -o '$T/ch16.webm' --factor 2 2>/dev/null && [ \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name,channels -of csv=p=0 '$T/ch16.webm')\" = opus,2 ]"
check "  ... 10 channels FFmpeg cannot remix into an MPEG: the video, without sound, with a note" bash -c "'$K' interpolate '$T/ch10.mov' -o '$T/ch10.mpg' --factor 2 2>'$T/ch10.log' && [ -z \"\$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 '$T/ch10.mpg')\" ] && [ \"\$(ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames -of csv=p=0 '$T/ch10.mpg')\" = 49 ] && grep -q 'cannot be resampled' '$T/ch10.log'"
# what a muxer takes in a header is not always what it stores: MP4 writes FLAC only as an experiment
# and QuickTime no Opus (the header failed the whole run); MPEG-TS wrote FLAC as private data that no
# player reads as sound; FLV wrote 8 kHz PCM as 5512 Hz
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1 \
  -pix_fmt yuv420p -c:v libx264 -c:a flac "$T/flac.mkv"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=25 -f lavfi -i sine=frequency=440:sample_rate=8000 -t 1 \
  -pix_fmt yuv420p -c:v libx264 -c:a pcm_u8 "$T/u8.mov"
acodec() { ffprobe -v error -select_streams a -show_entries stream=codec_name,sample_rate -of csv=p=0 "$1" | head -1; }   # an MPEG-TS lists its program's streams again
check "  ... FLAC into an MP4: re-encoded as AAC" bash -c "$(declare -f acodec); '$K' interpolate '$T/flac.mkv' -o '$T/flac.mp4' --factor 2 2>/dev/null && [ \$(acodec '$T/flac.mp4') = aac,48000 ]"
check "  ... FLAC into an MPEG-TS: re-encoded as MP2" bash -c "$(declare -f acodec); '$K' interpolate '$T/flac.mkv' -o '$T/flac.ts' --factor 2 2>/dev/null && [ \$(acodec '$T/flac.ts') = mp2,48000 ]"
check "  ... 8 kHz PCM into an FLV: not stored at a rate it would play back at" bash -c "$(declare -f acodec); '$K' interpolate '$T/u8.mov' -o '$T/u8.flv' --factor 2 2>/dev/null && [ \$(acodec '$T/u8.flv') = mp3,48000 ]"
check "sound before the first frame (0.5 s of 2) is cut" "$K" interpolate "$T/late.mp4" -o "$T/late2.mp4" --factor 2
check "  ... 24000 samples fewer (0.5 s at 48 kHz)" bash -c "$(declare -f pcm_bytes); [ \$(( \$(pcm_bytes '$T/late.mp4') - \$(pcm_bytes '$T/late2.mp4') )) -eq 48000 ]"
check "  ... and into a WebM, re-encoded, cut to the sample: 24000 fewer" bash -c "$(declare -f pcm_bytes); '$K' interpolate '$T/late.mp4' -o '$T/late2.webm' --factor 2 2>/dev/null && [ \$(( \$(pcm_bytes '$T/late.mp4') - \$(pcm_bytes '$T/late2.webm') )) -eq 48000 ]"

# --- a phone's pause before its first frame (0.2 s, then 30 fps) is not a slower rate: the ffmpeg
# tool's rate (30) is kept, not the average over the pause (20)
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=30 -t 1 -vf "setpts='if(eq(N\,0)\,0\,PTS+0.2/TB)'" \
  -fps_mode passthrough -pix_fmt yuv420p -c:v libx264 "$T/pause.mp4"
check "an mp4 that pauses before its first frame, --factor 2" "$K" interpolate "$T/pause.mp4" -o "$T/pause2.mp4" --factor 2
check "  ... is written at twice its cadence: 47 frames at 60 fps" expect_video "$T/pause2.mp4" 47 60/1
check "  ... --fps 30 keeps the pause: 30 frames over its 0.97 s (not its 24 frames)" bash -c "'$K' interpolate '$T/pause.mp4' -o '$T/pause30/' --fps 30 2>/dev/null && [ \$(find '$T/pause30' -name '*.png' | wc -l) -eq 30 ]"

# --- a variable frame rate: 32 of 40 frames of a moving picture (60 fps), in a Matroska file whose
# millisecond time base cannot hold 1/60 s; --fps 60 puts every frame back at its own time
ffmpeg -v error -f lavfi -i testsrc2=size=480x240:rate=1 -frames:v 1 "$T/tex.png"
ffmpeg -v error -loop 1 -framerate 60 -i "$T/tex.png" -vf "crop=160:120:x='3*n':y='60+sin(n/5)*20'" -frames:v 40 \
  -pix_fmt yuv420p -c:v libx264 -qp 0 "$T/truth.mkv"
ffmpeg -v error -i "$T/truth.mkv" -vf "select='not(eq(n\,3)+eq(n\,4)+eq(n\,9)+between(n\,15\,18)+eq(n\,25))'" \
  -fps_mode passthrough -pix_fmt yuv420p -c:v libx264 -qp 0 "$T/vfr.mkv"
"$K" interpolate "$T/truth.mkv" -o "$T/truth/" --factor 1 2>/dev/null
psnr() { ffmpeg -hide_banner -i "$1" -i "$2" -lavfi psnr -f null - 2>&1 | sed -n 's/.* average:\([0-9.]*\).*/\1/p'; }
above() { local p; p=$(psnr "$1" "$2"); echo "  $(basename "$1"): $p dB"; awk -v p="$p" -v m="$3" 'BEGIN { exit !(p != "" && p + 0 > m) }'; }
check "a variable-frame-rate mkv (32 of 40 frames at 60 fps), --fps 60" "$K" interpolate "$T/vfr.mkv" -o "$T/vfr60/" --fps 60
check "  ... 40 frames" test "$(count_png "$T/vfr60")" -eq 40
check "  ... each kept frame at its own time" bash -c "$(declare -f pixels same_pixels); same_pixels '$T/vfr60/00005.png' '$T/truth/00005.png' && same_pixels '$T/vfr60/00024.png' '$T/truth/00024.png' && same_pixels '$T/vfr60/00039.png' '$T/truth/00039.png'"
check "  ... a dropped frame rebuilt where it was (above 30 dB)" above "$T/vfr60/00003.png" "$T/truth/00003.png" 30
frame_time() { ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of csv=p=0 "$1" | tr -d ', ' | grep . | sed -n "$(($2 + 1))p"; }
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(a != "" && d < 0.0005 && d > -0.0005) }' || { echo "  $1, expected $2"; return 1; }; }
check "  ... --factor 2 into an mp4" "$K" interpolate "$T/vfr.mkv" -o "$T/vfr2.mp4" --factor 2
check "  ... keeps the input's timing: 63 frames, frame 6 (input 3) at 5/60 s, frame 5 halfway before it" \
  bash -c "$(declare -f probe expect_video frame_time near); expect_video '$T/vfr2.mp4' 63 120/1 && near \$(frame_time '$T/vfr2.mp4' 6) 0.083333 && near \$(frame_time '$T/vfr2.mp4' 5) 0.058333"
# a timestamp 100 000 s (28 hours) ahead: --fps would fill the gap with 3 million frames, so it is
# refused naming the frame; --factor keeps the timing without filling it
ffmpeg -v error -f lavfi -i testsrc=size=64x48:rate=10:duration=1 -vf "setpts='if(gte(N\,5)\,PTS+100000/TB\,PTS)'" \
  -fps_mode passthrough -c:v ffv1 "$T/jump.mkv"
check "a timestamp hours ahead, --fps 30, exits 1" exits 1 "$K" interpolate "$T/jump.mkv" -o "$T/jump30.mkv" --fps 30
check "  ... naming the frame and the gap, and writing nothing" bash -c "grep -q 'input frame 5 comes 100000 s after the frame before it' '$T/err.log' && [ ! -e '$T/jump30.mkv' ]"
check "  ... --factor 2 keeps its timing: 19 frames" bash -c "'$K' interpolate '$T/jump.mkv' -o '$T/jump2.mkv' --factor 2 2>/dev/null && [ \$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 '$T/jump2.mkv') -eq 19 ]"
# two MPEG-TS files joined: the second's clock starts again, and goes on after the first's
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -t 1 -pix_fmt yuv420p -c:v libx264 -bf 0 "$T/part.ts"
cat "$T/part.ts" "$T/part.ts" > "$T/joined.ts"
check "two joined files (the clock starts again), --fps 20: 39 frames" bash -c "'$K' interpolate '$T/joined.ts' -o '$T/joined20/' --fps 20 2>/dev/null && [ \$(find '$T/joined20' -name '*.png' | wc -l) -eq 39 ]"
check "  ... --factor 2 into an mp4: its last frame at 1.9 s" bash -c "$(declare -f frame_time near); '$K' interpolate '$T/joined.ts' -o '$T/joined2.mp4' --factor 2 2>/dev/null && near \$(frame_time '$T/joined2.mp4' 38) 1.9"
# ... with sound: the sound's clock starts again too, and goes on after the first file's
for f in 1 2; do
  ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -f lavfi -i sine=frequency=$((300 * f)):sample_rate=48000 -t 1 \
    -pix_fmt yuv420p -c:v libx264 -bf 0 -c:a aac "$T/sound$f.ts"
done
cat "$T/sound1.ts" "$T/sound2.ts" > "$T/joined-sound.ts"
check "two joined files with sound, --factor 2 into an mp4" "$K" interpolate "$T/joined-sound.ts" -o "$T/joined-sound.mp4" --factor 2
check "  ... keeps the sound of both, to an AAC frame (2.0 s at 48 kHz)" bash -c "$(declare -f pcm_bytes); n=\$(pcm_bytes '$T/joined-sound.mp4'); [ \$n -ge \$((2 * 48000 * 2 - 2048)) ] && [ \$n -le \$((2 * 48000 * 2 + 4096)) ]"
check "  ... taken as evenly spaced (--input-fps 60), the frames slip" bash -c "'$K' interpolate '$T/vfr.mkv' -o '$T/even60/' --fps 60 --input-fps 60 2>/dev/null && [ \$(find '$T/even60' -name '*.png' | wc -l) -eq 32 ]"

# --- errors
check "missing input exits 1" exits 1 "$K" interpolate "$T/nope.mp4" -o "$T/x.mp4" --factor 2
check "--factor 0 exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --factor 0
check "--factor abc exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --factor abc
check "--fps as a fraction (60000/1001) into an mp4" "$K" interpolate "$T/in.mp4" -o "$T/ntsc.mp4" --fps 60000/1001
check "  ... written at 60000/1001" bash -c "$(declare -f probe); [ \$(probe '$T/ntsc.mp4' r_frame_rate) = 60000/1001 ]"
check "--fps 1/0 exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --fps 1/0
check "--fps -1 exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --fps -1
check "both --factor and --fps exit 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --factor 2 --fps 30
check "neither --factor nor --fps exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4"
check "no -o exits 2" exits 2 "$K" interpolate "$T/in.mp4" --factor 2
check "folder in, mp4 out without --input-fps exits 1" exits 1 "$K" interpolate "$T/frames" -o "$T/x.mp4" --factor 2
check "  ... and says to give --input-fps" grep -q -- "--input-fps" "$T/err.log"
check "folder in with --fps but no --input-fps exits 1" exits 1 "$K" interpolate "$T/frames" -o "$T/x/" --fps 12
check "--input-fps 0 exits 2" exits 2 "$K" interpolate "$T/frames" -o "$T/x.mp4" --factor 2 --input-fps 0
check "more memory than --max-memory exits 1" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --factor 1000 --max-memory 0.01
check "  ... naming the memory needed" grep -q "needs about .* GB of memory" "$T/err.log"
ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=30 -t 10 -pix_fmt yuv420p -c:v libx264 "$T/long.mp4"
# 300 frames of 96x64 are 5.5 MB and the work buffers another 5.5: the input is read as it goes
check "a video longer than --max-memory could hold runs" "$K" interpolate "$T/long.mp4" -o "$T/long2.mp4" --factor 2 --max-memory 0.008 --threads 2
check "  ... 599 frames at 60 fps" expect_video "$T/long2.mp4" 599 60/1
check "a GIF whose frames outgrow --max-memory exits 1" exits 1 "$K" interpolate "$T/in.mp4" -o "$T/x.gif" --factor 100 --max-memory 0.012
check "  ... saying a GIF keeps every frame" grep -q "a GIF keeps every frame" "$T/err.log"
check "  ... and leaves no GIF" test ! -e "$T/x.gif"
check "--max-memory abc exits 2" exits 2 "$K" interpolate "$T/in.mp4" -o "$T/x.mp4" --factor 2 --max-memory abc
check "failed runs leave no output" bash -c "test ! -e '$T/x.mp4' && test ! -e '$T/x'"

# --- eval-interp
check "eval-interp runs" bash -c "'$K' eval-interp '$T/in.mp4' --frames 7 --threads 2 > '$T/eval.txt' 2>'$T/eval.err'"
check "  ... prints all four methods" bash -c "grep -q '^  kinora ' '$T/eval.txt' && grep -q '^  duplicate ' '$T/eval.txt' && grep -q '^  blend ' '$T/eval.txt' && grep -q '^  minterpolate ' '$T/eval.txt'"
# minterpolate stops early on 7 frames (5 back), so every method is scored on the 2 frames all rebuilt
check "  ... scores every method on the frames all of them rebuilt" bash -c "grep -q '2 rebuilt' '$T/eval.txt' && grep -q 'all methods are scored on the 2 rebuilt frames' '$T/eval.err'"
check "  ... without minterpolate scores all 3 rebuilt frames" bash -c "'$K' eval-interp '$T/in.mp4' --frames 7 --no-minterpolate | grep -q '3 rebuilt'"
check "  ... with no ffmpeg to run, the minterpolate row is left out, saying so" bash -c "PATH=/nonexistent '$K' eval-interp '$T/in.mp4' --frames 7 > '$T/nomi.txt' 2>'$T/nomi.err' && ! grep -q '^  minterpolate ' '$T/nomi.txt' && grep -q '^  blend ' '$T/nomi.txt' && grep -q 'minterpolate failed' '$T/nomi.err'"
check "eval-interp --runs 3: medians of 3 runs taking turns, the same scores as one run, and the ratio" bash -c "'$K' eval-interp '$T/in.mp4' --frames 7 --threads 2 --runs 3 > '$T/eval3.txt' 2>/dev/null && grep -q 'medians of 3 runs, Kinora and minterpolate taking turns' '$T/eval3.txt' && [ \"\$(grep '^  kinora ' '$T/eval3.txt' | awk '{print \$2, \$3}')\" = \"\$(grep '^  kinora ' '$T/eval.txt' | awk '{print \$2, \$3}')\" ] && grep -q '^  Kinora - minterpolate: [-+][0-9.]* dB in [0-9.]* of its wall time' '$T/eval3.txt'"
check "eval-interp --runs 0 exits 2" exits 2 "$K" eval-interp "$T/in.mp4" --runs 0
check "eval-interp on a missing file exits 1" exits 1 "$K" eval-interp "$T/nope.mp4" --frames 5
check "eval-interp beyond --max-memory exits 1" exits 1 "$K" eval-interp "$T/in.mp4" --frames 7 --max-memory 0.000001
check "  ... saying how much it needs" grep -q "needs about .* GB of memory, more than the 0.00 GB that --max-memory allows; not even 3 frames fit" "$T/err.log"
check "eval-interp within --max-memory runs" bash -c "'$K' eval-interp '$T/in.mp4' --frames 7 --no-minterpolate --max-memory 1 | grep -q '3 rebuilt'"

# The public API from outside: the library installed under a prefix, examples/interpolate.c built
# with what pkg-config says of it, and run on a video.
check "a program built against the installed library (pkg-config) interpolates a video" bash -c "
  make -s -C '$root' install PREFIX='$T/prefix' >/dev/null &&
  cc -std=c11 -Wall -Wextra -Werror '$root/examples/interpolate.c' \$(PKG_CONFIG_PATH='$T/prefix/lib/pkgconfig' pkg-config --cflags --libs kinora) -o '$T/example' &&
  LD_LIBRARY_PATH='$T/prefix/lib' '$T/example' '$T/in.mp4' '$T/example.mp4' 3 2>'$T/example.log' &&
  grep -q '8 frames at 8 fps -> 22 frames at 24 fps' '$T/example.log'"
check "  ... its frames are those of kinora interpolate" bash -c "$(declare -f pixels same_pixels); '$K' interpolate '$T/in.mp4' -o '$T/cli3.mp4' --factor 3 --threads 2 2>/dev/null && same_pixels '$T/example.mp4' '$T/cli3.mp4'"
check "  ... and its header compiles as C++ too" bash -c "echo '#include <kinora/kinora.h>
int main() { kn_interpolate_params p; kn_interpolate_params_default(&p); return p.factor == 2 ? 0 : 1; }' > '$T/api.cc' &&
  c++ -std=c++11 -Wall -Wextra -Werror '$T/api.cc' \$(PKG_CONFIG_PATH='$T/prefix/lib/pkgconfig' pkg-config --cflags --libs kinora) -o '$T/api-cc' &&
  LD_LIBRARY_PATH='$T/prefix/lib' '$T/api-cc'"
check "  ... and a failure comes back as a status with the message" bash -c "! LD_LIBRARY_PATH='$T/prefix/lib' '$T/example' '$T/nope.mp4' '$T/x.mp4' 2>'$T/example.log' && grep -q 'nope.mp4' '$T/example.log' && [ ! -e '$T/x.mp4' ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
