/* Attention, normalisation, activations and layout ops: every ISA path against the plain reference
 * loops (ops_ref.h), thread-count bit-identity, backward passes against the reference and against
 * central finite differences. */
#include "test.h"
#include "ops_test_util.h"

static int max_isa(void) { return (int)kn_cpu_detect(); }

/* ---------------- attention ---------------- */
static kn_attn_shape attn_shape(int B, int Lq, int Lk, int H, int dh, int pad, int causal) {
    kn_attn_shape s = {B, Lq, Lk, H, dh, H * dh + pad, H * dh + pad + 1, H * dh + pad + 2, H * dh + pad, causal,
                       1.f / sqrtf((float)dh)};
    return s;
}

typedef struct { float *q, *k, *v; size_t nq, nk, nv, no; } attn_data;
static attn_data attn_alloc(const kn_attn_shape *s, uint64_t seed) {
    attn_data d;
    d.nq = (size_t)s->B * s->Lq * s->ldq;
    d.nk = (size_t)s->B * s->Lk * s->ldk;
    d.nv = (size_t)s->B * s->Lk * s->ldv;
    d.no = (size_t)s->B * s->Lq * s->ldo;
    d.q = rnd(d.nq, seed);
    d.k = rnd(d.nk, seed + 1);
    d.v = rnd(d.nv, seed + 2);
    for (size_t i = 0; i < d.nq; i++) d.q[i] *= 3.f;   /* peaky softmax */
    return d;
}
static void attn_free(attn_data *d) { free(d->q); free(d->k); free(d->v); }

/* max diff over the head slices only (padding columns of the outputs are not owned) */
static double attn_diff(const kn_attn_shape *s, const float *a, const float *b, int L, int ld) {
    double m = 0;
    for (int r = 0; r < s->B * L; r++) {
        double e = kn_test_maxdiff(a + (size_t)r * ld, b + (size_t)r * ld, (size_t)s->H * s->dh);
        if (e > m) m = e;
    }
    return m;
}

static const kn_attn_shape *attn_cases(int *n) {
    static kn_attn_shape c[5];
    c[0] = attn_shape(2, 5, 7, 2, 13, 3, 0);
    c[1] = attn_shape(1, 70, 70, 3, 8, 0, 1);     /* causal, several key tiles */
    c[2] = attn_shape(1, 33, 150, 1, 40, 1, 0);   /* dh of SD's first level, Lk > tile */
    c[3] = attn_shape(2, 17, 77, 2, 64, 0, 0);    /* cross-attention over text tokens */
    c[4] = attn_shape(1, 9, 4, 2, 5, 2, 1);       /* causal with Lq > Lk */
    *n = 5;
    return c;
}

TEST(attention_matches_reference_all_isas) {
    int nc;
    const kn_attn_shape *cs = attn_cases(&nc);
    for (int isa = 0; isa <= max_isa(); isa++)
        for (int c = 0; c < nc; c++) {
            const kn_attn_shape *s = &cs[c];
            attn_data d = attn_alloc(s, 200 + c);
            float *o0 = rnd(d.no, 1), *o1 = rnd(d.no, 1);
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            kn_attention(&ctx, s, d.q, d.k, d.v, o0);
            ref_attention(NULL, s, d.q, d.k, d.v, o1);
            double e = attn_diff(s, o0, o1, s->Lq, s->ldo);
            CHECKF(e < 2e-6 * s->dh + 1e-5, "attention case %d isa %s: err %g", c, kn_isa_name(isa), e);
            /* columns between rows (ldo padding) untouched */
            int pad_ok = 1;
            float *orig = rnd(d.no, 1);
            for (int r = 0; r < s->B * s->Lq; r++)
                for (int x = s->H * s->dh; x < s->ldo; x++) pad_ok &= o0[(size_t)r * s->ldo + x] == orig[(size_t)r * s->ldo + x];
            CHECK(pad_ok);
            free(o0); free(o1); free(orig);
            attn_free(&d);
        }
}

