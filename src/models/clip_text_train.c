/* CLIPTextModel's training pass (contract in backward.h): the kernels of clip_text.c in its order, out
 * of place, keeping each layer's normalised inputs, q/k/v, attention output and MLP pre-activation. */
#include <math.h>
#include "models/backward.h"
#include "models/clip_text_impl.h"

typedef struct clip_layer_act {
    float *x, *h1, *q, *k, *v, *o, *xm, *h2, *m1, *m2;   /* x: the layer input; xm: after attention */
} clip_layer_act;

struct kn_clip_text_act {
    const int64_t *ids;
    int n, L, skip, nl;
    clip_layer_act *lay;          /* [nl] */
    float *last;                  /* input of the final norm (or the output when skip > 0) */
};

static kn_attn_shape clip_shape(const kn_clip_text *m, int n, int L) {
    int D = m->hidden, dh = D / m->heads;
    kn_attn_shape s = {n, L, L, m->heads, dh, D, D, D, D, 1, 1.0f / sqrtf((float)dh)};
    return s;
}

kn_status kn_clip_text_encode_train(const kn_clip_text *m, const kn_ctx *ctx, kn_ws *tape, const int64_t *ids,
                                    int n, int L, int skip, float *out, kn_clip_text_act **act, kn_error *err) {
    kn_status st = kn_clip_text_check_args(m, ids, n, L, skip, err);
    if (st) return st;
    const int D = m->hidden, rows = n * L, nl = m->layers - skip;
    const size_t rd = (size_t)rows * D, ri = (size_t)rows * m->inter;
    kn_clip_text_act *a = KN_TAPE_NEW(tape, kn_clip_text_act);
    if (!a || !(a->lay = kn_tape_new(tape, sizeof(clip_layer_act) * (size_t)(nl > 0 ? nl : 1))))
        return kn_fail(err, KN_ENOMEM, "training tape full");
    a->ids = ids; a->n = n; a->L = L; a->skip = skip; a->nl = nl;
    float *x, *pos, *t;
    TAPE_FLOATS(x, rd);
    kn_embedding(ids, (size_t)rows, m->tok_emb, D, x);
    size_t mark = kn_ws_mark(tape);
    TAPE_FLOATS(pos, (size_t)L * D);
    int64_t *pid = (int64_t *)kn_ws_alloc(tape, (size_t)L * 2);
    if (!pid) return kn_fail(err, KN_ENOMEM, "training tape full");
    for (int i = 0; i < L; i++) pid[i] = i;
    kn_embedding(pid, (size_t)L, m->pos_emb, D, pos);
    for (int s = 0; s < n; s++) kn_add(x + (size_t)s * L * D, pos, (size_t)L * D, x + (size_t)s * L * D);
    kn_ws_release(tape, mark);
    kn_attn_shape sh = clip_shape(m, n, L);
    for (int i = 0; i < nl; i++) {
        const clip_layer *l = &m->layer[i];
        clip_layer_act *la = &a->lay[i];
        la->x = x;
        TAPE_FLOATS(la->h1, rd); TAPE_FLOATS(la->q, rd); TAPE_FLOATS(la->k, rd); TAPE_FLOATS(la->v, rd);
        TAPE_FLOATS(la->o, rd); TAPE_FLOATS(la->xm, rd); TAPE_FLOATS(la->h2, rd);
        TAPE_FLOATS(la->m1, ri); TAPE_FLOATS(la->m2, ri);
        kn_layer_norm(ctx, x, (size_t)rows, D, m->eps, l->ln1_w, l->ln1_b, la->h1);
        kn_linear(ctx, la->h1, rows, D, l->q_w, l->q_b, D, la->q);
        kn_linear(ctx, la->h1, rows, D, l->k_w, l->k_b, D, la->k);
        kn_linear(ctx, la->h1, rows, D, l->v_w, l->v_b, D, la->v);
        kn_attention(ctx, &sh, la->q, la->k, la->v, la->o);
        float *nx;
        TAPE_FLOATS(nx, rd);
        mark = kn_ws_mark(tape);
        TAPE_FLOATS(t, rd);
        kn_linear(ctx, la->o, rows, D, l->o_w, l->o_b, D, t);
        kn_add(x, t, rd, la->xm);
        kn_layer_norm(ctx, la->xm, (size_t)rows, D, m->eps, l->ln2_w, l->ln2_b, la->h2);
        kn_linear(ctx, la->h2, rows, D, l->fc1_w, l->fc1_b, m->inter, la->m1);
        kn_activation(ctx, m->act, la->m1, ri, la->m2);
        kn_linear(ctx, la->m2, rows, m->inter, l->fc2_w, l->fc2_b, D, t);
        kn_add(la->xm, t, rd, nx);
        kn_ws_release(tape, mark);
        x = nx;
    }
    a->last = x;
    if (skip == 0) kn_layer_norm(ctx, x, (size_t)rows, D, m->eps, m->final_w, m->final_b, out);
    else memcpy(out, x, rd * sizeof(float));
    *act = a;
    return KN_OK;
}

