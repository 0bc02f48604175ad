/* Shared layers of the diffusion models: loading (shape-checked, zero-copy views) and forward passes
 * over a bump workspace. See blocks.h for the contract. */
#include "models/blocks.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- workspace ---- */
float *kn_ws_alloc(kn_ws *ws, size_t nfloats) {
    size_t bytes = (nfloats * sizeof(float) + 63) & ~(size_t)63;
    if (ws->measure) {
        ws->used += bytes;
        if (ws->used > ws->peak) ws->peak = ws->used;
        return ws->dummy;
    }
    if (bytes > ws->cap - ws->used) return NULL;
    float *p = (float *)(ws->base + ws->used);
    ws->used += bytes;
    if (ws->used > ws->peak) ws->peak = ws->used;
    return p;
}

kn_status kn_ws_run(const kn_ctx *ctx, kn_ws_fn fn, void *arg, kn_error *err) {
    kn_ws m;
    memset(&m, 0, sizeof m);
    m.measure = 1;
    kn_status st = fn(arg, ctx, &m, err);
    if (st) return st;
    kn_ws r;
    memset(&r, 0, sizeof r);
    r.cap = m.peak;
    kn_arena *sc = ctx->scratch, kernel;
    kn_ctx local = *ctx;
    size_t mark = sc ? kn_arena_mark(sc) : 0;
    void *owned = NULL;
    memset(&kernel, 0, sizeof kernel);
    if (sc && sc->cap - sc->used >= m.peak + 64) r.base = kn_arena_alloc(sc, m.peak ? m.peak : 64);
    if (!r.base) {
        /* one block: the activations, then (without a caller arena) the kernels' scratch */
        size_t ws_bytes = (m.peak + 63) & ~(size_t)63, extra = sc ? 0 : KN_KERNEL_SCRATCH;
        owned = kn_malloc(ws_bytes + extra + 64);
        if (!owned) return kn_fail(err, KN_ENOMEM, "out of memory for a %zu-byte activation workspace", m.peak);
        r.base = owned;
        if (!sc) {
            kernel.base = (uint8_t *)owned + ws_bytes;
            kernel.cap = extra;
            local.scratch = &kernel;
        }
    }
    st = fn(arg, &local, &r, err);
    if (owned) kn_free(owned);
    else kn_arena_reset(sc, mark);
    return st;
}

#define WSALLOC(p, n) do { if (!((p) = kn_ws_alloc(ws, (n)))) \
    return kn_fail(err, KN_EINTERNAL, "workspace too small (%zu bytes)", ws->cap); } while (0)

const char *kn_wname(char *buf, size_t cap, const char *prefix, const char *suffix) {
    snprintf(buf, cap, "%s.%s", prefix, suffix);
    return buf;
}

/* ---- plain layers ---- */
kn_status kn_lin_load(kn_lin *l, kn_weights *w, const char *prefix, int in, int out, int bias, int conv1x1,
                      kn_error *err) {
    char n[512];
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    const kn_st_tensor *t = kn_weights_find(w, kn_wname(n, sizeof n, prefix, "weight"));
    kn_status st;
    if (conv1x1 && t && t->ndim == 4) {
        int64_t s4[4] = {out, in, 1, 1};
        st = kn_weights_view(w, n, 4, s4, &l->w, err);
    } else {
        int64_t s2[2] = {out, in};
        st = kn_weights_view(w, n, 2, s2, &l->w, err);
    }
    if (st) return st;
    if (bias) {
        int64_t sb[1] = {out};
        if ((st = kn_weights_f32(w, kn_wname(n, sizeof n, prefix, "bias"), 1, sb, (float **)&l->b, err))) return st;
    }
    return KN_OK;
}

void kn_lin_fwd(const kn_ctx *ctx, const kn_lin *l, const float *x, size_t rows, float *y) {
    kn_linear(ctx, x, (int)rows, l->in, l->w, l->b, l->out, y);
}