TEST(attention_backward_matches_reference) {
    int nc;
    const kn_attn_shape *cs = attn_cases(&nc);
    for (int isa = 0; isa <= max_isa(); isa++)
        for (int c = 0; c < nc; c++) {
            const kn_attn_shape *s = &cs[c];
            attn_data d = attn_alloc(s, 300 + c);
            float *dout = rnd(d.no, 9);
            float *g0[3] = {rnd(d.nq, 1), rnd(d.nk, 1), rnd(d.nv, 1)}, *g1[3] = {rnd(d.nq, 1), rnd(d.nk, 1), rnd(d.nv, 1)};
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            kn_attention_backward(&ctx, s, d.q, d.k, d.v, dout, g0[0], g0[1], g0[2]);
            ref_attention_backward(NULL, s, d.q, d.k, d.v, dout, g1[0], g1[1], g1[2]);
            double eq = attn_diff(s, g0[0], g1[0], s->Lq, s->ldq), ek = attn_diff(s, g0[1], g1[1], s->Lk, s->ldk);
            double ev = attn_diff(s, g0[2], g1[2], s->Lk, s->ldv);
            CHECKF(eq < 1e-4 && ek < 1e-4 && ev < 1e-4, "attention bwd case %d isa %s: dq %g dk %g dv %g", c,
                   kn_isa_name(isa), eq, ek, ev);
            for (int i = 0; i < 3; i++) { free(g0[i]); free(g1[i]); }
            free(dout);
            attn_free(&d);
        }
}

typedef struct { const kn_attn_shape *s; const float *q, *k, *v; int which; } attn_fd;
static void attn_fwd(const void *a, const float *x, float *y) {
    const attn_fd *f = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_attention(&ctx, f->s, f->which == 0 ? x : f->q, f->which == 1 ? x : f->k, f->which == 2 ? x : f->v, y);
}

TEST(attention_backward_finite_differences) {
    for (int causal = 0; causal < 2; causal++) {
        kn_attn_shape s = attn_shape(1, 4, 5, 2, 3, 0, causal);
        attn_data d = attn_alloc(&s, 400);
        float *r = rnd(d.no, 401), *dq = calloc(d.nq, 4), *dk = calloc(d.nk, 4), *dv = calloc(d.nv, 4);
        kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
        kn_attention_backward(&ctx, &s, d.q, d.k, d.v, r, dq, dk, dv);
        attn_fd f = {&s, d.q, d.k, d.v, 0};
        CHECK(fd_check(T_, "attention dq", attn_fwd, &f, d.q, d.nq, d.no, r, dq, 1e-3, 5e-3));
        f.which = 1;
        CHECK(fd_check(T_, "attention dk", attn_fwd, &f, d.k, d.nk, d.no, r, dk, 1e-3, 5e-3));
        f.which = 2;
        CHECK(fd_check(T_, "attention dv", attn_fwd, &f, d.v, d.nv, d.no, r, dv, 1e-3, 5e-3));
        free(r); free(dq); free(dk); free(dv);
        attn_free(&d);
    }
}

