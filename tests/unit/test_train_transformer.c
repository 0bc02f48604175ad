/* Training passes of attention, BasicTransformerBlock, Transformer2DModel and the motion module's
 * TransformerTemporalModel on tiny random layers: (1) the training forward equals the inference forward
 * bit for bit; (2) dx, dkv/dcontext and every parameter gradient match central finite differences of
 * loss = sum(y * R) (R fixed random, so dy = R), on up to 12 elements per tensor, within 1e-2 of the
 * tensor's largest gradient; the accumulated gradients (parameters, dkv) are checked as increments
 * over a non-zero start and dx is pre-filled with garbage to check it is overwritten; (3) forward and
 * backward give identical bits with 1 and 2 threads. Also: frozen parameters (absent from the map)
 * get nothing while dx is unchanged, and an f16 weight under a gradient is refused by name. */
#include "train_params.h"

/* ---- parameters: in-memory f32 tensors, opened as weights, each with a gradient ---- */
static void add(params *P, const char *prefix, const char *name, int ndim, int64_t a, int64_t b, int64_t c,
                int64_t d) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    tparam *t = tparam_new(P, full, ndim, a, b, c, d);
    kn_randn(t->w, t->n, ++P->seed, 0);
    /* norm gains near 1, small weights elsewhere: the softmax and layer norms stay in a smooth regime */
    int gain = ndim == 1 && strstr(name, "norm") && strstr(name, "weight");
    for (size_t i = 0; i < t->n; i++) t->w[i] = gain ? 1.0f + 0.2f * t->w[i] : (ndim == 1 ? 0.2f : 0.35f) * t->w[i];
}

static void add_lin(params *P, const char *prefix, const char *name, int in, int out, int bias, int conv) {
    char n[128];
    snprintf(n, sizeof n, "%s.weight", name);
    if (conv) add(P, prefix, n, 4, out, in, 1, 1);
    else add(P, prefix, n, 2, out, in, 0, 0);
    if (bias) { snprintf(n, sizeof n, "%s.bias", name); add(P, prefix, n, 1, out, 0, 0, 0); }
}

