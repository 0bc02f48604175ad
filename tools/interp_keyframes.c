/* Generation's stage 2 measured on clips whose every frame is known: `kinora dataset` clips (the
 * sprites the default model is trained on). From each clip's frames the keyframes are taken at the
 * output frames `generate` places them on (keyframe k of K over N frames at round(k (N-1) / (K-1)),
 * gaps of unequal length), the frames between are filled by kn_interp_fill twice, and each way is
 * scored (mean RGB PSNR over the filled frames, capped at 99 dB, the mean over clips printed):
 *   pairs    o.accel = o.cubic = o.pool_still = o.blend_jumps = o.flow_candidates = 0: each pair alone at
 *            constant velocity with bilinear samples (how generate filled its frames before it used
 *            the whole-video engine);
 *   video    the defaults: acceleration, time hedge, kernel choice, still pooling, jumps and the
 *            flow candidates as in kn_interp_video.
 * Build: make tools (build/tools/interp_keyframes)
 * Usage: interp_keyframes DATASET_DIR CLIPS FRAMES SIZE KEYFRAMES
 *        (DATASET_DIR from `kinora dataset DIR --clips CLIPS --frames FRAMES --size SIZE`) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interp/interp.h"
#include "io/media.h"
#include "pipeline/pipeline.h"

static int read_clip(const char *dir, int c, uint8_t *all, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/clips/%06d/frames.u8", dir, c);
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    size_t got = fread(all, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != bytes || extra) { fprintf(stderr, "%s: not %zu bytes (check FRAMES and SIZE)\n", path, bytes); return -1; }
    return 0;
}

/* Mean PSNR of the frames of out that are not keyframes, against the clip. */
static double score(const kn_video *out, const uint8_t *all, const int *pos, int K) {
    size_t fb = (size_t)out->width * out->height * 3;
    double sum = 0;
    int n = 0;
    for (int k = 0, next = 0; k < out->nframes; k++) {
        if (next < K && pos[next] == k) { next++; continue; }
        double p = kn_psnr_rgb(out->rgb + fb * k, all + fb * k, out->width, out->height);
        sum += p > 99 ? 99 : p;
        n++;
    }
    return n ? sum / n : 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: interp_keyframes DATASET_DIR CLIPS FRAMES SIZE KEYFRAMES\n");
        return 2;
    }
    int clips = atoi(argv[2]), N = atoi(argv[3]), S = atoi(argv[4]), K = atoi(argv[5]);
    if (clips < 1 || S < 1 || S > 4096 || K < 2 || N < K || K > 1024) {
        fprintf(stderr, "interp_keyframes: need CLIPS >= 1, 1 <= SIZE <= 4096, 2 <= KEYFRAMES <= FRAMES\n");
        return 2;
    }
    size_t fb = (size_t)S * S * 3;
    uint8_t *all = malloc(fb * N);
    int *pos = malloc(sizeof *pos * K);
    kn_video in = {S, S, K, 8.f, malloc(fb * K), 0, NULL};
    if (!all || !pos || !in.rgb) { fprintf(stderr, "interp_keyframes: out of memory\n"); return 1; }
    for (int k = 0; k < K; k++) pos[k] = pl_keyframe_pos(k, K, N);
    double total[2] = {0, 0};
    int better = 0, worse = 0;
    for (int c = 0; c < clips; c++) {
        if (read_clip(argv[1], c, all, fb * N)) return 1;
        for (int k = 0; k < K; k++) memcpy(in.rgb + fb * k, all + fb * pos[k], fb);
        double r[2];
        for (int way = 0; way < 2; way++) {
            kn_interp_opts o;
            kn_interp_opts_default(&o);
            if (way == 0) o.accel = o.cubic = o.pool_still = o.blend_jumps = o.flow_candidates = 0;
            kn_video out = {0};
            kn_error err = {0};
            if (kn_video_alloc(&out, S, S, N, 8.f, &err) || kn_interp_fill(NULL, &o, &in, pos, &out, NULL, NULL, &err)) {
                fprintf(stderr, "interp_keyframes: clip %d: %s\n", c, err.msg);
                return 1;
            }
            r[way] = score(&out, all, pos, K);
            kn_video_free(&out);
        }
        printf("clip %6d: pairs %.3f  video %.3f  (%+.3f)\n", c, r[0], r[1], r[1] - r[0]);
        total[0] += r[0];
        total[1] += r[1];
        better += r[1] > r[0] + 0.01;
        worse += r[1] < r[0] - 0.01;
    }
    printf("%d clips, %d keyframes over %d frames of %dx%d: pairs %.3f dB, video %.3f dB (%+.3f); "
           "video better by > 0.01 dB on %d, worse on %d\n",
           clips, K, N, S, S, total[0] / clips, total[1] / clips, (total[1] - total[0]) / clips, better, worse);
    free(all); free(pos); free(in.rgb);
    return 0;
}