TEST(attention_threads_bit_identical) {
    kn_pool *p3 = NULL;
    kn_error err = {0};
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    kn_attn_shape s = attn_shape(2, 140, 90, 3, 24, 0, 1);   /* causal, several query tiles */
    attn_data d = attn_alloc(&s, 500);
    float *dout = rnd(d.no, 501);
    for (int isa = 0; isa <= max_isa(); isa++) {
        /* zeroed: the ld padding columns are not written and must compare equal */
        float *o1 = calloc(d.no, 4), *o3 = calloc(d.no, 4);
        float *g1[3] = {calloc(d.nq, 4), calloc(d.nk, 4), calloc(d.nv, 4)};
        float *g3[3] = {calloc(d.nq, 4), calloc(d.nk, 4), calloc(d.nv, 4)};
        kn_ctx c1 = {NULL, (kn_isa)isa, NULL}, c3 = {p3, (kn_isa)isa, NULL};
        kn_attention(&c1, &s, d.q, d.k, d.v, o1);
        kn_attention(&c3, &s, d.q, d.k, d.v, o3);
        kn_attention_backward(&c1, &s, d.q, d.k, d.v, dout, g1[0], g1[1], g1[2]);
        kn_attention_backward(&c3, &s, d.q, d.k, d.v, dout, g3[0], g3[1], g3[2]);
        CHECKF(!memcmp(o1, o3, d.no * 4) && !memcmp(g1[0], g3[0], d.nq * 4) && !memcmp(g1[1], g3[1], d.nk * 4) &&
               !memcmp(g1[2], g3[2], d.nv * 4), "isa %s: attention differs with 3 threads", kn_isa_name(isa));
        free(o1); free(o3);
        for (int i = 0; i < 3; i++) { free(g1[i]); free(g3[i]); }
    }
    free(dout);
    attn_free(&d);
    kn_pool_destroy(p3);
}

/* ---------------- normalisation ---------------- */
TEST(group_norm_matches_reference) {
    static const int cases[][4] = {{2, 8, 37, 4}, {1, 6, 1, 3}, {1, 32, 300, 32}, {2, 12, 5001, 3}};
    for (int isa = 0; isa <= max_isa(); isa++)
        for (int c = 0; c < 4; c++) {
            int B = cases[c][0], C = cases[c][1], S = cases[c][2], G = cases[c][3];
            size_t n = (size_t)B * C * S;
            float *x = rnd(n, 600 + c), *ga = rnd(C, 610), *be = rnd(C, 611), *dy = rnd(n, 612);
            for (size_t i = 0; i < n; i++) x[i] = 4.f * x[i] + 10.f;   /* offset mean: cancellation check */
            float *y0 = malloc(n * 4), *y1 = malloc(n * 4);
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            kn_group_norm(&ctx, x, B, C, (size_t)S, G, 1e-5f, c == 1 ? NULL : ga, c == 1 ? NULL : be, y0);
            ref_group_norm(NULL, x, B, C, (size_t)S, G, 1e-5f, c == 1 ? NULL : ga, c == 1 ? NULL : be, y1);
            CHECKF(kn_test_maxdiff(y0, y1, n) < 2e-5, "group norm case %d isa %s: %g", c, kn_isa_name(isa),
                   kn_test_maxdiff(y0, y1, n));
            kn_group_norm_silu(&ctx, x, B, C, (size_t)S, G, 1e-5f, ga, be, y1);   /* fused == two calls */
            kn_group_norm(&ctx, x, B, C, (size_t)S, G, 1e-5f, ga, be, y0);
            kn_activation(&ctx, KN_ACT_SILU, y0, n, y0);
            CHECKF(!memcmp(y0, y1, n * 4), "group norm + silu case %d isa %s", c, kn_isa_name(isa));
            float *dx0 = malloc(n * 4), *dx1 = malloc(n * 4), dg0[32], dg1[32], db0[32], db1[32];
            for (int i = 0; i < C; i++) dg0[i] = dg1[i] = db0[i] = db1[i] = 0.5f;
            kn_group_norm_backward(&ctx, x, B, C, (size_t)S, G, 1e-5f, ga, dy, dx0, dg0, db0);
            ref_group_norm_backward(NULL, x, B, C, (size_t)S, G, 1e-5f, ga, dy, dx1, dg1, db1);
            CHECKF(kn_test_maxdiff(dx0, dx1, n) < 1e-4 && kn_test_maxdiff(dg0, dg1, C) < 1e-3 &&
                   kn_test_maxdiff(db0, db1, C) < 1e-3, "group norm bwd case %d isa %s: dx %g dg %g db %g", c,
                   kn_isa_name(isa), kn_test_maxdiff(dx0, dx1, n), kn_test_maxdiff(dg0, dg1, C), kn_test_maxdiff(db0, db1, C));
            free(x); free(ga); free(be); free(dy); free(y0); free(y1); free(dx0); free(dx1);
        }
}

