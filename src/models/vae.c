/* AutoencoderKL (diffusers 0.25): Encoder (DownEncoderBlock2D x n, UNetMidBlock2D with one attention,
 * GroupNorm/SiLU/conv_out to 2*latent), quant_conv; post_quant_conv, Decoder (mid block, UpDecoderBlock2D
 * x n with layers_per_block+1 resnets). Every size comes from config.json; resnets and norms use eps
 * 1e-6 and norm_num_groups, the mid attention is single-head (attention_head_dim = last channels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "models/blocks.h"
#include "models/models.h"
#include "models/vae_impl.h"
#include "models/backward.h"

static kn_status read_config(kn_vae *v, kn_error *err) {
    const json_t *c = v->w.config;
    const char *p = v->w.config_path, *s;
    long long x, vals[VAE_MAXB];
    int n;
    kn_status st;
    if ((st = kn_cfg_str(c, p, "_class_name", "AutoencoderKL", &s, err))) return st;
    if (strcmp(s, "AutoencoderKL")) return kn_fail(err, KN_EUNSUPPORTED, "%s: _class_name \"%s\" is not AutoencoderKL", p, s);
#define INT(key, def, dst) do { if ((st = kn_cfg_int(c, p, key, def, &x, err))) return st; dst = (int)x; } while (0)
    INT("in_channels", 3, v->in_ch);
    INT("out_channels", 3, v->out_ch);
    INT("latent_channels", 4, v->latent);
    INT("layers_per_block", 1, v->lpb);
    INT("norm_num_groups", 32, v->groups);
#undef INT
    if ((st = kn_cfg_int_list(c, p, "block_out_channels", vals, VAE_MAXB, &n, err))) return st;
    if (n < 1) return kn_fail(err, KN_EFORMAT, "%s: block_out_channels missing or empty", p);
    v->nb = n;
    for (int i = 0; i < n; i++) v->boc[i] = (int)vals[i];
    const char *types[VAE_MAXB];
    int nt;
    if ((st = kn_cfg_str_list(c, p, "down_block_types", types, VAE_MAXB, &nt, err))) return st;
    if (nt != n) return kn_fail(err, KN_EFORMAT, "%s: %d down_block_types for %d block_out_channels", p, nt, n);
    for (int i = 0; i < nt; i++)
        if (strcmp(types[i], "DownEncoderBlock2D"))
            return kn_fail(err, KN_EUNSUPPORTED, "%s: down_block_types[%d] \"%s\" is not supported", p, i, types[i]);
    if ((st = kn_cfg_str_list(c, p, "up_block_types", types, VAE_MAXB, &nt, err))) return st;
    if (nt != n) return kn_fail(err, KN_EFORMAT, "%s: %d up_block_types for %d block_out_channels", p, nt, n);
    for (int i = 0; i < nt; i++)
        if (strcmp(types[i], "UpDecoderBlock2D"))
            return kn_fail(err, KN_EUNSUPPORTED, "%s: up_block_types[%d] \"%s\" is not supported", p, i, types[i]);
    if ((st = kn_cfg_str(c, p, "act_fn", "silu", &s, err))) return st;
    if (strcmp(s, "silu") && strcmp(s, "swish")) return kn_fail(err, KN_EUNSUPPORTED, "%s: act_fn \"%s\" is not supported", p, s);
    if ((st = kn_cfg_str(c, p, "norm_type", "group", &s, err))) return st;
    if (strcmp(s, "group")) return kn_fail(err, KN_EUNSUPPORTED, "%s: norm_type \"%s\" is not supported", p, s);
    double d;
    if ((st = kn_cfg_num(c, p, "scaling_factor", 0.18215, &d, err))) return st;
    v->scaling = (float)d;
    if ((st = kn_cfg_bool(c, p, "mid_block_add_attention", 1, &v->mid_attn, err))) return st;
    if ((st = kn_cfg_bool(c, p, "use_quant_conv", 1, &v->quant, err))) return st;
    if ((st = kn_cfg_bool(c, p, "use_post_quant_conv", 1, &v->post_quant, err))) return st;
    if (v->lpb < 1 || v->groups < 1 || v->latent < 1 || v->in_ch < 1 || v->out_ch < 1)
        return kn_fail(err, KN_EFORMAT, "%s: non-positive layers_per_block/norm_num_groups/channels", p);
    return KN_OK;
}

static kn_status load_mid(kn_vae *v, const char *pre, kn_resnet *res, kn_vae_attn *attn, kn_error *err) {
    char n[256];
    int C = v->boc[v->nb - 1];
    kn_status st;
    snprintf(n, sizeof n, "%s.mid_block.resnets.0", pre);
    if ((st = kn_resnet_load(&res[0], &v->w, n, C, C, 0, v->groups, 1e-6f, 1.0f, err))) return st;
    if (v->mid_attn) {
        snprintf(n, sizeof n, "%s.mid_block.attentions.0", pre);
        if ((st = kn_vae_attn_load(attn, &v->w, n, C, 1, v->groups, 1e-6f, err))) return st;
    }
    snprintf(n, sizeof n, "%s.mid_block.resnets.1", pre);
    return kn_resnet_load(&res[1], &v->w, n, C, C, 0, v->groups, 1e-6f, 1.0f, err);
}

static kn_status load_all(kn_vae *v, kn_error *err) {
    char n[256];
    kn_status st;
    int last = v->boc[v->nb - 1];
    if ((st = kn_conv_load(&v->e_in, &v->w, "encoder.conv_in", v->in_ch, v->boc[0], 3, err))) return st;
    v->e_res = calloc((size_t)v->nb * v->lpb, sizeof *v->e_res);
    v->d_res = calloc((size_t)v->nb * (v->lpb + 1), sizeof *v->d_res);
    if (!v->e_res || !v->d_res) return kn_fail(err, KN_ENOMEM, "out of memory");
    int cin = v->boc[0];
    for (int i = 0; i < v->nb; i++) {
        for (int j = 0; j < v->lpb; j++) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.resnets.%d", i, j);
            if ((st = kn_resnet_load(&v->e_res[i * v->lpb + j], &v->w, n, j ? v->boc[i] : cin, v->boc[i], 0, v->groups,
                                     1e-6f, 1.0f, err))) return st;
        }
        cin = v->boc[i];
        if (i < v->nb - 1) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.downsamplers.0", i);
            if ((st = kn_down_load(&v->e_down[i], &v->w, n, v->boc[i], 0, err))) return st;
        }
    }
    if ((st = load_mid(v, "encoder", v->e_mid, &v->e_attn, err))) return st;
    if ((st = kn_norm_load(&v->e_norm, &v->w, "encoder.conv_norm_out", last, err))) return st;
    if ((st = kn_conv_load(&v->e_out, &v->w, "encoder.conv_out", last, 2 * v->latent, 3, err))) return st;
    if (v->quant && (st = kn_conv_load(&v->quant_conv, &v->w, "quant_conv", 2 * v->latent, 2 * v->latent, 1, err))) return st;
    if (v->post_quant && (st = kn_conv_load(&v->post_conv, &v->w, "post_quant_conv", v->latent, v->latent, 1, err))) return st;
    if ((st = kn_conv_load(&v->d_in, &v->w, "decoder.conv_in", v->latent, last, 3, err))) return st;
    if ((st = load_mid(v, "decoder", v->d_mid, &v->d_attn, err))) return st;
    int prev = last;
    for (int i = 0; i < v->nb; i++) {
        int oc = v->boc[v->nb - 1 - i];
        for (int j = 0; j <= v->lpb; j++) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.resnets.%d", i, j);
            if ((st = kn_resnet_load(&v->d_res[i * (v->lpb + 1) + j], &v->w, n, j ? oc : prev, oc, 0, v->groups, 1e-6f,
                                     1.0f, err))) return st;
        }
        prev = oc;
        if (i < v->nb - 1) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.upsamplers.0", i);
            if ((st = kn_up_load(&v->d_up[i], &v->w, n, oc, err))) return st;
        }
    }
    if ((st = kn_norm_load(&v->d_norm, &v->w, "decoder.conv_norm_out", v->boc[0], err))) return st;
    return kn_conv_load(&v->d_out, &v->w, "decoder.conv_out", v->boc[0], v->out_ch, 3, err);
}

kn_status kn_vae_open(const char *dir, kn_vae **out, kn_error *err) {
    *out = NULL;
    kn_vae *v = calloc(1, sizeof *v);
    if (!v) return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = kn_weights_open(&v->w, dir, "config.json", NULL, err);
    if (st) { free(v); return st; }
    if ((st = read_config(v, err)) || (st = load_all(v, err))) { kn_vae_close(v); return st; }
    *out = v;
    return KN_OK;
}

kn_status kn_vae_open_weights(kn_weights *w, kn_vae **out, kn_error *err) {
    *out = NULL;
    kn_vae *v = calloc(1, sizeof *v);
    if (!v) { kn_weights_close(w); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    v->w = *w;
    memset(w, 0, sizeof *w);
    kn_status st;
    if ((st = read_config(v, err)) || (st = load_all(v, err))) { kn_vae_close(v); return st; }
    *out = v;
    return KN_OK;
}

void kn_vae_close(kn_vae *v) {
    if (!v) return;
    free(v->e_res);
    free(v->d_res);
    kn_weights_close(&v->w);
    free(v);
}

int kn_vae_latent_channels(const kn_vae *v) { return v->latent; }
int kn_vae_downscale(const kn_vae *v) { return 1 << (v->nb - 1); }
float kn_vae_scaling_factor(const kn_vae *v) { return v->scaling; }

void kn_vae_pixels_from_rgb8(const uint8_t *rgb, size_t n, float *planar) {
    for (size_t q = 0; q < n; q++)
        for (int c = 0; c < 3; c++) planar[c * n + q] = rgb[q * 3 + c] / 127.5f - 1.f;
}

void kn_vae_pixels_to_rgb8(const float *planar, size_t n, uint8_t *rgb) {
    for (size_t q = 0; q < n; q++)
        for (int c = 0; c < 3; c++) {
            float v = planar[c * n + q] * 0.5f + 0.5f;
            v = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;   /* NaN -> 0 */
            rgb[q * 3 + c] = (uint8_t)lrintf(v * 255.f);
        }
}