kn_status kn_conv_load(kn_conv *c, kn_weights *w, const char *prefix, int cin, int cout, int k, kn_error *err) {
    char n[512];
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    int64_t s4[4] = {cout, cin, k, k}, sb[1] = {cout};
    kn_status st = kn_weights_view(w, kn_wname(n, sizeof n, prefix, "weight"), 4, s4, &c->w, err);
    if (st) return st;
    return kn_weights_f32(w, kn_wname(n, sizeof n, prefix, "bias"), 1, sb, (float **)&c->b, err);
}

void kn_conv_fwd(const kn_ctx *ctx, const kn_conv *c, const float *x, int N, int H, int W, float *y) {
    kn_conv2d_shape s = kn_conv2d_make(N, c->cin, H, W, c->cout, c->k, 1, (c->k - 1) / 2);
    kn_conv2d(ctx, &s, x, c->w, c->b, y);
}

kn_status kn_norm_load(kn_norm *nm, kn_weights *w, const char *prefix, int C, kn_error *err) {
    char n[512];
    int64_t s[1] = {C};
    nm->C = C;
    kn_status st = kn_weights_f32(w, kn_wname(n, sizeof n, prefix, "weight"), 1, s, (float **)&nm->g, err);
    if (st) return st;
    return kn_weights_f32(w, kn_wname(n, sizeof n, prefix, "bias"), 1, s, (float **)&nm->b, err);
}

/* ---- ResnetBlock2D ---- */
kn_status kn_resnet_load(kn_resnet *r, kn_weights *w, const char *prefix, int cin, int cout, int temb,
                         int groups, float eps, float out_scale, kn_error *err) {
    char n[512];
    memset(r, 0, sizeof *r);
    r->cin = cin; r->cout = cout; r->temb = temb; r->groups = groups; r->eps = eps; r->out_scale = out_scale;
    if (cin % groups || cout % groups)
        return kn_fail(err, KN_EFORMAT, "%s: %d groups do not divide channels %d/%d", prefix, groups, cin, cout);
    kn_status st;
    if ((st = kn_norm_load(&r->norm1, w, kn_wname(n, sizeof n, prefix, "norm1"), cin, err))) return st;
    if ((st = kn_conv_load(&r->conv1, w, kn_wname(n, sizeof n, prefix, "conv1"), cin, cout, 3, err))) return st;
    if (temb > 0 && (st = kn_lin_load(&r->temb_proj, w, kn_wname(n, sizeof n, prefix, "time_emb_proj"), temb, cout, 1, 0, err)))
        return st;
    if ((st = kn_norm_load(&r->norm2, w, kn_wname(n, sizeof n, prefix, "norm2"), cout, err))) return st;
    if ((st = kn_conv_load(&r->conv2, w, kn_wname(n, sizeof n, prefix, "conv2"), cout, cout, 3, err))) return st;
    if (cin != cout) {
        r->has_shortcut = 1;
        if ((st = kn_conv_load(&r->shortcut, w, kn_wname(n, sizeof n, prefix, "conv_shortcut"), cin, cout, 1, err)))
            return st;
    }
    return KN_OK;
}

kn_status kn_resnet_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_resnet *r, const float *x, int N, int H,
                        int W, const float *temb_act, int rep, float *y, kn_error *err) {
    size_t S = (size_t)H * W, mark = kn_ws_mark(ws);
    int cmax = r->cin > r->cout ? r->cin : r->cout;
    float *h, *tb = NULL;
    WSALLOC(h, (size_t)N * cmax * S);
    if (r->temb > 0) WSALLOC(tb, (size_t)(N / rep) * r->cout);
    if (ws->measure) { kn_ws_release(ws, mark); return KN_OK; }
    kn_group_norm_silu(ctx, x, N, r->cin, S, r->groups, r->eps, r->norm1.g, r->norm1.b, h);
    kn_conv_fwd(ctx, &r->conv1, h, N, H, W, y);
    if (r->temb > 0) {
        kn_lin_fwd(ctx, &r->temb_proj, temb_act, (size_t)(N / rep), tb);
        for (int i = 0; i < N; i++)
            for (int c = 0; c < r->cout; c++) {
                float v = tb[(size_t)(i / rep) * r->cout + c], *p = y + ((size_t)i * r->cout + c) * S;
                for (size_t s = 0; s < S; s++) p[s] += v;
            }
    }
    kn_group_norm_silu(ctx, y, N, r->cout, S, r->groups, r->eps, r->norm2.g, r->norm2.b, h);
    kn_conv_fwd(ctx, &r->conv2, h, N, H, W, y);
    const float *sc = x;
    if (r->has_shortcut) { kn_conv_fwd(ctx, &r->shortcut, x, N, H, W, h); sc = h; }
    size_t n = (size_t)N * r->cout * S;
    if (r->out_scale == 1.0f) kn_add(sc, y, n, y);
    else for (size_t i = 0; i < n; i++) y[i] = (sc[i] + y[i]) / r->out_scale;
    kn_ws_release(ws, mark);
    return KN_OK;
}

