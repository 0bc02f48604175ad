/* Training passes of attention, BasicTransformerBlock, Transformer2DModel and the AnimateDiff
 * TransformerTemporalModel (contract in backward.h). Forwards repeat blocks.c's kernel sequence, so
 * outputs match the inference pass bit for bit, but out of place, keeping every intermediate the
 * backward reads. */
#include "models/backward.h"
#include <math.h>

/* kn_lin_bwd, naming the projection when its weight cannot carry a gradient (not f32) */
static kn_status lin_bwd(const kn_ctx *ctx, const kn_lin *l, const char *what, const kn_gradmap *gm, const float *x,
                         size_t rows, const float *dy, float *dx, kn_error *err) {
    kn_status st = kn_lin_bwd(ctx, l, gm, x, rows, dy, dx, err);
    if (st == KN_EUNSUPPORTED)
        return kn_fail(err, st, "%s: backward needs f32 weights, found %s", what, kn_dtype_name(l->w.dtype));
    return st;
}

/* ---- attention ---- */
struct kn_attn_act {
    const float *x, *kv;          /* kv == NULL: self-attention */
    float *q, *k, *v, *o;
    int B, Lq, Lk;
};

static kn_attn_shape attn_shape(const kn_attn *a, int B, int Lq, int Lk) {
    kn_attn_shape s = {B, Lq, Lk, a->heads, a->dh, a->inner, a->inner, a->inner, a->inner, 0,
                       1.0f / sqrtf((float)a->dh)};
    return s;
}

kn_status kn_attn_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_attn *a, const float *x, int B, int Lq,
                            const float *kv, int Lk, float *y, kn_attn_act **act, kn_error *err) {
    kn_attn_act *r;
    TAPE_ACT(r, kn_attn_act);
    r->x = x; r->kv = kv; r->B = B; r->Lq = Lq;
    if (!kv) { kv = x; Lk = Lq; }
    r->Lk = Lk;
    size_t nq = (size_t)B * Lq, nk = (size_t)B * Lk;
    TAPE_FLOATS(r->q, nq * a->inner);
    TAPE_FLOATS(r->k, nk * a->inner);
    TAPE_FLOATS(r->v, nk * a->inner);
    TAPE_FLOATS(r->o, nq * a->inner);
    kn_lin_fwd(ctx, &a->q, x, nq, r->q);
    kn_lin_fwd(ctx, &a->k, kv, nk, r->k);
    kn_lin_fwd(ctx, &a->v, kv, nk, r->v);
    kn_attn_shape s = attn_shape(a, B, Lq, Lk);
    kn_attention(ctx, &s, r->q, r->k, r->v, r->o);
    kn_lin_fwd(ctx, &a->o, r->o, nq, y);
    *act = r;
    return KN_OK;
}

static kn_status attn_bwd_run(const kn_ctx *ctx, kn_ws *tape, const kn_attn *a, const kn_attn_act *r,
                              const kn_gradmap *gm, const float *dy, float *dx, float *dkv, kn_error *err) {
    size_t nq = (size_t)r->B * r->Lq, nk = (size_t)r->B * r->Lk, mark = kn_ws_mark(tape);
    const int self = r->kv == NULL;
    const float *kvx = self ? r->x : r->kv;
    float *dO, *dq, *dk, *dv, *t1, *t2;
    TAPE_FLOATS(dO, nq * a->inner);
    TAPE_FLOATS(dq, nq * a->inner);
    TAPE_FLOATS(dk, nk * a->inner);
    TAPE_FLOATS(dv, nk * a->inner);
    TAPE_FLOATS(t1, nk * a->kv_dim);
    TAPE_FLOATS(t2, nk * a->kv_dim);
    kn_status st;
    if ((st = lin_bwd(ctx, &a->o, "attention to_out.0", gm, r->o, nq, dy, dO, err))) return st;
    kn_attn_shape s = attn_shape(a, r->B, r->Lq, r->Lk);
    kn_attention_backward(ctx, &s, r->q, r->k, r->v, dO, dq, dk, dv);
    int want_kv = self ? dx != NULL : dkv != NULL;
    if ((st = lin_bwd(ctx, &a->q, "attention to_q", gm, r->x, nq, dq, dx, err))) return st;
    if ((st = lin_bwd(ctx, &a->k, "attention to_k", gm, kvx, nk, dk, want_kv ? t1 : NULL, err))) return st;
    if ((st = lin_bwd(ctx, &a->v, "attention to_v", gm, kvx, nk, dv, want_kv ? t2 : NULL, err))) return st;
    if (want_kv) {
        float *dst = self ? dx : dkv;
        kn_axpy(1.0f, t1, nk * a->kv_dim, dst);
        kn_axpy(1.0f, t2, nk * a->kv_dim, dst);
    }
    kn_ws_release(tape, mark);
    return KN_OK;
}

