/* CLIPTextModel (transformers layout and numerics): token + position embeddings, pre-norm causal
 * transformer layers, final layer norm.
 * Contract: every size comes from config.json (hidden_size, intermediate_size, num_attention_heads,
 * num_hidden_layers, max_position_embeddings, vocab_size, hidden_act, layer_norm_eps); weights are
 * named text_model.* as transformers saves CLIPTextModel / CLIPTextModelWithProjection (the projection,
 * when present, is not used). Matrices stay borrowed from the mmap in their stored dtype. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "models/models.h"
#include "models/weights.h"
#include "models/clip_text_impl.h"
#include "models/backward.h"

static kn_status cfg_pos_int(const json_t *cfg, const char *path, const char *key, long long lo, long long hi,
                             int *out, kn_error *err) {
    long long v;
    kn_status st = kn_cfg_int(cfg, path, key, -1, &v, err);
    if (st) return st;
    if (v == -1) return kn_fail(err, KN_EFORMAT, "%s: missing \"%s\"", path, key);
    if (v < lo || v > hi) return kn_fail(err, KN_EFORMAT, "%s: \"%s\" = %lld is outside [%lld, %lld]", path, key, v, lo, hi);
    *out = (int)v;
    return KN_OK;
}

static kn_status read_config(kn_clip_text *m, kn_error *err) {
    const json_t *c = m->w.config;
    const char *p = m->w.config_path;
    kn_status st;
    if ((st = cfg_pos_int(c, p, "hidden_size", 1, 1 << 16, &m->hidden, err)) ||
        (st = cfg_pos_int(c, p, "intermediate_size", 1, 1 << 18, &m->inter, err)) ||
        (st = cfg_pos_int(c, p, "num_attention_heads", 1, 1 << 10, &m->heads, err)) ||
        (st = cfg_pos_int(c, p, "num_hidden_layers", 1, 1 << 10, &m->layers, err)) ||
        (st = cfg_pos_int(c, p, "max_position_embeddings", 1, 1 << 20, &m->max_pos, err)) ||
        (st = cfg_pos_int(c, p, "vocab_size", 1, 1 << 24, &m->vocab, err)))
        return st;
    if (m->hidden % m->heads)
        return kn_fail(err, KN_EFORMAT, "%s: \"hidden_size\" %d is not a multiple of \"num_attention_heads\" %d", p,
                       m->hidden, m->heads);
    const char *act;
    double eps;
    if ((st = kn_cfg_str(c, p, "hidden_act", "quick_gelu", &act, err))) return st;
    if (!strcmp(act, "quick_gelu")) m->act = KN_ACT_QUICK_GELU;
    else if (!strcmp(act, "gelu")) m->act = KN_ACT_GELU;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh")) m->act = KN_ACT_GELU_TANH;
    else return kn_fail(err, KN_EUNSUPPORTED, "%s: \"hidden_act\" '%s' is not supported (quick_gelu, gelu, gelu_new)", p, act);
    if ((st = kn_cfg_num(c, p, "layer_norm_eps", 1e-5, &eps, err))) return st;
    if (!(eps > 0 && eps < 1)) return kn_fail(err, KN_EFORMAT, "%s: \"layer_norm_eps\" %g is not in (0, 1)", p, eps);
    m->eps = (float)eps;
    return KN_OK;
}

#define PFX "text_model."

static kn_status load_linear(kn_weights *w, const char *base, int out, int in, kn_wview *W, float **b, kn_error *err) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    kn_status st = kn_weights_viewf(w, W, err, 2, ws, "%s.weight", base);
    return st ? st : kn_weights_f32f(w, b, err, 1, bs, "%s.bias", base);
}

static kn_status load_norm(kn_weights *w, const char *base, int D, float **g, float **b, kn_error *err) {
    int64_t s[1] = {D};
    kn_status st = kn_weights_f32f(w, g, err, 1, s, "%s.weight", base);
    return st ? st : kn_weights_f32f(w, b, err, 1, s, "%s.bias", base);
}

static kn_status load_layer(kn_clip_text *m, int i, kn_error *err) {
    clip_layer *l = &m->layer[i];
    char b[256];
    int D = m->hidden;
    kn_status st;
#define L(name, ...) (snprintf(b, sizeof b, PFX "encoder.layers.%d.%s", i, name), (st = __VA_ARGS__))
    if (L("layer_norm1", load_norm(&m->w, b, D, &l->ln1_w, &l->ln1_b, err)) ||
        L("layer_norm2", load_norm(&m->w, b, D, &l->ln2_w, &l->ln2_b, err)) ||
        L("self_attn.q_proj", load_linear(&m->w, b, D, D, &l->q_w, &l->q_b, err)) ||
        L("self_attn.k_proj", load_linear(&m->w, b, D, D, &l->k_w, &l->k_b, err)) ||
        L("self_attn.v_proj", load_linear(&m->w, b, D, D, &l->v_w, &l->v_b, err)) ||
        L("self_attn.out_proj", load_linear(&m->w, b, D, D, &l->o_w, &l->o_b, err)) ||
        L("mlp.fc1", load_linear(&m->w, b, m->inter, D, &l->fc1_w, &l->fc1_b, err)) ||
        L("mlp.fc2", load_linear(&m->w, b, D, m->inter, &l->fc2_w, &l->fc2_b, err)))
        return st;
#undef L
    return KN_OK;
}

/* Reads the config and looks up every tensor of m->w. */
static kn_status clip_assemble(kn_clip_text *m, kn_error *err) {
    kn_status st = read_config(m, err);
    if (!st) {
        int64_t te[2] = {m->vocab, m->hidden}, pe[2] = {m->max_pos, m->hidden};
        if (!(m->layer = calloc((size_t)m->layers, sizeof *m->layer))) st = kn_fail(err, KN_ENOMEM, "out of memory");
        if (!st) st = kn_weights_view(&m->w, PFX "embeddings.token_embedding.weight", 2, te, &m->tok_emb, err);
        if (!st) st = kn_weights_view(&m->w, PFX "embeddings.position_embedding.weight", 2, pe, &m->pos_emb, err);
        for (int i = 0; i < m->layers && !st; i++) st = load_layer(m, i, err);
        if (!st) st = load_norm(&m->w, PFX "final_layer_norm", m->hidden, &m->final_w, &m->final_b, err);
    }
    return st;
}