/* ---- resampling ---- */
kn_status kn_down_load(kn_down *d, kn_weights *w, const char *prefix, int C, int pad, kn_error *err) {
    char n[512];
    d->pad = pad;
    return kn_conv_load(&d->conv, w, kn_wname(n, sizeof n, prefix, "conv"), C, C, 3, err);
}

void kn_down_fwd(const kn_ctx *ctx, const kn_down *d, const float *x, int N, int H, int W, float *y) {
    kn_conv2d_shape s = kn_conv2d_make(N, d->conv.cin, H, W, d->conv.cout, 3, 2, d->pad);
    if (d->pad == 0) { s.pad_bottom = 1; s.pad_right = 1; }   /* diffusers: F.pad(x, (0, 1, 0, 1)) */
    kn_conv2d(ctx, &s, x, d->conv.w, d->conv.b, y);
}

kn_status kn_up_load(kn_up *u, kn_weights *w, const char *prefix, int C, kn_error *err) {
    char n[512];
    return kn_conv_load(&u->conv, w, kn_wname(n, sizeof n, prefix, "conv"), C, C, 3, err);
}

kn_status kn_up_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_up *u, const float *x, int N, int H, int W, int Ho,
                    int Wo, float *y, kn_error *err) {
    size_t mark = kn_ws_mark(ws), NC = (size_t)N * u->conv.cin;
    float *t;
    WSALLOC(t, NC * Ho * Wo);
    if (ws->measure) { kn_ws_release(ws, mark); return KN_OK; }
    if (Ho == 2 * H && Wo == 2 * W) {
        kn_upsample_nearest2x(ctx, x, NC, H, W, t);
    } else {
        /* F.interpolate(size=...) nearest: src = floor(dst * in / out) in float, as torch computes it */
        float sh = (float)H / Ho, sw = (float)W / Wo;
        for (size_t c = 0; c < NC; c++)
            for (int i = 0; i < Ho; i++) {
                int si = (int)floorf(i * sh); if (si > H - 1) si = H - 1;
                for (int j = 0; j < Wo; j++) {
                    int sj = (int)floorf(j * sw); if (sj > W - 1) sj = W - 1;
                    t[(c * Ho + i) * Wo + j] = x[(c * H + si) * W + sj];
                }
            }
    }
    kn_conv_fwd(ctx, &u->conv, t, N, Ho, Wo, y);
    kn_ws_release(ws, mark);
    return KN_OK;
}

/* ---- attention ---- */
static kn_status attn_load_named(kn_attn *a, kn_weights *w, const char *prefix, int dim, int kv_dim, int heads,
                                 int dh, int qkv_bias, const char *const names[4], kn_error *err) {
    char n[512];
    memset(a, 0, sizeof *a);
    a->heads = heads; a->dh = dh; a->inner = heads * dh; a->kv_dim = kv_dim;
    kn_status st;
    if ((st = kn_lin_load(&a->q, w, kn_wname(n, sizeof n, prefix, names[0]), dim, a->inner, qkv_bias, 0, err))) return st;
    if ((st = kn_lin_load(&a->k, w, kn_wname(n, sizeof n, prefix, names[1]), kv_dim, a->inner, qkv_bias, 0, err))) return st;
    if ((st = kn_lin_load(&a->v, w, kn_wname(n, sizeof n, prefix, names[2]), kv_dim, a->inner, qkv_bias, 0, err))) return st;
    return kn_lin_load(&a->o, w, kn_wname(n, sizeof n, prefix, names[3]), a->inner, dim, 1, 0, err);
}