/* temporaries go back to the tape on every path, errors included */
kn_status kn_attn_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_attn *a, const kn_attn_act *r,
                      const kn_gradmap *gm, const float *dy, float *dx, float *dkv, kn_error *err) {
    size_t mark = kn_ws_mark(tape);
    kn_status st = attn_bwd_run(ctx, tape, a, r, gm, dy, dx, dkv, err);
    kn_ws_release(tape, mark);
    return st;
}

/* ---- BasicTransformerBlock ---- */
struct kn_btb_act {
    const float *x;
    float *n1, *x1, *n2, *x2, *n3, *f1, *g;
    kn_attn_act *a1, *a2;
    int B, L, Lk, rep;
};

static void add_pe(const kn_btb *b, float *x, int B, int L) {
    for (int i = 0; i < B; i++)
        for (int l = 0; l < L; l++) kn_add(x + ((size_t)i * L + l) * b->dim, b->pe + (size_t)l * b->dim, (size_t)b->dim,
                                           x + ((size_t)i * L + l) * b->dim);
}

kn_status kn_btb_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_btb *b, const float *x, int B, int L,
                           const float *kv, int Lk, int rep, float *y, kn_btb_act **act, kn_error *err) {
    if (b->pe && L > b->pe_len)
        return kn_fail(err, KN_EINVAL, "%d frames exceed the motion modules' max sequence length %d", L, b->pe_len);
    size_t rows = (size_t)B * L, n = rows * b->dim;
    kn_btb_act *r;
    TAPE_ACT(r, kn_btb_act);
    r->x = x; r->B = B; r->L = L; r->Lk = Lk; r->rep = rep;
    float *a;
    TAPE_FLOATS(r->n1, n);
    TAPE_FLOATS(r->x1, n);
    TAPE_FLOATS(r->n2, n);
    TAPE_FLOATS(r->x2, n);
    TAPE_FLOATS(r->n3, n);
    TAPE_FLOATS(r->f1, rows * 2 * b->ff_inner);
    TAPE_FLOATS(r->g, rows * b->ff_inner);
    TAPE_FLOATS(a, n);
    kn_status st;
    kn_layer_norm(ctx, x, rows, b->dim, b->eps, b->n1.g, b->n1.b, r->n1);
    if (b->pe) add_pe(b, r->n1, B, L);
    if ((st = kn_attn_fwd_train(ctx, tape, &b->a1, r->n1, B, L, NULL, 0, a, &r->a1, err))) return st;
    kn_add(x, a, n, r->x1);
    kn_layer_norm(ctx, r->x1, rows, b->dim, b->eps, b->n2.g, b->n2.b, r->n2);
    if (b->pe) add_pe(b, r->n2, B, L);
    if (b->a2_cross) st = kn_attn_fwd_train(ctx, tape, &b->a2, r->n2, B / rep, L * rep, kv, Lk, a, &r->a2, err);
    else st = kn_attn_fwd_train(ctx, tape, &b->a2, r->n2, B, L, NULL, 0, a, &r->a2, err);
    if (st) return st;
    kn_add(r->x1, a, n, r->x2);
    kn_layer_norm(ctx, r->x2, rows, b->dim, b->eps, b->n3.g, b->n3.b, r->n3);
    kn_lin_fwd(ctx, &b->ff1, r->n3, rows, r->f1);
    kn_geglu(ctx, r->f1, rows, b->ff_inner, r->g);
    kn_lin_fwd(ctx, &b->ff2, r->g, rows, a);
    kn_add(r->x2, a, n, y);
    *act = r;
    return KN_OK;
}