kn_status kn_clip_text_open(const char *dir, kn_clip_text **out, kn_error *err) {
    *out = NULL;
    kn_clip_text *m = calloc(1, sizeof *m);
    if (!m) return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = kn_weights_open(&m->w, dir, "config.json", NULL, err);
    if (st) { free(m); return st; }
    if ((st = clip_assemble(m, err))) { kn_clip_text_close(m); return st; }
    *out = m;
    return KN_OK;
}

kn_status kn_clip_text_open_weights(kn_weights *w, kn_clip_text **out, kn_error *err) {
    *out = NULL;
    kn_clip_text *m = calloc(1, sizeof *m);
    if (!m) { kn_weights_close(w); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    m->w = *w;
    memset(w, 0, sizeof *w);
    kn_status st = clip_assemble(m, err);
    if (st) { kn_clip_text_close(m); return st; }
    *out = m;
    return KN_OK;
}

void kn_clip_text_close(kn_clip_text *m) {
    if (!m) return;
    kn_weights_close(&m->w);
    free(m->layer);
    free(m);
}

int kn_clip_text_hidden(const kn_clip_text *m) { return m->hidden; }
int kn_clip_text_vocab(const kn_clip_text *m) { return m->vocab; }
int kn_clip_text_max_positions(const kn_clip_text *m) { return m->max_pos; }

typedef struct { float *h, *qkv, *attn, *mlp; } clip_bufs;

/* x [n*L, D] += attention block(x), causal within each sequence. */
static void attention_block(const kn_clip_text *m, const kn_ctx *ctx, const clip_layer *l, float *x, int n, int L,
                            clip_bufs *b) {
    int D = m->hidden, rows = n * L, dh = D / m->heads;
    kn_layer_norm(ctx, x, (size_t)rows, D, m->eps, l->ln1_w, l->ln1_b, b->h);
    float *q = b->qkv, *k = q + (size_t)rows * D, *v = k + (size_t)rows * D;
    kn_linear(ctx, b->h, rows, D, l->q_w, l->q_b, D, q);
    kn_linear(ctx, b->h, rows, D, l->k_w, l->k_b, D, k);
    kn_linear(ctx, b->h, rows, D, l->v_w, l->v_b, D, v);
    kn_attn_shape s = {n, L, L, m->heads, dh, D, D, D, D, 1, 1.0f / sqrtf((float)dh)};
    kn_attention(ctx, &s, q, k, v, b->attn);
    kn_linear(ctx, b->attn, rows, D, l->o_w, l->o_b, D, b->h);
    kn_add(x, b->h, (size_t)rows * D, x);
}

static void mlp_block(const kn_clip_text *m, const kn_ctx *ctx, const clip_layer *l, float *x, int rows, clip_bufs *b) {
    int D = m->hidden;
    kn_layer_norm(ctx, x, (size_t)rows, D, m->eps, l->ln2_w, l->ln2_b, b->h);
    kn_linear(ctx, b->h, rows, D, l->fc1_w, l->fc1_b, m->inter, b->mlp);
    kn_activation(ctx, m->act, b->mlp, (size_t)rows * m->inter, b->mlp);
    kn_linear(ctx, b->mlp, rows, m->inter, l->fc2_w, l->fc2_b, D, b->h);
    kn_add(x, b->h, (size_t)rows * D, x);
}

kn_status kn_clip_text_check_args(const kn_clip_text *m, const int64_t *ids, int n, int L, int skip, kn_error *err) {
    if (n < 1 || L < 1) return kn_fail(err, KN_EINVAL, "clip_text: empty batch (n = %d, L = %d)", n, L);
    if (L > m->max_pos)
        return kn_fail(err, KN_EINVAL, "clip_text: sequence length %d exceeds max_position_embeddings %d", L, m->max_pos);
    if (skip < 0 || skip > m->layers)
        return kn_fail(err, KN_EINVAL, "clip_text: clip skip %d outside [0, %d]", skip, m->layers);
    for (size_t i = 0; i < (size_t)n * L; i++)
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return kn_fail(err, KN_EINVAL, "clip_text: token id %lld at position %zu is outside the vocabulary [0, %d)",
                           (long long)ids[i], i, m->vocab);
    return KN_OK;
}

kn_status kn_clip_text_encode(const kn_clip_text *m, const kn_ctx *ctx, const int64_t *ids, int n, int L,
                              int skip, float *out, kn_error *err) {
    kn_status st = kn_clip_text_check_args(m, ids, n, L, skip, err);
    if (st) return st;
    kn_ctx local = {NULL, kn_cpu_detect(), NULL};   /* a NULL ctx means one thread, best ISA */
    if (!ctx) ctx = &local;
    int D = m->hidden, rows = n * L;
    size_t rd = (size_t)rows * D;
    clip_bufs b = {kn_malloc(rd * sizeof(float)), kn_malloc(3 * rd * sizeof(float)), kn_malloc(rd * sizeof(float)),
                   kn_malloc((size_t)rows * m->inter * sizeof(float))};
    float *pos = kn_malloc((size_t)L * D * sizeof(float));
    if (!b.h || !b.qkv || !b.attn || !b.mlp || !pos) {
        st = kn_fail(err, KN_ENOMEM, "clip_text: out of memory for %d x %d tokens", n, L);
        goto done;
    }
    /* Embeddings: the token row plus position i's row; the running state lives in out. */
    kn_embedding(ids, (size_t)rows, m->tok_emb, D, out);
    int64_t *pid = (int64_t *)b.qkv;   /* L ids fit in the qkv buffer before it is first used */
    for (int i = 0; i < L; i++) pid[i] = i;
    kn_embedding(pid, (size_t)L, m->pos_emb, D, pos);
    for (int s = 0; s < n; s++) kn_add(out + (size_t)s * L * D, pos, (size_t)L * D, out + (size_t)s * L * D);
    for (int i = 0; i < m->layers - skip; i++) {
        attention_block(m, ctx, &m->layer[i], out, n, L, &b);
        mlp_block(m, ctx, &m->layer[i], out, rows, &b);
    }
    if (skip == 0) {
        kn_layer_norm(ctx, out, (size_t)rows, D, m->eps, m->final_w, m->final_b, b.h);
        memcpy(out, b.h, rd * sizeof(float));
    }
done:
    kn_free(b.h);
    kn_free(b.qkv);
    kn_free(b.attn);
    kn_free(b.mlp);
    kn_free(pos);
    return st;
}
