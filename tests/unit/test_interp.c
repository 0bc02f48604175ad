/* Frame interpolation: flow on synthetic moving textures, rendering, edge times, odd sizes, thread
 * invariance, scene cuts, brightness change, a still post over moving texture, the whole-video
 * factor/fps semantics, frames placed at given output positions, accelerating motion with its
 * calibrated gain and its border gate (and no bend for a still pair after a stop), the time hedge,
 * the resampling kernel chosen per video, the pooling of still parts, the flow candidates, and fades. */
#include "test.h"
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include "io/media.h"
#include "train/dataset.h"

/* Smooth texture (sum of sines) sampled at (x - dx, y - dy): exact sub-pixel shifts. */
static void texture(uint8_t *rgb, int w, int h, double dx, double dy, double bright, int seed) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double X = x - dx, Y = y - dy;
            double s = 0;
            for (int k = 0; k < 5; k++) {
                double fx = 0.11 + 0.07 * k + 0.05 * seed, fy = 0.17 - 0.03 * k + 0.04 * seed;
                s += sin(fx * X + fy * Y + 1.3 * k + seed) + 0.6 * cos(0.9 * fy * X - 1.1 * fx * Y + 0.7 * k * seed);
            }
            for (int c = 0; c < 3; c++) {
                double v = 128 + 14 * s * (1 - 0.2 * c) + bright + 10 * c;
                rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
            }
        }
}

static double interior_mean(const float *f, int w, int h, int margin) {
    double s = 0;
    int n = 0;
    for (int y = margin; y < h - margin; y++)
        for (int x = margin; x < w - margin; x++) { s += f[(size_t)y * w + x]; n++; }
    return s / n;
}

/* PSNR over the interior only (the frame border sees content that left or entered the view). */
static double interior_psnr(const uint8_t *a, const uint8_t *b, int w, int h, int margin) {
    double se = 0;
    int n = 0;
    for (int y = margin; y < h - margin; y++)
        for (int x = margin; x < w - margin; x++)
            for (int c = 0; c < 3; c++) {
                double d = (double)a[((size_t)y * w + x) * 3 + c] - b[((size_t)y * w + x) * 3 + c];
                se += d * d; n++;
            }
    return se == 0 ? 99 : 10 * log10(255.0 * 255.0 * n / se);
}

/* Flow from RGB frame a to b with options o (NULL: defaults). */
static kn_status flow_of(const kn_interp_opts *o, const uint8_t *a, const uint8_t *b, int w, int h, kn_flow *f,
                         kn_error *err) {
    float *g0, *g1;
    kn_status st = kn_interp_luma(a, w, h, &g0, err);
    if (st) return st;
    st = kn_interp_luma(b, w, h, &g1, err);
    if (!st) st = kn_flow_estimate(NULL, o, g0, g1, w, h, f, err);
    kn_free(g0);
    kn_free(g1);
    return st;
}

/* kn_interp_is_cut on frames a, b with default options and their estimated flows (the backward
 * one only when both is set); -1 when a step fails. */
static int is_cut_of(const uint8_t *a, const uint8_t *b, int w, int h, int both) {
    kn_error err = {0};
    kn_flow f = {0}, g = {0};
    float *g0 = NULL, *g1 = NULL;
    int cut = -1;
    if (!flow_of(NULL, a, b, w, h, &f, &err) && (!both || !flow_of(NULL, b, a, w, h, &g, &err)) &&
        !kn_interp_luma(a, w, h, &g0, &err) && !kn_interp_luma(b, w, h, &g1, &err)) {
        kn_interp_opts opts;
        kn_interp_opts_default(&opts);
        cut = kn_interp_is_cut(&opts, g0, g1, &f, both ? &g : NULL);
    }
    kn_free(g0); kn_free(g1); kn_flow_free(&f); kn_flow_free(&g);
    return cut;
}

TEST(flow_recovers_translation) {
    int w = 96, h = 64;
    uint8_t *a = malloc((size_t)w * h * 3), *b = malloc((size_t)w * h * 3);
    texture(a, w, h, 0, 0, 0, 1);
    texture(b, w, h, 3.0, -2.0, 0, 1);
    kn_error err = {0};
    kn_flow f = {0};
    REQUIRE(flow_of(NULL, a, b, w, h, &f, &err) == KN_OK);
    CHECK_NEAR(interior_mean(f.u, w, h, 8), 3.0, 0.1);
    CHECK_NEAR(interior_mean(f.v, w, h, 8), -2.0, 0.1);
    kn_flow_free(&f);
    free(a); free(b);
}

static void blocks(uint8_t *rgb, int w, int h, double dx, double dy);

/* The flow stops at half resolution from 100 px on the smaller side and at a quarter from 720 (HD
 * and above, where it took 18-26% less time than half resolution for -0.21..+0.06 dB; flow.c), in
 * either orientation; an explicit level is kept. On a 1280x720 pair the automatic flow is the quarter
 * resolution one bit for bit, and still finds the shift: within 0.2 px on random 7 px blocks, which
 * a quarter-resolution level all but blurs away (half resolution: within 0.01 px). */
TEST(flow_level_follows_the_frame_size) {
    kn_interp_opts o;
    kn_interp_opts_default(&o);
    CHECK(kn_flow_finest_level(&o, 99, 400) == 0);
    CHECK(kn_flow_finest_level(&o, 100, 100) == 1);
    CHECK(kn_flow_finest_level(&o, 1280, 719) == 1);
    CHECK(kn_flow_finest_level(&o, 1280, 720) == 2);
    CHECK(kn_flow_finest_level(&o, 720, 1280) == 2);
    CHECK(kn_flow_finest_level(&o, 3840, 2160) == 2);
    o.finest_level = 0;
    CHECK(kn_flow_finest_level(&o, 1920, 1080) == 0);
    int w = 1280, h = 720;
    uint8_t *a = malloc((size_t)w * h * 3), *b = malloc((size_t)w * h * 3);
    REQUIRE(a && b);
    blocks(a, w, h, 0, 0);
    blocks(b, w, h, 7.0, -5.0);
    kn_error err = {0};
    float *g0, *g1;
    REQUIRE(kn_interp_luma(a, w, h, &g0, &err) == KN_OK && kn_interp_luma(b, w, h, &g1, &err) == KN_OK);
    kn_flow f[3] = {{0}};
    for (int i = 0; i < 3; i++) {   /* auto, quarter, half */
        kn_interp_opts_default(&o);
        if (i) o.finest_level = 3 - i;
        REQUIRE(kn_flow_estimate(NULL, &o, g0, g1, w, h, &f[i], &err) == KN_OK);
    }
    size_t bytes = (size_t)w * h * sizeof(float);
    CHECK(memcmp(f[0].u, f[1].u, bytes) == 0 && memcmp(f[0].v, f[1].v, bytes) == 0);
    CHECK(memcmp(f[0].u, f[2].u, bytes) != 0);
    printf("  mean flow (7, -5) found at a quarter (%.3f, %.3f), at half resolution (%.3f, %.3f)\n",
           interior_mean(f[0].u, w, h, 32), interior_mean(f[0].v, w, h, 32), interior_mean(f[2].u, w, h, 32),
           interior_mean(f[2].v, w, h, 32));
    CHECK_NEAR(interior_mean(f[0].u, w, h, 32), 7.0, 0.2);
    CHECK_NEAR(interior_mean(f[0].v, w, h, 32), -5.0, 0.2);
    for (int i = 0; i < 3; i++) kn_flow_free(&f[i]);
    kn_free(g0); kn_free(g1);
    free(a); free(b);
}

/* The flow with the SOR rows eight pixels at a time (AVX2, refine_avx2.c) is bit for bit the scalar
 * one, on a frame whose rows are not a multiple of 16 wide (so both paths meet in every row), with
 * the default options and on a pool of 3 threads. Skipped where the machine has no AVX2. */
TEST(flow_is_the_same_with_and_without_avx2) {
    if (kn_cpu_detect() < KN_ISA_AVX2) return;
    int w = 157, h = 61;
    uint8_t *a = malloc((size_t)w * h * 3), *b = malloc((size_t)w * h * 3);
    float *g0 = NULL, *g1 = NULL;
    REQUIRE(a && b);
    texture(a, w, h, 0, 0, 0, 2);
    texture(b, w, h, 2.3, -1.4, 6, 2);
    kn_error err = {0};
    REQUIRE(kn_interp_luma(a, w, h, &g0, &err) == KN_OK && kn_interp_luma(b, w, h, &g1, &err) == KN_OK);
    kn_pool *pool = NULL;
    REQUIRE(kn_pool_create(3, &pool, &err) == KN_OK);
    kn_flow f[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++) {
        kn_ctx ctx = {.pool = pool, .isa = i ? KN_ISA_AVX2 : KN_ISA_SCALAR};
        REQUIRE(kn_flow_estimate(&ctx, NULL, g0, g1, w, h, &f[i], &err) == KN_OK);
    }
    size_t n = (size_t)w * h;
    CHECK(!memcmp(f[0].u, f[1].u, n * sizeof *f[0].u) && !memcmp(f[0].v, f[1].v, n * sizeof *f[0].v));
    CHECK_NEAR(interior_mean(f[1].u, w, h, 8), 2.3, 0.15);
    for (int i = 0; i < 2; i++) kn_flow_free(&f[i]);
    kn_pool_destroy(pool);
    kn_free(g0); kn_free(g1);
    free(a); free(b);
}

/* The bicubic sample with two rows of taps a vector (AVX2, sample_avx2.c) is bit for bit the scalar
 * and SSE2 one: at random places in and around a noisy frame of odd size (taps clamped at the
 * borders), at whole pixels, at the last places inside and at NaN. Skipped without AVX2. */
TEST(bicubic_is_the_same_with_and_without_avx2) {
    if (kn_cpu_detect() < KN_ISA_AVX2) return;
    int w = 37, h = 29;
    uint8_t *im = malloc((size_t)w * h * 3);
    REQUIRE(im);
    uint32_t r = 12345;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) { r = r * 1664525u + 1013904223u; im[i] = (uint8_t)(r >> 24); }
    int differ = 0, n = 0;
    for (int k = 0; k < 20000 + 4; k++) {
        float x, y;
        if (k < 20000) {
            r = r * 1664525u + 1013904223u; x = (float)((r >> 8) / 16777216.0 * (w + 6) - 3);
            r = r * 1664525u + 1013904223u; y = (float)((r >> 8) / 16777216.0 * (h + 6) - 3);
            if (k % 7 == 0) x = floorf(x);
            if (k % 11 == 0) y = floorf(y);
        } else {
            float xs[4] = {(float)w - 3, (float)w - 3.001f, 1.f, NAN}, ys[4] = {(float)h - 3, 1.5f, 0.999f, 2.f};
            x = xs[k - 20000]; y = ys[k - 20000];
        }
        float a[3], b[3];
        kn_bicubic_rgb(im, w, h, x, y, a);
        kn_bicubic_rgb_avx2(im, w, h, x, y, b);
        differ += memcmp(a, b, sizeof a) != 0;
        n++;
    }
    printf("  %d of %d samples differ\n", differ, n);
    CHECK(differ == 0);
    free(im);
}

/* A red square (10 px) jumping 24 px over a still textured background, with its flows given and
 * a made-up flow (7, -3) over the background: at t = 1/2 the background, the same in both frames,
 * is copied byte for byte (a render would sample it at the made-up offsets), and the square shows
 * midway, over background that is the same in both frames but that the square passes. */
TEST(still_background_is_copied_and_passing_objects_kept) {
    enum { W = 96, H = 48, S = 10, X0 = 20, JUMP = 24, Y0 = 19 };
    uint8_t *a = malloc(W * H * 3), *b = malloc(W * H * 3), *out = malloc(W * H * 3);
    float *fl = malloc(sizeof *fl * W * H * 4);
    REQUIRE(a && b && out && fl);
    texture(a, W, H, 0, 0, 0, 3);
    memcpy(b, a, W * H * 3);
    kn_flow f01 = {W, H, fl, fl + W * H}, f10 = {W, H, fl + 2 * W * H, fl + 3 * W * H};
    for (int p = 0; p < W * H; p++) { f01.u[p] = f10.u[p] = 7; f01.v[p] = f10.v[p] = -3; }
    for (int y = Y0; y < Y0 + S; y++)
        for (int x = 0; x < S; x++) {
            int pa = y * W + X0 + x, pb = pa + JUMP;
            a[pa * 3] = b[pb * 3] = 220; a[pa * 3 + 1] = b[pb * 3 + 1] = a[pa * 3 + 2] = b[pb * 3 + 2] = 30;
            f01.u[pa] = JUMP; f01.v[pa] = 0; f10.u[pb] = -JUMP; f10.v[pb] = 0;
        }
    kn_error err = {0};
    REQUIRE(kn_interp_render(NULL, a, b, W, H, &f01, &f10, 0.5f, out, &err) == KN_OK);
    int far_differs = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int near = y >= Y0 - 4 && y < Y0 + S + 4 && x >= X0 - 4 && x < X0 + JUMP + S + 4;
            if (!near) far_differs += memcmp(out + (y * W + x) * 3, a + (y * W + x) * 3, 3) != 0;
        }
    CHECKF(far_differs == 0, "%d background pixels away from the square differ from the frames'", far_differs);
    /* the render hedges this jump toward the background a little (177, 99, 103 before the copying) */
    size_t m = (size_t)(Y0 + S / 2) * W + X0 + JUMP / 2 + S / 2;
    const uint8_t *mid = out + m * 3, *bg = a + m * 3;
    CHECKF(mid[0] > bg[0] + 20 && mid[1] + 30 < bg[1], "the square's middle at t = 1/2 is (%d, %d, %d), the "
           "background there (%d, %d, %d)", mid[0], mid[1], mid[2], bg[0], bg[1], bg[2]);
    free(a); free(b); free(out); free(fl);
}

