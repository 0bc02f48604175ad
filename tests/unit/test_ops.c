/* Matrix products and convolution: every ISA path against the plain reference loops (ops_ref.h),
 * odd sizes, f16/bf16 weights, 1 vs 3 threads bit-identical, backward passes against the reference
 * and against central finite differences. */
#include "test.h"
#include "ops_test_util.h"

/* ---------------- GEMM ---------------- */
static void gemm_case(kn_test_state *T_, kn_isa isa, int tA, int tB, int M, int N, int K, kn_dtype bt,
                      float alpha, float beta) {
    int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 2, ldc = N + 1;
    size_t na = (size_t)(tA ? K : M) * lda, nb = (size_t)(tB ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = rnd(na, 1), *Bf = rnd(nb, 2), *C0 = rnd(nc, 3), *C1 = dup(C0, nc);
    void *B = to_dtype(Bf, nb, bt);
    kn_wview bw = {B, bt};
    kn_ctx ctx = {NULL, isa, NULL};
    kn_gemm(&ctx, tA, tB, M, N, K, alpha, A, lda, bw, ldb, beta, C0, ldc);
    ref_gemm(NULL, tA, tB, M, N, K, alpha, A, lda, bw, ldb, beta, C1, ldc);
    double err = 0;
    for (int i = 0; i < M; i++) {
        double e = kn_test_maxdiff(C0 + (size_t)i * ldc, C1 + (size_t)i * ldc, (size_t)N);
        if (e > err) err = e;
    }
    /* untouched padding columns must stay as they were */
    int pad_ok = 1;
    float *orig = rnd(nc, 3);
    for (int i = 0; i < M; i++) pad_ok &= C0[(size_t)i * ldc + N] == orig[(size_t)i * ldc + N];
    CHECKF(err <= 3e-6 * K + 1e-5 && pad_ok, "gemm %s tA=%d tB=%d M=%d N=%d K=%d %s beta=%g: err %g pad %d",
           kn_isa_name(isa), tA, tB, M, N, K, kn_dtype_name(bt), beta, err, pad_ok);
    free(A); free(Bf); free(C0); free(C1); free(B); free(orig);
}

TEST(gemm_matches_reference_all_isas) {
    /* small M takes the short-product path, M > 4 row tiles the general one */
    static const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {37, 45, 300}, {130, 70, 33}, {13, 33, 517},
                                    {1600, 9, 7}, {3, 2100, 4}, {401, 50, 700}};
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int tA = 0; tA < 2; tA++)
                for (int tB = 0; tB < 2; tB++)
                    for (int bt = 0; bt < 3; bt++) {
                        if (s >= 5 && (bt || tA)) continue;   /* the big shapes: f32 only */
                        gemm_case(T_, (kn_isa)isa, tA, tB, shapes[s][0], shapes[s][1], shapes[s][2],
                                  (kn_dtype)bt, bt == 2 ? 1.f : 0.7f, (s + tA) % 2 ? 0.3f : 0.f);
                    }
}

TEST(gemm_k_zero_scales_c) {
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {0}, B[1] = {0};
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_gemm(&ctx, 0, 0, 2, 3, 0, 1.f, A, 1, kn_wf32(B), 3, 0.5f, C, 3);
    CHECK(C[0] == 0.5f && C[5] == 3.f);
    kn_gemm(&ctx, 0, 0, 2, 3, 0, 1.f, A, 1, kn_wf32(B), 3, 0.f, C, 3);
    CHECK(C[0] == 0.f && C[5] == 0.f);
}

TEST(gemm_threads_bit_identical_and_arena) {
    kn_pool *p3 = NULL;
    kn_error err = {0};
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    kn_arena arena;
    REQUIRE(kn_arena_init(&arena, 4 << 20, &err) == KN_OK);
    for (int M = 200; M <= 500; M += 300) {   /* short-product and general paths */
    int N = 300, K = 270;
    float *A = rnd((size_t)M * K, 4), *B = rnd((size_t)K * N, 5);
    uint16_t *Bh = (uint16_t *)to_dtype(B, (size_t)K * N, KN_F16);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++)
        for (int bt = 0; bt < 2; bt++) {
            kn_wview bw = bt ? (kn_wview){Bh, KN_F16} : kn_wf32(B);
            float *C1 = calloc((size_t)M * N, 4), *C3 = calloc((size_t)M * N, 4);
            kn_ctx c1 = {NULL, (kn_isa)isa, NULL}, c3 = {p3, (kn_isa)isa, &arena};
            kn_gemm(&c1, 0, bt, M, N, K, 1.f, A, K, bw, bt ? K : N, 0.f, C1, N);
            kn_gemm(&c3, 0, bt, M, N, K, 1.f, A, K, bw, bt ? K : N, 0.f, C3, N);
            CHECKF(!memcmp(C1, C3, sizeof(float) * M * N), "isa %s dtype %d differs with 3 threads", kn_isa_name(isa), bt);
            CHECK(arena.used == 0 && arena.peak > 0);
            free(C1); free(C3);
        }
    free(A); free(B); free(Bh);
    }
    kn_arena_free(&arena);
    kn_pool_destroy(p3);
}

