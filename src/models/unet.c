/* UNet2DConditionModel (SD 1.x/2.x family) and UNetMotionModel (AnimateDiff), diffusers 0.25 semantics.
 * Blocks: CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D and
 * their *Motion variants, which add a TransformerTemporalModel after each resnet (+ attention). A plain
 * UNet folder plus a MotionAdapter folder is assembled as UNetMotionModel.from_unet2d does; a merged
 * UNetMotionModel folder is read as its own config says. Quirks of 0.25 kept on purpose (they change
 * the numbers of published checkpoints):
 *  - attention_head_dim is the number of heads when num_attention_heads is null (UNet2DConditionModel);
 *    UNetMotionModel reads num_attention_heads only;
 *  - Transformer2DModel / TransformerTemporalModel GroupNorm eps 1e-6, resnets norm_eps, layer norms 1e-5;
 *  - motion modules normalise with the UNet's norm_num_groups, except inside UpBlockMotion, which uses
 *    32 groups whatever the configs say (MotionAdapter.motion_norm_num_groups is not used by the UNet);
 *  - UNetMotionModel always embeds timesteps with flip_sin_to_cos = true, freq_shift = 0. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include "models/backward.h"
#include "models/blocks.h"
#include "models/models.h"
#include "models/unet_impl.h"

/* ---- config ---- */
static int is_null_or_missing(const json_t *c, const char *key) {
    const json_t *v = json_object_get(c, key);
    return !v || json_is_null(v);
}

/* A field that must be null (or absent) for what is implemented. */
static kn_status reject_set(const json_t *c, const char *p, const char *key, kn_error *err) {
    if (is_null_or_missing(c, key)) return KN_OK;
    char *s = json_dumps(json_object_get(c, key), JSON_ENCODE_ANY | JSON_COMPACT);
    kn_status st = kn_fail(err, KN_EUNSUPPORTED, "%s: %s = %s is not supported (only null)", p, key, s ? s : "?");
    free(s);
    return st;
}

static kn_status reject_true(const json_t *c, const char *p, const char *key, kn_error *err) {
    const json_t *v = json_object_get(c, key);
    if (!v || json_is_null(v) || json_is_false(v)) return KN_OK;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) if (!json_is_false(e) && !json_is_null(e))
            return kn_fail(err, KN_EUNSUPPORTED, "%s: %s[%zu] = true is not supported", p, key, i);
        return KN_OK;
    }
    return kn_fail(err, KN_EUNSUPPORTED, "%s: %s = true is not supported", p, key);
}

static kn_status want_str(const json_t *c, const char *p, const char *key, const char *def, const char *a,
                          const char *b, kn_error *err) {
    const char *s;
    kn_status st = kn_cfg_str(c, p, key, def, &s, err);
    if (st) return st;
    if (strcmp(s, a) && (!b || strcmp(s, b)))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: %s = \"%s\" is not supported (only \"%s\")", p, key, s, a);
    return KN_OK;
}

/* int or per-block list -> vals[nb] */
static kn_status per_block(const json_t *c, const char *p, const char *key, long long def, int nb, int *vals,
                           int *present, kn_error *err) {
    long long v[UN_MAXB];
    int n;
    if (json_is_array(json_object_get(c, key))) {
        const json_t *e0 = json_array_get(json_object_get(c, key), 0);
        if (e0 && json_is_array(e0)) return kn_fail(err, KN_EUNSUPPORTED, "%s: nested lists in %s are not supported", p, key);
    }
    kn_status st = kn_cfg_int_list(c, p, key, v, UN_MAXB, &n, err);
    if (st) return st;
    if (present) *present = n != 0;
    if (n == 0) { for (int i = 0; i < nb; i++) vals[i] = (int)def; return KN_OK; }
    if (n == -1) { for (int i = 0; i < nb; i++) vals[i] = (int)v[0]; return KN_OK; }
    if (n != nb) return kn_fail(err, KN_EFORMAT, "%s: %s has %d entries for %d blocks", p, key, n, nb);
    for (int i = 0; i < nb; i++) vals[i] = (int)v[i];
    return KN_OK;
}