/* dst = ds + d(layer_norm)/dx applied to dn (parameter gradients accumulate) */
static kn_status ln_bwd_add(const kn_ctx *ctx, kn_ws *tape, const kn_btb *b, const kn_norm *nm, const float *x,
                            size_t rows, const kn_gradmap *gm, const float *dn, const float *ds, float *dst,
                            kn_error *err) {
    size_t n = rows * b->dim, mark = kn_ws_mark(tape);
    float *t;
    TAPE_FLOATS(t, n);
    kn_layer_norm_backward(ctx, x, rows, b->dim, b->eps, nm->g, dn, t, kn_grad_of(gm, nm->g), kn_grad_of(gm, nm->b));
    kn_add(ds, t, n, dst);
    kn_ws_release(tape, mark);
    return KN_OK;
}

static kn_status btb_bwd_run(const kn_ctx *ctx, kn_ws *tape, const kn_btb *b, const kn_btb_act *r,
                             const kn_gradmap *gm, const float *dy, float *dx, float *dkv, kn_error *err) {
    size_t rows = (size_t)r->B * r->L, n = rows * b->dim, mark = kn_ws_mark(tape);
    float *dg, *df1, *dn, *d2, *d1;
    TAPE_FLOATS(dg, rows * b->ff_inner);
    TAPE_FLOATS(df1, rows * 2 * b->ff_inner);
    TAPE_FLOATS(dn, n);
    TAPE_FLOATS(d2, n);
    TAPE_FLOATS(d1, n);
    kn_status st;
    /* feed-forward: y = x2 + ff2(geglu(ff1(norm3(x2)))) */
    if ((st = lin_bwd(ctx, &b->ff2, "transformer block ff.net.2", gm, r->g, rows, dy, dg, err))) return st;
    kn_geglu_backward(ctx, r->f1, rows, b->ff_inner, dg, df1);
    if ((st = lin_bwd(ctx, &b->ff1, "transformer block ff.net.0.proj", gm, r->n3, rows, df1, dn, err))) return st;
    if ((st = ln_bwd_add(ctx, tape, b, &b->n3, r->x2, rows, gm, dn, dy, d2, err))) return st;
    /* attn2: x2 = x1 + attn2(norm2(x1) [+ pe]) */
    if ((st = kn_attn_bwd(ctx, tape, &b->a2, r->a2, gm, d2, dn, b->a2_cross ? dkv : NULL, err))) return st;
    if ((st = ln_bwd_add(ctx, tape, b, &b->n2, r->x1, rows, gm, dn, d2, d1, err))) return st;
    /* attn1: x1 = x + attn1(norm1(x) [+ pe]) */
    if ((st = kn_attn_bwd(ctx, tape, &b->a1, r->a1, gm, d1, dn, NULL, err))) return st;
    if (dx) st = ln_bwd_add(ctx, tape, b, &b->n1, r->x, rows, gm, dn, d1, dx, err);
    else {
        float *t;
        TAPE_FLOATS(t, n);
        st = ln_bwd_add(ctx, tape, b, &b->n1, r->x, rows, gm, dn, d1, t, err);
    }
    kn_ws_release(tape, mark);
    return st;
}

/* temporaries go back to the tape on every path, errors included */
kn_status kn_btb_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_btb *b, const kn_btb_act *r,
                     const kn_gradmap *gm, const float *dy, float *dx, float *dkv, kn_error *err) {
    size_t mark = kn_ws_mark(tape);
    kn_status st = btb_bwd_run(ctx, tape, b, r, gm, dy, dx, dkv, err);
    kn_ws_release(tape, mark);
    return st;
}

/* ---- Transformer2DModel ---- */
struct kn_t2d_act {
    const float *x;
    float *tok, **hs;             /* tokens after the norm; hs[i] the input of block i, hs[nlayers] the last output */
    kn_btb_act **blk;
    int N, H, W, L, rep;
};