TEST(gemm_batched_matches_reference) {
    int batch = 3, M = 19, N = 21, K = 23;
    float *A = rnd((size_t)batch * M * K, 6), *B = rnd((size_t)batch * K * N, 7);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++)
        for (int shared = 0; shared < 2; shared++) {
            size_t sA = shared ? 0 : (size_t)M * K;
            float *C0 = rnd((size_t)batch * M * N, 8), *C1 = dup(C0, (size_t)batch * M * N);
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            kn_gemm_batched(&ctx, batch, 0, 1, M, N, K, 1.f, A, K, sA, B, K, (size_t)K * N, 0.5f, C0, N, (size_t)M * N);
            ref_gemm_batched(NULL, batch, 0, 1, M, N, K, 1.f, A, K, sA, B, K, (size_t)K * N, 0.5f, C1, N, (size_t)M * N);
            CHECKF(kn_test_maxdiff(C0, C1, (size_t)batch * M * N) < 1e-4, "isa %d shared %d", isa, shared);
            free(C0); free(C1);
        }
    free(A); free(B);
}

/* ---------------- linear ---------------- */
TEST(linear_forward_backward_vs_reference) {
    int M = 17, K = 29, N = 11;
    float *x = rnd((size_t)M * K, 10), *W = rnd((size_t)N * K, 11), *b = rnd(N, 12), *dy = rnd((size_t)M * N, 13);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++)
        for (int bt = 0; bt < 3; bt++) {
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            void *Wd = to_dtype(W, (size_t)N * K, (kn_dtype)bt);
            kn_wview w = {Wd, (kn_dtype)bt};
            float y0[17 * 11], y1[17 * 11];
            kn_linear(&ctx, x, M, K, w, bt == 1 ? NULL : b, N, y0);
            ref_linear(NULL, x, M, K, w, bt == 1 ? NULL : b, N, y1);
            CHECKF(kn_test_maxdiff(y0, y1, (size_t)M * N) < 1e-4, "linear isa %d dtype %d", isa, bt);
            free(Wd);
        }
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++) {
        kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
        float dx0[17 * 29], dx1[17 * 29], dW0[11 * 29], dW1[11 * 29], db0[11], db1[11];
        for (int i = 0; i < N * K; i++) dW0[i] = dW1[i] = 0.25f;
        for (int i = 0; i < N; i++) db0[i] = db1[i] = -1.f;
        kn_linear_backward(&ctx, x, M, K, W, N, dy, dx0, dW0, db0);
        ref_linear_backward(NULL, x, M, K, W, N, dy, dx1, dW1, db1);
        CHECK(kn_test_maxdiff(dx0, dx1, (size_t)M * K) < 1e-4);
        CHECK(kn_test_maxdiff(dW0, dW1, (size_t)N * K) < 1e-4);
        CHECK(kn_test_maxdiff(db0, db1, (size_t)N) < 1e-4);
    }
    free(x); free(W); free(b); free(dy);
}

typedef struct { int M, K, N; const float *W, *b; } lin_fd;
static void lin_fwd(const void *a, const float *x, float *y) {
    const lin_fd *l = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_linear(&ctx, x, l->M, l->K, kn_wf32(l->W), l->b, l->N, y);
}
static void lin_fwd_w(const void *a, const float *W, float *y) {
    const lin_fd *l = a;
    float x[4 * 5];
    for (int i = 0; i < 20; i++) x[i] = 0.1f * (float)(i % 7) - 0.3f;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_linear(&ctx, x, l->M, l->K, kn_wf32(W), l->b, l->N, y);
}

TEST(linear_backward_finite_differences) {
    int M = 4, K = 5, N = 3;
    float *W = rnd(15, 20), *b = rnd(3, 21), *x = rnd(20, 22), *r = rnd(12, 23);
    for (int i = 0; i < 20; i++) x[i] = 0.1f * (float)(i % 7) - 0.3f;
    lin_fd l = {M, K, N, W, b};
    float dx[20], dW[15] = {0}, db[3] = {0};
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_linear_backward(&ctx, x, M, K, W, N, r, dx, dW, db);
    CHECK(fd_check(T_, "linear dx", lin_fwd, &l, x, 20, 12, r, dx, 1e-2, 2e-3));
    CHECK(fd_check(T_, "linear dW", lin_fwd_w, &l, W, 15, 12, r, dW, 1e-2, 2e-3));
    float db_ref[3] = {0};
    for (int i = 0; i < M; i++) for (int n = 0; n < N; n++) db_ref[n] += r[i * N + n];
    CHECK(kn_test_maxdiff(db, db_ref, 3) < 1e-5);
    free(W); free(b); free(x); free(r);
}