static kn_status read_config(kn_unet *u, kn_error *err) {
    const json_t *c = u->w.config;
    const char *p = u->w.config_path, *s;
    long long x, v[UN_MAXB];
    double d;
    int n;
    kn_status st;
    if ((st = kn_cfg_str(c, p, "_class_name", "UNet2DConditionModel", &s, err))) return st;
    if (!strcmp(s, "UNetMotionModel")) u->merged = 1;
    else if (strcmp(s, "UNet2DConditionModel"))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: _class_name = \"%s\" is not supported", p, s);
#define INT(key, def, dst) do { if ((st = kn_cfg_int(c, p, key, def, &x, err))) return st; dst = (int)x; } while (0)
    INT("in_channels", 4, u->in_ch);
    INT("out_channels", 4, u->out_ch);
    INT("cross_attention_dim", 1280, u->cross);
    INT("norm_num_groups", 32, u->groups);
    INT("downsample_padding", 1, u->down_pad);
    if (u->merged) { u->conv_in_k = u->conv_out_k = 3; u->flip = 1; u->shift = 0; }
    else {
        INT("conv_in_kernel", 3, u->conv_in_k);
        INT("conv_out_kernel", 3, u->conv_out_k);
        if ((st = kn_cfg_bool(c, p, "flip_sin_to_cos", 1, &u->flip, err))) return st;
        if ((st = kn_cfg_num(c, p, "freq_shift", 0, &d, err))) return st;
        u->shift = (float)d;
        if ((st = kn_cfg_bool(c, p, "center_input_sample", 0, &u->center, err))) return st;
    }
