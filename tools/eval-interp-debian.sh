#!/usr/bin/env bash
# `kinora eval-interp` on real footage that other Debian 12 packages ship (the "Other footage" table
# of docs/interpolation.md). The packages are fetched with `apt-get download` and unpacked into a
# temporary folder, not installed (some pull in large dependencies), so this needs the apt mirror.
#   tools/eval-interp-debian.sh [--threads N] [--frames N]     (default: 2 threads, 121 frames)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
chmod 755 "$T"   # apt-get download writes as its own user
trap 'rm -rf "$T"' EXIT
# package: files (paths under the package's root); camera footage, a 1906 film and one animation
# (wannaworktogether.mp4, a title sequence with fades)
clips=(
  "python3-imageio:usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4 usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"
  "python3-mecavideo:usr/share/pymecavideo/data/video/g1.avi usr/share/pymecavideo/data/video/g2.avi usr/share/pymecavideo/data/video/Force_constante.avi usr/share/pymecavideo/data/video/Principe_inertie.avi usr/share/pymecavideo/data/video/Effet_force_magnetique.ogv usr/share/pymecavideo/data/video/balle1-vp9.avi usr/share/pymecavideo/data/video/balle-jbart.mp4"
  "python-kivy-examples:usr/share/kivy-examples/widgets/cityCC0.mpg"
  "node-opencv:usr/share/doc/node-opencv/examples/files/motion.mov"
  "forensics-samples-files:usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"
  "python3-hug-doc:usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4"
  "python-nbsphinx-doc:usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv.160p.ogv"
  "wordpress-theme-twentytwentytwo:usr/share/wordpress/wp-content/themes/twentytwentytwo/assets/videos/birds.mp4"
  "openboard-common:usr/share/openboard/library/videos/wannaworktogether.mp4"
  "visp-images-data:usr/share/visp-images-data/ViSP-images/video/cube.mpeg"
  "kphotoalbum:usr/share/kphotoalbum/demo/movie.avi"
)
files=()
for entry in "${clips[@]}"; do
  pkg=${entry%%:*}
  (cd "$T" && apt-get download "$pkg" >/dev/null) || { echo "cannot download $pkg (apt-get update?)" >&2; exit 1; }
  dpkg-deb -x "$T"/"$pkg"_*.deb "$T/root"
  for f in ${entry#*:}; do files+=("$T/root/$f"); done
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$root/build/kinora" eval-interp "${files[@]}" --threads 2 --frames 121 "$@"   # later flags win
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
