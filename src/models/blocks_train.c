/* Training passes of the plain layers, ResnetBlock2D, the resamplers and the VAE mid attention
 * (contract in backward.h). Forward passes use the inference kernels in the inference order, so their
 * outputs are bit-identical to blocks.c's; each keeps what its backward needs on the tape. */
#include "models/backward.h"
#include <math.h>
#include <stdio.h>

/* A weight a gradient flows through must be f32 (the trainer's own parameters). */
static kn_status need_f32(kn_wview w, const char *what, kn_error *err) {
    if (w.dtype == KN_F32) return KN_OK;
    return kn_fail(err, KN_EUNSUPPORTED, "%s: backward needs f32 weights, found %s", what, kn_dtype_name(w.dtype));
}

/* ---- plain layers ---- */
kn_status kn_lin_bwd(const kn_ctx *ctx, const kn_lin *l, const kn_gradmap *gm, const float *x, size_t rows,
                     const float *dy, float *dx, kn_error *err) {
    float *dw = kn_grad_of(gm, l->w.data), *db = kn_grad_of(gm, l->b);
    if (!dx && !dw && !db) return KN_OK;
    kn_status st = need_f32(l->w, "linear", err);
    if (st) return st;
    kn_linear_backward(ctx, x, (int)rows, l->in, (const float *)l->w.data, l->out, dy, dx, dw, db);
    return KN_OK;
}

static kn_status conv_shape_bwd(const kn_ctx *ctx, const kn_conv *c, const kn_conv2d_shape *s, const kn_gradmap *gm,
                                const float *x, const float *dy, float *dx, kn_error *err) {
    float *dw = kn_grad_of(gm, c->w.data), *db = kn_grad_of(gm, c->b);
    if (!dx && !dw && !db) return KN_OK;
    kn_status st = need_f32(c->w, "conv", err);
    if (st) return st;
    kn_conv2d_backward(ctx, s, x, (const float *)c->w.data, dy, dx, dw, db);
    return KN_OK;
}

kn_status kn_conv_bwd(const kn_ctx *ctx, const kn_conv *c, const kn_gradmap *gm, const float *x, int N, int H,
                      int W, const float *dy, float *dx, kn_error *err) {
    kn_conv2d_shape s = kn_conv2d_make(N, c->cin, H, W, c->cout, c->k, 1, (c->k - 1) / 2);
    return conv_shape_bwd(ctx, c, &s, gm, x, dy, dx, err);
}

kn_status kn_down_bwd(const kn_ctx *ctx, const kn_down *d, const kn_gradmap *gm, const float *x, int N, int H,
                      int W, const float *dy, float *dx, kn_error *err) {
    kn_conv2d_shape s = kn_conv2d_make(N, d->conv.cin, H, W, d->conv.cout, 3, 2, d->pad);
    if (d->pad == 0) { s.pad_bottom = 1; s.pad_right = 1; }
    return conv_shape_bwd(ctx, &d->conv, &s, gm, x, dy, dx, err);
}

/* The nearest source row/column of output index i when n_in is resized to n_out (F.interpolate). */
static int nearest_src(int i, int n_in, int n_out) {
    int s = (int)floorf(i * ((float)n_in / n_out));
    return s > n_in - 1 ? n_in - 1 : s;
}

static void upsample_to(const kn_ctx *ctx, const float *x, size_t NC, int H, int W, int Ho, int Wo, float *t) {
    if (Ho == 2 * H && Wo == 2 * W) { kn_upsample_nearest2x(ctx, x, NC, H, W, t); return; }
    for (size_t c = 0; c < NC; c++)
        for (int i = 0; i < Ho; i++) {
            int si = nearest_src(i, H, Ho);
            for (int j = 0; j < Wo; j++) t[(c * Ho + i) * Wo + j] = x[(c * H + si) * W + nearest_src(j, W, Wo)];
        }
}

kn_status kn_up_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_up *u, const kn_gradmap *gm, const float *x, int N,
                    int H, int W, int Ho, int Wo, const float *dy, float *dx, kn_error *err) {
    size_t NC = (size_t)N * u->conv.cin, mark = kn_ws_mark(tape);
    float *t, *dt;
    TAPE_FLOATS(t, NC * Ho * Wo);
    TAPE_FLOATS(dt, NC * Ho * Wo);
    upsample_to(ctx, x, NC, H, W, Ho, Wo, t);            /* recomputed: cheaper than keeping it */
    kn_status st = kn_conv_bwd(ctx, &u->conv, gm, t, N, Ho, Wo, dy, dx ? dt : NULL, err);
    if (!st && dx) {
        if (Ho == 2 * H && Wo == 2 * W) {
            kn_upsample_nearest2x_backward(ctx, dt, NC, H, W, dx);
        } else {
            memset(dx, 0, NC * H * W * sizeof(float));
            for (size_t c = 0; c < NC; c++)
                for (int i = 0; i < Ho; i++) {
                    int si = nearest_src(i, H, Ho);
                    for (int j = 0; j < Wo; j++) dx[(c * H + si) * W + nearest_src(j, W, Wo)] += dt[(c * Ho + i) * Wo + j];
                }
        }
    }
    kn_ws_release(tape, mark);
    return st;
}

