/* The UNet's training pass (contract in backward.h): the inference pass of unet.c replayed layer by
 * layer out of place, recording each layer as an op; the backward walks the ops in reverse. Skip
 * connections are kept by pointer (every layer output is a fresh tape buffer); the gradient a skip
 * receives at its concatenation is added back where it was pushed. */
#include "models/backward.h"
#include "models/unet_impl.h"

typedef enum { OP_RES, OP_T2D, OP_TTM, OP_DOWN, OP_UP, OP_CONCAT, OP_PUSH } op_kind;

typedef struct uop {
    op_kind kind;
    const void *layer;
    void *act;
    const float *in;              /* the op's input (down/up) */
    int C, Cs, H, W, Ho, Wo;      /* channels in (and of the skip for concat); sizes */
    int skip;                     /* skip index (push / concat) */
} uop;

#define UN_MAXOPS 1024

struct kn_unet_act {
    int B, F, H, W, L;
    const float *sample_in;       /* what conv_in read: [B*F, in, H, W] */
    const float *context;
    float *tproj, *l1, *s1, *l2, *temb;   /* time embedding: sinusoid, linear_1, silu, linear_2, silu */
    float *last;                  /* the input of norm_out */
    float *hn;                    /* silu(norm_out(last)) */
    int nops;
    uop ops[UN_MAXOPS];
    int nskip;
    int skC[UN_MAXSKIP], skH[UN_MAXSKIP], skW[UN_MAXSKIP];
};

static kn_status add_op(kn_unet_act *a, uop op, kn_error *err) {
    if (a->nops == UN_MAXOPS) return kn_fail(err, KN_EUNSUPPORTED, "unet training: more than %d layers", UN_MAXOPS);
    a->ops[a->nops++] = op;
    return KN_OK;
}

typedef struct fwd {
    const kn_unet *u;
    const kn_ctx *ctx;
    kn_ws *tape;
    kn_unet_act *a;
    const float *cur;
    int C, H, W;
} fwd;

static kn_status f_res(fwd *f, const kn_resnet *r, kn_error *err) {
    kn_unet_act *a = f->a;
    kn_ws *tape = f->tape;
    int N = a->B * a->F;
    float *y;
    TAPE_FLOATS(y, (size_t)N * r->cout * f->H * f->W);
    kn_resnet_act *ra;
    kn_status st = kn_resnet_fwd_train(f->ctx, tape, r, f->cur, N, f->H, f->W, a->temb, a->F, y, &ra, err);
    if (st) return st;
    uop op = {OP_RES, r, ra, f->cur, f->C, 0, f->H, f->W, 0, 0, 0};
    f->cur = y;
    f->C = r->cout;
    return add_op(a, op, err);
}

static kn_status f_t2d(fwd *f, const kn_t2d *t, kn_error *err) {
    kn_unet_act *a = f->a;
    kn_ws *tape = f->tape;
    int N = a->B * a->F;
    float *y;
    TAPE_FLOATS(y, (size_t)N * f->C * f->H * f->W);
    kn_t2d_act *ta;
    kn_status st = kn_t2d_fwd_train(f->ctx, tape, t, f->cur, N, f->H, f->W, a->context, a->L, a->F, y, &ta, err);
    if (st) return st;
    uop op = {OP_T2D, t, ta, f->cur, f->C, 0, f->H, f->W, 0, 0, 0};
    f->cur = y;
    return add_op(a, op, err);
}

static kn_status f_ttm(fwd *f, const kn_ttm *t, kn_error *err) {
    kn_unet_act *a = f->a;
    kn_ws *tape = f->tape;
    float *y;
    TAPE_FLOATS(y, (size_t)a->B * a->F * f->C * f->H * f->W);
    kn_ttm_act *ta;
    kn_status st = kn_ttm_fwd_train(f->ctx, tape, t, f->cur, a->B, a->F, f->H, f->W, y, &ta, err);
    if (st) return st;
    uop op = {OP_TTM, t, ta, f->cur, f->C, 0, f->H, f->W, 0, 0, 0};
    f->cur = y;
    return add_op(a, op, err);
}

static kn_status f_push(fwd *f, kn_error *err) {
    kn_unet_act *a = f->a;
    if (a->nskip == UN_MAXSKIP) return kn_fail(err, KN_EUNSUPPORTED, "unet training: too many skips");
    int i = a->nskip++;
    a->skC[i] = f->C; a->skH[i] = f->H; a->skW[i] = f->W;
    uop op = {OP_PUSH, NULL, (void *)f->cur, f->cur, f->C, 0, f->H, f->W, 0, 0, i};
    return add_op(a, op, err);
}