static void add_norm(params *P, const char *prefix, const char *name, int C) {
    char n[128];
    snprintf(n, sizeof n, "%s.weight", name); add(P, prefix, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.bias", name); add(P, prefix, n, 1, C, 0, 0, 0);
}

static void add_attn(params *P, const char *prefix, int dim, int kv_dim, int inner, int bias) {
    add_lin(P, prefix, "to_q", dim, inner, bias, 0);
    add_lin(P, prefix, "to_k", kv_dim, inner, bias, 0);
    add_lin(P, prefix, "to_v", kv_dim, inner, bias, 0);
    add_lin(P, prefix, "to_out.0", inner, dim, 1, 0);
}

static void add_btb(params *P, const char *prefix, int dim, int cross) {
    char n[128];
    add_norm(P, prefix, "norm1", dim);
    snprintf(n, sizeof n, "%s.attn1", prefix); add_attn(P, n, dim, dim, dim, 0);
    add_norm(P, prefix, "norm2", dim);
    snprintf(n, sizeof n, "%s.attn2", prefix); add_attn(P, n, dim, cross ? cross : dim, dim, 0);
    add_norm(P, prefix, "norm3", dim);
    add_lin(P, prefix, "ff.net.0.proj", dim, 8 * dim, 1, 0);
    add_lin(P, prefix, "ff.net.2", 4 * dim, dim, 1, 0);
}

/* ---- one layer under test ---- */
enum { ATTN, BTB, T2D, TTM };
typedef struct {
    int kind;
    kn_attn a;
    kn_btb b;
    kn_t2d t;
    kn_ttm m;
    int B, L, Lk, rep, H, W, F;   /* attn: B, L=Lq, Lk; btb: B, L, Lk, rep; t2d: B=N, H, W, L=ctx len, rep; ttm: B, F, H, W */
    float *x, *kv, *R;            /* kv NULL: self-attention / no context */
    size_t nx, nkv, ny;
} lcase;

static kn_status fwd_train(const kn_ctx *ctx, kn_ws *tape, const lcase *c, float *y, void **act, kn_error *err) {
    switch (c->kind) {
    case ATTN: return kn_attn_fwd_train(ctx, tape, &c->a, c->x, c->B, c->L, c->kv, c->Lk, y, (kn_attn_act **)act, err);
    case BTB: return kn_btb_fwd_train(ctx, tape, &c->b, c->x, c->B, c->L, c->kv, c->Lk, c->rep, y, (kn_btb_act **)act, err);
    case T2D: return kn_t2d_fwd_train(ctx, tape, &c->t, c->x, c->B, c->H, c->W, c->kv, c->L, c->rep, y, (kn_t2d_act **)act, err);
    default: return kn_ttm_fwd_train(ctx, tape, &c->m, c->x, c->B, c->F, c->H, c->W, y, (kn_ttm_act **)act, err);
    }
}

static kn_status bwd(const kn_ctx *ctx, kn_ws *tape, const lcase *c, const void *act, const kn_gradmap *gm,
                     float *dx, float *dkv, kn_error *err) {
    switch (c->kind) {
    case ATTN: return kn_attn_bwd(ctx, tape, &c->a, act, gm, c->R, dx, dkv, err);
    case BTB: return kn_btb_bwd(ctx, tape, &c->b, act, gm, c->R, dx, dkv, err);
    case T2D: return kn_t2d_bwd(ctx, tape, &c->t, act, gm, c->R, dx, dkv, err);
    default: return kn_ttm_bwd(ctx, tape, &c->m, act, gm, c->R, dx, err);
    }
}

/* the inference forward into y (in place on a copy of x where the layer works in place) */
static kn_status fwd_infer(const kn_ctx *ctx, kn_ws *ws, const lcase *c, float *y, kn_error *err) {
    if (c->kind == ATTN) return kn_attn_fwd(ctx, ws, &c->a, c->x, c->B, c->L, c->kv, c->Lk, y, err);
    memcpy(y, c->x, c->nx * sizeof(float));
    if (c->kind == BTB) return kn_btb_fwd(ctx, ws, &c->b, y, c->B, c->L, c->kv, c->Lk, c->rep, err);
    if (c->kind == T2D) return kn_t2d_fwd(ctx, ws, &c->t, y, c->B, c->H, c->W, c->kv, c->L, c->rep, err);
    return kn_ttm_fwd(ctx, ws, &c->m, y, c->B, c->F, c->H, c->W, err);
}

#define TAPE_BYTES ((size_t)64 << 20)

static double loss(const lcase *c) {
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_ws tape;
    kn_error err = {0};
    if (kn_tape_init(&tape, TAPE_BYTES, &err)) return NAN;
    float *y = malloc(c->ny * sizeof(float));
    void *act;
    double s = NAN;
    if (y && !fwd_train(&ctx, &tape, c, y, &act, &err)) {
        s = 0;
        for (size_t i = 0; i < c->ny; i++) s += (double)y[i] * c->R[i];
    }
    free(y);
    kn_tape_free(&tape);
    return s;
}

/* Central difference of the loss in element *v. */
static double fd(const lcase *c, float *v) {
    float keep = *v, h = 1e-2f * (fabsf(keep) > 1 ? fabsf(keep) : 1);
    *v = keep + h;
    float hp = *v - keep;             /* the step f32 actually took */
    double a = loss(c);
    *v = keep - h;
    float hm = keep - *v;
    double b = loss(c);
    *v = keep;
    return (a - b) / ((double)hp + hm);
}

/* g (minus the value it started from) against finite differences on up to 12 elements of v. */
static int check_tensor(const char *what, const lcase *c, float *v, const float *g, float g0, size_t n) {
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(g[i] - g0));
    size_t step = n / 12 + 1;
    for (size_t i = 0; i < n; i += step) {
        double d = fabs(fd(c, &v[i]) - (g[i] - g0));
        if (!(d <= worst)) worst = d;
    }
    if (!(worst <= 1e-2 * mx + 1e-4) || mx == 0) {
        fprintf(stderr, "  %s: finite-difference diff %.3g, max |g| %.3g\n", what, worst, mx);
        return 1;
    }
    return 0;
}