TEST(layer_norm_matches_reference) {
    static const int cases[][2] = {{3, 7}, {5, 320}, {2, 1}};
    for (int isa = 0; isa <= max_isa(); isa++)
        for (int c = 0; c < 3; c++) {
            int R = cases[c][0], D = cases[c][1];
            size_t n = (size_t)R * D;
            float *x = rnd(n, 700 + c), *ga = rnd(D, 710), *be = rnd(D, 711), *dy = rnd(n, 712);
            for (size_t i = 0; i < n; i++) x[i] = 3.f * x[i] - 5.f;
            float *y0 = malloc(n * 4), *y1 = malloc(n * 4);
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
            kn_layer_norm(&ctx, x, (size_t)R, D, 1e-5f, ga, be, y0);
            ref_layer_norm(NULL, x, (size_t)R, D, 1e-5f, ga, be, y1);
            CHECKF(kn_test_maxdiff(y0, y1, n) < 2e-5, "layer norm case %d isa %s", c, kn_isa_name(isa));
            kn_layer_norm(&ctx, x, (size_t)R, D, 1e-5f, NULL, NULL, y0);
            ref_layer_norm(NULL, x, (size_t)R, D, 1e-5f, NULL, NULL, y1);
            CHECK(kn_test_maxdiff(y0, y1, n) < 2e-5);
            float *dx0 = malloc(n * 4), *dx1 = malloc(n * 4), *dg0 = calloc(D, 4), *dg1 = calloc(D, 4);
            float *db0 = calloc(D, 4), *db1 = calloc(D, 4);
            kn_layer_norm_backward(&ctx, x, (size_t)R, D, 1e-5f, ga, dy, dx0, dg0, db0);
            ref_layer_norm_backward(NULL, x, (size_t)R, D, 1e-5f, ga, dy, dx1, dg1, db1);
            CHECK(kn_test_maxdiff(dx0, dx1, n) < 1e-4 && kn_test_maxdiff(dg0, dg1, D) < 1e-4 &&
                  kn_test_maxdiff(db0, db1, D) < 1e-5);
            free(x); free(ga); free(be); free(dy); free(y0); free(y1); free(dx0); free(dx1);
            free(dg0); free(dg1); free(db0); free(db1);
        }
}

typedef struct { int B, C, S, G; const float *x, *ga, *be; int which; } norm_fd;
static void gn_fwd(const void *a, const float *p, float *y) {
    const norm_fd *f = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_group_norm(&ctx, f->which == 0 ? p : f->x, f->B, f->C, (size_t)f->S, f->G, 1e-5f, f->which == 1 ? p : f->ga,
                  f->which == 2 ? p : f->be, y);
}
static void ln_fwd(const void *a, const float *p, float *y) {
    const norm_fd *f = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_layer_norm(&ctx, f->which == 0 ? p : f->x, (size_t)f->B, f->C, 1e-5f, f->which == 1 ? p : f->ga,
                  f->which == 2 ? p : f->be, y);
}