/* ---- forward ---- */
typedef struct vae_call {
    const kn_vae *v;
    const kn_ctx *ctx;
    const float *in;
    int B, H, W;
    float *out0, *out1;
} vae_call;

#define WSALLOC(p, n) do { if (!((p) = kn_ws_alloc(ws, (n)))) \
    return kn_fail(err, KN_EINTERNAL, "workspace too small"); } while (0)
#define SWAP(a, b) do { float *t_ = a; a = b; b = t_; } while (0)

static kn_status run_mid(const kn_vae *v, const kn_ctx *ctx, kn_ws *ws, const kn_resnet *res, const kn_vae_attn *attn,
                         float **cur, float **nxt, int B, int H, int W, kn_error *err) {
    kn_status st;
    if ((st = kn_resnet_fwd(ctx, ws, &res[0], *cur, B, H, W, NULL, 1, *nxt, err))) return st;
    SWAP(*cur, *nxt);
    if (v->mid_attn && (st = kn_vae_attn_fwd(ctx, ws, attn, *cur, B, H, W, err))) return st;
    if ((st = kn_resnet_fwd(ctx, ws, &res[1], *cur, B, H, W, NULL, 1, *nxt, err))) return st;
    SWAP(*cur, *nxt);
    return KN_OK;
}

static size_t enc_max_elems(const kn_vae *v, int B, int H, int W) {
    size_t m = (size_t)v->in_ch * H * W;
    int prev = v->boc[0];
    for (int i = 0; i < v->nb; i++) {
        int c = v->boc[i] > prev ? v->boc[i] : prev;
        if ((size_t)c * H * W > m) m = (size_t)c * H * W;
        prev = v->boc[i];
        if (i < v->nb - 1) { H = kn_down_out(H, 0); W = kn_down_out(W, 0); }
    }
    if ((size_t)2 * v->latent * H * W > m) m = (size_t)2 * v->latent * H * W;
    return m * B;
}