kn_status kn_attn_load(kn_attn *a, kn_weights *w, const char *prefix, int dim, int kv_dim, int heads, int dh,
                       int qkv_bias, kn_error *err) {
    static const char *const names[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    return attn_load_named(a, w, prefix, dim, kv_dim, heads, dh, qkv_bias, names, err);
}

kn_status kn_attn_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_attn *a, const float *x, int B, int Lq,
                      const float *kv, int Lk, float *y, kn_error *err) {
    size_t mark = kn_ws_mark(ws);
    if (!kv) { kv = x; Lk = Lq; }
    size_t nq = (size_t)B * Lq, nk = (size_t)B * Lk;
    float *q, *k, *v, *o;
    WSALLOC(q, nq * a->inner);
    WSALLOC(k, nk * a->inner);
    WSALLOC(v, nk * a->inner);
    WSALLOC(o, nq * a->inner);
    if (ws->measure) { kn_ws_release(ws, mark); return KN_OK; }
    kn_lin_fwd(ctx, &a->q, x, nq, q);
    kn_lin_fwd(ctx, &a->k, kv, nk, k);
    kn_lin_fwd(ctx, &a->v, kv, nk, v);
    kn_attn_shape s = {B, Lq, Lk, a->heads, a->dh, a->inner, a->inner, a->inner, a->inner, 0,
                       1.0f / sqrtf((float)a->dh)};
    kn_attention(ctx, &s, q, k, v, o);
    kn_lin_fwd(ctx, &a->o, o, nq, y);
    kn_ws_release(ws, mark);
    return KN_OK;
}

kn_status kn_vae_attn_load(kn_vae_attn *a, kn_weights *w, const char *prefix, int C, int heads, int groups,
                           float eps, kn_error *err) {
    char n[512];
    a->C = C; a->groups = groups; a->eps = eps; a->rescale = 1.0f;
    if (heads < 1 || C % heads) return kn_fail(err, KN_EFORMAT, "%s: %d heads do not divide %d channels", prefix, heads, C);
    kn_status st = kn_norm_load(&a->norm, w, kn_wname(n, sizeof n, prefix, "group_norm"), C, err);
    if (st) return st;
    /* VAE files saved before diffusers 0.14 name the mid attention query/key/value/proj_attn; diffusers
     * renames them on load (_convert_deprecated_attention_blocks), so both spellings are accepted */
    static const char *const old_names[4] = {"query", "key", "value", "proj_attn"};
    if (!kn_weights_has(w, "%s.to_q.weight", prefix) && kn_weights_has(w, "%s.query.weight", prefix))
        return attn_load_named(&a->attn, w, prefix, C, C, heads, C / heads, 1, old_names, err);
    return kn_attn_load(&a->attn, w, prefix, C, C, heads, C / heads, 1, err);
}

kn_status kn_vae_attn_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_vae_attn *a, float *x, int N, int H, int W,
                          kn_error *err) {
    size_t S = (size_t)H * W, n = (size_t)N * a->C * S, mark = kn_ws_mark(ws);
    float *h, *tok, *o;
    WSALLOC(h, n);
    WSALLOC(tok, n);
    WSALLOC(o, n);
    kn_status st;
    if (!ws->measure) {
        kn_group_norm(ctx, x, N, a->C, S, a->groups, a->eps, a->norm.g, a->norm.b, h);
        kn_bcs_to_bsc(ctx, h, N, a->C, S, tok);
    }
    if ((st = kn_attn_fwd(ctx, ws, &a->attn, tok, N, (int)S, NULL, 0, o, err))) return st;
    if (!ws->measure) {
        kn_bsc_to_bcs(ctx, o, N, a->C, S, h);
        if (a->rescale == 1.0f) kn_add(x, h, n, x);
        else for (size_t i = 0; i < n; i++) x[i] = (h[i] + x[i]) / a->rescale;
    }
    kn_ws_release(ws, mark);
    return KN_OK;
}

/* ---- BasicTransformerBlock ---- */
#define FF_CHUNK_ROWS ((size_t)4096)

