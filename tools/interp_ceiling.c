/* How far is Kinora's interpolation from what a two-frame method could reach? For each dropped frame
 * (every odd frame, as `kinora eval-interp` drops them) this prints the mean RGB PSNR of:
 *   kinora     kn_interp_video at factor 2 on the kept frames (what eval-interp scores, acceleration
 *              included);
 *   best-t     the best of kn_interp_pair's renders (one pair, constant velocity) at t = 0.1, 0.2,
 *              ..., 0.9, chosen with the true frame: what knowing the frame's real capture time
 *              would give a constant-velocity render;
 *   sym-oracle flows estimated from the TRUE middle frame to both neighbours (kn_flow_estimate),
 *              averaged into one constant-velocity motion through it (half of the flow to the first
 *              minus the flow to the second), both neighbours warped by it and blended 50/50: what a
 *              single symmetric motion gives when it is estimated with the true frame in view;
 *   oracle     the same two flows used as they are (each neighbour warped by its own flow to the true
 *              frame, blended 50/50): no constant-velocity assumption.
 * The oracles cheat (they look at the frame being rebuilt); they bound, they do not compete.
 * Build: make tools (build/tools/interp_ceiling)
 * Usage: interp_ceiling VIDEO_OR_PNG_FOLDER [FRAMES]   (FRAMES: first N frames, default 301) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "interp/interp_impl.h"
#include "io/media.h"

/* dst (w*h*3 floats) = src warped backwards by f (bilinear). */
static void warp_rgb(const uint8_t *src, int w, int h, const float *u, const float *v, float *dst) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            kn_bilinear_rgb(src, w, h, (float)x + u[i], (float)y + v[i], dst + i * 3);
        }
}

/* PSNR of the 50/50 blend of two float frames, rounded to 8 bits, against truth. */
static double blend_psnr(const float *a, const float *b, const uint8_t *truth, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        float q = floorf(0.5f * (a[i] + b[i]) + 0.5f);
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        double d = q - truth[i];
        se += d * d;
    }
    return se > 0 ? 10 * log10(255.0 * 255.0 / (se / (double)n)) : INFINITY;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s VIDEO_OR_PNG_FOLDER [FRAMES]\n", argv[0]); return 2; }
    int frames = argc > 2 ? atoi(argv[2]) : 301;
    kn_error err;
    kn_video v;
    if (kn_video_read_range(argv[1], 0, frames, &v, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    kn_ctx ctx = {0};
    ctx.isa = kn_cpu_detect();
    int w = v.width, h = v.height, nf = v.nframes % 2 ? v.nframes : v.nframes - 1;
    size_t np = (size_t)w * h, n = np * 3;
    enum { NT = 9 };
    float ts[NT];
    uint8_t *outs[NT];
    for (int k = 0; k < NT; k++) { ts[k] = 0.1f * (float)(k + 1); outs[k] = malloc(n); }
    float *wa = malloc(n * sizeof *wa), *wb = malloc(n * sizeof *wb);
    if (!wa || !wb) return 1;
    kn_video even, rebuilt;   /* the kept frames, and Kinora's video from them */
    if (kn_video_alloc(&even, w, h, (nf + 1) / 2, v.fps, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    for (int i = 0; i < even.nframes; i++) memcpy(kn_video_frame(&even, i), kn_video_frame(&v, 2 * i), n);
    if (kn_interp_video(&ctx, NULL, &even, 2, 0, &rebuilt, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double sum[4] = {0};
    int count = 0;
    printf("frame  kinora  best-t (t)   sym-oracle  oracle\n");
    for (int i = 1; i + 1 < nf; i += 2) {
        const uint8_t *a = kn_video_frame(&v, i - 1), *m = kn_video_frame(&v, i), *b = kn_video_frame(&v, i + 1);
        if (kn_interp_pair(&ctx, NULL, a, b, w, h, ts, NT, outs, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double kin = kn_psnr_rgb(kn_video_frame(&rebuilt, i), m, w, h), best = -1;
        int bk = 0;
        for (int k = 0; k < NT; k++) {
            double p = kn_psnr_rgb(outs[k], m, w, h);
            if (p > best) { best = p; bk = k; }
        }
        float *ya, *yb, *ym;
        kn_flow fa, fb;
        if (kn_interp_luma(a, w, h, &ya, &err) || kn_interp_luma(b, w, h, &yb, &err) ||
            kn_interp_luma(m, w, h, &ym, &err) || kn_flow_estimate(&ctx, NULL, ym, ya, w, h, &fa, &err) ||
            kn_flow_estimate(&ctx, NULL, ym, yb, w, h, &fb, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        warp_rgb(a, w, h, fa.u, fa.v, wa);
        warp_rgb(b, w, h, fb.u, fb.v, wb);
        double free_oracle = blend_psnr(wa, wb, m, n);
        for (size_t p = 0; p < np; p++) {   /* one motion through the middle: half of each side's */
            float su = 0.5f * (fa.u[p] - fb.u[p]), sv = 0.5f * (fa.v[p] - fb.v[p]);
            fa.u[p] = su; fa.v[p] = sv; fb.u[p] = -su; fb.v[p] = -sv;
        }
        warp_rgb(a, w, h, fa.u, fa.v, wa);
        warp_rgb(b, w, h, fb.u, fb.v, wb);
        double sym = blend_psnr(wa, wb, m, n);
        printf("%5d  %6.2f  %6.2f (%.1f)  %6.2f      %6.2f\n", i, kin, best, ts[bk], sym, free_oracle);
        sum[0] += kin; sum[1] += best; sum[2] += sym; sum[3] += free_oracle;
        count++;
        kn_flow_free(&fa); kn_flow_free(&fb);
        free(ya); free(yb); free(ym);
    }
    if (count)
        printf("mean   %6.3f  %6.3f        %6.3f      %6.3f   (%d frames)\n", sum[0] / count, sum[1] / count,
               sum[2] / count, sum[3] / count, count);
    for (int k = 0; k < NT; k++) free(outs[k]);
    free(wa); free(wb);
    kn_video_free(&even); kn_video_free(&rebuilt);
    kn_video_free(&v);
    return 0;
}