/* a resnet (+ attention) (+ motion module), as run_layer in unet.c */
static kn_status f_layer(fwd *f, const ublock *b, int j, kn_error *err) {
    kn_status st = f_res(f, &b->res[j], err);
    if (!st && b->has_attn) st = f_t2d(f, &b->attn[j], err);
    if (!st && f->u->motion) st = f_ttm(f, &b->mm[j], err);
    return st;
}

static kn_status forward_blocks(fwd *f, kn_error *err) {
    const kn_unet *u = f->u;
    kn_unet_act *a = f->a;
    kn_ws *tape = f->tape;
    const int N = a->B * a->F, nb = u->nb;
    kn_status st;
    if ((st = f_push(f, err))) return st;
    for (int i = 0; i < nb; i++) {
        const ublock *b = &u->down[i];
        for (int j = 0; j < b->nres; j++) {
            if ((st = f_layer(f, b, j, err)) || (st = f_push(f, err))) return st;
        }
        if (b->has_sample) {
            int Ho = kn_down_out(f->H, u->down_pad), Wo = kn_down_out(f->W, u->down_pad);
            float *y;
            TAPE_FLOATS(y, (size_t)N * f->C * Ho * Wo);
            kn_down_fwd(f->ctx, &b->down, f->cur, N, f->H, f->W, y);
            uop op = {OP_DOWN, &b->down, NULL, f->cur, f->C, 0, f->H, f->W, Ho, Wo, 0};
            if ((st = add_op(a, op, err))) return st;
            f->cur = y; f->H = Ho; f->W = Wo;
            if ((st = f_push(f, err))) return st;
        }
    }
    if (u->has_mid) {
        if ((st = f_res(f, &u->mid_res[0], err))) return st;
        if ((st = f_t2d(f, &u->mid_attn, err))) return st;
        if (u->motion && u->mid_motion && (st = f_ttm(f, &u->mid_mm, err))) return st;
        if ((st = f_res(f, &u->mid_res[1], err))) return st;
    }
    int ns = a->nskip;
    for (int i = 0; i < nb; i++) {
        const ublock *b = &u->up[i];
        for (int j = 0; j < b->nres; j++) {
            ns--;
            if (ns < 0 || a->skH[ns] != f->H || a->skW[ns] != f->W) return kn_fail(err, KN_EINTERNAL, "skip size mismatch");
            const float *skip = (const float *)a->ops[0].act;
            for (int k = 0; k < a->nops; k++)
                if (a->ops[k].kind == OP_PUSH && a->ops[k].skip == ns) skip = a->ops[k].in;
            float *y;
            TAPE_FLOATS(y, (size_t)N * (f->C + a->skC[ns]) * f->H * f->W);
            kn_concat_channels(f->cur, f->C, skip, a->skC[ns], N, (size_t)f->H * f->W, y);
            uop op = {OP_CONCAT, NULL, NULL, f->cur, f->C, a->skC[ns], f->H, f->W, 0, 0, ns};
            if ((st = add_op(a, op, err))) return st;
            f->cur = y;
            f->C += a->skC[ns];
            if ((st = f_layer(f, b, j, err))) return st;
        }
        if (b->has_sample) {
            int Ho = a->skH[ns - 1], Wo = a->skW[ns - 1];
            float *y;
            TAPE_FLOATS(y, (size_t)N * f->C * Ho * Wo);
            size_t mark = kn_ws_mark(tape);
            if ((st = kn_up_fwd(f->ctx, tape, &b->up, f->cur, N, f->H, f->W, Ho, Wo, y, err))) return st;
            kn_ws_release(tape, mark);
            uop op = {OP_UP, &b->up, NULL, f->cur, f->C, 0, f->H, f->W, Ho, Wo, 0};
            if ((st = add_op(a, op, err))) return st;
            f->cur = y; f->H = Ho; f->W = Wo;
        }
    }
    return KN_OK;
}