kn_status kn_t2d_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_t2d *t, const float *x, int N, int H, int W,
                           const float *context, int L, int rep, float *y, kn_t2d_act **act, kn_error *err) {
    size_t S = (size_t)H * W, n = (size_t)N * t->C * S;
    kn_t2d_act *r;
    TAPE_ACT(r, kn_t2d_act);
    r->x = x; r->N = N; r->H = H; r->W = W; r->L = L; r->rep = rep;
    if (!(r->hs = kn_tape_new(tape, sizeof(float *) * (size_t)(t->nlayers + 1))) ||
        !(r->blk = kn_tape_new(tape, sizeof(kn_btb_act *) * (size_t)(t->nlayers > 0 ? t->nlayers : 1))))
        return kn_fail(err, KN_ENOMEM, "training tape full");
    TAPE_FLOATS(r->tok, n);
    for (int i = 0; i <= t->nlayers; i++) TAPE_FLOATS(r->hs[i], n);
    size_t mark = kn_ws_mark(tape);
    float *h;
    TAPE_FLOATS(h, n);
    kn_group_norm(ctx, x, N, t->C, S, t->groups, 1e-6f, t->norm.g, t->norm.b, h);
    kn_bcs_to_bsc(ctx, h, N, t->C, S, r->tok);
    kn_ws_release(tape, mark);
    kn_lin_fwd(ctx, &t->proj_in, r->tok, (size_t)N * S, r->hs[0]);
    for (int i = 0; i < t->nlayers; i++) {
        kn_status st = kn_btb_fwd_train(ctx, tape, &t->blocks[i], r->hs[i], N, (int)S, context, L, rep, r->hs[i + 1],
                                        &r->blk[i], err);
        if (st) return st;
    }
    mark = kn_ws_mark(tape);
    float *o, *b;
    TAPE_FLOATS(o, n);
    TAPE_FLOATS(b, n);
    kn_lin_fwd(ctx, &t->proj_out, r->hs[t->nlayers], (size_t)N * S, o);
    kn_bsc_to_bcs(ctx, o, N, t->C, S, b);
    kn_add(x, b, n, y);
    kn_ws_release(tape, mark);
    *act = r;
    return KN_OK;
}

static kn_status t2d_bwd_run(const kn_ctx *ctx, kn_ws *tape, const kn_t2d *t, const kn_t2d_act *r,
                             const kn_gradmap *gm, const float *dy, float *dx, float *dcontext, kn_error *err) {
    const int N = r->N;
    size_t S = (size_t)r->H * r->W, n = (size_t)N * t->C * S, rows = (size_t)N * S, mark = kn_ws_mark(tape);
    float *da, *db, *dt;
    TAPE_FLOATS(da, n);
    TAPE_FLOATS(db, n);
    TAPE_FLOATS(dt, n);
    kn_status st;
    kn_bcs_to_bsc(ctx, dy, N, t->C, S, dt);
    if ((st = lin_bwd(ctx, &t->proj_out, "Transformer2DModel proj_out", gm, r->hs[t->nlayers], rows, dt, da, err))) return st;
    for (int i = t->nlayers - 1; i >= 0; i--) {
        if ((st = kn_btb_bwd(ctx, tape, &t->blocks[i], r->blk[i], gm, da, db, dcontext, err))) return st;
        float *sw = da; da = db; db = sw;
    }
    if ((st = lin_bwd(ctx, &t->proj_in, "Transformer2DModel proj_in", gm, r->tok, rows, da, db, err))) return st;
    kn_bsc_to_bcs(ctx, db, N, t->C, S, dt);
    float *dxn = dx ? dx : da;
    kn_group_norm_backward(ctx, r->x, N, t->C, S, t->groups, 1e-6f, t->norm.g, dt, dxn, kn_grad_of(gm, t->norm.g),
                                   kn_grad_of(gm, t->norm.b));
    if (dx) kn_add(dx, dy, n, dx);
    kn_ws_release(tape, mark);
    return KN_OK;
}

/* temporaries go back to the tape on every path, errors included */
kn_status kn_t2d_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_t2d *t, const kn_t2d_act *r,
                     const kn_gradmap *gm, const float *dy, float *dx, float *dcontext, kn_error *err) {
    size_t mark = kn_ws_mark(tape);
    kn_status st = t2d_bwd_run(ctx, tape, t, r, gm, dy, dx, dcontext, err);
    kn_ws_release(tape, mark);
    return st;
}

/* ---- TransformerTemporalModel ---- */
struct kn_ttm_act {
    const float *x;
    float *a, *tok, *h0, *h1;     /* x as [B,C,F,S]; normed tokens [B,S,F,C]; block input / output */
    kn_btb_act *blk;
    int B, F, H, W;
};