#undef INT
    if (is_null_or_missing(c, "norm_num_groups"))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: norm_num_groups = null is not supported", p);
    if ((st = kn_cfg_num(c, p, "norm_eps", 1e-5, &d, err))) return st;
    u->eps = (float)d;
    if ((st = kn_cfg_num(c, p, "mid_block_scale_factor", 1, &d, err))) return st;
    u->mid_scale = (float)d;
    if ((st = kn_cfg_bool(c, p, "use_linear_projection", 0, &u->linear_proj, err))) return st;
    if ((st = kn_cfg_int_list(c, p, "block_out_channels", v, UN_MAXB, &n, err))) return st;
    if (n < 1) return kn_fail(err, KN_EFORMAT, "%s: block_out_channels missing or not a list", p);
    u->nb = n;
    for (int i = 0; i < n; i++) u->boc[i] = (int)v[i];
    /* block types */
    const char *dt[UN_MAXB], *ut[UN_MAXB];
    int nd, nu;
    if ((st = kn_cfg_str_list(c, p, "down_block_types", dt, UN_MAXB, &nd, err))) return st;
    if ((st = kn_cfg_str_list(c, p, "up_block_types", ut, UN_MAXB, &nu, err))) return st;
    if (nd != n || nu != n)
        return kn_fail(err, KN_EFORMAT, "%s: %d down_block_types and %d up_block_types for %d block_out_channels", p, nd, nu, n);
    const char *ca_d = u->merged ? "CrossAttnDownBlockMotion" : "CrossAttnDownBlock2D";
    const char *pl_d = u->merged ? "DownBlockMotion" : "DownBlock2D";
    const char *ca_u = u->merged ? "CrossAttnUpBlockMotion" : "CrossAttnUpBlock2D";
    const char *pl_u = u->merged ? "UpBlockMotion" : "UpBlock2D";
    for (int i = 0; i < n; i++) {
        if (!strcmp(dt[i], ca_d)) u->down_attn[i] = 1;
        else if (strcmp(dt[i], pl_d)) return kn_fail(err, KN_EUNSUPPORTED, "%s: down_block_types[%d] = \"%s\" is not supported", p, i, dt[i]);
        if (!strcmp(ut[i], ca_u)) u->up_attn[i] = 1;
        else if (strcmp(ut[i], pl_u)) return kn_fail(err, KN_EUNSUPPORTED, "%s: up_block_types[%d] = \"%s\" is not supported", p, i, ut[i]);
    }
    if ((st = per_block(c, p, "layers_per_block", 2, n, u->lpb, NULL, err))) return st;
    if (u->merged) {
        /* UNetMotionModel takes no transformer_layers_per_block: one layer everywhere */
        for (int i = 0; i < n; i++) u->tl[i] = u->rtl[i] = 1;
        int present;
        if ((st = per_block(c, p, "num_attention_heads", 8, n, u->heads, &present, err))) return st;
        for (int i = 1; i < n; i++)
            if (u->lpb[i] != u->lpb[0]) return kn_fail(err, KN_EUNSUPPORTED, "%s: per-block layers_per_block in UNetMotionModel", p);
    } else {
        if ((st = per_block(c, p, "transformer_layers_per_block", 1, n, u->tl, NULL, err))) return st;
        int present;
        int rl[UN_MAXB];
        if ((st = per_block(c, p, "reverse_transformer_layers_per_block", 1, n, rl, &present, err))) return st;
        for (int i = 0; i < n; i++) u->rtl[i] = present ? rl[i] : u->tl[n - 1 - i];
        /* diffusers: num_attention_heads = num_attention_heads or attention_head_dim */
        if ((st = per_block(c, p, "num_attention_heads", 0, n, u->heads, &present, err))) return st;
        if (!present && (st = per_block(c, p, "attention_head_dim", 8, n, u->heads, NULL, err))) return st;
    }
    const char *mid;
    if ((st = kn_cfg_str(c, p, "mid_block_type", u->merged ? "UNetMidBlock2DCrossAttn" : NULL, &mid, err))) return st;
    if (!mid && !u->merged && !json_object_get(c, "mid_block_type")) mid = "UNetMidBlock2DCrossAttn";
    u->has_mid = mid != NULL;
    if (mid && strcmp(mid, "UNetMidBlock2DCrossAttn"))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: mid_block_type = \"%s\" is not supported", p, mid);
    if (u->merged && !u->has_mid) return kn_fail(err, KN_EUNSUPPORTED, "%s: mid_block_type = null in UNetMotionModel", p);
    /* what is not implemented is refused by name */
    static const char *must_null[] = {"class_embed_type", "addition_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
                                      "num_class_embeds", "time_cond_proj_dim", "timestep_post_act", "time_embedding_act_fn",
                                      "cross_attention_norm"};
    for (size_t i = 0; i < sizeof must_null / sizeof *must_null; i++)
        if ((st = reject_set(c, p, must_null[i], err))) return st;
    static const char *must_false[] = {"dual_cross_attention", "only_cross_attention", "resnet_skip_time_act",
                                       "class_embeddings_concat", "mid_block_only_cross_attention"};
    for (size_t i = 0; i < sizeof must_false / sizeof *must_false; i++)
        if ((st = reject_true(c, p, must_false[i], err))) return st;
    if ((st = want_str(c, p, "resnet_time_scale_shift", "default", "default", NULL, err))) return st;
    if ((st = want_str(c, p, "attention_type", "default", "default", NULL, err))) return st;
    if ((st = want_str(c, p, "time_embedding_type", "positional", "positional", NULL, err))) return st;
    if ((st = want_str(c, p, "act_fn", "silu", "silu", "swish", err))) return st;
    if (u->merged) {
        if ((st = kn_cfg_int(c, p, "motion_max_seq_length", 32, &x, err))) return st;
        u->mmax = (int)x;
        if ((st = kn_cfg_int(c, p, "motion_num_attention_heads", 8, &x, err))) return st;
        u->mheads = (int)x;
        if ((st = kn_cfg_bool(c, p, "use_motion_mid_block", 1, &u->mid_motion, err))) return st;
        u->motion = 1;
    }
    u->temb = 4 * u->boc[0];
    if (!u->merged && !is_null_or_missing(c, "time_embedding_dim")) {
        if ((st = kn_cfg_int(c, p, "time_embedding_dim", 0, &x, err))) return st;
        u->temb = (int)x;
    }
    if (u->conv_in_k < 1 || u->conv_in_k % 2 == 0 || u->conv_out_k < 1 || u->conv_out_k % 2 == 0)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: even conv_in_kernel/conv_out_kernel", p);
    for (int i = 0; i < n; i++)
        if (u->lpb[i] < 1 || u->tl[i] < 1 || u->rtl[i] < 1 || u->heads[i] < 1 || u->boc[i] < 1)
            return kn_fail(err, KN_EFORMAT, "%s: non-positive layers/heads/channels in block %d", p, i);
    return KN_OK;
}