kn_status kn_unet_forward_train(const kn_unet *u, const kn_ctx *ctx, kn_ws *tape, const float *sample, int B,
                                int F, int H, int W, const float *timestep, const float *context, int L,
                                float *out, kn_unet_act **act, kn_error *err) {
    if (B < 1 || F < 1 || H < 1 || W < 1 || L < 1)
        return kn_fail(err, KN_EINVAL, "unet: bad shape B=%d F=%d H=%d W=%d L=%d", B, F, H, W, L);
    if (F > 1 && !u->motion) return kn_fail(err, KN_EINVAL, "unet: %d frames given to a UNet without motion modules", F);
    if (u->motion && F > u->mmax) return kn_fail(err, KN_EINVAL, "unet: %d frames exceed motion_max_seq_length %d", F, u->mmax);
    kn_unet_act *a = KN_TAPE_NEW(tape, kn_unet_act);
    if (!a) return kn_fail(err, KN_ENOMEM, "training tape full");
    a->B = B; a->F = F; a->H = H; a->W = W; a->L = L; a->context = context;
    const int N = B * F, c0 = u->boc[0];
    size_t nin = (size_t)N * u->in_ch * H * W;
    TAPE_FLOATS(a->tproj, (size_t)B * c0);
    TAPE_FLOATS(a->l1, (size_t)B * u->temb);
    TAPE_FLOATS(a->s1, (size_t)B * u->temb);
    TAPE_FLOATS(a->l2, (size_t)B * u->temb);
    TAPE_FLOATS(a->temb, (size_t)B * u->temb);
    kn_timestep_embedding(timestep, B, c0, u->flip, u->shift, 10000.0f, a->tproj);
    kn_lin_fwd(ctx, &u->t1, a->tproj, (size_t)B, a->l1);
    kn_activation(ctx, KN_ACT_SILU, a->l1, (size_t)B * u->temb, a->s1);
    kn_lin_fwd(ctx, &u->t2, a->s1, (size_t)B, a->l2);
    kn_activation(ctx, KN_ACT_SILU, a->l2, (size_t)B * u->temb, a->temb);
    const float *x = sample;
    if (F > 1) {
        float *p;
        TAPE_FLOATS(p, nin);
        int d[4] = {B, u->in_ch, F, H * W}, pm[4] = {0, 2, 1, 3};
        kn_permute4(ctx, x, d, pm, p);
        x = p;
    }
    if (u->center) {
        float *c;
        TAPE_FLOATS(c, nin);
        for (size_t i = 0; i < nin; i++) c[i] = 2.0f * x[i] - 1.0f;
        x = c;
    }
    a->sample_in = x;
    float *h;
    TAPE_FLOATS(h, (size_t)N * c0 * H * W);
    kn_conv_fwd(ctx, &u->conv_in, x, N, H, W, h);
    fwd f = {u, ctx, tape, a, h, c0, H, W};
    kn_status st = forward_blocks(&f, err);
    if (st) return st;
    if (f.C != c0 || f.H != H || f.W != W) return kn_fail(err, KN_EINTERNAL, "unet training: output shape mismatch");
    a->last = (float *)f.cur;
    TAPE_FLOATS(a->hn, (size_t)N * c0 * H * W);
    kn_group_norm_silu(ctx, a->last, N, c0, (size_t)H * W, u->groups, u->eps, u->norm_out.g, u->norm_out.b, a->hn);
    if (F > 1) {
        size_t mark = kn_ws_mark(tape);
        float *o;
        TAPE_FLOATS(o, (size_t)N * u->out_ch * H * W);
        kn_conv_fwd(ctx, &u->conv_out, a->hn, N, H, W, o);
        int d[4] = {B, F, u->out_ch, H * W}, pm[4] = {0, 2, 1, 3};
        kn_permute4(ctx, o, d, pm, out);
        kn_ws_release(tape, mark);
    } else {
        kn_conv_fwd(ctx, &u->conv_out, a->hn, N, H, W, out);
    }
    *act = a;
    return KN_OK;
}