static kn_status encode_run(void *arg, const kn_ctx *ctx, kn_ws *ws, kn_error *err) {
    vae_call *c = arg;
    const kn_vae *v = c->v;
    int B = c->B, H = c->H, W = c->W;
    size_t cap = enc_max_elems(v, B, H, W);
    float *cur, *nxt;
    WSALLOC(cur, cap);
    WSALLOC(nxt, cap);
    kn_status st;
    if (!ws->measure) kn_conv_fwd(ctx, &v->e_in, c->in, B, H, W, cur);
    for (int i = 0; i < v->nb; i++) {
        for (int j = 0; j < v->lpb; j++) {
            if ((st = kn_resnet_fwd(ctx, ws, &v->e_res[i * v->lpb + j], cur, B, H, W, NULL, 1, nxt, err))) return st;
            SWAP(cur, nxt);
        }
        if (i < v->nb - 1) {
            if (!ws->measure) kn_down_fwd(ctx, &v->e_down[i], cur, B, H, W, nxt);
            SWAP(cur, nxt);
            H = kn_down_out(H, 0);
            W = kn_down_out(W, 0);
        }
    }
    if ((st = run_mid(v, ctx, ws, v->e_mid, &v->e_attn, &cur, &nxt, B, H, W, err))) return st;
    if (ws->measure) return KN_OK;
    int C = v->boc[v->nb - 1], L = v->latent;
    size_t S = (size_t)H * W;
    kn_group_norm_silu(ctx, cur, B, C, S, v->groups, 1e-6f, v->e_norm.g, v->e_norm.b, nxt);
    kn_conv_fwd(ctx, &v->e_out, nxt, B, H, W, cur);
    if (v->quant) { kn_conv_fwd(ctx, &v->quant_conv, cur, B, H, W, nxt); SWAP(cur, nxt); }
    for (int b = 0; b < B; b++) {
        memcpy(c->out0 + (size_t)b * L * S, cur + (size_t)b * 2 * L * S, sizeof(float) * L * S);
        const float *lv = cur + ((size_t)b * 2 * L + L) * S;
        float *o = c->out1 + (size_t)b * L * S;
        for (size_t i = 0; i < (size_t)L * S; i++) o[i] = lv[i] < -30.0f ? -30.0f : lv[i] > 20.0f ? 20.0f : lv[i];
    }
    return KN_OK;
}