static kn_status read_adapter(kn_unet *u, kn_error *err) {
    const json_t *c = u->mw.config;
    const char *p = u->mw.config_path, *s;
    long long x, v[UN_MAXB];
    int n;
    kn_status st;
    if ((st = kn_cfg_str(c, p, "_class_name", "MotionAdapter", &s, err))) return st;
    if (strcmp(s, "MotionAdapter")) return kn_fail(err, KN_EUNSUPPORTED, "%s: _class_name = \"%s\" is not MotionAdapter", p, s);
    if ((st = kn_cfg_int_list(c, p, "block_out_channels", v, UN_MAXB, &n, err))) return st;
    if (n != u->nb) return kn_fail(err, KN_EFORMAT, "%s: block_out_channels has %d entries, the UNet %d", p, n, u->nb);
    for (int i = 0; i < n; i++)
        if ((int)v[i] != u->boc[i]) return kn_fail(err, KN_EFORMAT, "%s: block_out_channels[%d] = %lld, the UNet has %d", p, i, v[i], u->boc[i]);
    if ((st = kn_cfg_int(c, p, "motion_max_seq_length", 32, &x, err))) return st;
    u->mmax = (int)x;
    if ((st = kn_cfg_int(c, p, "motion_num_attention_heads", 8, &x, err))) return st;
    u->mheads = (int)x;
    if ((st = kn_cfg_bool(c, p, "use_motion_mid_block", 1, &u->mid_motion, err))) return st;
    if ((st = kn_cfg_int(c, p, "motion_layers_per_block", 2, &x, err))) return st;
    for (int i = 0; i < u->nb; i++)
        if (u->lpb[i] != (int)x)
            return kn_fail(err, KN_EFORMAT, "%s: motion_layers_per_block = %lld does not match the UNet's layers_per_block %d", p, x, u->lpb[i]);
    if ((st = kn_cfg_int(c, p, "motion_mid_block_layers_per_block", 1, &x, err))) return st;
    if (u->mid_motion && x != 1)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: motion_mid_block_layers_per_block = %lld (the UNet mid block holds 1)", p, x);
    for (int i = 0; i < u->nb; i++)
        if (u->tl[i] != 1 || u->rtl[i] != 1)
            return kn_fail(err, KN_EUNSUPPORTED, "%s: transformer_layers_per_block != 1 with motion modules", u->w.config_path);
    u->motion = 1;
    return KN_OK;
}

/* ---- loading ---- */
static kn_weights *mweights(kn_unet *u) { return u->has_mw ? &u->mw : &u->w; }

static kn_status load_block(kn_unet *u, ublock *b, int up, int idx, int cin, int cout, int prev, kn_error *err) {
    char n[256];
    kn_status st;
    const char *kind = up ? "up_blocks" : "down_blocks";
    b->res = calloc((size_t)b->nres, sizeof *b->res);
    if (b->has_attn) b->attn = calloc((size_t)b->nres, sizeof *b->attn);
    if (u->motion) b->mm = calloc((size_t)b->nres, sizeof *b->mm);
    if (!b->res || (b->has_attn && !b->attn) || (u->motion && !b->mm)) return kn_fail(err, KN_ENOMEM, "out of memory");
    int heads = up ? u->heads[u->nb - 1 - idx] : u->heads[idx], tl = up ? u->rtl[idx] : u->tl[idx];
    for (int j = 0; j < b->nres; j++) {
        int rin;
        if (up) {
            if (u->nskip < 1) return kn_fail(err, KN_EFORMAT, "%s: up blocks consume more skips than the down blocks make", u->w.dir);
            rin = (j == 0 ? prev : cout) + u->skip_c[--u->nskip];
        } else {
            rin = j == 0 ? cin : cout;
        }
        snprintf(n, sizeof n, "%s.%d.resnets.%d", kind, idx, j);
        if ((st = kn_resnet_load(&b->res[j], &u->w, n, rin, cout, u->temb, u->groups, u->eps, 1.0f, err))) return st;
        if (b->has_attn) {
            snprintf(n, sizeof n, "%s.%d.attentions.%d", kind, idx, j);
            if ((st = kn_t2d_load(&b->attn[j], &u->w, n, cout, heads, tl, u->cross, u->groups, u->linear_proj, err))) return st;
        }
        if (u->motion) {
            snprintf(n, sizeof n, "%s.%d.motion_modules.%d", kind, idx, j);
            int g = (up && !b->has_attn) ? 32 : u->groups;   /* UpBlockMotion's temporal_norm_num_groups default */
            if ((st = kn_ttm_load(&b->mm[j], mweights(u), n, cout, u->mheads, g, u->mmax, err))) return st;
        }
        if (!up) {
            if (u->nskip == UN_MAXSKIP) return kn_fail(err, KN_EUNSUPPORTED, "too many skip connections");
            u->skip_c[u->nskip++] = cout;
        }
    }
    if (b->has_sample) {
        if (up) {
            snprintf(n, sizeof n, "%s.%d.upsamplers.0", kind, idx);
            if ((st = kn_up_load(&b->up, &u->w, n, cout, err))) return st;
        } else {
            snprintf(n, sizeof n, "%s.%d.downsamplers.0", kind, idx);
            if ((st = kn_down_load(&b->down, &u->w, n, cout, u->down_pad, err))) return st;
            u->skip_c[u->nskip++] = cout;
        }
    }
    return KN_OK;
}

