/* Model components as trainable parameter sets: loading (or listing and initialising) the tensors a
 * config needs, freezing, the gradient map, and opening the model on the live parameters. */
#include "train/train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *weights_file(kn_comp_kind k) {
    return k == KN_COMP_TEXT ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
}

static const char *comp_folder(kn_comp_kind k) {
    return k == KN_COMP_VAE ? "vae" : k == KN_COMP_TEXT ? "text_encoder" : "unet";
}

void kn_component_free(kn_component *c) {
    kn_paramset_free(&c->ps);
    free(c->entries);
    free(c->gentries);
    if (c->config) json_decref(c->config);
    memset(c, 0, sizeof *c);
}

/* Opens the model of kind k on weights w (taking ownership) and closes it again: used in schema mode
 * to make the loaders list every tensor the config needs. */
static kn_status open_and_close(kn_comp_kind k, kn_weights *w, kn_error *err) {
    kn_status st;
    if (k == KN_COMP_UNET) {
        kn_unet *u;
        if ((st = kn_unet_open_weights(w, NULL, &u, err))) return st;
        kn_unet_close(u);
    } else if (k == KN_COMP_VAE) {
        kn_vae *v;
        if ((st = kn_vae_open_weights(w, &v, err))) return st;
        kn_vae_close(v);
    } else {
        kn_clip_text *m;
        if ((st = kn_clip_text_open_weights(w, &m, err))) return st;
        kn_clip_text_close(m);
    }
    return KN_OK;
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const kn_st_entry *)a)->name, ((const kn_st_entry *)b)->name);
}

/* The tensors of a fresh component: what the model's loaders ask for in schema mode. */
static kn_status list_schema(kn_component *c, const char *dir, kn_error *err) {
    kn_schema list = {0};
    kn_weights w;
    kn_status st = kn_weights_open_schema(&w, dir, c->config, &list, err);
    if (st) return st;
    if ((st = open_and_close(c->kind, &w, err))) {
        kn_schema_free(&list);
        return kn_wrap(err, "%s: listing the tensors its config needs", dir);
    }
    /* in name order, as a loaded file lists them, so a checkpoint's layout does not depend on whether
     * the run started fresh or resumed */
    qsort(list.t, (size_t)list.n, sizeof *list.t, cmp_entry_name);
    for (int i = 0; i < list.n && !st; i++)
        st = kn_paramset_add(&c->ps, list.t[i].name, list.t[i].ndim, list.t[i].shape, NULL, err);
    kn_schema_free(&list);
    return st;
}

static kn_status load_tensors(kn_component *c, const char *path, kn_error *err) {
    kn_st_file f;
    kn_status st = kn_st_open(path, &f, err);
    if (st) return st;
    for (int i = 0; i < f.ntensors && !st; i++) {
        const kn_st_tensor *t = &f.tensors[i];
        if (t->dtype != KN_F32 && t->dtype != KN_F16 && t->dtype != KN_BF16) {
            st = kn_fail(err, KN_EFORMAT, "%s: tensor '%s' has dtype %s (not a float)", path, t->name, kn_dtype_name(t->dtype));
            break;
        }
        kn_param *p;
        if ((st = kn_paramset_add(&c->ps, t->name, t->ndim, t->shape, &p, err))) break;
        float *tmp;
        if ((st = kn_st_to_f32(t, &tmp, err))) break;
        memcpy(p->w, tmp, p->n * sizeof(float));
        kn_free(tmp);
    }
    kn_st_close(&f);
    return st;
}