kn_status kn_btb_load(kn_btb *b, kn_weights *w, const char *prefix, int dim, int heads, int cross_dim,
                      int pe_len, kn_error *err) {
    char n[512];
    memset(b, 0, sizeof *b);
    b->dim = dim; b->ff_inner = 4 * dim; b->eps = 1e-5f; b->a2_cross = cross_dim > 0;
    if (heads < 1 || dim % heads) return kn_fail(err, KN_EFORMAT, "%s: %d heads do not divide %d channels", prefix, heads, dim);
    kn_status st;
    if ((st = kn_norm_load(&b->n1, w, kn_wname(n, sizeof n, prefix, "norm1"), dim, err))) return st;
    if ((st = kn_attn_load(&b->a1, w, kn_wname(n, sizeof n, prefix, "attn1"), dim, dim, heads, dim / heads, 0, err))) return st;
    if ((st = kn_norm_load(&b->n2, w, kn_wname(n, sizeof n, prefix, "norm2"), dim, err))) return st;
    if ((st = kn_attn_load(&b->a2, w, kn_wname(n, sizeof n, prefix, "attn2"), dim, b->a2_cross ? cross_dim : dim,
                           heads, dim / heads, 0, err))) return st;
    if ((st = kn_norm_load(&b->n3, w, kn_wname(n, sizeof n, prefix, "norm3"), dim, err))) return st;
    if ((st = kn_lin_load(&b->ff1, w, kn_wname(n, sizeof n, prefix, "ff.net.0.proj"), dim, 2 * b->ff_inner, 1, 0, err)))
        return st;
    if ((st = kn_lin_load(&b->ff2, w, kn_wname(n, sizeof n, prefix, "ff.net.2"), b->ff_inner, dim, 1, 0, err))) return st;
    if (pe_len > 0) {
        b->pe_len = pe_len;
        /* The table is a saved buffer: use the checkpoint's when present (what load_state_dict does),
         * else build it as SinusoidalPositionalEmbedding does. */
        if (kn_weights_has(w, "%s.pos_embed.pe", prefix)) {
            int64_t s[3] = {1, pe_len, dim};
            if ((st = kn_weights_f32f(w, (float **)&b->pe, err, 3, s, "%s.pos_embed.pe", prefix))) return st;
        } else {
            if (dim % 2) return kn_fail(err, KN_EFORMAT, "%s: sinusoidal positions need an even dim (%d)", prefix, dim);
            b->pe_owned = kn_calloc((size_t)pe_len * dim, sizeof(float));
            if (!b->pe_owned) return kn_fail(err, KN_ENOMEM, "out of memory");
            for (int p = 0; p < pe_len; p++)
                for (int i = 0; i < dim; i += 2) {
                    float div = expf((float)i * (-logf(10000.0f) / (float)dim));
                    b->pe_owned[(size_t)p * dim + i] = sinf((float)p * div);
                    b->pe_owned[(size_t)p * dim + i + 1] = cosf((float)p * div);
                }
            b->pe = b->pe_owned;
        }
    }
    return KN_OK;
}

void kn_btb_free(kn_btb *b) { kn_free(b->pe_owned); b->pe_owned = NULL; }

static void add_pe(const kn_btb *b, float *x, int B, int L) {
    for (int i = 0; i < B; i++)
        for (int l = 0; l < L; l++) kn_add(x + ((size_t)i * L + l) * b->dim, b->pe + (size_t)l * b->dim, (size_t)b->dim,
                                           x + ((size_t)i * L + l) * b->dim);
}