static kn_status load_all(kn_unet *u, kn_error *err) {
    kn_status st;
    int nb = u->nb, c0 = u->boc[0], last = u->boc[nb - 1];
    if ((st = kn_conv_load(&u->conv_in, &u->w, "conv_in", u->in_ch, c0, u->conv_in_k, err))) return st;
    if ((st = kn_lin_load(&u->t1, &u->w, "time_embedding.linear_1", c0, u->temb, 1, 0, err))) return st;
    if ((st = kn_lin_load(&u->t2, &u->w, "time_embedding.linear_2", u->temb, u->temb, 1, 0, err))) return st;
    u->nskip = 0;
    u->skip_c[u->nskip++] = c0;
    int cin = c0;
    for (int i = 0; i < nb; i++) {
        ublock *b = &u->down[i];
        b->nres = u->lpb[i];
        b->has_attn = u->down_attn[i];
        b->has_sample = i < nb - 1;
        b->cin = cin;
        b->cout = u->boc[i];
        if ((st = load_block(u, b, 0, i, cin, u->boc[i], 0, err))) return st;
        cin = u->boc[i];
    }
    if (u->has_mid) {
        int h = u->heads[nb - 1];
        if ((st = kn_resnet_load(&u->mid_res[0], &u->w, "mid_block.resnets.0", last, last, u->temb, u->groups, u->eps,
                                 u->mid_scale, err))) return st;
        if ((st = kn_t2d_load(&u->mid_attn, &u->w, "mid_block.attentions.0", last, h, u->tl[nb - 1], u->cross, u->groups,
                              u->linear_proj, err))) return st;
        if ((st = kn_resnet_load(&u->mid_res[1], &u->w, "mid_block.resnets.1", last, last, u->temb, u->groups, u->eps,
                                 u->mid_scale, err))) return st;
        if (u->motion && u->mid_motion &&
            (st = kn_ttm_load(&u->mid_mm, mweights(u), "mid_block.motion_modules.0", last, u->mheads, u->groups, u->mmax, err)))
            return st;
    }
    int prev = last;
    for (int i = 0; i < nb; i++) {
        ublock *b = &u->up[i];
        int oc = u->boc[nb - 1 - i];
        b->nres = u->lpb[nb - 1 - i] + 1;
        b->has_attn = u->up_attn[i];
        b->has_sample = i < nb - 1;
        b->cout = oc;
        b->cin = prev;
        if ((st = load_block(u, b, 1, i, 0, oc, prev, err))) return st;
        prev = oc;
    }
    if (u->nskip) return kn_fail(err, KN_EFORMAT, "%s: %d skip connections left unused by the up blocks", u->w.dir, u->nskip);
    if ((st = kn_norm_load(&u->norm_out, &u->w, "conv_norm_out", c0, err))) return st;
    return kn_conv_load(&u->conv_out, &u->w, "conv_out", c0, u->out_ch, u->conv_out_k, err);
}

static void free_block(kn_unet *u, ublock *b) {
    if (b->attn) for (int j = 0; j < b->nres; j++) kn_t2d_free(&b->attn[j]);
    if (b->mm) for (int j = 0; j < b->nres; j++) kn_ttm_free(&b->mm[j]);
    (void)u;
    free(b->res); free(b->attn); free(b->mm);
}