TEST(middle_frame_matches_true_shift) {
    int w = 96, h = 64;
    size_t fb = (size_t)w * h * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb), *mid = malloc(fb), *out = malloc(fb), *out2 = malloc(fb);
    texture(a, w, h, 0, 0, 0, 2);
    texture(b, w, h, 4.0, 2.0, 0, 2);
    texture(mid, w, h, 2.0, 1.0, 0, 2);
    float ts[2] = {0.5f, 0.25f};
    uint8_t *outs[2] = {out, out2};
    kn_error err = {0};
    REQUIRE(kn_interp_pair(NULL, NULL, a, b, w, h, ts, 2, outs, &err) == KN_OK);
    double p = interior_psnr(out, mid, w, h, 6), blend;
    {   /* the linear blend, for scale */
        uint8_t *bl = malloc(fb);
        for (size_t i = 0; i < fb; i++) bl[i] = (uint8_t)((a[i] + b[i] + 1) / 2);
        blend = interior_psnr(bl, mid, w, h, 6);
        free(bl);
    }
    CHECKF(p > 38, "middle frame PSNR %.2f dB (blend %.2f)", p, blend);
    texture(mid, w, h, 1.0, 0.5, 0, 2);
    double q = interior_psnr(out2, mid, w, h, 6);
    CHECKF(q > 38, "t=0.25 frame PSNR %.2f dB", q);
    free(a); free(b); free(mid); free(out); free(out2);
}

TEST(edge_times_copy_the_frames) {
    int w = 40, h = 30;
    size_t fb = (size_t)w * h * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb), *o0 = malloc(fb), *o1 = malloc(fb);
    texture(a, w, h, 0, 0, 0, 3);
    texture(b, w, h, 1.5, 1, 0, 3);
    float ts[2] = {0.f, 1.f};
    uint8_t *outs[2] = {o0, o1};
    kn_error err = {0};
    REQUIRE(kn_interp_pair(NULL, NULL, a, b, w, h, ts, 2, outs, &err) == KN_OK);
    CHECK(!memcmp(o0, a, fb));
    CHECK(!memcmp(o1, b, fb));
    float bad = 1.5f;
    CHECK(kn_interp_pair(NULL, NULL, a, b, w, h, &bad, 1, outs, &err) == KN_EINVAL);
    free(a); free(b); free(o0); free(o1);
}

/* Several times of one pair rendered in one call (what does not depend on t found once) give the
 * frames that one call per time gives, with the edge times among them. */
TEST(times_together_match_one_at_a_time) {
    int w = 48, h = 36;
    size_t fb = (size_t)w * h * 3;
    enum { NT = 5 };
    float ts[NT] = {0.25f, 0.f, 0.5f, 0.8f, 1.f};
    uint8_t *a = malloc(fb), *b = malloc(fb), *all = malloc(fb * NT), *one = malloc(fb);
    texture(a, w, h, 0, 0, 0, 2);
    texture(b, w, h, 3.5, -2, 6, 2);
    uint8_t *outs[NT];
    for (int i = 0; i < NT; i++) outs[i] = all + fb * i;
    kn_error err = {0};
    REQUIRE(kn_interp_pair(NULL, NULL, a, b, w, h, ts, NT, outs, &err) == KN_OK);
    for (int i = 0; i < NT; i++) {
        REQUIRE(kn_interp_pair(NULL, NULL, a, b, w, h, &ts[i], 1, &one, &err) == KN_OK);
        CHECK(!memcmp(outs[i], one, fb));
    }
    CHECK(memcmp(outs[0], outs[2], fb) != 0);
    free(a); free(b); free(all); free(one);
}

/* The RGB samplers (vector code inside the frame on x86-64) give bit for bit what their scalar
 * definitions give, inside the frame, at its borders and outside it: Keys' bicubic (taps clamped
 * to the frame) and bilinear. */
TEST(samplers_match_their_definition) {
    int w = 13, h = 9;
    uint8_t im[13 * 9 * 3];
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof im; i++) { r = r * 1664525u + 1013904223u; im[i] = (uint8_t)(r >> 24); }
    int wrong_cubic = 0, wrong_linear = 0;
    for (int k = 0; k < 4000; k++) {
        r = r * 1664525u + 1013904223u;
        float x = (float)((r >> 8) % 1600) / 100.f - 1.5f;   /* -1.5 .. 14.5 */
        r = r * 1664525u + 1013904223u;
        float y = (float)((r >> 8) % 1200) / 100.f - 1.5f;   /* -1.5 .. 10.5 */
        float got[3], cx = x, cy = y;
        kn_clamp_to_frame(w, h, &cx, &cy);
        int x0 = (int)cx, y0 = (int)cy;
        float wx[4], wy[4];
        kn_keys_weights(cx - (float)x0, wx);
        kn_keys_weights(cy - (float)y0, wy);
        float want[3] = {0, 0, 0};
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 4; j++) {
                const uint8_t *row = im + (size_t)kn_clampi(y0 + j - 1, 0, h - 1) * w * 3;
                float hsum = wx[0] * row[kn_clampi(x0 - 1, 0, w - 1) * 3 + c] + wx[1] * row[kn_clampi(x0, 0, w - 1) * 3 + c] +
                             wx[2] * row[kn_clampi(x0 + 1, 0, w - 1) * 3 + c] + wx[3] * row[kn_clampi(x0 + 2, 0, w - 1) * 3 + c];
                want[c] += wy[j] * hsum;
            }
        kn_bicubic_rgb(im, w, h, x, y, got);
        wrong_cubic += memcmp(got, want, sizeof got) != 0;
        int x1 = x0 < w - 1 ? x0 + 1 : x0, y1 = y0 < h - 1 ? y0 + 1 : y0;
        float fx = cx - (float)x0, fy = cy - (float)y0;
        for (int c = 0; c < 3; c++) {
            const uint8_t *t = im + (size_t)y0 * w * 3, *b = im + (size_t)y1 * w * 3;
            float top = t[x0 * 3 + c] + fx * (t[x1 * 3 + c] - t[x0 * 3 + c]);
            float bot = b[x0 * 3 + c] + fx * (b[x1 * 3 + c] - b[x0 * 3 + c]);
            want[c] = top + fy * (bot - top);
        }
        kn_bilinear_rgb(im, w, h, x, y, got);
        wrong_linear += memcmp(got, want, sizeof got) != 0;
    }
    CHECKF(wrong_cubic == 0, "%d of 4000 bicubic samples", wrong_cubic);
    CHECKF(wrong_linear == 0, "%d of 4000 bilinear samples", wrong_linear);
}

TEST(odd_and_tiny_sizes) {
    int sizes[][2] = {{33, 17}, {17, 33}, {1, 1}, {5, 3}, {2, 9}};
    for (int s = 0; s < 5; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        size_t fb = (size_t)w * h * 3;
        uint8_t *a = malloc(fb), *b = malloc(fb), *o = malloc(fb);
        texture(a, w, h, 0, 0, 0, 4);
        texture(b, w, h, 1, 0.5, 0, 4);
        float t = 0.5f;
        kn_error err = {0};
        CHECKF(kn_interp_pair(NULL, NULL, a, b, w, h, &t, 1, &o, &err) == KN_OK, "%dx%d: %s", w, h, err.msg);
        free(a); free(b); free(o);
        /* a whole video (the path that measures the kept frames: acceleration, kernel, still parts,
         * jumps), 8 frames: drifting, then one step to another texture that stays */
        kn_video in = {w, h, 8, 8.f, malloc(fb * 8), 0, NULL}, out = {0};
        REQUIRE(in.rgb != NULL);
        for (int i = 0; i < 8; i++) texture(in.rgb + fb * i, w, h, i < 4 ? 0.7 * i : 0, 0, i < 4 ? 0 : 60, i < 4 ? 4 : 7);
        CHECKF(kn_interp_video(NULL, NULL, &in, 2, 0, &out, &err) == KN_OK, "%dx%d video: %s", w, h, err.msg);
        if (out.rgb) CHECK(out.nframes == 15 && !memcmp(out.rgb + fb * 14, in.rgb + fb * 7, fb));
        kn_video_free(&out); kn_video_free(&in);
    }
}

TEST(thread_count_does_not_change_output) {
    int w = 71, h = 45, n = 3;
    size_t fb = (size_t)w * h * 3;
    kn_video in = {w, h, n, 8.f, malloc(fb * n), 0, NULL}, o1 = {0}, o3 = {0};
    for (int i = 0; i < n; i++) texture(in.rgb + fb * i, w, h, 2.3 * i, -1.1 * i, 3 * i, 5);
    kn_error err = {0};
    kn_pool *p1, *p3;
    REQUIRE(kn_pool_create(1, &p1, &err) == KN_OK);
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    kn_ctx c1 = {p1, KN_ISA_SCALAR, NULL}, c3 = {p3, KN_ISA_SCALAR, NULL};
    REQUIRE(kn_interp_video(&c1, NULL, &in, 3, 0, &o1, &err) == KN_OK);
    REQUIRE(kn_interp_video(&c3, NULL, &in, 3, 0, &o3, &err) == KN_OK);
    CHECK(o1.nframes == 7 && o3.nframes == 7);
    CHECK(!memcmp(o1.rgb, o3.rgb, fb * 7));
    kn_video_free(&o1); kn_video_free(&o3); kn_video_free(&in);
    kn_pool_destroy(p1); kn_pool_destroy(p3);
}

TEST(scene_cut_repeats_the_nearer_frame) {
    int w = 96, h = 64;
    size_t fb = (size_t)w * h * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb), *o[3];
    for (int i = 0; i < 3; i++) o[i] = malloc(fb);
    texture(a, w, h, 0, 0, 0, 6);
    texture(b, w, h, 0, 0, 0, 9);   /* unrelated content */
    float ts[3] = {0.25f, 0.5f, 0.75f};
    kn_error err = {0};
    REQUIRE(kn_interp_pair(NULL, NULL, a, b, w, h, ts, 3, o, &err) == KN_OK);
    CHECK(!memcmp(o[0], a, fb));
    CHECK(!memcmp(o[1], a, fb));   /* the midpoint keeps the first shot */
    CHECK(!memcmp(o[2], b, fb));
    /* and a moving shot is not a cut */
    texture(b, w, h, 5, -3, 0, 6);
    CHECK(is_cut_of(a, b, w, h, 1) == 0);
    CHECK(is_cut_of(a, b, w, h, 0) == 0);
    for (int i = 0; i < 3; i++) free(o[i]);
    free(a); free(b);
}

/* A cut replaces most of the picture. A small object that jumps far over a still, faintly noisy
 * background is not one, although the flows wander over the background (every flow fits it) and
 * disagree there on most pixels: the pair is interpolated, not repeated (a repeat without the
 * in-place test). A shot that changes most of the picture within a still border stays a cut. */
TEST(cut_needs_most_of_the_picture_to_change) {
    int w = 96, h = 64;
    size_t fb = (size_t)w * h * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb), *tex = malloc(fb), *mid = malloc(fb);
    uint32_t seed = 12345;
    for (size_t i = 0; i < fb; i += 3) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = a[i + 1] = a[i + 2] = (uint8_t)(8 + (seed >> 30));   /* 8..11 */
    }
    memcpy(b, a, fb);
    texture(tex, w, h, 0, 0, 0, 4);
    for (int y = 0; y < 12; y++)   /* a 12x12 sprite at (8, 20) in a, at (60, 30) in b */
        for (int x = 0; x < 12; x++) {
            memcpy(a + ((size_t)(20 + y) * w + 8 + x) * 3, tex + ((size_t)y * w + x) * 3, 3);
            memcpy(b + ((size_t)(30 + y) * w + 60 + x) * 3, tex + ((size_t)y * w + x) * 3, 3);
        }
    CHECK(is_cut_of(a, b, w, h, 1) == 0);
    kn_error err = {0};
    float t = 0.5f;
    uint8_t *outs[1] = {mid};
    REQUIRE(kn_interp_pair(NULL, NULL, a, b, w, h, &t, 1, outs, &err) == KN_OK);
    CHECK(memcmp(mid, a, fb) != 0);
    /* a new picture inside a still 8-pixel border: most of it changes, and it is a cut */
    texture(tex, w, h, 0, 0, 0, 9);
    for (int y = 8; y < h - 8; y++) memcpy(b + ((size_t)y * w + 8) * 3, tex + ((size_t)y * w + 8) * 3, (size_t)(w - 16) * 3);
    CHECK(is_cut_of(a, b, w, h, 1) == 1);
    free(a); free(b); free(tex); free(mid);
}

TEST(brightness_change_does_not_bias_flow) {
    int w = 96, h = 64;
    size_t fb = (size_t)w * h * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb);
    texture(a, w, h, 0, 0, 0, 7);
    texture(b, w, h, -2.5, 1.5, 30, 7);   /* brighter by 30 levels */
    kn_error err = {0};
    kn_flow f = {0};
    REQUIRE(flow_of(NULL, a, b, w, h, &f, &err) == KN_OK);
    CHECK_NEAR(interior_mean(f.u, w, h, 8), -2.5, 0.15);
    CHECK_NEAR(interior_mean(f.v, w, h, 8), 1.5, 0.15);
    kn_flow_free(&f);
    free(a); free(b);
}