kn_status kn_vae_encode(const kn_vae *v, const kn_ctx *ctx, const float *image, int B, int H, int W,
                        float *mean, float *logvar, kn_error *err) {
    if (B < 1 || H < 1 || W < 1) return kn_fail(err, KN_EINVAL, "vae encode: bad shape %dx%dx%d", B, H, W);
    kn_ctx local = {NULL, kn_cpu_detect(), NULL};   /* a NULL ctx means one thread, best ISA */
    if (!ctx) ctx = &local;
    vae_call c = {v, ctx, image, B, H, W, mean, logvar};
    return kn_ws_run(ctx, encode_run, &c, err);
}

static size_t dec_max_elems(const kn_vae *v, int B, int h, int w) {
    int last = v->boc[v->nb - 1];
    size_t m = (size_t)last * h * w;
    int prev = last;
    for (int i = 0; i < v->nb; i++) {
        int oc = v->boc[v->nb - 1 - i], c = oc > prev ? oc : prev;
        if ((size_t)c * h * w > m) m = (size_t)c * h * w;
        prev = oc;
        if (i < v->nb - 1) { h *= 2; w *= 2; if ((size_t)oc * h * w > m) m = (size_t)oc * h * w; }
    }
    if ((size_t)v->out_ch * h * w > m) m = (size_t)v->out_ch * h * w;
    return m * B;
}