void kn_unet_close(kn_unet *u) {
    if (!u) return;
    for (int i = 0; i < u->nb; i++) { free_block(u, &u->down[i]); free_block(u, &u->up[i]); }
    kn_t2d_free(&u->mid_attn);
    kn_ttm_free(&u->mid_mm);
    kn_weights_close(&u->w);
    if (u->has_mw) kn_weights_close(&u->mw);
    free(u);
}

/* Assembles the model on opened weights (u->w, and u->mw when has_mw). */
static kn_status unet_assemble(kn_unet *u, const char *unet_label, kn_error *err) {
    kn_status st;
    if ((st = read_config(u, err))) return st;
    if (u->has_mw) {
        if (u->merged) return kn_fail(err, KN_EINVAL, "%s is already a UNetMotionModel; no motion adapter expected", unet_label);
        if ((st = read_adapter(u, err))) return st;
        /* as UNetMotionModel.from_unet2d: the motion model's own time embedding constants */
        u->flip = 1; u->shift = 0;
    }
    return load_all(u, err);
}

kn_status kn_unet_open(const char *unet_dir, const char *motion_dir, kn_unet **out, kn_error *err) {
    *out = NULL;
    kn_unet *u = calloc(1, sizeof *u);
    if (!u) return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = kn_weights_open(&u->w, unet_dir, "config.json", NULL, err);
    if (st) { free(u); return st; }
    if (motion_dir) {
        if ((st = kn_weights_open(&u->mw, motion_dir, "config.json", NULL, err))) goto fail;
        u->has_mw = 1;
    }
    if ((st = unet_assemble(u, unet_dir, err))) goto fail;
    *out = u;
    return KN_OK;
fail:
    kn_unet_close(u);
    return st;
}

kn_status kn_unet_open_weights(kn_weights *w, kn_weights *mw, kn_unet **out, kn_error *err) {
    *out = NULL;
    kn_unet *u = calloc(1, sizeof *u);
    if (!u) { kn_weights_close(w); if (mw) kn_weights_close(mw); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    u->w = *w;
    memset(w, 0, sizeof *w);
    if (mw) { u->mw = *mw; memset(mw, 0, sizeof *mw); u->has_mw = 1; }
    kn_status st = unet_assemble(u, u->w.dir, err);
    if (st) { kn_unet_close(u); return st; }
    *out = u;
    return KN_OK;
}

int kn_unet_in_channels(const kn_unet *u) { return u->in_ch; }
int kn_unet_out_channels(const kn_unet *u) { return u->out_ch; }
int kn_unet_cross_dim(const kn_unet *u) { return u->cross; }
int kn_unet_has_motion(const kn_unet *u) { return u->motion; }
int kn_unet_max_frames(const kn_unet *u) { return u->motion ? u->mmax : 0; }

/* ---- forward ---- */
typedef struct unet_call {
    const kn_unet *u;
    const kn_ctx *ctx;
    const float *sample, *timestep, *context;
    int B, F, H, W, L;
    float *out;
} unet_call;

#define WSALLOC(p, n) do { if (!((p) = kn_ws_alloc(ws, (n)))) \
    return kn_fail(err, KN_EINTERNAL, "workspace too small"); } while (0)
#define SWAP(a, b) do { float *t_ = a; a = b; b = t_; } while (0)

/* Largest activation per image (the up blocks' concatenations included), walking the shapes the
 * forward pass will see. */
static size_t max_elems(const kn_unet *u, int H, int W) {
    int sc[UN_MAXSKIP], sh[UN_MAXSKIP], sw[UN_MAXSKIP], n = 0, C = u->boc[0];
    size_t m = (size_t)(u->in_ch > u->out_ch ? u->in_ch : u->out_ch) * H * W;
#define SEE(c_) do { size_t e_ = (size_t)(c_) * H * W; if (e_ > m) m = e_; } while (0)
#define KEEP() do { if (n < UN_MAXSKIP) { sc[n] = C; sh[n] = H; sw[n] = W; n++; } } while (0)
    SEE(C);
    KEEP();
    for (int i = 0; i < u->nb; i++) {
        const ublock *b = &u->down[i];
        for (int j = 0; j < b->nres; j++) { C = b->cout; SEE(C); KEEP(); }
        if (b->has_sample) { H = kn_down_out(H, u->down_pad); W = kn_down_out(W, u->down_pad); SEE(C); KEEP(); }
    }
    for (int i = 0; i < u->nb; i++) {
        const ublock *b = &u->up[i];
        for (int j = 0; j < b->nres && n > 0; j++) { n--; SEE(C + sc[n]); C = b->cout; }
        if (b->has_sample && n > 0) { H = sh[n - 1]; W = sw[n - 1]; SEE(C); }
    }
#undef SEE
#undef KEEP
    return m;
}