TEST(video_factor_and_fps_semantics) {
    int w = 24, h = 16, n = 5;
    size_t fb = (size_t)w * h * 3;
    int kf[2] = {0, 2};
    kn_video in = {w, h, n, 10.f, malloc(fb * n), 2, kf}, o = {0};
    for (int i = 0; i < n; i++) texture(in.rgb + fb * i, w, h, 0.7 * i, 0.3 * i, 0, 8);
    kn_error err = {0};
    REQUIRE(kn_interp_video(NULL, NULL, &in, 4, 0, &o, &err) == KN_OK);
    CHECK(o.nframes == 17);
    CHECK_NEAR(o.fps, 40, 1e-4);
    for (int i = 0; i < n; i++) CHECK(!memcmp(o.rgb + fb * 4 * i, in.rgb + fb * i, fb));
    CHECK(o.nkeyframes == 2 && o.keyframe_index[1] == 8);
    kn_video_free(&o);
    /* 10 fps -> 25 fps: frames at k/25 s up to 0.4 s; k = 0, 5, 10 coincide with inputs 0, 2, 4 */
    REQUIRE(kn_interp_video(NULL, NULL, &in, 0, 25, &o, &err) == KN_OK);
    CHECK(o.nframes == 11);
    CHECK(!memcmp(o.rgb, in.rgb, fb));
    CHECK(!memcmp(o.rgb + fb * 5, in.rgb + fb * 2, fb));
    CHECK(!memcmp(o.rgb + fb * 10, in.rgb + fb * 4, fb));
    CHECK(memcmp(o.rgb + fb * 3, in.rgb + fb * 1, fb) != 0);
    CHECK(o.nkeyframes == 2 && o.keyframe_index[1] == 5);
    kn_video_free(&o);
    /* 10 -> 4 fps: k/4 s for k = 0, 1 (0.25 s, between inputs 2 and 3) */
    REQUIRE(kn_interp_video(NULL, NULL, &in, 0, 4, &o, &err) == KN_OK);
    CHECK(o.nframes == 2);
    kn_video_free(&o);
    CHECK(kn_interp_video(NULL, NULL, &in, 2, 20, &o, &err) == KN_EINVAL);
    CHECK(kn_interp_video(NULL, NULL, &in, 0, 0, &o, &err) == KN_EINVAL);
    in.keyframe_index = NULL;
    free(in.rgb);
}

/* A sink that collects frames (checking they come in order), and fails at frame fail_at. */
typedef struct { uint8_t *rgb; size_t fb; long long next, fail_at; } collect_sink;
static kn_status collect(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    collect_sink *c = user;
    if (k != c->next) return kn_fail(err, KN_EINTERNAL, "frame %lld came as %lld", c->next, k);
    if (k == c->fail_at) return kn_fail(err, KN_EIO, "disk full at frame %lld", k);
    memcpy(c->rgb + (size_t)k * c->fb, rgb, c->fb);
    c->next++;
    return KN_OK;
}

/* kn_interp_video_to hands over, in order, the very frames kn_interp_video keeps (the whole-video
 * path, 12 frames, factor and fps modes), and a sink's failure stops it with the sink's status. */
TEST(video_to_sink_matches_video) {
    int w = 48, h = 32, n = 12;
    size_t fb = (size_t)w * h * 3;
    kn_video in = {w, h, n, 10.f, malloc(fb * n), 0, NULL}, o = {0};
    for (int i = 0; i < n; i++) texture(in.rgb + fb * i, w, h, 0.9 * i + 0.08 * i * i, 0.4 * i, 0, 3);
    kn_error err = {0};
    int factors[2] = {3, 0};
    double fpss[2] = {0, 25};
    for (int q = 0; q < 2; q++) {
        REQUIRE(kn_interp_video(NULL, NULL, &in, factors[q], fpss[q], &o, &err) == KN_OK);
        collect_sink c = {calloc((size_t)o.nframes, fb), fb, 0, -1};
        REQUIRE(c.rgb != NULL);
        CHECK(kn_interp_video_to(NULL, NULL, &in, factors[q], fpss[q], collect, &c, &err) == KN_OK);
        CHECK(c.next == o.nframes);
        CHECK(!memcmp(c.rgb, o.rgb, fb * (size_t)o.nframes));
        c.next = 0;
        c.fail_at = 5;
        CHECK(kn_interp_video_to(NULL, NULL, &in, factors[q], fpss[q], collect, &c, &err) == KN_EIO);
        CHECK(c.next == 5 && strstr(err.msg, "disk full at frame 5"));
        free(c.rgb);
        kn_video_free(&o);
    }
    CHECK(kn_interp_video_between(10, 3, 0) == 3);
    CHECK(kn_interp_video_between(10, 0, 25) == 5);
    CHECK(kn_interp_video_frames(n, 10, 3, 0) == 34);
    CHECK(kn_interp_video_frames(n, 10, 0, 25) == 28);
    free(in.rgb);
}

/* A source that hands out a video's frames one at a time (counting the pulls), and fails at frame
 * fail_at. */
typedef struct { const kn_video *v; int next, fail_at, pulls; const double *times; } video_source;
static kn_status pull_frame(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    video_source *s = user;
    s->pulls++;
    *got = 0;
    if (s->next == s->fail_at) return kn_fail(err, KN_EFORMAT, "damaged frame %d", s->next);
    if (s->next >= s->v->nframes) return KN_OK;
    if (s->times) *time = s->times[s->next];
    memcpy(rgb, kn_video_frame(s->v, s->next++), (size_t)s->v->width * s->v->height * 3);
    *got = 1;
    return KN_OK;
}

/* kn_interp_stream pulls the frames one at a time and hands over the very frames kn_interp_video_to
 * does: the pairs in order (12 frames: acceleration, kernel choice, pooling and jumps all read frames
 * around the pair from the ring) and pair by pair (6 frames, or fewer frames out than in), factor
 * and fps modes, up and down, without times and with steady ones (from another origin); a single
 * frame; a source's failure stops it with its status, and a source with no frames is an error. */
TEST(stream_matches_video_to) {
    int w = 40, h = 32, n = 12;
    size_t fb = (size_t)w * h * 3;
    kn_video full = {w, h, n, 10.f, malloc(fb * n), 0, NULL};
    REQUIRE(full.rgb != NULL);
    for (int i = 0; i < n; i++) texture(full.rgb + fb * i, w, h, 1.3 * i + 0.1 * i * i, -0.5 * i, 0, 4);
    kn_error err = {0};
    int lens[3] = {12, 6, 1};
    int factors[4] = {2, 0, 0, 1};
    double fpss[4] = {0, 27, 4, 0};
    double steady[12];
    for (int i = 0; i < n; i++) steady[i] = 7.3 + i / 10.0;
    for (int l = 0; l < 3; l++)
        for (int q = 0; q < 8; q++) {
            kn_video in = full;
            in.nframes = lens[l];
            long long nout = kn_interp_video_frames(in.nframes, in.fps, factors[q % 4], fpss[q % 4]);
            collect_sink a = {calloc((size_t)nout, fb), fb, 0, -1}, b = {calloc((size_t)nout + 1, fb), fb, 0, -1};
            REQUIRE(a.rgb != NULL && b.rgb != NULL);
            video_source src = {.v = &in, .fail_at = -1, .times = q >= 4 ? steady : NULL};
            REQUIRE(kn_interp_video_to(NULL, NULL, &in, factors[q % 4], fpss[q % 4], collect, &a, &err) == KN_OK);
            CHECKF(kn_interp_stream(NULL, NULL, w, h, in.fps, pull_frame, &src, factors[q % 4], fpss[q % 4], collect,
                                    &b, NULL, &err) == KN_OK, "%s", err.msg);
            CHECKF(b.next == nout && a.next == nout, "%d frames, mode %d: %lld and %lld of %lld", lens[l], q, a.next,
                   b.next, nout);
            CHECKF(!memcmp(a.rgb, b.rgb, fb * (size_t)nout), "%d frames, mode %d", lens[l], q);
            free(a.rgb); free(b.rgb);
        }
    collect_sink c = {calloc((size_t)40, fb), fb, 0, -1};
    REQUIRE(c.rgb != NULL);
    video_source bad = {.v = &full, .fail_at = 7};
    CHECK(kn_interp_stream(NULL, NULL, w, h, 10, pull_frame, &bad, 2, 0, collect, &c, NULL, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "damaged frame 7") != NULL);
    CHECK(c.next < 14);   /* output frame 14 is input frame 7: never made */
    kn_video none = full;
    none.nframes = 0;
    video_source empty = {.v = &none, .fail_at = -1};
    c.next = 0;
    CHECK(kn_interp_stream(NULL, NULL, w, h, 10, pull_frame, &empty, 2, 0, collect, &c, NULL, &err) == KN_EINVAL);
    CHECK(strstr(err.msg, "no frames") != NULL && c.next == 0);
    CHECK(kn_interp_stream(NULL, NULL, w, h, 0, pull_frame, &empty, 0, 25, collect, &c, NULL, &err) == KN_EINVAL);
    CHECK(kn_interp_stream(NULL, NULL, 0, h, 10, pull_frame, &empty, 2, 0, collect, &c, NULL, &err) == KN_EINVAL);
    free(c.rgb);
    free(full.rgb);
}

/* On small frames with two threads or more, a pair is rendered on one thread while a later pair's
 * flows are estimated on another (interp.c, stream_overlap). The frames are those of one thread:
 * a whole video and a pulled stream, factor and fps modes, steady and timed frames, with an
 * accelerating texture and a cut, so every in-order feature runs. */
TEST(overlapped_render_matches_one_thread) {
    int w = 56, h = 40, n = 14;
    size_t fb = (size_t)w * h * 3;
    kn_video in = {w, h, n, 10.f, malloc(fb * n), 0, NULL};
    REQUIRE(in.rgb != NULL);
    for (int i = 0; i < n; i++)
        texture(in.rgb + fb * i, w, h, 0.9 * i + 0.15 * i * i, -0.4 * i, 0, i < 9 ? 3 : 8);   /* a cut at 9 */
    kn_error err = {0};
    kn_pool *p2;
    REQUIRE(kn_pool_create(2, &p2, &err) == KN_OK);
    kn_ctx c2 = {p2, KN_ISA_SCALAR, NULL};
    int factors[3] = {2, 0, 0};
    double fpss[3] = {0, 27, 4}, times[14];
    for (int i = 0; i < n; i++) times[i] = 3.1 + i / 10.0 + (i == 5 ? 0.03 : 0);   /* one frame late */
    for (int q = 0; q < 6; q++) {
        int f = factors[q % 3];
        double fps = fpss[q % 3];
        long long nout = kn_interp_video_frames(n, in.fps, f, fps);
        collect_sink one = {calloc((size_t)nout, fb), fb, 0, -1}, two = {calloc((size_t)nout, fb), fb, 0, -1};
        REQUIRE(one.rgb && two.rgb);
        video_source s1 = {.v = &in, .fail_at = -1, .times = q >= 3 ? times : NULL}, s2 = s1;
        REQUIRE(kn_interp_stream(NULL, NULL, w, h, in.fps, pull_frame, &s1, f, fps, collect, &one, NULL, &err) == KN_OK);
        CHECKF(kn_interp_stream(&c2, NULL, w, h, in.fps, pull_frame, &s2, f, fps, collect, &two, NULL, &err) == KN_OK,
               "%s", err.msg);
        CHECKF(one.next == nout && two.next == nout && !memcmp(one.rgb, two.rgb, fb * (size_t)nout),
               "mode %d: %lld and %lld frames of %lld", q, one.next, two.next, nout);
        if (q < 3) {   /* the whole-video path too */
            kn_video o = {0};
            REQUIRE(kn_interp_video(&c2, NULL, &in, f, fps, &o, &err) == KN_OK);
            CHECKF(o.nframes == nout && !memcmp(o.rgb, one.rgb, fb * (size_t)nout), "mode %d, whole video", q);
            kn_video_free(&o);
        }
        free(one.rgb); free(two.rgb);
    }
    kn_pool_destroy(p2);
    free(in.rgb);
}

TEST(metrics) {
    int w = 32, h = 24;
    size_t fb = (size_t)w * h * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb);
    texture(a, w, h, 0, 0, 0, 1);
    memcpy(b, a, fb);
    CHECK(isinf(kn_psnr_rgb(a, b, w, h)));
    CHECK_NEAR(kn_ssim_luma(a, b, w, h), 1.0, 1e-9);
    for (size_t i = 0; i < fb; i++) b[i] = (uint8_t)(a[i] > 250 ? a[i] - 5 : a[i] + 5);
    CHECK_NEAR(kn_psnr_rgb(a, b, w, h), 10 * log10(255.0 * 255.0 / 25), 1e-6);
    CHECK(kn_ssim_luma(a, b, w, h) < 1.0);
    free(a); free(b);
}

/* SSIM as Wang et al. define it, summed over each 2-D window directly: the reference for the
 * separable, row-ring kn_ssim_luma. */