#define G0 0.25f      /* parameter gradients start here: the backward must add, not overwrite */
#define DKV0 0.5f     /* and dkv / dcontext here */

/* Forward and backward once with ctx; fills y, dx, dkv (started at DKV0) and the parameter gradients
 * (started at G0). */
static int run_once(const kn_ctx *ctx, const lcase *c, params *P, float *y, float *dx, float *dkv) {
    kn_ws tape;
    kn_error err = {0};
    if (kn_tape_init(&tape, TAPE_BYTES, &err)) return 1;
    for (int i = 0; i < P->n; i++) for (size_t j = 0; j < P->p[i].n; j++) P->p[i].g[j] = G0;
    for (size_t i = 0; i < c->nx; i++) dx[i] = 1e30f;
    for (size_t i = 0; i < c->nkv; i++) dkv[i] = DKV0;
    void *act;
    kn_status st = fwd_train(ctx, &tape, c, y, &act, &err);
    size_t mark = kn_ws_mark(&tape);
    if (!st) st = bwd(ctx, &tape, c, act, &P->gm, dx, c->nkv ? dkv : NULL, &err);
    if (!st && kn_ws_mark(&tape) != mark) { fprintf(stderr, "  backward left temporaries on the tape\n"); st = KN_EINTERNAL; }
    if (st) fprintf(stderr, "  %s\n", err.msg);
    kn_tape_free(&tape);
    return st != KN_OK;
}

/* Gradients as a flat copy: dx, dkv, every parameter's. */
static float *grads_copy(const lcase *c, const params *P, const float *dx, const float *dkv, size_t *n) {
    size_t tot = c->nx + c->nkv;
    for (int i = 0; i < P->n; i++) tot += P->p[i].n;
    float *g = malloc(tot * sizeof(float)), *o = g;
    if (!g) return NULL;
    memcpy(o, dx, c->nx * sizeof(float)); o += c->nx;
    if (c->nkv) { memcpy(o, dkv, c->nkv * sizeof(float)); o += c->nkv; }
    for (int i = 0; i < P->n; i++) { memcpy(o, P->p[i].g, P->p[i].n * sizeof(float)); o += P->p[i].n; }
    *n = tot;
    return g;
}

/* All three checks on one layer. */
static int check_layer(lcase *c, params *P) {
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_error err = {0};
    int bad = 0;
    float *y = malloc(c->ny * sizeof(float)), *yi = malloc(c->ny * sizeof(float));
    float *dx = malloc(c->nx * sizeof(float)), *dkv = malloc((c->nkv + 1) * sizeof(float));
    if (!y || !yi || !dx || !dkv) { bad = 1; goto out; }
    if (run_once(&ctx, c, P, y, dx, dkv)) { bad = 1; goto out; }
    /* (1) bit-identical to the inference forward */
    kn_ws ws;
    if (kn_tape_init(&ws, TAPE_BYTES, &err)) { bad = 1; goto out; }
    kn_status st = fwd_infer(&ctx, &ws, c, yi, &err);
    kn_tape_free(&ws);
    if (st || memcmp(y, yi, c->ny * sizeof(float))) {
        fprintf(stderr, "  training forward differs from the inference forward (max %.3g)\n", kn_test_maxdiff(y, yi, c->ny));
        bad++;
    }
    /* (3) the same bits with 2 threads */
    size_t ng1, ng2;
    float *g1 = grads_copy(c, P, dx, dkv, &ng1);
    kn_pool *pool = NULL;
    if (!g1 || kn_pool_create(2, &pool, &err)) { free(g1); bad = 1; goto out; }
    kn_ctx ctx2 = {pool, ctx.isa, NULL};
    if (run_once(&ctx2, c, P, yi, dx, dkv)) bad++;
    float *g2 = grads_copy(c, P, dx, dkv, &ng2);
    if (!g2 || memcmp(y, yi, c->ny * sizeof(float)) || memcmp(g1, g2, ng1 * sizeof(float))) {
        fprintf(stderr, "  2 threads differ from 1\n");
        bad++;
    }
    free(g1); free(g2);
    kn_pool_destroy(pool);
    /* (2) finite differences (grads of the last run: identical to the 1-thread ones) */
    bad += check_tensor("dx", c, c->x, dx, 0.0f, c->nx);
    if (c->nkv) bad += check_tensor("dkv", c, c->kv, dkv, DKV0, c->nkv);
    for (int i = 0; i < P->n; i++) bad += check_tensor(P->p[i].name, c, P->p[i].w, P->p[i].g, G0, P->p[i].n);
out:
    free(y); free(yi); free(dx); free(dkv);
    return bad;
}