kn_status kn_btb_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_btb *b, float *x, int B, int L, const float *kv,
                     int Lk, int rep, kn_error *err) {
    if (b->pe && L > b->pe_len)
        return kn_fail(err, KN_EINVAL, "%d frames exceed the motion modules' max sequence length %d", L, b->pe_len);
    size_t rows = (size_t)B * L, mark = kn_ws_mark(ws);
    float *nx, *a, *ff, *g;
    WSALLOC(nx, rows * b->dim);
    WSALLOC(a, rows * b->dim);
    kn_status st;
    if (!ws->measure) {
        kn_layer_norm(ctx, x, rows, b->dim, b->eps, b->n1.g, b->n1.b, nx);
        if (b->pe) add_pe(b, nx, B, L);
    }
    if ((st = kn_attn_fwd(ctx, ws, &b->a1, nx, B, L, NULL, 0, a, err))) return st;
    if (!ws->measure) {
        kn_add(x, a, rows * b->dim, x);
        kn_layer_norm(ctx, x, rows, b->dim, b->eps, b->n2.g, b->n2.b, nx);
        if (b->pe) add_pe(b, nx, B, L);
    }
    if (b->a2_cross) st = kn_attn_fwd(ctx, ws, &b->a2, nx, B / rep, L * rep, kv, Lk, a, err);
    else st = kn_attn_fwd(ctx, ws, &b->a2, nx, B, L, NULL, 0, a, err);
    if (st) return st;
    /* the feed-forward is row-wise: run it in row chunks so its 12*dim-wide temporaries stay bounded */
    size_t chunk = rows < FF_CHUNK_ROWS ? rows : FF_CHUNK_ROWS;
    WSALLOC(ff, chunk * 2 * b->ff_inner);
    WSALLOC(g, chunk * b->ff_inner);
    if (!ws->measure) {
        kn_add(x, a, rows * b->dim, x);
        kn_layer_norm(ctx, x, rows, b->dim, b->eps, b->n3.g, b->n3.b, nx);
        for (size_t r = 0; r < rows; r += chunk) {
            size_t m = rows - r < chunk ? rows - r : chunk;
            kn_lin_fwd(ctx, &b->ff1, nx + r * b->dim, m, ff);
            kn_geglu(ctx, ff, m, b->ff_inner, g);
            kn_lin_fwd(ctx, &b->ff2, g, m, a + r * b->dim);
        }
        kn_add(x, a, rows * b->dim, x);
    }
    kn_ws_release(ws, mark);
    return KN_OK;
}

/* ---- Transformer2DModel ---- */
kn_status kn_t2d_load(kn_t2d *t, kn_weights *w, const char *prefix, int C, int heads, int nlayers,
                      int cross_dim, int groups, int linear_proj, kn_error *err) {
    char n[512];
    memset(t, 0, sizeof *t);
    if (heads < 1 || C % heads) return kn_fail(err, KN_EFORMAT, "%s: %d attention heads do not divide %d channels", prefix, heads, C);
    if (C % groups) return kn_fail(err, KN_EFORMAT, "%s: %d groups do not divide %d channels", prefix, groups, C);
    t->C = C; t->inner = C; t->groups = groups; t->nlayers = nlayers;
    kn_status st;
    if ((st = kn_norm_load(&t->norm, w, kn_wname(n, sizeof n, prefix, "norm"), C, err))) return st;
    /* conv 1x1 projections are the same channel matmul as the linear ones, in token layout */
    if ((st = kn_lin_load(&t->proj_in, w, kn_wname(n, sizeof n, prefix, "proj_in"), C, C, 1, !linear_proj, err))) return st;
    if ((st = kn_lin_load(&t->proj_out, w, kn_wname(n, sizeof n, prefix, "proj_out"), C, C, 1, !linear_proj, err))) return st;
    t->blocks = calloc((size_t)nlayers, sizeof *t->blocks);
    if (!t->blocks) return kn_fail(err, KN_ENOMEM, "out of memory");
    for (int i = 0; i < nlayers; i++) {
        snprintf(n, sizeof n, "%s.transformer_blocks.%d", prefix, i);
        if ((st = kn_btb_load(&t->blocks[i], w, n, C, heads, cross_dim, 0, err))) return st;
    }
    return KN_OK;
}

void kn_t2d_free(kn_t2d *t) {
    if (t->blocks) for (int i = 0; i < t->nlayers; i++) kn_btb_free(&t->blocks[i]);
    free(t->blocks);
    t->blocks = NULL;
}