/* ---------------- conv2d ---------------- */
static kn_conv2d_shape conv_shape(int B, int Cin, int H, int W, int Cout, int kh, int kw, int st, int pt,
                                  int pb, int pl, int pr) {
    kn_conv2d_shape s = {B, Cin, H, W, Cout, kh, kw, st, pt, pb, pl, pr};
    return s;
}
static const kn_conv2d_shape *conv_cases(int *n) {
    static kn_conv2d_shape c[7];
    c[0] = conv_shape(2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1);
    c[1] = conv_shape(1, 4, 8, 8, 6, 3, 3, 2, 0, 1, 1, 0);     /* SD downsample padding */
    c[2] = conv_shape(2, 7, 5, 6, 3, 1, 1, 1, 0, 0, 0, 0);     /* pointwise */
    c[3] = conv_shape(1, 2, 11, 10, 4, 4, 4, 3, 2, 1, 0, 2);
    c[4] = conv_shape(1, 3, 6, 7, 2, 3, 2, 1, 2, 0, 1, 1);     /* kh != kw */
    c[5] = conv_shape(1, 40, 9, 9, 37, 3, 3, 1, 1, 1, 1, 1);   /* several K blocks, edge tiles */
    c[6] = conv_shape(1, 2, 3, 3, 3, 3, 3, 1, 3, 3, 3, 3);     /* padding wider than the kernel */
    *n = 7;
    return c;
}

TEST(conv2d_matches_reference_all_isas) {
    int nc;
    const kn_conv2d_shape *cs = conv_cases(&nc);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++)
        for (int c = 0; c < nc; c++)
            for (int bt = 0; bt < 3; bt++) {
                const kn_conv2d_shape *s = &cs[c];
                int Ho = kn_conv2d_out_h(s), Wo = kn_conv2d_out_w(s);
                size_t nx = (size_t)s->B * s->Cin * s->H * s->W, nw = (size_t)s->Cout * s->Cin * s->kh * s->kw;
                size_t ny = (size_t)s->B * s->Cout * Ho * Wo;
                float *x = rnd(nx, 30 + c), *w = rnd(nw, 40 + c), *bias = rnd(s->Cout, 50 + c);
                float *y0 = rnd(ny, 1), *y1 = rnd(ny, 2);
                void *wd = to_dtype(w, nw, (kn_dtype)bt);
                kn_wview wv = {wd, (kn_dtype)bt};
                kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
                kn_conv2d(&ctx, s, x, wv, bt == 2 ? NULL : bias, y0);
                ref_conv2d(NULL, s, x, wv, bt == 2 ? NULL : bias, y1);
                double e = kn_test_maxdiff(y0, y1, ny);
                CHECKF(e < 2e-5 * s->Cin * s->kh * s->kw + 1e-5, "conv case %d isa %s dtype %d: err %g", c,
                       kn_isa_name(isa), bt, e);
                free(x); free(w); free(bias); free(y0); free(y1); free(wd);
            }
}

TEST(conv2d_backward_matches_reference) {
    int nc;
    const kn_conv2d_shape *cs = conv_cases(&nc);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++)
        for (int c = 0; c < nc; c++) {
            const kn_conv2d_shape *s = &cs[c];
            int Ho = kn_conv2d_out_h(s), Wo = kn_conv2d_out_w(s);
            size_t nx = (size_t)s->B * s->Cin * s->H * s->W, nw = (size_t)s->Cout * s->Cin * s->kh * s->kw;
            size_t ny = (size_t)s->B * s->Cout * Ho * Wo;
            float *x = rnd(nx, 60 + c), *w = rnd(nw, 70 + c), *dy = rnd(ny, 80 + c);
            float *dx0 = rnd(nx, 1), *dx1 = rnd(nx, 2), *dw0 = rnd(nw, 3), *dw1 = dup(dw0, nw);
            float *db0 = rnd(s->Cout, 4), *db1 = dup(db0, s->Cout);
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            kn_conv2d_backward(&ctx, s, x, w, dy, dx0, dw0, db0);
            ref_conv2d_backward(NULL, s, x, w, dy, dx1, dw1, db1);
            double tol = 2e-5 * (s->Cout * s->kh * s->kw + s->B * Ho * Wo) + 1e-5;
            CHECKF(kn_test_maxdiff(dx0, dx1, nx) < tol, "dx case %d isa %d: %g", c, isa, kn_test_maxdiff(dx0, dx1, nx));
            CHECKF(kn_test_maxdiff(dw0, dw1, nw) < tol, "dw case %d isa %d: %g", c, isa, kn_test_maxdiff(dw0, dw1, nw));
            CHECKF(kn_test_maxdiff(db0, db1, s->Cout) < tol, "db case %d isa %d", c, isa);
            free(x); free(w); free(dy); free(dx0); free(dx1); free(dw0); free(dw1); free(db0); free(db1);
        }
}