kn_status kn_unet_backward(const kn_unet *u, const kn_ctx *ctx, kn_ws *tape, const kn_unet_act *a,
                           const kn_gradmap *gm, const float *dout, float *dcontext, kn_error *err) {
    const int B = a->B, F = a->F, N = B * F, c0 = u->boc[0];
    int H = a->H, W = a->W;
    size_t mark = kn_ws_mark(tape), cap = 0;
    /* the largest activation any op sees, for the two ping-pong gradient buffers */
    for (int k = 0; k < a->nops; k++) {
        const uop *o = &a->ops[k];
        size_t e = (size_t)(o->C + o->Cs) * o->H * o->W;
        if (o->kind == OP_RES) e = (size_t)(o->C > ((const kn_resnet *)o->layer)->cout ? o->C : ((const kn_resnet *)o->layer)->cout) * o->H * o->W;
        if (o->kind == OP_UP) e = (size_t)o->C * o->Ho * o->Wo;
        if (e > cap) cap = e;
    }
    cap *= (size_t)N;
    float *g, *g2, *dtemb, *dskip[UN_MAXSKIP];
    TAPE_FLOATS(g, cap);
    TAPE_FLOATS(g2, cap);
    TAPE_FLOATS(dtemb, (size_t)B * u->temb);
    memset(dtemb, 0, (size_t)B * u->temb * sizeof(float));
    for (int i = 0; i < a->nskip; i++) {
        size_t n = (size_t)N * a->skC[i] * a->skH[i] * a->skW[i];
        TAPE_FLOATS(dskip[i], n);
        memset(dskip[i], 0, n * sizeof(float));
    }
    kn_status st;
    /* conv_out (after the permute back to [B*F, C, H, W]) and norm_out + SiLU */
    {
        size_t m2 = kn_ws_mark(tape);
        float *dper = (float *)dout, *dhn;
        if (F > 1) {
            TAPE_FLOATS(dper, (size_t)N * u->out_ch * H * W);
            int d[4] = {B, u->out_ch, F, H * W}, pm[4] = {0, 2, 1, 3};   /* [B,C,F,S] -> [B,F,C,S] */
            kn_permute4(ctx, dout, d, pm, dper);
        }
        TAPE_FLOATS(dhn, (size_t)N * c0 * H * W);
        if ((st = kn_conv_bwd(ctx, &u->conv_out, gm, a->hn, N, H, W, dper, dhn, err))) return st;
        if ((st = kn_gn_silu_bwd(ctx, tape, &u->norm_out, a->last, N, c0, (size_t)H * W, u->groups, u->eps, gm, dhn, g, err)))
            return st;
        kn_ws_release(tape, m2);
    }
    for (int k = a->nops - 1; k >= 0; k--) {
        const uop *o = &a->ops[k];
        size_t S = (size_t)o->H * o->W;
        switch (o->kind) {
        case OP_RES:
            st = kn_resnet_bwd(ctx, tape, o->layer, o->act, gm, g, g2, dtemb, err);
            break;
        case OP_T2D:
            st = kn_t2d_bwd(ctx, tape, o->layer, o->act, gm, g, g2, dcontext, err);
            break;
        case OP_TTM:
            st = kn_ttm_bwd(ctx, tape, o->layer, o->act, gm, g, g2, err);
            break;
        case OP_DOWN:
            st = kn_down_bwd(ctx, o->layer, gm, o->in, N, o->H, o->W, g, g2, err);
            break;
        case OP_UP:
            st = kn_up_bwd(ctx, tape, o->layer, gm, o->in, N, o->H, o->W, o->Ho, o->Wo, g, g2, err);
            break;
        case OP_CONCAT: {
            float *ds = dskip[o->skip];
            /* g is [N, C + Cs, S]: the first C channels continue, the rest belong to the skip */
            for (int n = 0; n < N; n++) {
                memcpy(g2 + (size_t)n * o->C * S, g + (size_t)n * (o->C + o->Cs) * S, (size_t)o->C * S * sizeof(float));
                kn_axpy(1.0f, g + ((size_t)n * (o->C + o->Cs) + o->C) * S, (size_t)o->Cs * S, ds + (size_t)n * o->Cs * S);
            }
            break;
        }
        case OP_PUSH:
            kn_add(g, dskip[o->skip], (size_t)N * o->C * S, g2);
            break;
        }
        if (st) return st;
        float *t = g; g = g2; g2 = t;
    }
    (void)H; (void)W;
    /* conv_in: only its parameters (the noisy sample is not learned) */
    if ((st = kn_conv_bwd(ctx, &u->conv_in, gm, a->sample_in, N, a->H, a->W, g, NULL, err))) return st;
    /* time embedding: temb = silu(l2), l2 = t2(silu(l1)), l1 = t1(sinusoid) */
    {
        size_t nt = (size_t)B * u->temb;
        float *dl2, *ds1, *dl1;
        TAPE_FLOATS(dl2, nt);
        TAPE_FLOATS(ds1, nt);
        TAPE_FLOATS(dl1, nt);
        kn_activation_backward(ctx, KN_ACT_SILU, a->l2, dtemb, nt, dl2);
        if ((st = kn_lin_bwd(ctx, &u->t2, gm, a->s1, (size_t)B, dl2, ds1, err))) return st;
        kn_activation_backward(ctx, KN_ACT_SILU, a->l1, ds1, nt, dl1);
        if ((st = kn_lin_bwd(ctx, &u->t1, gm, a->tproj, (size_t)B, dl1, NULL, err))) return st;
    }
    kn_ws_release(tape, mark);
    return KN_OK;
}