kn_status kn_t2d_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_t2d *t, float *x, int N, int H, int W,
                     const float *context, int L, int rep, kn_error *err) {
    size_t S = (size_t)H * W, n = (size_t)N * t->C * S, mark = kn_ws_mark(ws);
    float *h, *tok;
    WSALLOC(h, n);
    WSALLOC(tok, n);
    if (!ws->measure) {
        kn_group_norm(ctx, x, N, t->C, S, t->groups, 1e-6f, t->norm.g, t->norm.b, h);
        kn_bcs_to_bsc(ctx, h, N, t->C, S, tok);
        kn_lin_fwd(ctx, &t->proj_in, tok, (size_t)N * S, h);
    }
    for (int i = 0; i < t->nlayers; i++) {
        kn_status st = kn_btb_fwd(ctx, ws, &t->blocks[i], h, N, (int)S, context, L, rep, err);
        if (st) return st;
    }
    if (!ws->measure) {
        kn_lin_fwd(ctx, &t->proj_out, h, (size_t)N * S, tok);
        kn_bsc_to_bcs(ctx, tok, N, t->C, S, h);
        kn_add(x, h, n, x);
    }
    kn_ws_release(ws, mark);
    return KN_OK;
}

/* ---- TransformerTemporalModel ---- */
kn_status kn_ttm_load(kn_ttm *t, kn_weights *w, const char *prefix, int C, int heads, int groups, int max_len,
                      kn_error *err) {
    char n[512];
    memset(t, 0, sizeof *t);
    if (C % groups) return kn_fail(err, KN_EFORMAT, "%s: %d groups do not divide %d channels", prefix, groups, C);
    if (heads < 1 || C % heads) return kn_fail(err, KN_EFORMAT, "%s: %d motion heads do not divide %d channels", prefix, heads, C);
    t->C = C; t->groups = groups;
    kn_status st;
    if ((st = kn_norm_load(&t->norm, w, kn_wname(n, sizeof n, prefix, "norm"), C, err))) return st;
    if ((st = kn_lin_load(&t->proj_in, w, kn_wname(n, sizeof n, prefix, "proj_in"), C, C, 1, 0, err))) return st;
    if ((st = kn_lin_load(&t->proj_out, w, kn_wname(n, sizeof n, prefix, "proj_out"), C, C, 1, 0, err))) return st;
    if (kn_weights_has(w, "%s.transformer_blocks.1.norm1.weight", prefix))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: more than one temporal transformer block", prefix);
    snprintf(n, sizeof n, "%s.transformer_blocks.0", prefix);
    return kn_btb_load(&t->block, w, n, C, heads, 0, max_len, err);
}

void kn_ttm_free(kn_ttm *t) { kn_btb_free(&t->block); }

kn_status kn_ttm_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_ttm *t, float *x, int B, int F, int H, int W,
                     kn_error *err) {
    int S = H * W, C = t->C;
    size_t n = (size_t)B * F * C * S, mark = kn_ws_mark(ws);
    float *a, *b;
    WSALLOC(a, n);
    WSALLOC(b, n);
    if (!ws->measure) {
        int d1[4] = {B, F, C, S}, p1[4] = {0, 2, 1, 3};     /* [B,F,C,S] -> [B,C,F,S] */
        kn_permute4(ctx, x, d1, p1, a);
        kn_group_norm(ctx, a, B, C, (size_t)F * S, t->groups, 1e-6f, t->norm.g, t->norm.b, b);
        int d2[4] = {B, C, F, S}, p2[4] = {0, 3, 2, 1};     /* [B,C,F,S] -> [B,S,F,C] */
        kn_permute4(ctx, b, d2, p2, a);
        kn_lin_fwd(ctx, &t->proj_in, a, (size_t)B * S * F, b);
    }
    kn_status st = kn_btb_fwd(ctx, ws, &t->block, b, B * S, F, NULL, 0, 1, err);
    if (st) return st;
    if (!ws->measure) {
        kn_lin_fwd(ctx, &t->proj_out, b, (size_t)B * S * F, a);
        int d3[4] = {B, S, F, C}, p3[4] = {0, 2, 3, 1};     /* [B,S,F,C] -> [B,F,C,S] */
        kn_permute4(ctx, a, d3, p3, b);
        kn_add(x, b, n, x);
    }
    kn_ws_release(ws, mark);
    return KN_OK;
}