static double ssim_direct(const uint8_t *a, const uint8_t *b, int w, int h) {
    int win = 11;
    if (w < win || h < win) win = w < h ? w : h;
    double g[11], gs = 0, total = 0;
    for (int i = 0; i < win; i++) { double d = i - (win - 1) / 2.0; g[i] = exp(-d * d / 4.5); gs += g[i]; }
    for (int i = 0; i < win; i++) g[i] /= gs;
    const double c1 = 6.5025, c2 = 58.5225;
    for (int r = 0; r + win <= h; r++)
        for (int c = 0; c + win <= w; c++) {
            double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
            for (int i = 0; i < win; i++)
                for (int k = 0; k < win; k++) {
                    const uint8_t *p = a + 3 * ((size_t)(r + i) * w + c + k), *q = b + 3 * ((size_t)(r + i) * w + c + k);
                    double x = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                    double y = 0.299 * q[0] + 0.587 * q[1] + 0.114 * q[2], wt = g[i] * g[k];
                    mx += wt * x; my += wt * y; xx += wt * x * x; yy += wt * y * y; xy += wt * x * y;
                }
            double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
            total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        }
    return total / ((double)(w - win + 1) * (h - win + 1));
}

TEST(ssim_matches_the_windowed_definition) {
    int sizes[][2] = {{37, 29}, {11, 11}, {64, 12}, {9, 20}};
    for (int s = 0; s < 4; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        size_t fb = (size_t)w * h * 3;
        uint8_t *a = malloc(fb), *b = malloc(fb);
        REQUIRE(a && b);
        texture(a, w, h, 0, 0, 0, 1);
        uint32_t seed = 12345u + (uint32_t)s;
        for (size_t i = 0; i < fb; i++) {
            seed = seed * 1664525u + 1013904223u;
            int v = a[i] + (int)(seed >> 27) - 16;
            b[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        double got = kn_ssim_luma(a, b, w, h), want = ssim_direct(a, b, w, h);
        CHECKF(fabs(got - want) < 1e-12 && got < 0.999, "%dx%d: %.15f against %.15f", w, h, got, want);
        free(a); free(b);
    }
}

/* A consistent but wrong flow on a still scene: the splatted hypothesis's two warped frames disagree,
 * the no-motion hypothesis's agree exactly, so the render follows the latter. */
TEST(wrong_flow_on_a_still_scene_hedges_to_no_motion) {
    int w = 80, h = 56;
    size_t n = (size_t)w * h, fb = n * 3;
    uint8_t *a = malloc(fb), *out = malloc(fb);
    float *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *mu = malloc(n * sizeof *mu), *mv = malloc(n * sizeof *mv);
    texture(a, w, h, 0, 0, 0, 2);
    for (size_t i = 0; i < n; i++) { u[i] = 7.f; v[i] = -5.f; mu[i] = -7.f; mv[i] = 5.f; }
    kn_flow f01 = {w, h, u, v}, f10 = {w, h, mu, mv};
    kn_error err = {0};
    REQUIRE(kn_interp_render(NULL, a, a, w, h, &f01, &f10, 0.5f, out, &err) == KN_OK);
    double p = interior_psnr(a, out, w, h, 8);
    printf("  still scene, wrong flow: %.1f dB\n", p);
    CHECK(p > 40);
    free(a); free(out); free(u); free(v); free(mu); free(mv);
}

/* A patch of wrong but consistent flow inside a correctly tracked translation: no hypothesis at the
 * patch's pixels is right (the splatted, forward and backward flows are the wrong ones, and the scene
 * moves), but the nearby pixels' flows are, so the patch is rendered as the true middle frame. */
TEST(wrong_flow_patch_takes_a_nearby_pixels_flow) {
    int w = 96, h = 72, x0 = 42, y0 = 30, side = 12;
    size_t n = (size_t)w * h, fb = n * 3;
    uint8_t *a = malloc(fb), *b = malloc(fb), *mid = malloc(fb), *out = malloc(fb);
    float *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *mu = malloc(n * sizeof *mu), *mv = malloc(n * sizeof *mv);
    texture(a, w, h, 0, 0, 0, 3);
    texture(b, w, h, 4.0, 2.0, 0, 3);
    texture(mid, w, h, 2.0, 1.0, 0, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int in = x >= x0 - 4 && x < x0 + side + 4 && y >= y0 - 4 && y < y0 + side + 4;
            u[i] = in ? -3.f : 4.f; v[i] = in ? 5.f : 2.f;
            mu[i] = -u[i]; mv[i] = -v[i];
        }
    kn_flow f01 = {w, h, u, v}, f10 = {w, h, mu, mv};
    kn_error err = {0};
    REQUIRE(kn_interp_render(NULL, a, b, w, h, &f01, &f10, 0.5f, out, &err) == KN_OK);
    /* PSNR over the patch */
    double se = 0;
    int cnt = 0;
    for (int y = y0; y < y0 + side; y++)
        for (int x = x0; x < x0 + side; x++)
            for (int c = 0; c < 3; c++) {
                double d = (double)out[((size_t)y * w + x) * 3 + c] - mid[((size_t)y * w + x) * 3 + c];
                se += d * d; cnt++;
            }
    double p = se == 0 ? 99 : 10 * log10(255.0 * 255.0 * cnt / se);
    printf("  wrong-flow patch: %.1f dB\n", p);
    CHECK(p > 50);   /* 33 dB without the nearby pixels' flows (the gate off) */
    free(a); free(b); free(mid); free(out); free(u); free(v); free(mu); free(mv);
}

/* A still post (2 px, dark) in front of a texture moving 6 px right: the post's own flow stays near 0
 * because the smoothness weight falls off across its edges instead of pulling it to the texture's
 * (mean |u| on the post 0.26 px; 1.70 px with a uniform smoothness weight). */
static void draw_post(uint8_t *rgb, int w, int h, int x0, int width) {
    for (int y = 0; y < h; y++)
        for (int x = x0; x < x0 + width; x++)
            for (int c = 0; c < 3; c++) rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(20 + 5 * c);
}

TEST(still_post_keeps_its_own_flow) {
    int w = 160, h = 120, x0 = 80, pw = 2;
    double mv = 6;
    uint8_t *a = malloc((size_t)w * h * 3), *b = malloc((size_t)w * h * 3);
    texture(a, w, h, 0, 0, 0, 4);
    texture(b, w, h, mv, 0, 0, 4);
    draw_post(a, w, h, x0, pw);
    draw_post(b, w, h, x0, pw);
    kn_error err = {0};
    float *g0, *g1;
    REQUIRE(kn_interp_luma(a, w, h, &g0, &err) == KN_OK && kn_interp_luma(b, w, h, &g1, &err) == KN_OK);
    /* at full resolution (the refinement's edge weight is what keeps the post), and at the default
     * level for this size (half resolution since the smaller side is >= 100 px), which is coarser */
    for (int level = 0; level < 2; level++) {
        kn_interp_opts o;
        kn_interp_opts_default(&o);
        if (level == 0) o.finest_level = 0;
        kn_flow f = {0};
        REQUIRE(kn_flow_estimate(NULL, &o, g0, g1, w, h, &f, &err) == KN_OK);
        double post = 0, back = 0;
        int np = 0, nb = 0;
        for (int y = 8; y < h - 8; y++)
            for (int x = 8; x < w - 8; x++) {
                float u = f.u[(size_t)y * w + x];
                if (x >= x0 && x < x0 + pw) { post += fabsf(u); np++; }
                else if (x < x0 - 8 || x >= x0 + pw + 8) { back += u; nb++; }
            }
        post /= np; back /= nb;
        printf("  %s: post |u| %.3f px, background u %.3f px\n", level ? "default level" : "full resolution", post, back);
        CHECK_NEAR(back, mv, level ? 0.2 : 0.1);
        CHECK(post < 0.8);
        kn_flow_free(&f);
    }
    kn_free(g0); kn_free(g1);
    free(a); free(b);
}

/* Every other frame of `full` (frames 0, 2, ..., 2 (nkept - 1)) as a 12 fps video, as eval-interp
 * keeps them. */
static kn_video kept_frames(const uint8_t *full, int w, int h, int nkept) {
    size_t fb = (size_t)w * h * 3;
    kn_video in = {w, h, nkept, 12.f, malloc(fb * nkept), 0, NULL};
    for (int m = 0; m < nkept; m++) memcpy(in.rgb + fb * m, full + fb * (2 * m), fb);
    return in;
}

/* A texture accelerating at 2c px per frame^2 (position c (k - 11)^2 along (1, 0.5) at frame k, every
 * other frame kept): constant velocity puts every dropped frame c px off its path, the quadratic
 * model puts it on it. */
TEST(accelerating_video_follows_the_bend) {
    int w = 128, h = 96, nk = 23, nkept = 12, margin = 16;
    double c = 0.15;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    for (int k = 0; k < nk; k++) texture(full + fb * k, w, h, c * (k - 11) * (k - 11), 0.5 * c * (k - 11) * (k - 11), 0, 2);
    kn_video in = kept_frames(full, w, h, nkept), bent = {0}, straight = {0}, bent3 = {0};
    kn_error err = {0};
    kn_interp_opts on, off;
    kn_interp_opts_default(&on);
    kn_interp_opts_default(&off);
    off.accel = 0;
    on.cubic = off.cubic = 0;   /* the bend alone (this clean texture would be sampled bicubically) */
    kn_pool *p3;
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    kn_ctx c3 = {p3, KN_ISA_SCALAR, NULL};
    REQUIRE(kn_interp_video(NULL, &on, &in, 2, 0, &bent, &err) == KN_OK);
    REQUIRE(kn_interp_video(&c3, &on, &in, 2, 0, &bent3, &err) == KN_OK);
    REQUIRE(kn_interp_video(NULL, &off, &in, 2, 0, &straight, &err) == KN_OK);
    REQUIRE(bent.nframes == nk && straight.nframes == nk);
    CHECK(!memcmp(bent.rgb, bent3.rgb, fb * nk));   /* the gain too is independent of the thread count */
    for (int i = 0; i < nkept - 1; i++) {
        const uint8_t *truth = full + fb * (2 * i + 1);
        double pb = interior_psnr(bent.rgb + fb * (2 * i + 1), truth, w, h, margin);
        double ps = interior_psnr(straight.rgb + fb * (2 * i + 1), truth, w, h, margin);
        printf("  frame %2d: %.2f dB bent, %.2f dB at constant velocity\n", 2 * i + 1, pb, ps);
        /* pairs 0-3 have no measured kept frame behind them (the first is frame 3, measured with
         * frames 0-6): constant velocity, exactly as without */
        if (i < 4) CHECKF(!memcmp(bent.rgb + fb * (2 * i + 1), straight.rgb + fb * (2 * i + 1), fb), "frame %d", 2 * i + 1);
        else CHECKF(pb > ps + 4, "frame %d: %.2f vs %.2f dB", 2 * i + 1, pb, ps);
    }
    kn_video_free(&bent); kn_video_free(&bent3); kn_video_free(&straight); kn_video_free(&in);
    kn_pool_destroy(p3);
    free(full);
}

/* A texture decelerating to a stop at frame 16 (position c (k - 16)^2 before, still after): the
 * acceleration the video shows before the stop does not bend the still pairs after it (their own
 * flow is zero: bending them would move a picture that is the same in both frames). */
TEST(still_pair_after_a_stop_is_not_bent) {
    int w = 96, h = 72, nk = 25, nkept = 13;
    double c = 0.3;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    REQUIRE(full != NULL);
    for (int k = 0; k < nk; k++) {
        double d = k < 16 ? c * (k - 16) * (k - 16) : 0;
        texture(full + fb * k, w, h, d, 0.5 * d, 0, 2);
    }
    kn_video in = kept_frames(full, w, h, nkept), out = {0};
    kn_error err = {0};
    kn_interp_opts o;
    kn_interp_opts_default(&o);
    o.cubic = o.pool_still = 0;   /* the bend alone */
    REQUIRE(kn_interp_video(NULL, &o, &in, 2, 0, &out, &err) == KN_OK);
    for (int k = 17; k < nk; k += 2) {
        double p = interior_psnr(out.rgb + fb * k, full + fb * k, w, h, 0);
        printf("  frame %d (still pair): %.2f dB\n", k, p);
        CHECKF(p >= 60, "frame %d: %.2f dB", k, p);
    }
    kn_video_free(&out); kn_video_free(&in);
    free(full);
}

/* Clip INDEX of `kinora dataset --seed SEED` at 64x64 over 33 frames (a single sprite over a
 * checkerboard), drawn into *rgb (malloc'd), with its sprite's centre at frames fa and fb in ctr
 * (ax, ay, bx, by). KN_OK or the loader's error. */
static kn_status sprite_clip(uint64_t seed, uint64_t index, int fa, int fb, uint8_t **rgb, float ctr[4],
                             kn_error *err) {
    kn_sprite_set set;
    kn_status st = kn_sprites_load(NULL, NULL, &set, err);
    if (st) return st;
    kn_clip_spec c = kn_ds_clip_spec(seed, index);
    if (c.nobj != 1 || c.bg != KN_BG_CHECKERED)
        st = kn_fail(err, KN_EINVAL, "clip %d: not one sprite over a checkerboard", (int)index);
    *rgb = st ? NULL : malloc((size_t)64 * 64 * 3 * 33);
    if (!st && !*rgb) st = kn_fail(err, KN_ENOMEM, "out of memory");
    if (!st) st = kn_ds_render(&set, &c, 64, 33, *rgb, err);
    float scale, angle;
    kn_ds_object_pose(&c, 0, fa, 33, 64, &ctr[0], &ctr[1], &scale, &angle);
    kn_ds_object_pose(&c, 0, fb, 33, 64, &ctr[2], &ctr[3], &scale, &angle);
    kn_sprites_free(&set);
    return st;
}

/* A sprite clip of the default model's training set (`kinora dataset --seed 11`, clip 3: a soccer
 * ball moving diagonally over an 8 px checkerboard, 64x64), frames 8 and 12 as keyframes four
 * frames apart: with the neighbouring patches' results tried (o.propagate), the ball's flow is its
 * own; from the coarse flow alone, the patches over its left half settle on wrong minima (flows
 * pointing the other way) and the ball tears in the frame between. */
TEST(sprite_over_a_checkerboard_keeps_its_flow) {
    int S = 64, fa = 8, fb = 12, fm = 10;
    kn_error err = {0};
    uint8_t *clip;
    float ctr[4];
    REQUIRE(sprite_clip(11, 3, fa, fb, &clip, ctr, &err) == KN_OK);
    float ax = ctr[0], ay = ctr[1], bx = ctr[2], by = ctr[3];
    size_t frame = (size_t)S * S * 3;
    uint8_t *out = malloc(frame);
    double epe[2], psnr[2];
    for (int prop = 0; prop < 2; prop++) {
        kn_interp_opts o;
        kn_interp_opts_default(&o);
        o.propagate = prop;
        kn_flow f;
        REQUIRE(flow_of(&o, clip + frame * fa, clip + frame * fb, S, S, &f, &err) == KN_OK);
        double sum = 0;   /* mean flow error within 4 px of the ball's centre */
        int n = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                if ((x - ax) * (x - ax) + (y - ay) * (y - ay) > 16) continue;
                size_t p = (size_t)y * S + x;
                sum += hypot(f.u[p] - (bx - ax), f.v[p] - (by - ay));
                n++;
            }
        epe[prop] = sum / n;
        float t = (float)(fm - fa) / (float)(fb - fa);
        REQUIRE(kn_interp_pair(NULL, &o, clip + frame * fa, clip + frame * fb, S, S, &t, 1, &out, &err) == KN_OK);
        psnr[prop] = kn_psnr_rgb(out, clip + frame * fm, S, S);
        kn_flow_free(&f);
    }
    printf("  ball moving (%.1f, %.1f): mean flow error %.2f px propagated, %.2f px without; frame %d %.2f vs %.2f dB\n",
           bx - ax, by - ay, epe[1], epe[0], fm, psnr[1], psnr[0]);
    CHECKF(epe[1] < 0.5, "%.2f px", epe[1]);
    CHECKF(epe[0] > 1, "without propagation: %.2f px (the case no longer tests it)", epe[0]);
    CHECKF(psnr[1] > psnr[0] + 2, "%.2f vs %.2f dB", psnr[1], psnr[0]);
    free(clip); free(out);
}

/* A still checkerboard (8 px squares) under a sprite that moves 10 px up between two frames (the
 * dataset's seed 7, clip 7, frames 22 and 24): shifted by one period (16 px) the checkerboard matches
 * itself exactly, and the sprite's motion pulls the coarse flow toward that shift. The background
 * must keep zero motion, or the frame between shows it half a period off (squares inverted). */
TEST(still_checkerboard_keeps_zero_motion) {
    int S = 64, fa = 22, fb = 24;
    kn_error err = {0};
    uint8_t *clip;
    float ctr[4];
    REQUIRE(sprite_clip(7, 7, fa, fb, &clip, ctr, &err) == KN_OK);
    float ax = ctr[0], ay = ctr[1], bx = ctr[2], by = ctr[3];
    size_t frame = (size_t)S * S * 3;
    uint8_t *out = malloc(frame);
    kn_flow f;
    REQUIRE(flow_of(NULL, clip + frame * fa, clip + frame * fb, S, S, &f, &err) == KN_OK);
    double sum = 0, worst = 0;   /* background: 20 px or more from the sprite in both frames */
    int n = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            if (hypot(x - ax, y - ay) < 20 || hypot(x - bx, y - by) < 20) continue;
            size_t p = (size_t)y * S + x;
            double m = hypot(f.u[p], f.v[p]);
            sum += m;
            if (m > worst) worst = m;
            n++;
        }
    float t = 0.5f;
    REQUIRE(kn_interp_pair(NULL, NULL, clip + frame * fa, clip + frame * fb, S, S, &t, 1, &out, &err) == KN_OK);
    double psnr = kn_psnr_rgb(out, clip + frame * (fa + 1), S, S);
    printf("  sprite moving (%.1f, %.1f): background flow mean %.2f px, largest %.2f px (%d px); frame %d %.2f dB\n",
           bx - ax, by - ay, sum / n, worst, n, fa + 1, psnr);
    CHECKF(n > 1000 && sum / n < 0.1, "background flow %.2f px over %d px", sum / n, n);
    CHECKF(worst < 1, "background flow up to %.2f px", worst);
    kn_flow_free(&f);
    free(clip); free(out);
}

