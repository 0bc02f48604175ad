/* The AutoencoderKL's training passes (contract in backward.h): encode and decode as chains of ops
 * recorded in the order vae.c runs them, each output a fresh tape buffer; the backward walks the chain
 * in reverse. */
#include "models/backward.h"
#include "models/vae_impl.h"

typedef enum { V_CONV, V_RES, V_ATTN, V_DOWN, V_UP, V_GNSILU } vop_kind;

typedef struct vop {
    vop_kind kind;
    const void *layer;
    void *act;
    const float *in;
    int C, H, W, Ho, Wo;          /* input channels and size; output size for down/up */
} vop;

#define VAE_MAXOPS 512

struct kn_vae_act {
    int B, nops, encode;
    int h, w;                     /* latent size */
    float *moments;               /* encode: quant_conv output [B, 2L, h, w] (before the clamp) */
    vop ops[VAE_MAXOPS];
};

typedef struct chain {
    const kn_vae *v;
    const kn_ctx *ctx;
    kn_ws *tape;
    kn_vae_act *a;
    const float *cur;
    int C, H, W;
} chain;

static kn_status push(chain *c, vop op, const float *out, int C, int H, int W, kn_error *err) {
    if (c->a->nops == VAE_MAXOPS) return kn_fail(err, KN_EUNSUPPORTED, "vae training: more than %d layers", VAE_MAXOPS);
    c->a->ops[c->a->nops++] = op;
    c->cur = out; c->C = C; c->H = H; c->W = W;
    return KN_OK;
}

static kn_status c_conv(chain *c, const kn_conv *cv, kn_error *err) {
    kn_ws *tape = c->tape;
    float *y;
    TAPE_FLOATS(y, (size_t)c->a->B * cv->cout * c->H * c->W);
    kn_conv_fwd(c->ctx, cv, c->cur, c->a->B, c->H, c->W, y);
    vop op = {V_CONV, cv, NULL, c->cur, c->C, c->H, c->W, c->H, c->W};
    return push(c, op, y, cv->cout, c->H, c->W, err);
}

static kn_status c_res(chain *c, const kn_resnet *r, kn_error *err) {
    kn_ws *tape = c->tape;
    float *y;
    TAPE_FLOATS(y, (size_t)c->a->B * r->cout * c->H * c->W);
    kn_resnet_act *ra;
    kn_status st = kn_resnet_fwd_train(c->ctx, tape, r, c->cur, c->a->B, c->H, c->W, NULL, 1, y, &ra, err);
    if (st) return st;
    vop op = {V_RES, r, ra, c->cur, c->C, c->H, c->W, c->H, c->W};
    return push(c, op, y, r->cout, c->H, c->W, err);
}

static kn_status c_attn(chain *c, const kn_vae_attn *at, kn_error *err) {
    kn_ws *tape = c->tape;
    float *y;
    TAPE_FLOATS(y, (size_t)c->a->B * c->C * c->H * c->W);
    kn_vae_attn_act *aa;
    kn_status st = kn_vae_attn_fwd_train(c->ctx, tape, at, c->cur, c->a->B, c->H, c->W, y, &aa, err);
    if (st) return st;
    vop op = {V_ATTN, at, aa, c->cur, c->C, c->H, c->W, c->H, c->W};
    return push(c, op, y, c->C, c->H, c->W, err);
}

static kn_status c_down(chain *c, const kn_down *d, kn_error *err) {
    kn_ws *tape = c->tape;
    int Ho = kn_down_out(c->H, d->pad), Wo = kn_down_out(c->W, d->pad);
    float *y;
    TAPE_FLOATS(y, (size_t)c->a->B * c->C * Ho * Wo);
    kn_down_fwd(c->ctx, d, c->cur, c->a->B, c->H, c->W, y);
    vop op = {V_DOWN, d, NULL, c->cur, c->C, c->H, c->W, Ho, Wo};
    return push(c, op, y, c->C, Ho, Wo, err);
}

static kn_status c_up(chain *c, const kn_up *u, kn_error *err) {
    kn_ws *tape = c->tape;
    int Ho = 2 * c->H, Wo = 2 * c->W;
    float *y;
    TAPE_FLOATS(y, (size_t)c->a->B * c->C * Ho * Wo);
    size_t mark = kn_ws_mark(tape);
    kn_status st = kn_up_fwd(c->ctx, tape, u, c->cur, c->a->B, c->H, c->W, Ho, Wo, y, err);
    kn_ws_release(tape, mark);
    if (st) return st;
    vop op = {V_UP, u, NULL, c->cur, c->C, c->H, c->W, Ho, Wo};
    return push(c, op, y, c->C, Ho, Wo, err);
}