kn_status kn_component_load(kn_component *c, kn_comp_kind kind, const char *dir, uint64_t seed, kn_error *err) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    snprintf(c->name, sizeof c->name, "%s", comp_folder(kind));
    snprintf(c->weights_name, sizeof c->weights_name, "%s", weights_file(kind));
    char p[4200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    kn_status st = kn_json_load(p, &c->config, err);
    if (st) return st;
    snprintf(p, sizeof p, "%s/%s", dir, c->weights_name);
    FILE *probe = fopen(p, "rb");
    if (probe) {
        fclose(probe);
        st = load_tensors(c, p, err);
    } else {
        c->fresh = 1;
        if (!(st = list_schema(c, dir, err))) kn_component_init_random(c, seed);
    }
    if (st) { kn_component_free(c); return st; }
    return KN_OK;
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

void kn_component_init_random(kn_component *c, uint64_t seed) {
    for (int i = 0; i < c->ps.n; i++) {
        kn_param *p = &c->ps.p[i];
        uint64_t stream = name_hash(p->name);
        int motion_out = strstr(p->name, "motion_modules") && strstr(p->name, ".proj_out.");
        if (motion_out || ends_with(p->name, ".bias")) {
            memset(p->w, 0, p->n * sizeof(float));
        } else if (strstr(p->name, "token_embedding") || strstr(p->name, "position_embedding")) {
            float sd = strstr(p->name, "token_embedding") ? 0.02f : 0.01f;
            kn_randn(p->w, p->n, seed, stream);
            for (size_t j = 0; j < p->n; j++) p->w[j] *= sd;
        } else if (p->ndim == 1) {
            for (size_t j = 0; j < p->n; j++) p->w[j] = 1.0f;   /* norm scales */
        } else {
            size_t fan_in = p->n / (size_t)p->shape[0];
            float bound = 1.0f / sqrtf((float)(fan_in ? fan_in : 1));
            kn_randu(p->w, p->n, seed, stream);
            for (size_t j = 0; j < p->n; j++) p->w[j] = (2.0f * p->w[j] - 1.0f) * bound;
        }
    }
}

static int ends_with(const char *s, const char *suf);

/* Does `name` of component `comp` match an item of the comma-separated list? */
static int frozen_by(const char *list, const char *comp, const char *name) {
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        char item[256];
        if (n > 0 && n < sizeof item) {
            memcpy(item, list, n);
            item[n] = 0;
            if (!strcmp(item, comp) || strstr(name, item)) return 1;
        }
        list = end ? end + 1 : NULL;
    }
    return 0;
}

kn_status kn_component_set_trainable(kn_component *c, int (*keep)(const char *name), const char *freeze,
                                     kn_error *err) {
    free(c->gentries);
    c->gentries = calloc((size_t)(c->ps.n ? c->ps.n : 1), sizeof *c->gentries);
    if (!c->gentries) return kn_fail(err, KN_ENOMEM, "out of memory");
    size_t n = 0;
    for (int i = 0; i < c->ps.n; i++) {
        kn_param *p = &c->ps.p[i];
        /* the motion modules' sinusoidal tables are buffers, not parameters (as in diffusers) */
        p->frozen = (keep && !keep(p->name)) || frozen_by(freeze, c->name, p->name) || ends_with(p->name, ".pos_embed.pe");
        if (!p->frozen) c->gentries[n++] = (kn_grad_entry){p->w, p->n, p->g};
    }
    return kn_gradmap_init(&c->gm, c->gentries, n, err);
}

static kn_status live_weights(kn_component *c, kn_weights *w, kn_error *err) {
    free(c->entries);
    c->entries = calloc((size_t)(c->ps.n ? c->ps.n : 1), sizeof *c->entries);
    if (!c->entries) return kn_fail(err, KN_ENOMEM, "out of memory");
    for (int i = 0; i < c->ps.n; i++) {
        const kn_param *p = &c->ps.p[i];
        kn_st_entry *e = &c->entries[i];
        e->name = p->name;
        e->dtype = KN_F32;
        e->ndim = p->ndim;
        for (int k = 0; k < p->ndim; k++) e->shape[k] = p->shape[k];
        e->data = p->w;
    }
    return kn_weights_open_mem(w, c->name, c->config, c->entries, c->ps.n, err);
}

kn_status kn_component_open_unet(kn_component *c, kn_unet **out, kn_error *err) {
    kn_weights w;
    kn_status st = live_weights(c, &w, err);
    return st ? st : kn_unet_open_weights(&w, NULL, out, err);
}

kn_status kn_component_open_vae(kn_component *c, kn_vae **out, kn_error *err) {
    kn_weights w;
    kn_status st = live_weights(c, &w, err);
    return st ? st : kn_vae_open_weights(&w, out, err);
}

kn_status kn_component_open_text(kn_component *c, kn_clip_text **out, kn_error *err) {
    kn_weights w;
    kn_status st = live_weights(c, &w, err);
    return st ? st : kn_clip_text_open_weights(&w, out, err);
}