static void inputs(lcase *c, size_t nx, size_t nkv, size_t ny, uint64_t seed) {
    c->nx = nx; c->nkv = nkv; c->ny = ny;
    c->x = malloc(nx * sizeof(float));
    c->kv = nkv ? malloc(nkv * sizeof(float)) : NULL;
    c->R = malloc(ny * sizeof(float));
    kn_randn(c->x, nx, seed, 1);
    if (nkv) kn_randn(c->kv, nkv, seed, 2);
    kn_randn(c->R, ny, seed, 3);
}

static void free_inputs(lcase *c) { free(c->x); free(c->kv); free(c->R); }

/* ---- attention ---- */
TEST(attention_self_with_qkv_bias) {
    enum { B = 2, L = 5, D = 8, HEADS = 2 };
    params P = {.seed = 100};
    add_attn(&P, "a", D, D, D, 1);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = ATTN, .B = B, .L = L};
    kn_error err = {0};
    REQUIRE(kn_attn_load(&c.a, &w, "a", D, D, HEADS, D / HEADS, 1, &err) == KN_OK);
    inputs(&c, B * L * D, 0, B * L * D, 1);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_weights_close(&w);
    free_params(&P);
}

TEST(attention_cross_inner_differs_from_dim) {
    enum { B = 2, L = 4, LK = 3, D = 8, KV = 6, HEADS = 2, DH = 3 };
    params P = {.seed = 200};
    add_attn(&P, "a", D, KV, HEADS * DH, 0);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = ATTN, .B = B, .L = L, .Lk = LK};
    kn_error err = {0};
    REQUIRE(kn_attn_load(&c.a, &w, "a", D, KV, HEADS, DH, 0, &err) == KN_OK);
    inputs(&c, B * L * D, B * LK * KV, B * L * D, 2);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_weights_close(&w);
    free_params(&P);
}

/* ---- BasicTransformerBlock ---- */
TEST(transformer_block_temporal_with_positions) {
    enum { B = 3, L = 5, D = 8, HEADS = 2, PE = 6 };
    params P = {.seed = 300};
    add_btb(&P, "b", D, 0);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = BTB, .B = B, .L = L, .rep = 1};
    kn_error err = {0};
    REQUIRE(kn_btb_load(&c.b, &w, "b", D, HEADS, 0, PE, &err) == KN_OK);
    REQUIRE(c.b.pe != NULL);
    inputs(&c, B * L * D, 0, B * L * D, 3);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_btb_free(&c.b);
    kn_weights_close(&w);
    free_params(&P);
}

TEST(transformer_block_cross_shared_context_rep2) {
    enum { B = 4, L = 3, LK = 4, D = 8, CROSS = 6, HEADS = 2, REP = 2 };
    params P = {.seed = 400};
    add_btb(&P, "b", D, CROSS);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = BTB, .B = B, .L = L, .Lk = LK, .rep = REP};
    kn_error err = {0};
    REQUIRE(kn_btb_load(&c.b, &w, "b", D, HEADS, CROSS, 0, &err) == KN_OK);
    inputs(&c, B * L * D, (B / REP) * LK * CROSS, B * L * D, 4);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_btb_free(&c.b);
    kn_weights_close(&w);
    free_params(&P);
}

/* The inference block runs its feed-forward in chunks of 4096 rows, the training block in one: both
 * must still give the same bits. */