static kn_status lin_bwd(const kn_ctx *ctx, kn_wview W, const float *b, const kn_gradmap *gm, const float *x, int rows,
                         int in, int out, const float *dy, float *dx, kn_error *err) {
    float *dw = kn_grad_of(gm, W.data), *db = kn_grad_of(gm, b);
    if (!dx && !dw && !db) return KN_OK;
    if (W.dtype != KN_F32) return kn_fail(err, KN_EUNSUPPORTED, "clip_text: backward needs f32 weights, found %s", kn_dtype_name(W.dtype));
    kn_linear_backward(ctx, x, rows, in, (const float *)W.data, out, dy, dx, dw, db);
    return KN_OK;
}

kn_status kn_clip_text_backward(const kn_clip_text *m, const kn_ctx *ctx, kn_ws *tape,
                                const kn_clip_text_act *a, const kn_gradmap *gm, const float *dout,
                                kn_error *err) {
    const int D = m->hidden, n = a->n, L = a->L, rows = n * L;
    const size_t rd = (size_t)rows * D, ri = (size_t)rows * m->inter, mark = kn_ws_mark(tape);
    float *dx, *dt, *dh, *dq, *dk, *dv, *dm;
    TAPE_FLOATS(dx, rd); TAPE_FLOATS(dt, rd); TAPE_FLOATS(dh, rd);
    TAPE_FLOATS(dq, rd); TAPE_FLOATS(dk, rd); TAPE_FLOATS(dv, rd);
    TAPE_FLOATS(dm, ri);
    kn_status st;
    if (a->skip == 0)
        kn_layer_norm_backward(ctx, a->last, (size_t)rows, D, m->eps, m->final_w, dout, dx, kn_grad_of(gm, m->final_w),
                               kn_grad_of(gm, m->final_b));
    else memcpy(dx, dout, rd * sizeof(float));
    kn_attn_shape sh = clip_shape(m, n, L);
    for (int i = a->nl - 1; i >= 0; i--) {
        const clip_layer *l = &m->layer[i];
        const clip_layer_act *la = &a->lay[i];
        /* MLP: x_out = xm + fc2(act(fc1(ln2(xm)))) */
        if ((st = lin_bwd(ctx, l->fc2_w, l->fc2_b, gm, la->m2, rows, m->inter, D, dx, dm, err))) return st;
        kn_activation_backward(ctx, m->act, la->m1, dm, ri, dm);
        if ((st = lin_bwd(ctx, l->fc1_w, l->fc1_b, gm, la->h2, rows, D, m->inter, dm, dh, err))) return st;
        kn_layer_norm_backward(ctx, la->xm, (size_t)rows, D, m->eps, l->ln2_w, dh, dt, kn_grad_of(gm, l->ln2_w),
                               kn_grad_of(gm, l->ln2_b));
        kn_add(dx, dt, rd, dx);                                   /* dx is now d(xm) */
        /* attention: xm = x + out_proj(attn(q, k, v)), q/k/v from ln1(x) */
        if ((st = lin_bwd(ctx, l->o_w, l->o_b, gm, la->o, rows, D, D, dx, dh, err))) return st;
        kn_attention_backward(ctx, &sh, la->q, la->k, la->v, dh, dq, dk, dv);
        if ((st = lin_bwd(ctx, l->q_w, l->q_b, gm, la->h1, rows, D, D, dq, dh, err))) return st;
        if ((st = lin_bwd(ctx, l->k_w, l->k_b, gm, la->h1, rows, D, D, dk, dt, err))) return st;
        kn_add(dh, dt, rd, dh);
        if ((st = lin_bwd(ctx, l->v_w, l->v_b, gm, la->h1, rows, D, D, dv, dt, err))) return st;
        kn_add(dh, dt, rd, dh);
        kn_layer_norm_backward(ctx, la->x, (size_t)rows, D, m->eps, l->ln1_w, dh, dt, kn_grad_of(gm, l->ln1_w),
                               kn_grad_of(gm, l->ln1_b));
        kn_add(dx, dt, rd, dx);                                   /* d(layer input) */
    }
    float *dtok = kn_grad_of(gm, m->tok_emb.data), *dpos = kn_grad_of(gm, m->pos_emb.data);
    if (dtok) kn_embedding_backward(a->ids, (size_t)rows, D, dx, dtok);
    if (dpos)
        for (int s = 0; s < n; s++) kn_axpy(1.0f, dx + (size_t)s * L * D, (size_t)L * D, dpos);
    kn_ws_release(tape, mark);
    return KN_OK;
}
