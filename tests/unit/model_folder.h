/* Test helpers for model folders in the layout diffusers writes (config.json and
 * diffusion_pytorch_model.safetensors): copy one with edits (a tensor left out, reshaped, renamed or
 * converted to f16; a config field set), remove the copy, and compare outputs against a reference
 * case's tensors. Shared by the UNet and VAE tests. */
#ifndef KN_TEST_MODEL_FOLDER_H
#define KN_TEST_MODEL_FOLDER_H
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/io.h"
#include "test.h"

typedef struct model_edit {
    const char *drop;          /* tensor left out */
    const char *reshape;       /* tensor written with its first dimension + 1 */
    int to_f16;                /* f32 tensors written as f16 */
    const char *ren_from[4], *ren_to[4];   /* first occurrence in a tensor name replaced */
    const char *key;           /* config field set to value (JSON text) */
    const char *value;
} model_edit;

static int copy_model(const char *src, const char *dst, const model_edit *e) {
    char p[1200], q[1200];
    kn_error err = {0};
    if (mkdir(dst, 0700) && errno != EEXIST) return -1;
    snprintf(p, sizeof p, "%s/config.json", src);
    json_error_t je;
    json_t *cfg = json_load_file(p, 0, &je);
    if (!cfg) return -1;
    if (e->key) {
        json_t *v = json_loads(e->value, JSON_DECODE_ANY, &je);
        if (!v) { json_decref(cfg); return -1; }
        json_object_set_new(cfg, e->key, v);
    }
    snprintf(q, sizeof q, "%s/config.json", dst);
    int rc = json_dump_file(cfg, q, JSON_INDENT(1));
    json_decref(cfg);
    if (rc) return -1;
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", src);
    kn_st_file f;
    if (kn_st_open(p, &f, &err)) return -1;
    kn_st_entry *ent = calloc((size_t)f.ntensors, sizeof *ent);
    void **bufs = calloc((size_t)f.ntensors, sizeof *bufs);
    char **names = calloc((size_t)f.ntensors, sizeof *names);
    int n = 0;
    rc = ent && bufs && names ? 0 : -1;
    for (int i = 0; !rc && i < f.ntensors; i++) {
        const kn_st_tensor *t = &f.tensors[i];
        if (e->drop && !strcmp(t->name, e->drop)) continue;
        kn_st_entry *o = &ent[n++];
        o->name = t->name; o->dtype = t->dtype; o->ndim = t->ndim; o->data = t->data;
        for (int r = 0; r < 4 && e->ren_from[r]; r++) {
            const char *at = strstr(t->name, e->ren_from[r]);
            if (!at) continue;
            size_t pre = (size_t)(at - t->name), lf = strlen(e->ren_from[r]);
            char *nm = malloc(strlen(t->name) + strlen(e->ren_to[r]) + 1);
            if (!nm) { rc = -1; break; }
            memcpy(nm, t->name, pre);
            strcpy(nm + pre, e->ren_to[r]);
            strcat(nm, at + lf);
            names[i] = nm;
            o->name = nm;
            break;
        }
        memcpy(o->shape, t->shape, sizeof o->shape);
        if (e->reshape && !strcmp(t->name, e->reshape)) {
            o->shape[0] += 1;
            size_t bytes = (size_t)kn_st_numel(t) / t->shape[0] * o->shape[0] * kn_dtype_size(t->dtype);
            bufs[i] = calloc(1, bytes);
            if (!bufs[i]) { rc = -1; break; }
            memcpy(bufs[i], t->data, t->nbytes);
            o->data = bufs[i];
        } else if (e->to_f16 && t->dtype == KN_F32) {
            size_t m = (size_t)kn_st_numel(t);
            uint16_t *h = malloc(m * 2 + 2);
            if (!h) { rc = -1; break; }
            const float *s = t->data;
            for (size_t k = 0; k < m; k++) { float x; memcpy(&x, s + k, 4); h[k] = kn_f32_to_f16(x); }
            bufs[i] = h;
            o->data = h;
            o->dtype = KN_F16;
        }
    }
    snprintf(q, sizeof q, "%s/diffusion_pytorch_model.safetensors", dst);
    if (!rc && kn_st_write(q, ent, n, NULL, &err)) rc = -1;
    for (int i = 0; bufs && i < f.ntensors; i++) free(bufs[i]);
    for (int i = 0; names && i < f.ntensors; i++) free(names[i]);
    free(bufs);
    free(names);
    free(ent);
    kn_st_close(&f);
    return rc;
}

static void remove_model(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir); unlink(p);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", dir); unlink(p);
    rmdir(dir);
}

/* max |got - expected| / max(1, max|expected|) for io tensor `name` */
static double rel_err(const kn_st_file *io, const char *name, const float *got) {
    const kn_st_tensor *t = kn_st_find(io, name);
    float *ref = NULL;
    kn_error err = {0};
    if (!t || kn_st_to_f32(t, &ref, &err)) return INFINITY;
    size_t n = (size_t)kn_st_numel(t);
    double m = 1.0;
    for (size_t i = 0; i < n; i++) if (fabs(ref[i]) > m) m = fabs(ref[i]);
    double d = kn_test_maxdiff(got, ref, n) / m;
    kn_free(ref);
    return d;
}

static const char *shared_dir(void) {
    const char *s = getenv("KINORA_SHARED");
    return s ? s : "../shared";
}

#endif