TEST(transformer_block_forward_over_ff_chunk_rows) {
    enum { B = 1030, L = 4, D = 8, HEADS = 2, PE = 4 };
    params P = {.seed = 500};
    add_btb(&P, "b", D, 0);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = BTB, .B = B, .L = L, .rep = 1};
    kn_error err = {0};
    REQUIRE(kn_btb_load(&c.b, &w, "b", D, HEADS, 0, PE, &err) == KN_OK);
    inputs(&c, (size_t)B * L * D, 0, (size_t)B * L * D, 5);
    float *y = malloc(c.ny * sizeof(float)), *yi = malloc(c.ny * sizeof(float));
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_ws tape, ws;
    REQUIRE(y && yi && !kn_tape_init(&tape, TAPE_BYTES, &err) && !kn_tape_init(&ws, TAPE_BYTES, &err));
    void *act;
    CHECK(fwd_train(&ctx, &tape, &c, y, &act, &err) == KN_OK);
    CHECK(fwd_infer(&ctx, &ws, &c, yi, &err) == KN_OK);
    CHECK(memcmp(y, yi, c.ny * sizeof(float)) == 0);
    /* too many frames for the positional table is refused, as in inference */
    CHECK(kn_btb_fwd_train(&ctx, &tape, &c.b, c.x, 1, PE + 1, NULL, 0, 1, y, (kn_btb_act **)&act, &err) == KN_EINVAL);
    kn_tape_free(&tape); kn_tape_free(&ws);
    free(y); free(yi);
    free_inputs(&c);
    kn_btb_free(&c.b);
    kn_weights_close(&w);
    free_params(&P);
}

/* ---- Transformer2DModel ---- */
static void add_t2d(params *P, int C, int nlayers, int cross, int conv) {
    add_norm(P, "t", "norm", C);
    add_lin(P, "t", "proj_in", C, C, 1, conv);
    for (int i = 0; i < nlayers; i++) {
        char n[64];
        snprintf(n, sizeof n, "t.transformer_blocks.%d", i);
        add_btb(P, n, C, cross);
    }
    add_lin(P, "t", "proj_out", C, C, 1, conv);
}

TEST(transformer2d_conv_proj_two_blocks_rep2) {
    enum { N = 4, C = 8, H = 2, W = 3, L = 3, CROSS = 6, HEADS = 2, GROUPS = 4, REP = 2, NL = 2 };
    params P = {.seed = 600};
    add_t2d(&P, C, NL, CROSS, 1);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = T2D, .B = N, .H = H, .W = W, .L = L, .rep = REP};
    kn_error err = {0};
    REQUIRE(kn_t2d_load(&c.t, &w, "t", C, HEADS, NL, CROSS, GROUPS, 0, &err) == KN_OK);
    inputs(&c, N * C * H * W, (N / REP) * L * CROSS, N * C * H * W, 6);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_t2d_free(&c.t);
    kn_weights_close(&w);
    free_params(&P);
}

TEST(transformer2d_linear_proj) {
    enum { N = 2, C = 8, H = 3, W = 2, L = 2, CROSS = 4, HEADS = 1, GROUPS = 2, NL = 1 };
    params P = {.seed = 700};
    add_t2d(&P, C, NL, CROSS, 0);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = T2D, .B = N, .H = H, .W = W, .L = L, .rep = 1};
    kn_error err = {0};
    REQUIRE(kn_t2d_load(&c.t, &w, "t", C, HEADS, NL, CROSS, GROUPS, 1, &err) == KN_OK);
    inputs(&c, N * C * H * W, N * L * CROSS, N * C * H * W, 7);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_t2d_free(&c.t);
    kn_weights_close(&w);
    free_params(&P);
}

/* ---- TransformerTemporalModel ---- */
TEST(temporal_transformer) {
    enum { B = 2, F = 3, C = 8, H = 2, W = 2, HEADS = 2, GROUPS = 4, MAXLEN = 8 };
    params P = {.seed = 800};
    add_norm(&P, "m", "norm", C);
    add_lin(&P, "m", "proj_in", C, C, 1, 0);
    add_btb(&P, "m.transformer_blocks.0", C, 0);
    add_lin(&P, "m", "proj_out", C, C, 1, 0);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = TTM, .B = B, .F = F, .H = H, .W = W};
    kn_error err = {0};
    REQUIRE(kn_ttm_load(&c.m, &w, "m", C, HEADS, GROUPS, MAXLEN, &err) == KN_OK);
    inputs(&c, B * F * C * H * W, 0, B * F * C * H * W, 8);
    CHECK(check_layer(&c, &P) == 0);
    free_inputs(&c);
    kn_ttm_free(&c.m);
    kn_weights_close(&w);
    free_params(&P);
}