kn_status kn_ttm_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_ttm *t, const float *x, int B, int F, int H,
                           int W, float *y, kn_ttm_act **act, kn_error *err) {
    int S = H * W, C = t->C;
    size_t n = (size_t)B * F * C * S;
    kn_ttm_act *r;
    TAPE_ACT(r, kn_ttm_act);
    r->x = x; r->B = B; r->F = F; r->H = H; r->W = W;
    TAPE_FLOATS(r->a, n);
    TAPE_FLOATS(r->tok, n);
    TAPE_FLOATS(r->h0, n);
    TAPE_FLOATS(r->h1, n);
    size_t mark = kn_ws_mark(tape);
    float *b;
    TAPE_FLOATS(b, n);
    int d1[4] = {B, F, C, S}, p1[4] = {0, 2, 1, 3};
    kn_permute4(ctx, x, d1, p1, r->a);
    kn_group_norm(ctx, r->a, B, C, (size_t)F * S, t->groups, 1e-6f, t->norm.g, t->norm.b, b);
    int d2[4] = {B, C, F, S}, p2[4] = {0, 3, 2, 1};
    kn_permute4(ctx, b, d2, p2, r->tok);
    kn_ws_release(tape, mark);
    kn_lin_fwd(ctx, &t->proj_in, r->tok, (size_t)B * S * F, r->h0);
    kn_status st = kn_btb_fwd_train(ctx, tape, &t->block, r->h0, B * S, F, NULL, 0, 1, r->h1, &r->blk, err);
    if (st) return st;
    mark = kn_ws_mark(tape);
    float *o;
    TAPE_FLOATS(o, n);
    TAPE_FLOATS(b, n);
    kn_lin_fwd(ctx, &t->proj_out, r->h1, (size_t)B * S * F, o);
    int d3[4] = {B, S, F, C}, p3[4] = {0, 2, 3, 1};
    kn_permute4(ctx, o, d3, p3, b);
    kn_add(x, b, n, y);
    kn_ws_release(tape, mark);
    *act = r;
    return KN_OK;
}

static kn_status ttm_bwd_run(const kn_ctx *ctx, kn_ws *tape, const kn_ttm *t, const kn_ttm_act *r,
                             const kn_gradmap *gm, const float *dy, float *dx, kn_error *err) {
    const int B = r->B, F = r->F, S = r->H * r->W, C = t->C;
    size_t n = (size_t)B * F * C * S, rows = (size_t)B * S * F, mark = kn_ws_mark(tape);
    float *u, *v;
    TAPE_FLOATS(u, n);
    TAPE_FLOATS(v, n);
    kn_status st;
    int d3[4] = {B, F, C, S}, p3[4] = {0, 3, 1, 2};      /* [B,F,C,S] -> [B,S,F,C] */
    kn_permute4(ctx, dy, d3, p3, u);
    if ((st = lin_bwd(ctx, &t->proj_out, "motion module proj_out", gm, r->h1, rows, u, v, err))) return st;
    if ((st = kn_btb_bwd(ctx, tape, &t->block, r->blk, gm, v, u, NULL, err))) return st;
    if ((st = lin_bwd(ctx, &t->proj_in, "motion module proj_in", gm, r->tok, rows, u, v, err))) return st;
    int d2[4] = {B, S, F, C}, p2[4] = {0, 3, 2, 1};      /* [B,S,F,C] -> [B,C,F,S] */
    kn_permute4(ctx, v, d2, p2, u);
    kn_group_norm_backward(ctx, r->a, B, C, (size_t)F * S, t->groups, 1e-6f, t->norm.g, u, v, kn_grad_of(gm, t->norm.g),
                                   kn_grad_of(gm, t->norm.b));
    if (dx) {
        int d1[4] = {B, C, F, S}, p1[4] = {0, 2, 1, 3};  /* [B,C,F,S] -> [B,F,C,S] */
        kn_permute4(ctx, v, d1, p1, dx);
        kn_add(dx, dy, n, dx);
    }
    kn_ws_release(tape, mark);
    return KN_OK;
}

/* temporaries go back to the tape on every path, errors included */
kn_status kn_ttm_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_ttm *t, const kn_ttm_act *r,
                     const kn_gradmap *gm, const float *dy, float *dx, kn_error *err) {
    size_t mark = kn_ws_mark(tape);
    kn_status st = ttm_bwd_run(ctx, tape, t, r, gm, dy, dx, err);
    kn_ws_release(tape, mark);
    return st;
}