static kn_status c_gnsilu(chain *c, const kn_norm *n, kn_error *err) {
    kn_ws *tape = c->tape;
    float *y;
    TAPE_FLOATS(y, (size_t)c->a->B * c->C * c->H * c->W);
    kn_group_norm_silu(c->ctx, c->cur, c->a->B, c->C, (size_t)c->H * c->W, c->v->groups, 1e-6f, n->g, n->b, y);
    vop op = {V_GNSILU, n, NULL, c->cur, c->C, c->H, c->W, c->H, c->W};
    return push(c, op, y, c->C, c->H, c->W, err);
}

static kn_status c_mid(chain *c, const kn_resnet *res, const kn_vae_attn *attn, kn_error *err) {
    kn_status st = c_res(c, &res[0], err);
    if (!st && c->v->mid_attn) st = c_attn(c, attn, err);
    if (!st) st = c_res(c, &res[1], err);
    return st;
}

static kn_status start(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, int B, int encode, kn_vae_act **out,
                       chain *c, kn_error *err) {
    kn_vae_act *a = KN_TAPE_NEW(tape, kn_vae_act);
    if (!a) return kn_fail(err, KN_ENOMEM, "training tape full");
    a->B = B;
    a->encode = encode;
    memset(c, 0, sizeof *c);
    c->v = v; c->ctx = ctx; c->tape = tape; c->a = a;
    *out = a;
    return KN_OK;
}

kn_status kn_vae_encode_train(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const float *image, int B, int H,
                              int W, float *mean, float *logvar, kn_vae_act **act, kn_error *err) {
    if (B < 1 || H < 1 || W < 1) return kn_fail(err, KN_EINVAL, "vae encode: bad shape %dx%dx%d", B, H, W);
    chain c;
    kn_vae_act *a = NULL;
    kn_status st = start(v, ctx, tape, B, 1, &a, &c, err);
    if (st) return st;
    c.cur = image; c.C = v->in_ch; c.H = H; c.W = W;
    if ((st = c_conv(&c, &v->e_in, err))) return st;
    for (int i = 0; i < v->nb; i++) {
        for (int j = 0; j < v->lpb; j++)
            if ((st = c_res(&c, &v->e_res[i * v->lpb + j], err))) return st;
        if (i < v->nb - 1 && (st = c_down(&c, &v->e_down[i], err))) return st;
    }
    if ((st = c_mid(&c, v->e_mid, &v->e_attn, err))) return st;
    if ((st = c_gnsilu(&c, &v->e_norm, err))) return st;
    if ((st = c_conv(&c, &v->e_out, err))) return st;
    if (v->quant && (st = c_conv(&c, &v->quant_conv, err))) return st;
    a->moments = (float *)c.cur;
    a->h = c.H; a->w = c.W;
    const int L = v->latent;
    size_t S = (size_t)c.H * c.W;
    for (int b = 0; b < B; b++) {
        memcpy(mean + (size_t)b * L * S, c.cur + (size_t)b * 2 * L * S, sizeof(float) * L * S);
        const float *lv = c.cur + ((size_t)b * 2 * L + L) * S;
        float *o = logvar + (size_t)b * L * S;
        for (size_t i = 0; i < (size_t)L * S; i++) o[i] = lv[i] < -30.0f ? -30.0f : lv[i] > 20.0f ? 20.0f : lv[i];
    }
    *act = a;
    return KN_OK;
}

kn_status kn_vae_decode_train(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const float *latent, int B, int h,
                              int w, float *image, kn_vae_act **act, kn_error *err) {
    if (B < 1 || h < 1 || w < 1) return kn_fail(err, KN_EINVAL, "vae decode: bad shape %dx%dx%d", B, h, w);
    chain c;
    kn_vae_act *a = NULL;
    kn_status st = start(v, ctx, tape, B, 0, &a, &c, err);
    if (st) return st;
    a->h = h; a->w = w;
    c.cur = latent; c.C = v->latent; c.H = h; c.W = w;
    if (v->post_quant && (st = c_conv(&c, &v->post_conv, err))) return st;
    if ((st = c_conv(&c, &v->d_in, err))) return st;
    if ((st = c_mid(&c, v->d_mid, &v->d_attn, err))) return st;
    for (int i = 0; i < v->nb; i++) {
        for (int j = 0; j <= v->lpb; j++)
            if ((st = c_res(&c, &v->d_res[i * (v->lpb + 1) + j], err))) return st;
        if (i < v->nb - 1 && (st = c_up(&c, &v->d_up[i], err))) return st;
    }
    if ((st = c_gnsilu(&c, &v->d_norm, err))) return st;
    /* the last conv writes the caller's buffer, so it is run here rather than through c_conv */
    kn_conv_fwd(ctx, &v->d_out, c.cur, B, c.H, c.W, image);
    vop op = {V_CONV, &v->d_out, NULL, c.cur, c.C, c.H, c.W, c.H, c.W};
    if ((st = push(&c, op, image, v->out_ch, c.H, c.W, err))) return st;
    *act = a;
    return KN_OK;
}