static kn_status decode_run(void *arg, const kn_ctx *ctx, kn_ws *ws, kn_error *err) {
    vae_call *c = arg;
    const kn_vae *v = c->v;
    int B = c->B, H = c->H, W = c->W;
    size_t cap = dec_max_elems(v, B, H, W);
    float *cur, *nxt;
    WSALLOC(cur, cap);
    WSALLOC(nxt, cap);
    kn_status st;
    if (!ws->measure) {
        const float *z = c->in;
        if (v->post_quant) { kn_conv_fwd(ctx, &v->post_conv, z, B, H, W, nxt); z = nxt; }
        kn_conv_fwd(ctx, &v->d_in, z, B, H, W, cur);
    }
    if ((st = run_mid(v, ctx, ws, v->d_mid, &v->d_attn, &cur, &nxt, B, H, W, err))) return st;
    for (int i = 0; i < v->nb; i++) {
        for (int j = 0; j <= v->lpb; j++) {
            if ((st = kn_resnet_fwd(ctx, ws, &v->d_res[i * (v->lpb + 1) + j], cur, B, H, W, NULL, 1, nxt, err))) return st;
            SWAP(cur, nxt);
        }
        if (i < v->nb - 1) {
            if ((st = kn_up_fwd(ctx, ws, &v->d_up[i], cur, B, H, W, 2 * H, 2 * W, nxt, err))) return st;
            SWAP(cur, nxt);
            H *= 2;
            W *= 2;
        }
    }
    if (ws->measure) return KN_OK;
    kn_group_norm_silu(ctx, cur, B, v->boc[0], (size_t)H * W, v->groups, 1e-6f, v->d_norm.g, v->d_norm.b, nxt);
    kn_conv_fwd(ctx, &v->d_out, nxt, B, H, W, c->out0);
    return KN_OK;
}

kn_status kn_vae_decode(const kn_vae *v, const kn_ctx *ctx, const float *latent, int B, int h, int w,
                        float *image, kn_error *err) {
    if (B < 1 || h < 1 || w < 1) return kn_fail(err, KN_EINVAL, "vae decode: bad shape %dx%dx%d", B, h, w);
    kn_ctx local = {NULL, kn_cpu_detect(), NULL};   /* a NULL ctx means one thread, best ISA */
    if (!ctx) ctx = &local;
    vae_call c = {v, ctx, latent, B, h, w, image, NULL};
    return kn_ws_run(ctx, decode_run, &c, err);
}

static size_t measure(kn_ws_fn fn, vae_call *c) {
    kn_ws m;
    memset(&m, 0, sizeof m);
    m.measure = 1;
    kn_error err;
    return fn(c, NULL, &m, &err) ? 0 : m.peak;
}

size_t kn_vae_encode_workspace_bytes(const kn_vae *v, int B, int H, int W) {
    vae_call c = {v, NULL, NULL, B, H, W, NULL, NULL};
    return B < 1 || H < 1 || W < 1 ? 0 : measure(encode_run, &c);
}

size_t kn_vae_decode_workspace_bytes(const kn_vae *v, int B, int h, int w) {
    vae_call c = {v, NULL, NULL, B, h, w, NULL, NULL};
    return B < 1 || h < 1 || w < 1 ? 0 : measure(decode_run, &c);
}