static int count_pairs(void *user, int pair, int npairs) {
    int *calls = user;
    (void)npairs;
    calls[0]++;
    return calls[1] >= 0 && pair >= calls[1];   /* calls[1]: the pair to cancel at (-1: never) */
}

/* kn_interp_fill, as generation uses it (keyframes at uneven output frames): the same engine as
 * kn_interp_video, so on the grid of a factor it is byte-identical to it, and between unevenly placed
 * keyframes it follows the acceleration too; bad placements are refused; progress can cancel. */
TEST(fill_places_frames_and_follows_the_bend) {
    int w = 128, h = 96, nk = 23, nkept = 12, margin = 16;
    double c = 0.15;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    for (int k = 0; k < nk; k++) texture(full + fb * k, w, h, c * (k - 11) * (k - 11), 0.5 * c * (k - 11) * (k - 11), 0, 2);
    kn_video in = kept_frames(full, w, h, nkept), grid = {0}, o = {0};
    kn_error err = {0};
    REQUIRE(kn_interp_video(NULL, NULL, &in, 2, 0, &grid, &err) == KN_OK);
    int pos[12], calls[2] = {0, -1};
    for (int i = 0; i < nkept; i++) pos[i] = 2 * i;
    REQUIRE(kn_video_alloc(&o, w, h, nk, 24.f, &err) == KN_OK);
    REQUIRE(kn_interp_fill(NULL, NULL, &in, pos, &o, count_pairs, calls, &err) == KN_OK);
    CHECK(!memcmp(o.rgb, grid.rgb, fb * nk));
    CHECK(calls[0] == nkept - 1);
    kn_video_free(&o);
    /* gaps of 2 to 4 frames; frame k between pos[i] and pos[i+1] is at source time 2i + 2 (k - pos[i]) / gap */
    int gaps[11] = {3, 2, 4, 3, 2, 3, 4, 3, 2, 4, 3};
    for (int i = 1; i < nkept; i++) pos[i] = pos[i - 1] + gaps[i - 1];
    int nout = pos[nkept - 1] + 1;
    kn_interp_opts off;
    kn_interp_opts_default(&off);
    off.accel = 0;
    kn_video straight = {0};
    REQUIRE(kn_video_alloc(&o, w, h, nout, 24.f, &err) == KN_OK);
    REQUIRE(kn_video_alloc(&straight, w, h, nout, 24.f, &err) == KN_OK);
    REQUIRE(kn_interp_fill(NULL, NULL, &in, pos, &o, NULL, NULL, &err) == KN_OK);
    REQUIRE(kn_interp_fill(NULL, &off, &in, pos, &straight, NULL, NULL, &err) == KN_OK);
    uint8_t *truth = malloc(fb);
    for (int i = 0; i < nkept; i++) CHECKF(!memcmp(o.rgb + fb * pos[i], in.rgb + fb * i, fb), "keyframe %d", i);
    for (int i = 4; i < nkept - 1; i++)   /* pairs 0-3 have no measured kept frame behind them */
        for (int k = pos[i] + 1; k < pos[i + 1]; k++) {
            double s = 2 * i + 2.0 * (k - pos[i]) / gaps[i];
            texture(truth, w, h, c * (s - 11) * (s - 11), 0.5 * c * (s - 11) * (s - 11), 0, 2);
            double pb = interior_psnr(o.rgb + fb * k, truth, w, h, margin);
            double ps = interior_psnr(straight.rgb + fb * k, truth, w, h, margin);
            printf("  placed frame %2d: %.2f dB bent, %.2f dB at constant velocity\n", k, pb, ps);
            CHECKF(pb > ps + 3, "frame %d (pair %d): %.2f vs %.2f dB", k, i, pb, ps);
        }
    calls[0] = 0; calls[1] = 5;
    CHECK(kn_interp_fill(NULL, NULL, &in, pos, &o, count_pairs, calls, &err) == KN_ECANCELLED);
    CHECK(calls[0] == 6);
    /* placements that do not fit the output */
    pos[0] = 1;
    CHECK(kn_interp_fill(NULL, NULL, &in, pos, &o, NULL, NULL, &err) == KN_EINVAL);
    pos[0] = 0; pos[5] = pos[4];
    CHECK(kn_interp_fill(NULL, NULL, &in, pos, &o, NULL, NULL, &err) == KN_EINVAL);
    CHECK(strstr(err.msg, "input frame 5") != NULL);
    pos[5] = pos[4] + 2; pos[nkept - 1]++;
    CHECK(kn_interp_fill(NULL, NULL, &in, pos, &o, NULL, NULL, &err) == KN_EINVAL);
    pos[nkept - 1]--;
    o.width--;
    CHECK(kn_interp_fill(NULL, NULL, &in, pos, &o, NULL, NULL, &err) == KN_EINVAL);
    o.width++;
    free(truth);
    kn_video_free(&o); kn_video_free(&straight); kn_video_free(&grid); kn_video_free(&in);
    free(full);
}

/* The gain is the least-squares one only where the model explains enough of the miss. */
static float gain_of(kn_accel_stats one, int copies) {
    kn_accel_stats s[8];
    for (int i = 0; i < copies; i++) s[i] = one;
    return kn_accel_gain(s, copies);
}

TEST(acceleration_gain_needs_the_model_to_explain_the_miss) {
    kn_accel_stats exact = {-4, 4, 4};        /* e = -d everywhere: gain 1, R^2 1 */
    kn_accel_stats steep = {-8, 4, 16};       /* e = -2d: gain 2, clamped */
    kn_accel_stats unrelated = {0, 4, 4};     /* e and d uncorrelated */
    kn_accel_stats weak = {-1, 4, 100};       /* R^2 = 1/400 */
    kn_accel_stats against = {4, 4, 4};       /* e = d: the model points the wrong way */
    CHECK_NEAR(gain_of(exact, 4), 1.0, 1e-6);
    CHECK_NEAR(gain_of(steep, 4), 1.5, 1e-6);
    CHECK(gain_of(unrelated, 4) == 0);
    CHECK(gain_of(weak, 4) == 0);
    CHECK(gain_of(against, 4) == 0);
    CHECK(gain_of((kn_accel_stats){0, 0, 0}, 8) == 0);
    CHECK(kn_accel_gain(NULL, 0) == 0);
    /* sums: R^2 = 256 / (16 * 128) = 0.125, three quarters up the ramp from 0.05 to 0.15 */
    kn_accel_stats mix[5] = {{-4, 4, 4}, {0, 0, 4}, {-4, 4, 4}, {-4, 4, 4}, {-4, 4, 112}};
    CHECK_NEAR(kn_accel_gain(mix, 5), 0.75, 1e-6);
}

/* The bend follows the outer flow only where that flow lands inside the frame. A flow pointing out
 * of the frame says nothing checkable about the pixel's next step; on Principe_inertie.avi (python3-
 * mecavideo) a patch flow of +15 px at the right border bent the still border 2 px and cost that clip
 * 1.5 dB. */
TEST(acceleration_field_ignores_flows_that_leave_the_frame) {
    int w = 40, h = 30;
    size_t n = (size_t)w * h;
    float *m = malloc(n * 6 * sizeof *m);
    REQUIRE(m != NULL);
    kn_flow f = {w, h, m, m + n}, out = {w, h, m + 2 * n, m + 3 * n}, acc = {w, h, m + 4 * n, m + 5 * n};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            f.u[p] = 1.f; f.v[p] = 0.5f;
            out.u[p] = -0.8f; out.v[p] = -0.4f;
            if (x >= 35) out.u[p] = 15.f;          /* off the right border */
            if (y == 0) out.v[p] = -0.6f;          /* off the top row */
            if (x == 10 && y == 10) out.u[p] = NAN;
        }
    kn_accel_field(NULL, &f, &out, &acc);
    int wrong = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            int off = x == 0 || x >= 35 || y == 0 || (x == 10 && y == 10);   /* x 0: -0.8 px leaves too */
            float eu = off ? 0.f : 0.2f, ev = off ? 0.f : 0.1f;
            wrong += fabsf(acc.u[p] - eu) > 1e-6f || fabsf(acc.v[p] - ev) > 1e-6f;
        }
    CHECKF(wrong == 0, "%d pixels", wrong);
    free(m);
}

/* Fine detail (sines of 0.6-1.4 rad/px) at (x - dx, y - dy), plus noise of amplitude `noise` drawn
 * from `seed` (0: none). */
static void detail(uint8_t *rgb, int w, int h, double dx, double noise, unsigned seed) {
    uint32_t r = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double X = x - dx, s = sin(0.6 * X + 0.9 * y) + sin(1.1 * X - 0.5 * y + 1) + 0.7 * sin(1.4 * X + 0.3 * y + 2);
            for (int c = 0; c < 3; c++) {
                r = r * 1664525u + 1013904223u;
                double v = 128 + 30 * s * (1 - 0.2 * c) + (noise ? noise * ((double)(r >> 8) / 16777216.0 - 0.5) : 0);
                rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
            }
        }
}