/* Runs the chain backward from the gradient of its last output (g, size cap) down to the gradient of
 * its input (written to din when not NULL). */
static kn_status chain_bwd(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const kn_vae_act *a,
                           const kn_gradmap *gm, const float *dlast, float *din, kn_error *err) {
    const int B = a->B;
    size_t cap = 0, mark = kn_ws_mark(tape);
    for (int k = 0; k < a->nops; k++) {
        const vop *o = &a->ops[k];
        size_t e = (size_t)o->C * o->H * o->W, eo = (size_t)o->C * o->Ho * o->Wo;
        if (o->kind == V_CONV || o->kind == V_RES) {
            int co = o->kind == V_CONV ? ((const kn_conv *)o->layer)->cout : ((const kn_resnet *)o->layer)->cout;
            eo = (size_t)co * o->H * o->W;
        }
        if (e > cap) cap = e;
        if (eo > cap) cap = eo;
    }
    cap *= (size_t)B;
    float *g, *g2;
    TAPE_FLOATS(g, cap);
    TAPE_FLOATS(g2, cap);
    const vop *last = &a->ops[a->nops - 1];
    size_t nlast = (size_t)B * (last->kind == V_CONV ? ((const kn_conv *)last->layer)->cout : last->C) * last->Ho * last->Wo;
    memcpy(g, dlast, nlast * sizeof(float));
    kn_status st = KN_OK;
    for (int k = a->nops - 1; k >= 0 && !st; k--) {
        const vop *o = &a->ops[k];
        float *dx = k == 0 ? din : g2;
        switch (o->kind) {
        case V_CONV: st = kn_conv_bwd(ctx, o->layer, gm, o->in, B, o->H, o->W, g, dx, err); break;
        case V_RES: st = kn_resnet_bwd(ctx, tape, o->layer, o->act, gm, g, dx, NULL, err); break;
        case V_ATTN: st = kn_vae_attn_bwd(ctx, tape, o->layer, o->act, gm, g, dx, err); break;
        case V_DOWN: st = kn_down_bwd(ctx, o->layer, gm, o->in, B, o->H, o->W, g, dx, err); break;
        case V_UP: st = kn_up_bwd(ctx, tape, o->layer, gm, o->in, B, o->H, o->W, o->Ho, o->Wo, g, dx, err); break;
        case V_GNSILU:
            if (dx) st = kn_gn_silu_bwd(ctx, tape, o->layer, o->in, B, o->C, (size_t)o->H * o->W, v->groups, 1e-6f, gm, g, dx, err);
            else {
                /* the first op has no input gradient to give but its norm parameters still learn */
                st = kn_gn_silu_bwd(ctx, tape, o->layer, o->in, B, o->C, (size_t)o->H * o->W, v->groups, 1e-6f, gm, g, g2, err);
            }
            break;
        }
        float *t = g; g = g2; g2 = t;
    }
    kn_ws_release(tape, mark);
    return st;
}

kn_status kn_vae_encode_backward(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const kn_vae_act *a,
                                 const kn_gradmap *gm, const float *dmean, const float *dlogvar, kn_error *err) {
    if (!a->encode) return kn_fail(err, KN_EINVAL, "vae: encode backward given a decode record");
    const int B = a->B, L = v->latent;
    size_t S = (size_t)a->h * a->w, mark = kn_ws_mark(tape);
    float *dm;
    TAPE_FLOATS(dm, (size_t)B * 2 * L * S);
    for (int b = 0; b < B; b++) {
        memcpy(dm + (size_t)b * 2 * L * S, dmean + (size_t)b * L * S, sizeof(float) * L * S);
        const float *lv = a->moments + ((size_t)b * 2 * L + L) * S, *d = dlogvar + (size_t)b * L * S;
        float *o = dm + ((size_t)b * 2 * L + L) * S;
        for (size_t i = 0; i < (size_t)L * S; i++) o[i] = lv[i] < -30.0f || lv[i] > 20.0f ? 0.0f : d[i];
    }
    kn_status st = chain_bwd(v, ctx, tape, a, gm, dm, NULL, err);
    kn_ws_release(tape, mark);
    return st;
}

kn_status kn_vae_decode_backward(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const kn_vae_act *a,
                                 const kn_gradmap *gm, const float *dimage, float *dlatent, kn_error *err) {
    if (a->encode) return kn_fail(err, KN_EINVAL, "vae: decode backward given an encode record");
    return chain_bwd(v, ctx, tape, a, gm, dimage, dlatent, err);
}