TEST(norm_backward_finite_differences) {
    int B = 2, C = 4, S = 5, G = 2;
    size_t n = (size_t)B * C * S;
    float *x = rnd(n, 800), *ga = rnd(C, 801), *be = rnd(C, 802), *r = rnd(n, 803);
    float *dx = malloc(n * 4), *dg = calloc(C, 4), *db = calloc(C, 4);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_group_norm_backward(&ctx, x, B, C, (size_t)S, G, 1e-5f, ga, r, dx, dg, db);
    norm_fd f = {B, C, S, G, x, ga, be, 0};
    CHECK(fd_check(T_, "group norm dx", gn_fwd, &f, x, n, n, r, dx, 1e-3, 5e-3));
    f.which = 1;
    CHECK(fd_check(T_, "group norm dgamma", gn_fwd, &f, ga, C, n, r, dg, 1e-3, 5e-3));
    f.which = 2;
    CHECK(fd_check(T_, "group norm dbeta", gn_fwd, &f, be, C, n, r, db, 1e-3, 5e-3));
    /* layer norm: rows = B*C = 8, D = S = 5 */
    float *ga5 = rnd(S, 804), *be5 = rnd(S, 805), *dg5 = calloc(S, 4), *db5 = calloc(S, 4);
    kn_layer_norm_backward(&ctx, x, (size_t)B * C, S, 1e-5f, ga5, r, dx, dg5, db5);
    norm_fd l = {B * C, S, 0, 0, x, ga5, be5, 0};
    CHECK(fd_check(T_, "layer norm dx", ln_fwd, &l, x, n, n, r, dx, 1e-3, 5e-3));
    l.which = 1;
    CHECK(fd_check(T_, "layer norm dgamma", ln_fwd, &l, ga5, S, n, r, dg5, 1e-3, 5e-3));
    l.which = 2;
    CHECK(fd_check(T_, "layer norm dbeta", ln_fwd, &l, be5, S, n, r, db5, 1e-3, 5e-3));
    free(x); free(ga); free(be); free(r); free(dx); free(dg); free(db); free(ga5); free(be5); free(dg5); free(db5);
}

TEST(norms_threads_bit_identical) {
    kn_pool *p3 = NULL;
    kn_error err = {0};
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    int B = 2, C = 64, S = 200, G = 32;
    size_t n = (size_t)B * C * S;
    float *x = rnd(n, 900), *ga = rnd(C, 901), *be = rnd(C, 902), *dy = rnd(n, 903);
    for (int isa = 0; isa <= max_isa(); isa++) {
        float *y[2], *dx[2], *dg[2], *db[2];
        for (int t = 0; t < 2; t++) {
            kn_ctx ctx = {t ? p3 : NULL, (kn_isa)isa, NULL};
            y[t] = malloc(n * 4); dx[t] = malloc(n * 4); dg[t] = calloc(C, 4); db[t] = calloc(C, 4);
            kn_group_norm(&ctx, x, B, C, (size_t)S, G, 1e-5f, ga, be, y[t]);
            kn_group_norm_backward(&ctx, x, B, C, (size_t)S, G, 1e-5f, ga, dy, dx[t], dg[t], db[t]);
        }
        CHECKF(!memcmp(y[0], y[1], n * 4) && !memcmp(dx[0], dx[1], n * 4) && !memcmp(dg[0], dg[1], C * 4) &&
               !memcmp(db[0], db[1], C * 4), "isa %s: group norm differs with 3 threads", kn_isa_name(isa));
        kn_ctx c1 = {NULL, (kn_isa)isa, NULL}, c3 = {p3, (kn_isa)isa, NULL};
        kn_layer_norm(&c1, x, (size_t)B * C, S, 1e-5f, NULL, NULL, y[0]);
        kn_layer_norm(&c3, x, (size_t)B * C, S, 1e-5f, NULL, NULL, y[1]);
        CHECK(!memcmp(y[0], y[1], n * 4));
        for (int t = 0; t < 2; t++) { free(y[t]); free(dx[t]); free(dg[t]); free(db[t]); }
    }
    free(x); free(ga); free(be); free(dy);
    kn_pool_destroy(p3);
}