/* The kept frames of `full` (every other one, nkept of them) doubled (factor 2) with the default
 * options into *a and with `off` (one part turned off) into *b, and with the defaults again on 3
 * threads: 1 when all ran and the 3-thread frames equal *a (every choice made from the video's own
 * frames must not depend on the thread count), 0 when they differ, -1 when a run failed. */
static int on_and_off(const kn_interp_opts *off, const uint8_t *full, int w, int h, int nkept, kn_video *a,
                      kn_video *b) {
    kn_interp_opts on_opts, *on = &on_opts;
    kn_interp_opts_default(on);
    kn_error err = {0};
    kn_pool *p3;
    if (kn_pool_create(3, &p3, &err)) return -1;
    kn_ctx c3 = {p3, KN_ISA_SCALAR, NULL};
    kn_video in = kept_frames(full, w, h, nkept), a3 = {0};
    int r = -1;
    if (in.rgb && !kn_interp_video(NULL, on, &in, 2, 0, a, &err) && !kn_interp_video(NULL, off, &in, 2, 0, b, &err) &&
        !kn_interp_video(&c3, on, &in, 2, 0, &a3, &err))
        r = !memcmp(a->rgb, a3.rgb, (size_t)w * h * 3 * a->nframes);
    kn_video_free(&a3);
    kn_video_free(&in);
    kn_pool_destroy(p3);
    return r;
}

/* Bicubic samples where the video's kept frames say so: a clean, finely detailed texture moving by a
 * fraction of a pixel is rendered sharper (and closer to the truth) than with bilinear samples; the
 * same texture under heavy noise is rendered bilinearly, byte for byte as without the choice. */
TEST(resampling_kernel_follows_the_footage) {
    int w = 96, h = 72, nk = 19, nkept = 10, margin = 8;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    REQUIRE(full != NULL);
    kn_interp_opts off;
    kn_interp_opts_default(&off);
    off.cubic = 0;
    for (int noisy = 0; noisy < 2; noisy++) {
        for (int k = 0; k < nk; k++) detail(full + fb * k, w, h, 0.65 * k, noisy ? 120 : 0, noisy ? (unsigned)k + 1 : 0);
        kn_video a = {0}, b = {0};
        int same = on_and_off(&off, full, w, h, nkept, &a, &b);
        REQUIRE(same >= 0);
        CHECK(same == 1);   /* the choice, too, does not depend on the thread count */
        double pa = 0, pb = 0;
        for (int i = 0; i < nkept - 1; i++) {
            pa += interior_psnr(a.rgb + fb * (2 * i + 1), full + fb * (2 * i + 1), w, h, margin) / (nkept - 1);
            pb += interior_psnr(b.rgb + fb * (2 * i + 1), full + fb * (2 * i + 1), w, h, margin) / (nkept - 1);
        }
        printf("  %s: %.2f dB with the choice, %.2f dB bilinear\n", noisy ? "noisy" : "clean", pa, pb);
        if (noisy) CHECK(!memcmp(a.rgb, b.rgb, fb * nk));
        else CHECKF(pa > pb + 1, "%.2f vs %.2f dB", pa, pb);
        kn_video_free(&a); kn_video_free(&b);
    }
    kn_kernel_stats s[3] = {{10, 9}, {10, 12}, {0, 0}};
    CHECK(kn_kernel_cubic(s, 1) == 1);
    CHECK(kn_kernel_cubic(s, 2) == 0);         /* summed: 20 against 21 */
    CHECK(kn_kernel_cubic(s + 2, 1) == 0);     /* nothing measured (or still): bilinear */
    CHECK(kn_kernel_cubic(NULL, 0) == 0);
    free(full);
}

/* A bright 10x10 square at rows y0 .. y0+9, x = 2k (frame k), in a w-wide RGB frame. */
static void moving_square(uint8_t *rgb, int w, int y0, int k) {
    for (int y = y0; y < y0 + 10; y++)
        for (int x = 2 * k; x < 2 * k + 10 && x < w; x++) memset(rgb + ((size_t)y * w + x) * 3, 250, 3);
}

/* A still texture with noise of +-5 levels drawn from `seed` (the same noise in every frame when
 * seed is 0, as a codec that copies still blocks) and a bright 10x10 square at x = 2k: frame k. */
static void noisy_still(uint8_t *rgb, int w, int h, int k, unsigned seed) {
    texture(rgb, w, h, 0, 0, 0, 2);
    uint32_t r = (seed ? seed : 99u) * 2654435761u + 1;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        r = r * 1664525u + 1013904223u;
        int v = rgb[i] + (int)((r >> 8) % 11) - 5;
        rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    moving_square(rgb, w, 20, k);
}

/* Still parts pool four frames where the kept frames show independent noise: the dropped frames come
 * closer to the truth than the two-frame render; the moving square is rendered as without pooling.
 * Noise that every frame shares (copied blocks) leaves the output byte for byte as without it. */
TEST(still_parts_pool_independent_noise) {
    int w = 64, h = 48, nk = 21, nkept = 11;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    REQUIRE(full != NULL);
    kn_interp_opts off;
    kn_interp_opts_default(&off);
    off.pool_still = 0;
    for (int shared = 0; shared < 2; shared++) {
        for (int k = 0; k < nk; k++) noisy_still(full + fb * k, w, h, k, shared ? 0 : (unsigned)k + 1);
        kn_video a = {0}, b = {0};
        int same = on_and_off(&off, full, w, h, nkept, &a, &b);
        REQUIRE(same >= 0);
        CHECK(same == 1);   /* the same for any thread count */
        if (shared) {
            CHECK(!memcmp(a.rgb, b.rgb, fb * nk));
        } else {
            /* pairs 1 .. nkept-3 have frames on both sides; the square's box is left to the render */
            double pa = 0, pb = 0;
            int square_changed = 0;
            for (int i = 1; i <= nkept - 3; i++) {
                int k = 2 * i + 1;
                pa += interior_psnr(a.rgb + fb * k, full + fb * k, w, h, 2) / (nkept - 3);
                pb += interior_psnr(b.rgb + fb * k, full + fb * k, w, h, 2) / (nkept - 3);
                for (int y = 20; y < 30; y++)
                    square_changed += memcmp(a.rgb + fb * k + ((size_t)y * w + 2 * k) * 3,
                                             b.rgb + fb * k + ((size_t)y * w + 2 * k) * 3, 30) != 0;
            }
            printf("  independent noise: %.2f dB pooled, %.2f dB without\n", pa, pb);
            CHECKF(pa > pb + 0.15, "%.2f vs %.2f dB", pa, pb);   /* measured: +0.22 */
            CHECKF(square_changed == 0, "%d rows of the square", square_changed);
        }
        kn_video_free(&a); kn_video_free(&b);
    }
    /* the weight: independent noise of unit variance sums to xy 0.5, xx 1, dd 1.5 per sample; the
     * warps miss by lin and cub */
    kn_still_stats s[4] = {{0.5, 1, 1.5, 2, 3}, {-0.5, 1, 1.5, 2, 3}, {0.5, 1, 1.5, 1.3, 3}, {2, 1, 5, 9, 9}};
    CHECK(fabsf(kn_still_weight(s, 1) - 0.25f) < 1e-6f);   /* pooled: 1.3125, below the warp's 2 */
    CHECK(kn_still_weight(s + 1, 1) == 0);     /* the frames beyond only add error: the pair's mean */
    CHECK(kn_still_weight(s + 2, 1) == -1);    /* the warp (1.3) beats the pooled mean */
    CHECK(kn_still_weight(s + 3, 1) == 0.5f);  /* capped: the pair keeps half the weight */
    CHECK(kn_still_weight(s, 2) == 0);         /* summed: xy 0, the pair's mean (1.5 twice) beats 4 */
    CHECK(kn_still_weight(NULL, 0) == -1);     /* nothing measured */
    free(full);
}

/* A terminal being typed in, frame k: a dark screen, a prompt, one glyph (a bar) per character typed
 * so far (typed at frames 5, 10, 15 and 20, each 9 px to the right of the last) and a white cursor
 * block after them; far below, a bright 10x10 square moving right by 2 px a frame. */
static void typing(uint8_t *rgb, int w, int h, int k) {
    memset(rgb, 20, (size_t)w * h * 3);
    int typed = k / 5;
    for (int y = 10; y < 22; y++)
        for (int x = 4; x < 4 + 9 * (2 + typed) + 8 && x < w; x++) {
            int cell = (x - 4) / 9, col = (x - 4) % 9;
            int on = cell < 2 ? (col < 7 && (y + col) % 3 == 0)                /* the prompt */
                     : cell < 2 + typed ? (col >= 3 && col < 5)               /* a typed bar */
                     : col < 8;                                              /* the cursor */
            if (on) memset(rgb + ((size_t)y * w + x) * 3, 235, 3);
        }
    moving_square(rgb, w, 100, k);
}

/* Content that changes in one step between two frames and stands still before and after (a typed
 * character, the cursor jumping one cell) is rendered as the blend of the pair, which misses the
 * dropped frame (either end) by less than the render's cursor halfway between the cells; the moving
 * square is rendered as without the rule. */
TEST(jumps_are_blended) {
    int w = 96, h = 128, nk = 25, nkept = 13;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    REQUIRE(full != NULL);
    for (int k = 0; k < nk; k++) typing(full + fb * k, w, h, k);
    kn_interp_opts off;
    kn_interp_opts_default(&off);
    off.blend_jumps = 0;
    kn_video a = {0}, b = {0};
    int same = on_and_off(&off, full, w, h, nkept, &a, &b);
    REQUIRE(same >= 0);
    CHECK(same == 1);   /* the same for any thread count */
    /* the typed line (rows 0 .. 31) of every dropped frame of a pair with a keystroke, pairs 1 ..
     * nkept-3 (a has a frame before it, b one after): where the pair changes, the blend */
    double se_on = 0, se_off = 0;
    int blended = 0, events = 0, square_changed = 0;
    for (int i = 1; i <= nkept - 3; i++) {
        int k = 2 * i + 1;
        const uint8_t *fa = full + fb * (k - 1), *fb1 = full + fb * (k + 1), *t = full + fb * k;
        if (!memcmp(fa, fb1, fb / 4)) continue;   /* no keystroke in this pair */
        events++;
        int is_blend = 1;
        for (size_t q = 0; q < (size_t)w * 32 * 3; q++) {
            double dn = (double)a.rgb[fb * k + q] - t[q], df = (double)b.rgb[fb * k + q] - t[q];
            se_on += dn * dn; se_off += df * df;
            if (fa[q] != fb1[q]) is_blend &= a.rgb[fb * k + q] == (fa[q] + fb1[q] + 1) / 2;
        }
        blended += is_blend;
        for (int y = 100; y < 110; y++)
            square_changed += memcmp(a.rgb + fb * k + (size_t)y * w * 3, b.rgb + fb * k + (size_t)y * w * 3,
                                     (size_t)w * 3) != 0;
    }
    printf("  %d keystrokes: squared error of the typed line %.0f blended, %.0f rendered\n", events, se_on, se_off);
    CHECK(events == 4);
    CHECKF(blended == events, "%d of %d", blended, events);
    CHECKF(se_on < 0.8 * se_off, "%.0f vs %.0f", se_on, se_off);
    CHECKF(square_changed == 0, "%d rows of the square", square_changed);
    kn_video_free(&a); kn_video_free(&b);
    free(full);
}

/* A 13x13 chequered sprite centred at (cx, cy) on an RGB frame. */
static void chequered_sprite(uint8_t *rgb, int w, int h, double cx, double cy) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x - cx, dy = y - cy;
            if (fabs(dx) > 6 || fabs(dy) > 6) continue;
            int v = ((int)floor((dx + 6) / 3) + (int)floor((dy + 6) / 3)) % 2 ? 230 : 120;
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)v; p[1] = (uint8_t)(v / 2); p[2] = (uint8_t)(v / 3);
        }
}

/* The dropped frames of `full` (every other of 2 * nkept - 1 frames kept) rebuilt with the flow
 * candidates and without: mean PSNRs *with, *without, and the most a frame lost with them (*worst,
 * dB). Returns on_and_off's answer: 1 when the thread count did not change the frames, 0 when it
 * did, -1 on failure. */
static int candidates_on_and_off(const uint8_t *full, int w, int h, int nkept, double *with, double *without,
                                 double *worst) {
    size_t fb = (size_t)w * h * 3;
    kn_interp_opts off;
    kn_interp_opts_default(&off);
    off.flow_candidates = 0;
    kn_video a = {0}, b = {0};
    int same = on_and_off(&off, full, w, h, nkept, &a, &b);
    if (same < 0) return -1;
    *with = *without = 0;
    *worst = -INFINITY;
    for (int i = 0; i < nkept - 1; i++) {
        const uint8_t *truth = full + fb * (2 * i + 1);
        double on = interior_psnr(a.rgb + fb * (2 * i + 1), truth, w, h, 0);   /* 99 dB: exact */
        double no = interior_psnr(b.rgb + fb * (2 * i + 1), truth, w, h, 0);
        printf("  frame %2d: %.2f dB with the candidates, %.2f without\n", 2 * i + 1, on, no);
        *with += on / (nkept - 1); *without += no / (nkept - 1);
        if (no - on > *worst) *worst = no - on;
    }
    printf("  mean %.2f dB with, %.2f without\n", *with, *without);
    kn_video_free(&a); kn_video_free(&b);
    return same;
}