static kn_status run_layer(const unet_call *c, kn_ws *ws, const ublock *b, int j, float **cur, float **nxt, int N,
                           int H, int W, const float *temb, kn_error *err) {
    const kn_unet *u = c->u;
    kn_status st;
    if ((st = kn_resnet_fwd(c->ctx, ws, &b->res[j], *cur, N, H, W, temb, c->F, *nxt, err))) return st;
    SWAP(*cur, *nxt);
    if (b->has_attn && (st = kn_t2d_fwd(c->ctx, ws, &b->attn[j], *cur, N, H, W, c->context, c->L, c->F, err))) return st;
    if (u->motion && (st = kn_ttm_fwd(c->ctx, ws, &b->mm[j], *cur, c->B, c->F, H, W, err))) return st;
    return KN_OK;
}

static kn_status unet_run(void *arg, const kn_ctx *ctx, kn_ws *ws, kn_error *err) {
    unet_call *c = arg;
    const kn_unet *u = c->u;
    c->ctx = ctx;
    int B = c->B, F = c->F, N = B * F, H = c->H, W = c->W, nb = u->nb;
    size_t cap = (size_t)N * max_elems(u, H, W);
    float *cur, *nxt, *temb, *tproj;
    WSALLOC(cur, cap);
    WSALLOC(nxt, cap);
    WSALLOC(temb, (size_t)B * u->temb);
    WSALLOC(tproj, (size_t)B * (u->temb > u->boc[0] ? u->temb : u->boc[0]));
    float *skip[UN_MAXSKIP];
    int skH[UN_MAXSKIP], skW[UN_MAXSKIP], skC[UN_MAXSKIP], ns = 0;
    kn_status st;
    if (!ws->measure) {
        /* time embedding, then SiLU once: every resnet takes silu(emb) */
        kn_timestep_embedding(c->timestep, B, u->boc[0], u->flip, u->shift, 10000.0f, tproj);
        kn_lin_fwd(ctx, &u->t1, tproj, (size_t)B, temb);
        kn_activation(ctx, KN_ACT_SILU, temb, (size_t)B * u->temb, temb);
        kn_lin_fwd(ctx, &u->t2, temb, (size_t)B, tproj);
        kn_activation(ctx, KN_ACT_SILU, tproj, (size_t)B * u->temb, temb);
        const float *x = c->sample;
        if (F > 1) {
            int d[4] = {B, u->in_ch, F, H * W}, pm[4] = {0, 2, 1, 3};   /* [B,C,F,S] -> [B,F,C,S] */
            kn_permute4(ctx, x, d, pm, nxt);
            x = nxt;
        }
        if (u->center) {
            size_t n = (size_t)N * u->in_ch * H * W;
            for (size_t i = 0; i < n; i++) nxt[i] = 2.0f * x[i] - 1.0f;
            x = nxt;
        }
        kn_conv_fwd(ctx, &u->conv_in, x, N, H, W, cur);
    }
    /* skip connections live until the up blocks consume them */
#define PUSH(C_) do { \
        size_t n_ = (size_t)N * (C_) * H * W; \
        WSALLOC(skip[ns], n_); \
        if (!ws->measure) memcpy(skip[ns], cur, n_ * sizeof(float)); \
        skH[ns] = H; skW[ns] = W; skC[ns] = (C_); ns++; \
    } while (0)
    PUSH(u->boc[0]);
    for (int i = 0; i < nb; i++) {
        const ublock *b = &u->down[i];
        for (int j = 0; j < b->nres; j++) {
            if ((st = run_layer(c, ws, b, j, &cur, &nxt, N, H, W, temb, err))) return st;
            PUSH(b->cout);
        }
        if (b->has_sample) {
            int Ho = kn_down_out(H, u->down_pad), Wo = kn_down_out(W, u->down_pad);
            if (!ws->measure) kn_down_fwd(ctx, &b->down, cur, N, H, W, nxt);
            SWAP(cur, nxt);
            H = Ho; W = Wo;
            PUSH(b->cout);
        }
    }
    int C = u->boc[nb - 1];
    if (u->has_mid) {
        if ((st = kn_resnet_fwd(ctx, ws, &u->mid_res[0], cur, N, H, W, temb, F, nxt, err))) return st;
        SWAP(cur, nxt);
        if ((st = kn_t2d_fwd(ctx, ws, &u->mid_attn, cur, N, H, W, c->context, c->L, F, err))) return st;
        if (u->motion && u->mid_motion && (st = kn_ttm_fwd(ctx, ws, &u->mid_mm, cur, B, F, H, W, err))) return st;
        if ((st = kn_resnet_fwd(ctx, ws, &u->mid_res[1], cur, N, H, W, temb, F, nxt, err))) return st;
        SWAP(cur, nxt);
    }
    for (int i = 0; i < nb; i++) {
        const ublock *b = &u->up[i];
        for (int j = 0; j < b->nres; j++) {
            ns--;
            if (!ws->measure) {
                if (skH[ns] != H || skW[ns] != W) return kn_fail(err, KN_EINTERNAL, "skip size mismatch");
                kn_concat_channels(cur, C, skip[ns], skC[ns], N, (size_t)H * W, nxt);
            }
            SWAP(cur, nxt);
            if ((st = run_layer(c, ws, b, j, &cur, &nxt, N, H, W, temb, err))) return st;
            C = b->cout;
        }
        if (b->has_sample) {
            int Ho = skH[ns - 1], Wo = skW[ns - 1];   /* the next skip's size (upsample_size) */
            if ((st = kn_up_fwd(ctx, ws, &b->up, cur, N, H, W, Ho, Wo, nxt, err))) return st;
            SWAP(cur, nxt);
            H = Ho; W = Wo;
        }
    }