/* ---------------- activations ---------------- */
TEST(activations_match_reference) {
    size_t n = 40000 + 13;   /* several chunks and a vector tail */
    float *x = rnd(n, 1000), *dy = rnd(n, 1001);
    for (size_t i = 0; i < n; i++) x[i] *= 12.f;
    x[0] = 0.f; x[1] = -90.f; x[2] = 90.f; x[3] = 1e-6f;
    kn_pool *p3 = NULL;
    kn_error err = {0};
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    for (int isa = 0; isa <= max_isa(); isa++)
        for (int a = 0; a < 4; a++) {
            float *y0 = malloc(n * 4), *y1 = malloc(n * 4), *y3 = malloc(n * 4);
            kn_ctx ctx = {NULL, (kn_isa)isa, NULL}, c3 = {p3, (kn_isa)isa, NULL};
            kn_activation(&ctx, (kn_act)a, x, n, y0);
            kn_activation(&c3, (kn_act)a, x, n, y3);
            ref_activation(NULL, (kn_act)a, x, n, y1);
            double worst = 0;
            for (size_t i = 0; i < n; i++) {
                double e = fabs((double)y0[i] - y1[i]) / (1.0 + fabs(y1[i]));
                if (e > worst || e != e) worst = e != e ? INFINITY : e;
            }
            CHECKF(worst < 2e-6, "activation %d isa %s: rel err %g", a, kn_isa_name(isa), worst);
            CHECK(!memcmp(y0, y3, n * 4));
            memcpy(y3, x, n * 4);   /* in place */
            kn_activation(&c3, (kn_act)a, y3, n, y3);
            CHECK(!memcmp(y0, y3, n * 4));
            kn_activation_backward(&ctx, (kn_act)a, x, dy, n, y0);
            ref_activation_backward(NULL, (kn_act)a, x, dy, n, y1);
            CHECK(kn_test_maxdiff(y0, y1, n) < 1e-6);
            free(y0); free(y1); free(y3);
        }
    kn_pool_destroy(p3);
    free(x); free(dy);
}

TEST(geglu_matches_reference) {
    int R = 7, D = 37;
    size_t nx = (size_t)R * 2 * D, ny = (size_t)R * D;
    float *x = rnd(nx, 1100), *dy = rnd(ny, 1101);
    for (size_t i = 0; i < nx; i++) x[i] *= 4.f;
    for (int isa = 0; isa <= max_isa(); isa++) {
        float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4), *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4);
        kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
        kn_geglu(&ctx, x, (size_t)R, D, y0);
        ref_geglu(NULL, x, (size_t)R, D, y1);
        CHECKF(kn_test_maxdiff(y0, y1, ny) < 1e-5, "geglu isa %s", kn_isa_name(isa));
        kn_geglu_backward(&ctx, x, (size_t)R, D, dy, dx0);
        ref_geglu_backward(NULL, x, (size_t)R, D, dy, dx1);
        CHECK(kn_test_maxdiff(dx0, dx1, nx) < 1e-6);
        free(y0); free(y1); free(dx0); free(dx1);
    }
    free(x); free(dy);
}

typedef struct { kn_act act; size_t n; int D; } act_fd;
static void act_fwd(const void *a, const float *x, float *y) {
    const act_fd *f = a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    if (f->D) kn_geglu(&ctx, x, f->n, f->D, y);
    else kn_activation(&ctx, f->act, x, f->n, y);
}

TEST(activation_backward_finite_differences) {
    size_t n = 24;
    float *x = rnd(n, 1200), *r = rnd(n, 1201), dx[24];
    for (size_t i = 0; i < n; i++) x[i] *= 3.f;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    for (int a = 0; a < 4; a++) {
        kn_activation_backward(&ctx, (kn_act)a, x, r, n, dx);
        act_fd f = {(kn_act)a, n, 0};
        CHECKF(fd_check(T_, "activation", act_fwd, &f, x, n, n, r, dx, 1e-3, 5e-3), "activation %d", a);
    }
    act_fd g = {KN_ACT_GELU, 3, 4};   /* geglu: 3 rows of 2*4 -> 3 x 4 */
    kn_geglu_backward(&ctx, x, 3, 4, r, dx);
    CHECK(fd_check(T_, "geglu", act_fwd, &g, x, 24, 12, r, dx, 1e-3, 5e-3));
    free(x); free(r);
}