/* Two identical sprites fly at each other 20 px a kept pair, 8 rows apart, over a flat background
 * (as rendered dice do): a sprite's patches match the other sprite, nearer than its own next place,
 * better than their own. The flow candidates (the pair before's motion carried on at constant
 * velocity) put them back from the second pair on: no dropped frame gets worse and the mean gains
 * 4 dB (measured: 45.1 -> 52.2; 54.5 with the far gate and the second reading of 2026-12-07). */
TEST(crossing_sprites_keep_their_own_motion) {
    int w = 160, h = 96, nk = 21, nkept = 11;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    REQUIRE(full != NULL);
    for (int k = 0; k < nk; k++) {
        memset(full + fb * k, 20, fb);
        chequered_sprite(full + fb * k, w, h, 10 + 10 * k, 30);
        chequered_sprite(full + fb * k, w, h, w - 10 - 10 * k, 38);
    }
    double pa, pb, worst;
    int same = candidates_on_and_off(full, w, h, nkept, &pa, &pb, &worst);
    REQUIRE(same >= 0);
    CHECK(same == 1);   /* the same for any thread count */
    CHECKF(worst < 0.1, "a frame %.2f dB worse with the candidates", worst);
    CHECKF(pa > pb + 4, "%.2f vs %.2f dB", pa, pb);
    free(full);
}

/* A 13x13 "die" of pseudo-random 3x3 cells (seed picks the face) on a float luma plane; where
 * tumble > 0, one cell in `every` (which ones: tumble) shows another value, as the same die seen
 * after it turned a little. */
static void luma_die(float *g, int w, int x0, int y0, int seed, int tumble, int every) {
    for (int y = 0; y < 13; y++)
        for (int x = 0; x < 13; x++) {
            int cell = (y / 3) * 5 + x / 3;
            uint32_t r = (uint32_t)(cell * 2654435761u) ^ (uint32_t)seed * 40503u;
            if (tumble && cell % every == tumble % every) r ^= 0x9e3779b9u;   /* one cell in `every` changed */
            g[(size_t)(y0 + y) * w + x0 + x] = 90.f + (float)((r >> 9) % 140);
        }
}

/* A die flies 48 px between two frames and turns a little on the way (5 of its 25 cells change),
 * and a look-alike (the same face, turned a little otherwise: 6 cells) lies 6 px from where it
 * started, as rendered dice do. The pair alone matches the look-alike: it is nearer, and at the
 * coarse levels the two are one blur. The motion of the pair before, given as the candidate, is
 * searched from and kept although it does not match clearly better than the look-alike: the two lie
 * 42 px apart, where a match as good elsewhere is more likely another object than this one's next
 * place (flow.c, candidate_try). Measured: 5.8 px alone, 47.0 with the candidate; 17.4 with the
 * near candidates' gate (0.8) everywhere. */
TEST(far_candidate_beats_a_look_alike) {
    int w = 128, h = 64;
    size_t n = (size_t)w * h;
    float *g0 = malloc(n * sizeof *g0), *g1 = malloc(n * sizeof *g1), *cu = malloc(n * sizeof *cu),
          *cv = malloc(n * sizeof *cv);
    REQUIRE(g0 && g1 && cu && cv);
    for (size_t i = 0; i < n; i++) { g0[i] = g1[i] = 20.f; cu[i] = 48.f; cv[i] = 0.f; }
    luma_die(g0, w, 20, 26, 7, 0, 4);
    luma_die(g1, w, 26, 26, 7, 1, 4);   /* the look-alike, 6 px on: 6 of 25 cells changed */
    luma_die(g1, w, 68, 26, 7, 2, 5);   /* the die itself, 48 px on: 5 cells changed */
    kn_interp_opts o;
    kn_interp_opts_default(&o);
    kn_interp_ws ws = {0};
    kn_error err;
    float *u, *v;
    REQUIRE(kn_flow_estimate_ws(NULL, &o, g0, g1, w, h, NULL, 0, &ws, &u, &v, &err) == KN_OK);
    size_t c = (size_t)32 * w + 26;   /* the die's centre */
    float alone = u[c];
    kn_ws_put(&ws, u); kn_ws_put(&ws, v);
    kn_flow cand = {w, h, cu, cv};
    REQUIRE(kn_flow_estimate_ws(NULL, &o, g0, g1, w, h, &cand, 1, &ws, &u, &v, &err) == KN_OK);
    float with = u[c];
    kn_ws_put(&ws, u); kn_ws_put(&ws, v);
    printf("  the die's flow: %.1f px alone, %.1f px with the candidate (true 48)\n", alone, with);
    CHECKF(fabsf(alone - 6) < 2, "%.1f", alone);   /* the premise: alone, the look-alike */
    CHECKF(fabsf(with - 48) < 2, "%.1f", with);
    kn_ws_free(&ws);
    free(g0); free(g1); free(cu); free(cv);
}

static size_t ws_held(const kn_interp_ws *ws) {
    size_t t = 0;
    for (int i = 0; i < ws->nb; i++) t += ws->b[i].n;
    return t;
}

/* The buffer cache hands a free buffer only to a request of at least half its size: a small request
 * that took the large buffer would make the large request after it allocate a second one, and over
 * a video the cache grew to three times what was in use at once. When every slot holds a buffer,
 * a free one is released instead of failing. */
TEST(buffer_cache_keeps_large_buffers_for_large_requests) {
    kn_interp_ws ws = {0};
    for (int pair = 0; pair < 3; pair++) {   /* the same sizes at every pair, as a render asks them */
        void *big = kn_ws_get(&ws, 1 << 20);
        REQUIRE(big);
        kn_ws_put(&ws, big);
        void *small = kn_ws_get(&ws, 1 << 10), *big2 = kn_ws_get(&ws, 1 << 20);
        REQUIRE(small && big2);
        CHECK(small != big);
        kn_ws_put(&ws, small);
        kn_ws_put(&ws, big2);
    }
    CHECKF(ws_held(&ws) == (1u << 20) + (1u << 10), "%zu bytes held", ws_held(&ws));
    kn_ws_free(&ws);
    void *p[KN_WS_SLOTS];
    for (int i = 0; i < KN_WS_SLOTS; i++) REQUIRE((p[i] = kn_ws_get(&ws, 64 + (size_t)i * 1000)));
    CHECK(kn_ws_get(&ws, 64) == NULL);   /* every buffer in use: no slot for another */
    kn_ws_put(&ws, p[3]);
    void *q = kn_ws_get(&ws, 1 << 20);   /* too large for the free one, which is released */
    CHECK(q != NULL);
    CHECK(ws.nb == KN_WS_SLOTS);
    kn_ws_free(&ws);
}

/* The reversed flow that the backward search starts from has gaps where a moving object's pixels do
 * not land on every pixel; they are filled from neighbours within the reach, and no further. */
TEST(carried_flow_gaps_are_filled_nearby_only) {
    int w = 40, h = 20;
    size_t n = (size_t)w * h;
    float *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *ru = malloc(n * sizeof *ru),
          *rv = malloc(n * sizeof *rv), *su = malloc(n * sizeof *su), *sv = malloc(n * sizeof *sv);
    REQUIRE(u && v && ru && rv && su && sv);
    /* an object at x 5..14 stretching to 1.5x its width as it moves 10 px: x -> 1.5 (x - 5) + 15 */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            u[p] = x >= 5 && x <= 14 && y >= 5 && y < 15 ? 1.5f * (x - 5) + 15 - x : NAN;
            v[p] = 0;
        }
    kn_flow f = {w, h, u, v}, r = {w, h, ru, rv};
    kn_flow_reverse(&f, &r);
    int gaps = 0;
    for (int x = 15; x <= 28; x++) gaps += ru[10 * w + x] != ru[10 * w + x];
    kn_flow_fill_gaps(NULL, &r, 2, su, sv);
    int left = 0;
    for (int x = 15; x <= 28; x++) left += ru[10 * w + x] != ru[10 * w + x];
    printf("  %d gaps inside the landed object, %d after filling\n", gaps, left);
    CHECK(gaps >= 3);
    CHECK(left == 0);
    CHECK(rv[10 * w + 30] == rv[10 * w + 30]);   /* within 2 px of the object */
    CHECK(ru[10 * w + 32] != ru[10 * w + 32]);   /* 4 px away: not */
    CHECK(ru[2 * w + 20] != ru[2 * w + 20]);     /* 3 rows above: not */
    free(u); free(v); free(ru); free(rv); free(su); free(sv);
}

/* An RGB die (luma_die's face, in pink) whose top-left corner is at (x0, y0). */
static void rgb_die(uint8_t *rgb, int w, int x0, int y0, int seed, int tumble) {
    float g[13 * 13];
    luma_die(g, 13, 0, 0, seed, tumble, 8);
    for (int y = 0; y < 13; y++)
        for (int x = 0; x < 13; x++) {
            uint8_t *p = rgb + ((size_t)(y0 + y) * w + x0 + x) * 3;
            float v = g[y * 13 + x];
            p[0] = (uint8_t)v; p[1] = (uint8_t)(v * 0.55f); p[2] = (uint8_t)(v * 0.6f);
        }
}

/* Five identical dice fly 11-17 px a frame (twice that between kept frames) over black, bouncing off
 * the frame's edges, and turn a little every frame (3 or 4 of their 25 cells change, different ones each
 * frame, so a dropped frame's faces are not all predictable). The flow candidates, the motion of the
 * pair before read two ways, keep each die on its own path: measured 22.85 dB against 21.67 without
 * them. (Their gate and the filled gaps move this clip by 0.1-0.2 dB only: far_candidate_beats_a_look_alike
 * checks the gate, and the clips in docs/interpolation.md measure both.) */
TEST(tumbling_dice_keep_their_own_motion) {
    int w = 224, h = 160, nk = 25, nkept = 13;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = calloc(fb * nk, 1);
    REQUIRE(full != NULL);
    static const double start[5][4] = {{20, 30, 13, 5}, {150, 40, -12, 7}, {90, 120, 11, -9},
                                       {40, 100, 6, -15}, {180, 130, -14, -8}};
    for (int k = 0; k < nk; k++)
        for (int d = 0; d < 5; d++) {
            double p[2];
            for (int a = 0; a < 2; a++) {   /* bounce between 0 and size - 13 */
                double span = (a ? h : w) - 13, q = fmod(start[d][a] + start[d][a + 2] * k, 2 * span);
                if (q < 0) q += 2 * span;
                p[a] = q > span ? 2 * span - q : q;
            }
            rgb_die(full + fb * k, w, (int)lround(p[0]), (int)lround(p[1]), 7, k % 8 + 1);
        }
    double pa, pb, worst;
    int same = candidates_on_and_off(full, w, h, nkept, &pa, &pb, &worst);
    REQUIRE(same >= 0);
    CHECK(same == 1);   /* the same for any thread count */
    CHECKF(pa > pb + 0.8, "%.2f vs %.2f dB", pa, pb);
    free(full);
}

/* A plain card fading in from black (a faint gradient under faint noise, as title cards are): every
 * pixel changes in place and, over the plain parts, the flows disagree, but the brightness map
 * explains the pair (fade.c). The frames between follow the fade: not repeated as a scene cut, and not
 * blotched where the render leans toward one side. Off, three pairs were repeated as cuts (28.6 dB);
 * with the correction's sign flipped they came out at 43-44 dB. */
static void faded_card(uint8_t *rgb, int w, int h, double level) {
    uint32_t r = 99;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = 100 + 0.3 * y;
            for (int c = 0; c < 3; c++) {
                r = r * 1664525u + 1013904223u;
                double u = level * (v + 4 * c + 3 * ((double)(r >> 8) / 16777216.0 - 0.5));
                rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(u + 0.5);
            }
        }
}

TEST(fade_follows_the_plain_blend) {
    int w = 96, h = 64, nk = 13, nkept = 7;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    REQUIRE(full != NULL);
    for (int k = 0; k < nk; k++) faded_card(full + fb * k, w, h, (double)k / (nk - 1));
    kn_interp_opts off;
    kn_interp_opts_default(&off);
    off.fade = 0;
    kn_video a = {0}, b = {0};
    int same = on_and_off(&off, full, w, h, nkept, &a, &b);
    REQUIRE(same >= 0);
    CHECK(same == 1);
    for (int i = 0; i < nkept - 1; i++) {
        const uint8_t *truth = full + fb * (2 * i + 1);
        double on = interior_psnr(a.rgb + fb * (2 * i + 1), truth, w, h, 0);
        double without = interior_psnr(b.rgb + fb * (2 * i + 1), truth, w, h, 0);
        printf("  frame %2d: %.2f dB with the fade's map, %.2f without\n", 2 * i + 1, on, without);
        CHECKF(on > 45, "frame %d: %.2f dB", 2 * i + 1, on);
    }
    kn_video_free(&a); kn_video_free(&b);
    free(full);
}

/* Whole videos long enough for the acceleration path (7 frames and more): the factor and fps
 * semantics hold, and a scene cut still repeats the nearer frame. */