#undef PUSH
    if (ws->measure) return KN_OK;
    kn_group_norm_silu(ctx, cur, N, u->boc[0], (size_t)H * W, u->groups, u->eps, u->norm_out.g, u->norm_out.b, nxt);
    if (F > 1) {
        kn_conv_fwd(ctx, &u->conv_out, nxt, N, H, W, cur);
        int d[4] = {B, F, u->out_ch, H * W}, pm[4] = {0, 2, 1, 3};      /* [B,F,C,S] -> [B,C,F,S] */
        kn_permute4(ctx, cur, d, pm, c->out);
    } else {
        kn_conv_fwd(ctx, &u->conv_out, nxt, N, H, W, c->out);
    }
    return KN_OK;
}

kn_status kn_unet_forward(const kn_unet *u, const kn_ctx *ctx, const float *sample, int B, int F, int H,
                          int W, const float *timestep, const float *context, int L, float *out,
                          kn_error *err) {
    if (B < 1 || F < 1 || H < 1 || W < 1 || L < 1)
        return kn_fail(err, KN_EINVAL, "unet: bad shape B=%d F=%d H=%d W=%d L=%d", B, F, H, W, L);
    if (F > 1 && !u->motion) return kn_fail(err, KN_EINVAL, "unet: %d frames given to a UNet without motion modules", F);
    if (u->motion && F > u->mmax)
        return kn_fail(err, KN_EINVAL, "unet: %d frames exceed motion_max_seq_length %d", F, u->mmax);
    kn_ctx local = {NULL, kn_cpu_detect(), NULL};   /* a NULL ctx means one thread, best ISA */
    if (!ctx) ctx = &local;
    unet_call c = {u, ctx, sample, timestep, context, B, F, H, W, L, out};
    return kn_ws_run(ctx, unet_run, &c, err);
}

size_t kn_unet_workspace_bytes(const kn_unet *u, int B, int F, int H, int W, int L) {
    if (B < 1 || F < 1 || H < 1 || W < 1 || L < 1 || (F > 1 && !u->motion) || (u->motion && F > u->mmax)) return 0;
    unet_call c = {u, NULL, NULL, NULL, NULL, B, F, H, W, L, NULL};
    kn_ws m;
    memset(&m, 0, sizeof m);
    m.measure = 1;
    kn_error err;
    return unet_run(&c, NULL, &m, &err) ? 0 : m.peak;
}