/* ---------------- layout, resampling, elementwise ---------------- */
TEST(layout_and_elementwise_match_reference) {
    kn_pool *p3 = NULL;
    kn_error err = {0};
    REQUIRE(kn_pool_create(3, &p3, &err) == KN_OK);
    int B = 2, C = 37, S = 45;
    size_t n = (size_t)B * C * S;
    float *x = rnd(n, 1300), *y0 = malloc(n * 4 * 4), *y1 = malloc(n * 4 * 4), *b = rnd(n, 1301);
    for (int isa = 0; isa <= max_isa(); isa++)
        for (int t = 0; t < 2; t++) {
            kn_ctx ctx = {t ? p3 : NULL, (kn_isa)isa, NULL};
            kn_bcs_to_bsc(&ctx, x, B, C, (size_t)S, y0);
            ref_bcs_to_bsc(NULL, x, B, C, (size_t)S, y1);
            CHECK(!memcmp(y0, y1, n * 4));
            kn_bsc_to_bcs(&ctx, x, B, C, (size_t)S, y0);
            ref_bsc_to_bcs(NULL, x, B, C, (size_t)S, y1);
            CHECK(!memcmp(y0, y1, n * 4));
            /* every permutation of 4 axes, on odd sizes and on a shape with a unit axis */
            int dims_all[2][4] = {{2, 5, 9, (int)(n / 90)}, {3, 1, (int)(n / 111), 37}};
            for (int dset = 0; dset < 2; dset++)
            for (int p = 0; p < 24; p++) {
                int perm[4], used[4] = {0}, r = p;
                for (int k = 0; k < 4; k++) {   /* p-th permutation in factorial numbering */
                    int f = k == 0 ? 6 : k == 1 ? 2 : 1, pick = k == 3 ? 0 : r / f, c = -1;
                    if (k < 3) r %= f;
                    for (int v = 0; v < 4; v++) if (!used[v] && ++c == pick) { perm[k] = v; used[v] = 1; break; }
                }
                int *dims = dims_all[dset];
                kn_permute4(&ctx, x, dims, perm, y0);
                ref_permute4(NULL, x, dims, perm, y1);
                CHECKF(!memcmp(y0, y1, n * 4), "permute %d%d%d%d dims set %d", perm[0], perm[1], perm[2], perm[3], dset);
            }
            kn_upsample_nearest2x(&ctx, x, (size_t)B * C, 5, 9, y0);
            ref_upsample_nearest2x(NULL, x, (size_t)B * C, 5, 9, y1);
            CHECK(!memcmp(y0, y1, n * 4 * 4));
            kn_upsample_nearest2x_backward(&ctx, y0, (size_t)B * C, 5, 9, b);
            ref_upsample_nearest2x_backward(NULL, y0, (size_t)B * C, 5, 9, y1);
            CHECK(!memcmp(b, y1, n * 4));
        }
    free(b);
    b = rnd(n, 1301);
    kn_add(x, b, n, y0); ref_add(x, b, n, y1); CHECK(!memcmp(y0, y1, n * 4));
    kn_mul(x, b, n, y0); ref_mul(x, b, n, y1); CHECK(!memcmp(y0, y1, n * 4));
    kn_scale(x, 0.3f, n, y0); ref_scale(x, 0.3f, n, y1); CHECK(!memcmp(y0, y1, n * 4));
    memcpy(y0, b, n * 4); memcpy(y1, b, n * 4);
    kn_axpy(-1.5f, x, n, y0); ref_axpy(-1.5f, x, n, y1); CHECK(kn_test_maxdiff(y0, y1, n) < 1e-6);
    memcpy(y0, x, n * 4); memcpy(y1, x, n * 4);
    kn_add_channel_bias(y0, B, C, (size_t)S, b); ref_add_channel_bias(y1, B, C, (size_t)S, b);
    CHECK(!memcmp(y0, y1, n * 4));
    float db0[37] = {0}, db1[37] = {0};
    kn_add_channel_bias_backward(x, B, C, (size_t)S, db0); ref_add_channel_bias_backward(x, B, C, (size_t)S, db1);
    CHECK(kn_test_maxdiff(db0, db1, 37) < 1e-5);
    CHECK(fabs(kn_mse(x, b, n) - ref_mse(x, b, n)) < 1e-6);
    free(x); free(y0); free(y1); free(b);
    kn_pool_destroy(p3);
}