typedef struct { const kn_conv2d_shape *s; const float *x, *w, *b; } conv_fd;
static void conv_fwd_x(const void *a, const float *x, float *y) {
    const conv_fd *c = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_conv2d(&ctx, c->s, x, kn_wf32(c->w), c->b, y);
}
static void conv_fwd_w(const void *a, const float *w, float *y) {
    const conv_fd *c = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_conv2d(&ctx, c->s, c->x, kn_wf32(w), c->b, y);
}
static void conv_fwd_b(const void *a, const float *b, float *y) {
    const conv_fd *c = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_conv2d(&ctx, c->s, c->x, kn_wf32(c->w), b, y);
}

TEST(conv2d_backward_finite_differences) {
    kn_conv2d_shape s = conv_shape(2, 2, 5, 4, 3, 3, 2, 2, 1, 0, 1, 1);
    int Ho = kn_conv2d_out_h(&s), Wo = kn_conv2d_out_w(&s);
    size_t nx = 2 * 2 * 5 * 4, nw = 3 * 2 * 3 * 2, ny = (size_t)2 * 3 * Ho * Wo;
    float *x = rnd(nx, 90), *w = rnd(nw, 91), *b = rnd(3, 92), *r = rnd(ny, 93);
    float *dx = calloc(nx, 4), *dw = calloc(nw, 4), *db = calloc(3, 4);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_conv2d_backward(&ctx, &s, x, w, r, dx, dw, db);
    conv_fd c = {&s, x, w, b};
    CHECK(fd_check(T_, "conv dx", conv_fwd_x, &c, x, nx, ny, r, dx, 1e-2, 2e-3));
    CHECK(fd_check(T_, "conv dw", conv_fwd_w, &c, w, nw, ny, r, dw, 1e-2, 2e-3));
    CHECK(fd_check(T_, "conv db", conv_fwd_b, &c, b, 3, ny, r, db, 1e-2, 2e-3));
    free(x); free(w); free(b); free(r); free(dx); free(dw); free(db);
}

TEST(conv2d_threads_bit_identical) {
    kn_pool *p3 = NULL;
    kn_error err = {0};
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    kn_conv2d_shape s = conv_shape(2, 24, 10, 11, 26, 3, 3, 1, 1, 1, 1, 1);
    size_t nx = (size_t)2 * 24 * 110, nw = (size_t)26 * 24 * 9, ny = (size_t)2 * 26 * 110;
    float *x = rnd(nx, 100), *w = rnd(nw, 101), *b = rnd(26, 102), *dy = rnd(ny, 103);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++) {
        float *y1 = malloc(ny * 4), *y3 = malloc(ny * 4), *dx1 = malloc(nx * 4), *dx3 = malloc(nx * 4);
        float *dw1 = calloc(nw, 4), *dw3 = calloc(nw, 4), *db1 = calloc(26, 4), *db3 = calloc(26, 4);
        kn_ctx c1 = {NULL, (kn_isa)isa, NULL}, c3 = {p3, (kn_isa)isa, NULL};
        kn_conv2d(&c1, &s, x, kn_wf32(w), b, y1);
        kn_conv2d(&c3, &s, x, kn_wf32(w), b, y3);
        kn_conv2d_backward(&c1, &s, x, w, dy, dx1, dw1, db1);
        kn_conv2d_backward(&c3, &s, x, w, dy, dx3, dw3, db3);
        CHECKF(!memcmp(y1, y3, ny * 4) && !memcmp(dx1, dx3, nx * 4) && !memcmp(dw1, dw3, nw * 4) &&
               !memcmp(db1, db3, 26 * 4), "isa %s: results differ with 3 threads", kn_isa_name(isa));
        free(y1); free(y3); free(dx1); free(dx3); free(dw1); free(dw3); free(db1); free(db3);
    }
    free(x); free(w); free(b); free(dy);
    kn_pool_destroy(p3);
}

TEST_MAIN_BEGIN
    RUN(gemm_matches_reference_all_isas);
    RUN(gemm_k_zero_scales_c);
    RUN(gemm_threads_bit_identical_and_arena);
    RUN(gemm_batched_matches_reference);
    RUN(linear_forward_backward_vs_reference);
    RUN(linear_backward_finite_differences);
    RUN(conv2d_matches_reference_all_isas);
    RUN(conv2d_backward_matches_reference);
    RUN(conv2d_backward_finite_differences);
    RUN(conv2d_threads_bit_identical);
TEST_MAIN_END