kn_status kn_gn_silu_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_norm *n, const float *x, int N, int C,
                             size_t S, int G, float eps, const kn_gradmap *gm, const float *dy, float *dx,
                             kn_error *err) {
    size_t cnt = (size_t)N * C * S, mark = kn_ws_mark(tape);
    float *g, *dg;
    TAPE_FLOATS(g, cnt);
    TAPE_FLOATS(dg, cnt);
    kn_group_norm(ctx, x, N, C, S, G, eps, n->g, n->b, g);
    kn_activation_backward(ctx, KN_ACT_SILU, g, dy, cnt, dg);
    kn_group_norm_backward(ctx, x, N, C, S, G, eps, n->g, dg, dx, kn_grad_of(gm, n->g), kn_grad_of(gm, n->b));
    kn_ws_release(tape, mark);
    return KN_OK;
}

/* ---- ResnetBlock2D ---- */
struct kn_resnet_act {
    const float *x, *temb;
    float *h1, *y1, *h2;          /* silu(norm1(x)), conv1 + temb, silu(norm2(y1)) */
    int N, H, W, rep;
};

kn_status kn_resnet_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_resnet *r, const float *x, int N, int H,
                              int W, const float *temb_act, int rep, float *y, kn_resnet_act **act,
                              kn_error *err) {
    size_t S = (size_t)H * W;
    kn_resnet_act *a;
    TAPE_ACT(a, kn_resnet_act);
    a->x = x; a->temb = temb_act; a->N = N; a->H = H; a->W = W; a->rep = rep;
    TAPE_FLOATS(a->h1, (size_t)N * r->cin * S);
    TAPE_FLOATS(a->y1, (size_t)N * r->cout * S);
    TAPE_FLOATS(a->h2, (size_t)N * r->cout * S);
    size_t mark = kn_ws_mark(tape);
    kn_group_norm_silu(ctx, x, N, r->cin, S, r->groups, r->eps, r->norm1.g, r->norm1.b, a->h1);
    kn_conv_fwd(ctx, &r->conv1, a->h1, N, H, W, a->y1);
    if (r->temb > 0) {
        float *tb;
        TAPE_FLOATS(tb, (size_t)(N / rep) * r->cout);
        kn_lin_fwd(ctx, &r->temb_proj, temb_act, (size_t)(N / rep), tb);
        for (int i = 0; i < N; i++)
            for (int c = 0; c < r->cout; c++) {
                float v = tb[(size_t)(i / rep) * r->cout + c], *p = a->y1 + ((size_t)i * r->cout + c) * S;
                for (size_t s = 0; s < S; s++) p[s] += v;
            }
    }
    kn_group_norm_silu(ctx, a->y1, N, r->cout, S, r->groups, r->eps, r->norm2.g, r->norm2.b, a->h2);
    kn_conv_fwd(ctx, &r->conv2, a->h2, N, H, W, y);
    size_t n = (size_t)N * r->cout * S;
    const float *sc = x;
    if (r->has_shortcut) {
        float *t;
        TAPE_FLOATS(t, n);
        kn_conv_fwd(ctx, &r->shortcut, x, N, H, W, t);
        sc = t;
    }
    if (r->out_scale == 1.0f) kn_add(sc, y, n, y);
    else for (size_t i = 0; i < n; i++) y[i] = (sc[i] + y[i]) / r->out_scale;
    kn_ws_release(tape, mark);
    *act = a;
    return KN_OK;
}

