/* Kernel throughput at SD-UNet shapes: kn_gemm (x[M,K] * W^T, the kn_linear layout) and kn_conv2d.
 * Usage: bench_ops [threads] [reps] [all|gemm|conv|other]. Prints one line per shape: "gemm M N K GFLOPS",
 * "conv B C H W Cout k GFLOPS", "attn B L H dh GFLOPS" (self-attention, 4*B*H*L*L*dh flops) and
 * "gn B C S G MS" / "silu N MS" (milliseconds), each the median over reps runs after one warm-up.
 * KINORA_ISA caps the ISA. */
#include "core/ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static float *filled(size_t n, uint64_t seed) {
    float *p = kn_malloc(sizeof(float) * n);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    kn_randn(p, n, seed, 0);
    return p;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 7;
    if (reps < 1 || reps > 100) reps = 7;
    const char *what = argc > 3 ? argv[3] : "all";
    int do_gemm = !strcmp(what, "all") || !strcmp(what, "gemm"), do_conv = !strcmp(what, "all") || !strcmp(what, "conv");
    int do_other = !strcmp(what, "all") || !strcmp(what, "other");
    kn_pool *pool = NULL;
    kn_error err = {0};
    if (kn_pool_create(threads, &pool, &err) != KN_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    kn_arena arena;
    if (kn_arena_init(&arena, (size_t)64 << 20, &err) != KN_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    kn_ctx ctx = {pool, kn_cpu_detect(), &arena};
    printf("isa %s threads %d reps %d\n", kn_isa_name(ctx.isa), threads, reps);
    static const int g[][3] = {{4096, 320, 320}, {1024, 640, 1280}, {256, 1280, 1280}, {4096, 1280, 320}};
    double t[100];
    for (size_t s = 0; do_gemm && s < sizeof g / sizeof *g; s++) {
        int M = g[s][0], N = g[s][1], K = g[s][2];
        float *A = filled((size_t)M * K, 1), *W = filled((size_t)N * K, 2), *C = filled((size_t)M * N, 3);
        kn_gemm(&ctx, 0, 1, M, N, K, 1.f, A, K, kn_wf32(W), K, 0.f, C, N);
        for (int r = 0; r < reps; r++) {
            double t0 = kn_now();
            kn_gemm(&ctx, 0, 1, M, N, K, 1.f, A, K, kn_wf32(W), K, 0.f, C, N);
            t[r] = kn_now() - t0;
        }
        printf("gemm %d %d %d %.1f\n", M, N, K, 2.0 * M * N * K / median(t, reps) * 1e-9);
        fflush(stdout);
        kn_free(A); kn_free(W); kn_free(C);
    }
    static const int c[][5] = {{16, 320, 32, 32, 320}, {16, 640, 16, 16, 640}, {16, 1280, 8, 8, 1280}};
    for (size_t s = 0; do_conv && s < sizeof c / sizeof *c; s++) {
        kn_conv2d_shape sh = kn_conv2d_make(c[s][0], c[s][1], c[s][2], c[s][3], c[s][4], 3, 1, 1);
        size_t nx = (size_t)sh.B * sh.Cin * sh.H * sh.W, nw = (size_t)sh.Cout * sh.Cin * 9;
        size_t ny = (size_t)sh.B * sh.Cout * sh.H * sh.W;
        float *x = filled(nx, 4), *w = filled(nw, 5), *b = filled((size_t)sh.Cout, 6), *y = filled(ny, 7);
        kn_conv2d(&ctx, &sh, x, kn_wf32(w), b, y);
        int rr = reps < 5 ? reps : 5;
        for (int r = 0; r < rr; r++) {
            double t0 = kn_now();
            kn_conv2d(&ctx, &sh, x, kn_wf32(w), b, y);
            t[r] = kn_now() - t0;
        }
        double flops = 2.0 * sh.B * sh.Cout * sh.H * sh.W * sh.Cin * 9;
        printf("conv %d %d %d %d %d 3 %.1f\n", sh.B, sh.Cin, sh.H, sh.W, sh.Cout, flops / median(t, rr) * 1e-9);
        fflush(stdout);
        kn_free(x); kn_free(w); kn_free(b); kn_free(y);
    }
    if (do_other) {
        int B = 1, L = 4096, H = 8, dh = 40;
        size_t n = (size_t)B * L * H * dh;
        float *q = filled(n, 8), *k = filled(n, 9), *v = filled(n, 10), *o = filled(n, 11);
        kn_attn_shape as = {B, L, L, H, dh, H * dh, H * dh, H * dh, H * dh, 0, 1.f / sqrtf((float)dh)};
        kn_attention(&ctx, &as, q, k, v, o);
        int rr = reps < 3 ? reps : 3;
        for (int r = 0; r < rr; r++) {
            double t0 = kn_now();
            kn_attention(&ctx, &as, q, k, v, o);
            t[r] = kn_now() - t0;
        }
        printf("attn %d %d %d %d %.1f\n", B, L, H, dh, 4.0 * B * H * L * (double)L * dh / median(t, rr) * 1e-9);
        fflush(stdout);
        kn_free(q); kn_free(k); kn_free(v); kn_free(o);
    }
    if (do_other) {
        int B = 16, C = 320, G = 32;
        size_t S = 32 * 32, n = (size_t)B * C * S;
        float *x = filled(n, 12), *y = filled(n, 13), *g = filled((size_t)C, 14), *b = filled((size_t)C, 15);
        kn_group_norm(&ctx, x, B, C, S, G, 1e-5f, g, b, y);
        for (int r = 0; r < reps; r++) {
            double t0 = kn_now();
            kn_group_norm(&ctx, x, B, C, S, G, 1e-5f, g, b, y);
            t[r] = kn_now() - t0;
        }
        printf("gn %d %d %zu %d %.3f\n", B, C, S, G, median(t, reps) * 1e3);
        kn_activation(&ctx, KN_ACT_SILU, x, n, y);
        for (int r = 0; r < reps; r++) {
            double t0 = kn_now();
            kn_activation(&ctx, KN_ACT_SILU, x, n, y);
            t[r] = kn_now() - t0;
        }
        printf("silu %zu %.3f\n", n, median(t, reps) * 1e3);
        fflush(stdout);
        kn_free(x); kn_free(y); kn_free(g); kn_free(b);
    }
    kn_arena_free(&arena);
    kn_pool_destroy(pool);
    return 0;
}