TEST(lookups_and_small_ops_match_reference) {
    int V = 11, D = 7;
    size_t n = 9;
    int64_t ids[9] = {0, 3, 10, 3, 5, 1, 0, 9, 2};
    float *table = rnd((size_t)V * D, 1400), *dy = rnd(n * D, 1401);
    for (int t = 0; t < 3; t++) {
        void *td = to_dtype(table, (size_t)V * D, (kn_dtype)t);
        kn_wview w = {td, (kn_dtype)t};
        float y0[63], y1[63];
        kn_embedding(ids, n, w, D, y0);
        ref_embedding(ids, n, w, D, y1);
        CHECK(!memcmp(y0, y1, sizeof y0));
        free(td);
    }
    float g0[77] = {0}, g1[77] = {0};
    kn_embedding_backward(ids, n, D, dy, g0);
    ref_embedding_backward(ids, n, D, dy, g1);
    CHECK(!memcmp(g0, g1, sizeof g0));
    float ts[3] = {0.f, 17.f, 999.f}, e0[3 * 9], e1[3 * 9];
    for (int flip = 0; flip < 2; flip++) {
        kn_timestep_embedding(ts, 3, 9, flip, 1.f, 10000.f, e0);
        ref_timestep_embedding(ts, 3, 9, flip, 1.f, 10000.f, e1);
        CHECK(!memcmp(e0, e1, sizeof e0));
    }
    int B = 2, Ca = 3, Cb = 4;
    size_t S = 5;
    float *a = rnd((size_t)B * Ca * S, 1402), *b = rnd((size_t)B * Cb * S, 1403), y0[70], y1[70];
    kn_concat_channels(a, Ca, b, Cb, B, S, y0);
    ref_concat_channels(a, Ca, b, Cb, B, S, y1);
    CHECK(!memcmp(y0, y1, sizeof y0));
    float da0[30], db0[40], da1[30], db1[40];
    kn_split_channels(y0, Ca, Cb, B, S, da0, db0);
    ref_split_channels(y0, Ca, Cb, B, S, da1, db1);
    CHECK(!memcmp(da0, da1, sizeof da0) && !memcmp(db0, db1, sizeof db0) && !memcmp(da0, a, sizeof da0));
    kn_mse_backward(a, b, 30, 0.5f, da0);
    ref_mse_backward(a, b, 30, 0.5f, da1);
    CHECK(!memcmp(da0, da1, sizeof da0));
    free(table); free(dy); free(a); free(b);
}

TEST_MAIN_BEGIN
    RUN(attention_matches_reference_all_isas);
    RUN(attention_backward_matches_reference);
    RUN(attention_backward_finite_differences);
    RUN(attention_threads_bit_identical);
    RUN(group_norm_matches_reference);
    RUN(layer_norm_matches_reference);
    RUN(norm_backward_finite_differences);
    RUN(norms_threads_bit_identical);
    RUN(activations_match_reference);
    RUN(geglu_matches_reference);
    RUN(activation_backward_finite_differences);
    RUN(layout_and_elementwise_match_reference);
    RUN(lookups_and_small_ops_match_reference);
TEST_MAIN_END