/* ---- frozen parameters and non-f32 weights ---- */
TEST(frozen_parameters_and_f16_refused) {
    enum { B = 2, L = 3, LK = 2, D = 8, CROSS = 4, HEADS = 2 };
    params P = {.seed = 900};
    add_btb(&P, "b", D, CROSS);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    lcase c = {.kind = BTB, .B = B, .L = L, .Lk = LK, .rep = 1};
    kn_error err = {0};
    REQUIRE(kn_btb_load(&c.b, &w, "b", D, HEADS, CROSS, 0, &err) == KN_OK);
    inputs(&c, B * L * D, B * LK * CROSS, B * L * D, 9);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    float y[B * L * D], dx1[B * L * D], dx2[B * L * D], dkv1[B * LK * CROSS], dkv2[B * LK * CROSS];
    REQUIRE(run_once(&ctx, &c, &P, y, dx1, dkv1) == 0);
    /* everything frozen: same input gradients, no parameter gradient touched */
    kn_gradmap none = {NULL, 0};
    for (int i = 0; i < P.n; i++) for (size_t j = 0; j < P.p[i].n; j++) P.p[i].g[j] = G0;
    kn_ws tape;
    REQUIRE(kn_tape_init(&tape, TAPE_BYTES, &err) == KN_OK);
    kn_btb_act *act;
    for (size_t i = 0; i < sizeof dkv2 / sizeof *dkv2; i++) dkv2[i] = DKV0;
    REQUIRE(kn_btb_fwd_train(&ctx, &tape, &c.b, c.x, B, L, c.kv, LK, 1, y, &act, &err) == KN_OK);
    REQUIRE(kn_btb_bwd(&ctx, &tape, &c.b, act, &none, c.R, dx2, dkv2, &err) == KN_OK);
    CHECK(memcmp(dx1, dx2, sizeof dx1) == 0);
    CHECK(memcmp(dkv1, dkv2, sizeof dkv1) == 0);
    int touched = 0;
    for (int i = 0; i < P.n; i++) for (size_t j = 0; j < P.p[i].n; j++) touched += P.p[i].g[j] != G0;
    CHECK(touched == 0);
    /* an f16 weight on the gradient path is refused, naming the projection */
    float *q = (float *)c.b.a2.q.w.data;
    size_t nq = (size_t)D * D;
    uint16_t *h = malloc(nq * sizeof *h);
    REQUIRE(h != NULL);
    for (size_t i = 0; i < nq; i++) h[i] = kn_f32_to_f16(q[i]);
    c.b.a2.q.w = (kn_wview){h, KN_F16};
    REQUIRE(kn_btb_fwd_train(&ctx, &tape, &c.b, c.x, B, L, c.kv, LK, 1, y, &act, &err) == KN_OK);
    size_t mark = kn_ws_mark(&tape);
    CHECK(kn_btb_bwd(&ctx, &tape, &c.b, act, &P.gm, c.R, dx2, dkv2, &err) == KN_EUNSUPPORTED);
    CHECK(strstr(err.msg, "to_q") != NULL && strstr(err.msg, "F16") != NULL);
    CHECK(kn_ws_mark(&tape) == mark);
    free(h);
    kn_tape_free(&tape);
    free_inputs(&c);
    kn_btb_free(&c.b);
    kn_weights_close(&w);
    free_params(&P);
}

TEST_MAIN_BEGIN
    RUN(attention_self_with_qkv_bias);
    RUN(attention_cross_inner_differs_from_dim);
    RUN(transformer_block_temporal_with_positions);
    RUN(transformer_block_cross_shared_context_rep2);
    RUN(transformer_block_forward_over_ff_chunk_rows);
    RUN(transformer2d_conv_proj_two_blocks_rep2);
    RUN(transformer2d_linear_proj);
    RUN(temporal_transformer);
    RUN(frozen_parameters_and_f16_refused);
TEST_MAIN_END