kn_status kn_resnet_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_resnet *r, const kn_resnet_act *a,
                        const kn_gradmap *gm, const float *dy, float *dx, float *dtemb_act, kn_error *err) {
    const int N = a->N, H = a->H, W = a->W;
    size_t S = (size_t)H * W, nin = (size_t)N * r->cin * S, nout = (size_t)N * r->cout * S, mark = kn_ws_mark(tape);
    float *ds, *dh, *dy1, *dsc = NULL;
    TAPE_FLOATS(ds, nout);
    TAPE_FLOATS(dh, nout > nin ? nout : nin);
    TAPE_FLOATS(dy1, nout);
    if (r->out_scale == 1.0f) memcpy(ds, dy, nout * sizeof(float));
    else for (size_t i = 0; i < nout; i++) ds[i] = dy[i] / r->out_scale;
    kn_status st;
    /* main path: conv2, norm2 + SiLU */
    if ((st = kn_conv_bwd(ctx, &r->conv2, gm, a->h2, N, H, W, ds, dh, err))) return st;
    if ((st = kn_gn_silu_bwd(ctx, tape, &r->norm2, a->y1, N, r->cout, S, r->groups, r->eps, gm, dh, dy1, err))) return st;
    /* the time embedding added per channel, shared by `rep` frames */
    if (r->temb > 0) {
        int nb = N / a->rep;
        float *dtb, *dt;
        TAPE_FLOATS(dtb, (size_t)nb * r->cout);
        TAPE_FLOATS(dt, (size_t)nb * r->temb);
        memset(dtb, 0, (size_t)nb * r->cout * sizeof(float));
        for (int i = 0; i < N; i++)
            for (int c = 0; c < r->cout; c++) {
                const float *p = dy1 + ((size_t)i * r->cout + c) * S;
                float s = 0;
                for (size_t k = 0; k < S; k++) s += p[k];
                dtb[(size_t)(i / a->rep) * r->cout + c] += s;
            }
        if ((st = kn_lin_bwd(ctx, &r->temb_proj, gm, a->temb, (size_t)nb, dtb, dtemb_act ? dt : NULL, err))) return st;
        if (dtemb_act) kn_axpy(1.0f, dt, (size_t)nb * r->temb, dtemb_act);
    }
    /* conv1, norm1 + SiLU */
    if ((st = kn_conv_bwd(ctx, &r->conv1, gm, a->h1, N, H, W, dy1, dh, err))) return st;
    if (dx) {
        if ((st = kn_gn_silu_bwd(ctx, tape, &r->norm1, a->x, N, r->cin, S, r->groups, r->eps, gm, dh, dx, err))) return st;
    } else {
        float *tmp;
        TAPE_FLOATS(tmp, nin);
        if ((st = kn_gn_silu_bwd(ctx, tape, &r->norm1, a->x, N, r->cin, S, r->groups, r->eps, gm, dh, tmp, err))) return st;
    }
    /* the residual path */
    if (r->has_shortcut) {
        TAPE_FLOATS(dsc, nin);
        if ((st = kn_conv_bwd(ctx, &r->shortcut, gm, a->x, N, H, W, ds, dx ? dsc : NULL, err))) return st;
        if (dx) kn_add(dx, dsc, nin, dx);
    } else if (dx) {
        kn_add(dx, ds, nin, dx);
    }
    kn_ws_release(tape, mark);
    return KN_OK;
}

/* ---- AutoencoderKL mid attention ---- */
struct kn_vae_attn_act {
    const float *x;
    float *tok;                   /* bcs_to_bsc(group_norm(x)) */
    kn_attn_act *attn;
    int N, H, W;
};

kn_status kn_vae_attn_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_vae_attn *a, const float *x, int N,
                                int H, int W, float *y, kn_vae_attn_act **act, kn_error *err) {
    size_t S = (size_t)H * W, n = (size_t)N * a->C * S;
    kn_vae_attn_act *r;
    TAPE_ACT(r, kn_vae_attn_act);
    r->x = x; r->N = N; r->H = H; r->W = W;
    float *h, *o;
    TAPE_FLOATS(r->tok, n);
    TAPE_FLOATS(o, n);
    size_t mark = kn_ws_mark(tape);
    TAPE_FLOATS(h, n);
    kn_group_norm(ctx, x, N, a->C, S, a->groups, a->eps, a->norm.g, a->norm.b, h);
    kn_bcs_to_bsc(ctx, h, N, a->C, S, r->tok);
    kn_ws_release(tape, mark);
    kn_status st = kn_attn_fwd_train(ctx, tape, &a->attn, r->tok, N, (int)S, NULL, 0, o, &r->attn, err);
    if (st) return st;
    mark = kn_ws_mark(tape);
    TAPE_FLOATS(h, n);
    kn_bsc_to_bcs(ctx, o, N, a->C, S, h);
    if (a->rescale == 1.0f) kn_add(x, h, n, y);
    else for (size_t i = 0; i < n; i++) y[i] = (h[i] + x[i]) / a->rescale;
    kn_ws_release(tape, mark);
    *act = r;
    return KN_OK;
}

kn_status kn_vae_attn_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_vae_attn *a, const kn_vae_attn_act *r,
                          const kn_gradmap *gm, const float *dy, float *dx, kn_error *err) {
    const int N = r->N;
    size_t S = (size_t)r->H * r->W, n = (size_t)N * a->C * S, mark = kn_ws_mark(tape);
    float *ds, *dtok_o, *dtok, *dh;
    TAPE_FLOATS(ds, n);
    TAPE_FLOATS(dtok_o, n);
    TAPE_FLOATS(dtok, n);
    TAPE_FLOATS(dh, n);
    if (a->rescale == 1.0f) memcpy(ds, dy, n * sizeof(float));
    else for (size_t i = 0; i < n; i++) ds[i] = dy[i] / a->rescale;
    kn_bcs_to_bsc(ctx, ds, N, a->C, S, dtok_o);
    kn_status st = kn_attn_bwd(ctx, tape, &a->attn, r->attn, gm, dtok_o, dtok, NULL, err);
    if (st) return st;
    kn_bsc_to_bcs(ctx, dtok, N, a->C, S, dh);
    float *dxn = dx ? dx : dtok;   /* dtok is free again */
    kn_group_norm_backward(ctx, r->x, N, a->C, S, a->groups, a->eps, a->norm.g, dh, dxn, kn_grad_of(gm, a->norm.g),
                           kn_grad_of(gm, a->norm.b));
    if (dx) kn_add(dx, ds, n, dx);
    kn_ws_release(tape, mark);
    return KN_OK;
}