TEST(long_video_semantics_and_cut) {
    int w = 48, h = 32, n = 10;
    size_t fb = (size_t)w * h * 3;
    kn_video in = {w, h, n, 10.f, malloc(fb * n), 0, NULL}, o = {0};
    /* two shots: frames 0-4 one texture drifting right, 5-9 another drifting down */
    for (int i = 0; i < n; i++)
        texture(in.rgb + fb * i, w, h, i < 5 ? 0.9 * i : 0, i < 5 ? 0 : 0.8 * (i - 5), i < 5 ? 0 : 40, i < 5 ? 3 : 9);
    kn_error err = {0};
    REQUIRE(kn_interp_video(NULL, NULL, &in, 2, 0, &o, &err) == KN_OK);
    REQUIRE(o.nframes == 19);
    for (int i = 0; i < n; i++) CHECKF(!memcmp(o.rgb + fb * 2 * i, in.rgb + fb * i, fb), "input %d", i);
    CHECK(!memcmp(o.rgb + fb * 9, in.rgb + fb * 4, fb));   /* across the cut: the first shot */
    for (int k = 1; k < 19; k += 2)
        if (k != 9) {   /* inside a shot: something between, not a copy */
            CHECKF(memcmp(o.rgb + fb * k, in.rgb + fb * (k / 2), fb) != 0, "frame %d", k);
            CHECKF(memcmp(o.rgb + fb * k, in.rgb + fb * (k / 2 + 1), fb) != 0, "frame %d", k);
        }
    kn_video_free(&o);
    /* 10 fps -> 25 fps: frames at k/25 s up to 0.9 s; k = 0, 5, ..., 20 coincide with inputs 0, 2, ... 8 */
    REQUIRE(kn_interp_video(NULL, NULL, &in, 0, 25, &o, &err) == KN_OK);
    CHECK(o.nframes == 23);
    for (int k = 0; k <= 20; k += 5) CHECKF(!memcmp(o.rgb + fb * k, in.rgb + fb * (k / 5 * 2), fb), "frame %d", k);
    kn_video_free(&o);
    free(in.rgb);
}

/* Blocks of 7 px with hashed grey levels, shifted by (dx, dy) and box-filtered over 4x4 subsamples:
 * sharp edges (where a wrong time costs most) that still track. */
static void blocks(uint8_t *rgb, int w, int h, double dx, double dy) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double acc = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++) {
                    long bx = (long)floor((x + (sx + 0.5) / 4 - dx) / 7), by = (long)floor((y + (sy + 0.5) / 4 - dy) / 7);
                    unsigned long hsh = (unsigned long)(bx * 73856093L) ^ (unsigned long)(by * 19349663L);
                    acc += 40 + (double)((hsh * 2654435761UL >> 7) % 176);
                }
            for (int c = 0; c < 3; c++) rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(acc / 16 + 0.5);
        }
}

/* Frames captured 1 or 2 ticks apart (the pattern below), blocks moving (1.5, 0.75) px per tick: every other
 * frame kept, so an interval of 3 ticks holds its dropped frame at 1/3 or 2/3, one of 2 or 4 ticks
 * at 1/2. Speed changes between pairs follow no acceleration, so pairs that move more than the
 * recent ones get the time hedge (the mean of the renders at 1/3 and 2/3); the others render as
 * without it, byte for byte. */
TEST(uneven_capture_hedges_the_longer_pairs) {
    static const int gap[36] = {1, 1, 1, 1, 2, 1, 1, 2, 2, 2, 1, 1, 2, 1, 1, 1, 2, 1,
                                1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1};
    int w = 112, h = 80, nk = 37, nkept = 19, margin = 20;
    size_t fb = (size_t)w * h * 3;
    uint8_t *full = malloc(fb * nk);
    double tick = 0;
    for (int k = 0; k < nk; k++) {
        blocks(full + fb * k, w, h, 1.5 * tick, 0.75 * tick);
        if (k < 36) tick += gap[k];
    }
    kn_video in = kept_frames(full, w, h, nkept), hedged = {0}, plain = {0};
    kn_error err = {0};
    kn_interp_opts on, off;
    kn_interp_opts_default(&on);
    kn_interp_opts_default(&off);
    off.time_hedge = 0;
    REQUIRE(kn_interp_video(NULL, &on, &in, 2, 0, &hedged, &err) == KN_OK);
    REQUIRE(kn_interp_video(NULL, &off, &in, 2, 0, &plain, &err) == KN_OK);
    int long_pairs[] = {8, 12, 17}, same_pairs[] = {9, 10, 13, 14, 15, 16};
    for (int q = 0; q < 3; q++) {
        int f = 2 * long_pairs[q] + 1;
        double ph = interior_psnr(hedged.rgb + fb * f, full + fb * f, w, h, margin);
        double pp = interior_psnr(plain.rgb + fb * f, full + fb * f, w, h, margin);
        printf("  3-tick pair %d (frame at 2/3): %.2f dB hedged, %.2f dB at the midpoint\n", long_pairs[q], ph, pp);
        CHECKF(ph > pp + 0.5, "pair %d: %.2f vs %.2f dB", long_pairs[q], ph, pp);
    }
    for (int q = 0; q < 6; q++) {
        int f = 2 * same_pairs[q] + 1;
        CHECKF(!memcmp(hedged.rgb + fb * f, plain.rgb + fb * f, fb), "pair %d", same_pairs[q]);
    }
    kn_video_free(&hedged); kn_video_free(&plain); kn_video_free(&in);
    free(full);
}

/* In the fps mode a source's times place its frames (a variable frame rate): texture moving 3 px a
 * nominal frame, captured at uneven times (gaps of two and three frames, a burst of nine frames within
 * one, a frame with the time of the one before, which is dropped, a frame without a time), rebuilt at
 * twice the nominal rate. Every output frame shows the texture where it is at its own time: the kept
 * ones exactly, the others above 30 dB against the true shift (the worst was 44.9). Taken as evenly
 * spaced, the same frames put the texture 3 px or more from where it is (below 20 dB). */
TEST(fps_mode_places_frames_at_their_times) {
    int w = 64, h = 48;
    size_t fb = (size_t)w * h * 3;
    const double at[] = {0, 1, 2, 4, 5, 5, 6, 9, 10, 11, 12, 13, 14, 14.1, 14.2, 14.3, 14.4, 14.5, 14.6, 14.7,
                         14.8, 14.9, 15, 16, 17};
    int n = (int)(sizeof at / sizeof at[0]), repeated = 5;
    double times[32];
    kn_video in = {w, h, n, 10.f, malloc(fb * n), 0, NULL};
    uint8_t *truth = malloc(fb);
    REQUIRE(in.rgb != NULL && truth != NULL);
    for (int i = 0; i < n; i++) {
        times[i] = 100 + at[i] / 10;
        if (i == repeated) memset(in.rgb + fb * i, 0, fb);   /* never shown */
        else texture(in.rgb + fb * i, w, h, 3 * at[i], 0, 0, 3);
    }
    times[8] = NAN;   /* no time: a frame after the one before (at 9), where it is (10) */
    long long nout = 35;   /* k / 20 s for k = 0 .. 34, up to the last frame at 1.7 s */
    collect_sink timed = {calloc((size_t)nout + 1, fb), fb, 0, -1}, plain = {calloc((size_t)2 * n, fb), fb, 0, -1};
    REQUIRE(timed.rgb != NULL && plain.rgb != NULL);
    video_source src = {.v = &in, .fail_at = -1, .times = times}, untimed = {.v = &in, .fail_at = -1};
    kn_error err = {0};
    long long dropped = -1;
    REQUIRE(kn_interp_stream(NULL, NULL, w, h, 10, pull_frame, &src, 0, 20, collect, &timed, &dropped, &err) == KN_OK);
    CHECKF(timed.next == nout, "%lld frames", timed.next);
    CHECK(dropped == 1);
    REQUIRE(kn_interp_stream(NULL, NULL, w, h, 10, pull_frame, &untimed, 0, 20, collect, &plain, &dropped, &err) ==
            KN_OK);
    CHECK(dropped == 0 && plain.next == 2 * n - 1);
    double worst = 99, worst_plain = 99;
    for (long long k = 0; k < nout; k++) {
        texture(truth, w, h, 3 * (k / 2.0), 0, 0, 3);
        double p = interior_psnr(timed.rgb + fb * k, truth, w, h, 8);
        int kept = 0;
        for (int i = 0; i < n; i++) kept |= i != repeated && at[i] * 2 == (double)k;
        if (kept) CHECKF(p == 99, "output %lld is a kept frame but scores %.2f dB", k, p);
        if (p < worst) worst = p;
        if (k >= 7 && k < plain.next) {   /* after the first gap, where the untimed frames slip */
            double q = interior_psnr(plain.rgb + fb * k, truth, w, h, 8);
            if (q < worst_plain) worst_plain = q;
        }
    }
    printf("  worst output frame: %.2f dB placed by time, %.2f dB evenly spaced\n", worst, worst_plain);
    CHECK(worst > 30);
    CHECK(worst_plain < 20);
    free(timed.rgb); free(plain.rgb); free(truth); free(in.rgb);
}

/* Frames at random times (bursts, long gaps, repeated times) at several output rates: every output
 * time up to the last frame's is made, in order, and the frames read stay in the engine's ring (its
 * assertion). A clock that starts again goes on from where it was. */
TEST(fps_mode_takes_any_times) {
    int w = 24, h = 16, n = 40;
    size_t fb = (size_t)w * h * 3;
    kn_video in = {w, h, n, 10.f, malloc(fb * n), 0, NULL};
    REQUIRE(in.rgb != NULL);
    uint64_t rng = 12345;
    for (int seed = 0; seed < 3; seed++) {
        double times[40], t = 0, last = 0;
        long long repeats = 0;
        for (int i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int r = (int)(rng >> 59);   /* 0..31 */
            double gap = r < 4 ? 0 : r < 20 ? 0.01 * r : r < 28 ? 0.1 : 0.05 * r;
            if (i > 0 && gap == 0) repeats++;
            t += gap;
            times[i] = t;
            if (gap > 0 || i == 0) last = t;
            texture(in.rgb + fb * i, w, h, 20 * t, 0, 0, 1);
        }
        double rates[3] = {7, 20, 55};
        for (int q = 0; q < 3; q++) {
            long long nout = (long long)floor((last - times[0]) * rates[q] + 1e-9) + 1, dropped = -1;
            collect_sink c = {calloc((size_t)nout + 1, fb), fb, 0, -1};
            REQUIRE(c.rgb != NULL);
            video_source src = {.v = &in, .fail_at = -1, .times = times};
            kn_error err = {0};
            CHECKF(kn_interp_stream(NULL, NULL, w, h, 10, pull_frame, &src, 0, rates[q], collect, &c, &dropped, &err)
                   == KN_OK, "%s", err.msg);
            CHECKF(c.next == nout && dropped == repeats, "seed %d, %g fps: %lld of %lld frames, %lld of %lld dropped",
                   seed, rates[q], c.next, nout, dropped, repeats);
            free(c.rgb);
        }
    }
    /* a clock that starts again (two files joined): the second half follows the first, none dropped */
    double joined[40];
    for (int i = 0; i < n; i++) joined[i] = 50 + (i % 20) / 10.0;
    collect_sink c = {calloc((size_t)2 * n, fb), fb, 0, -1};
    REQUIRE(c.rgb != NULL);
    video_source src = {.v = &in, .fail_at = -1, .times = joined};
    long long dropped = -1;
    kn_error err = {0};
    CHECK(kn_interp_stream(NULL, NULL, w, h, 10, pull_frame, &src, 0, 20, collect, &c, &dropped, &err) == KN_OK);
    CHECKF(c.next == 2 * n - 1 && dropped == 0, "joined clocks: %lld frames, %lld dropped", c.next, dropped);
    free(c.rgb);
    free(in.rgb);
}

TEST_MAIN_BEGIN
    RUN(flow_recovers_translation);
    RUN(flow_level_follows_the_frame_size);
    RUN(flow_is_the_same_with_and_without_avx2);
    RUN(bicubic_is_the_same_with_and_without_avx2);
    RUN(still_background_is_copied_and_passing_objects_kept);
    RUN(middle_frame_matches_true_shift);
    RUN(edge_times_copy_the_frames);
    RUN(times_together_match_one_at_a_time);
    RUN(samplers_match_their_definition);
    RUN(odd_and_tiny_sizes);
    RUN(thread_count_does_not_change_output);
    RUN(scene_cut_repeats_the_nearer_frame);
    RUN(cut_needs_most_of_the_picture_to_change);
    RUN(brightness_change_does_not_bias_flow);
    RUN(video_factor_and_fps_semantics);
    RUN(video_to_sink_matches_video);
    RUN(stream_matches_video_to);
    RUN(fps_mode_places_frames_at_their_times);
    RUN(fps_mode_takes_any_times);
    RUN(overlapped_render_matches_one_thread);
    RUN(metrics);
    RUN(ssim_matches_the_windowed_definition);
    RUN(wrong_flow_on_a_still_scene_hedges_to_no_motion);
    RUN(wrong_flow_patch_takes_a_nearby_pixels_flow);
    RUN(still_post_keeps_its_own_flow);
    RUN(accelerating_video_follows_the_bend);
    RUN(still_pair_after_a_stop_is_not_bent);
    RUN(sprite_over_a_checkerboard_keeps_its_flow);
    RUN(still_checkerboard_keeps_zero_motion);
    RUN(fill_places_frames_and_follows_the_bend);
    RUN(acceleration_gain_needs_the_model_to_explain_the_miss);
    RUN(acceleration_field_ignores_flows_that_leave_the_frame);
    RUN(resampling_kernel_follows_the_footage);
    RUN(still_parts_pool_independent_noise);
    RUN(jumps_are_blended);
    RUN(crossing_sprites_keep_their_own_motion);
    RUN(far_candidate_beats_a_look_alike);
    RUN(buffer_cache_keeps_large_buffers_for_large_requests);
    RUN(carried_flow_gaps_are_filled_nearby_only);
    RUN(tumbling_dice_keep_their_own_motion);
    RUN(uneven_capture_hedges_the_longer_pairs);
    RUN(long_video_semantics_and_cut);
    RUN(fade_follows_the_plain_blend);
TEST_MAIN_END
