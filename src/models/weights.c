/* Model folder weights: mmap'd safetensors, shape-checked lookups, owned f32 copies of small tensors. */
#include "models/weights.h"
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

kn_status kn_weights_open(kn_weights *w, const char *dir, const char *config_name, const char *weights_name,
                          kn_error *err) {
    memset(w, 0, sizeof *w);
    if (snprintf(w->dir, sizeof w->dir, "%s", dir) >= (int)sizeof w->dir) return kn_fail(err, KN_EINVAL, "path too long: %s", dir);
    if (!kn_path_is_dir(dir)) return kn_fail(err, KN_EIO, "%s: model folder not found", dir);
    kn_status st;
    if (config_name) {
        snprintf(w->config_path, sizeof w->config_path, "%s/%s", dir, config_name);
        if ((st = kn_json_load(w->config_path, &w->config, err))) return st;
    }
    char *names[8];
    int n = 0;
    if (weights_name) {
        names[n++] = kn_strdup(weights_name);
    } else {
        DIR *d = opendir(dir);
        if (!d) { kn_weights_close(w); return kn_fail(err, KN_EIO, "%s: cannot list folder", dir); }
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 12 && !strcmp(e->d_name + l - 12, ".safetensors") && !strstr(e->d_name, ".tmp-")) {
                if (n == 8) { closedir(d); for (int i = 0; i < n; i++) free(names[i]); kn_weights_close(w);
                              return kn_fail(err, KN_EUNSUPPORTED, "%s: more than 8 safetensors files", dir); }
                names[n++] = kn_strdup(e->d_name);
            }
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
    }
    if (n == 0) { kn_weights_close(w); return kn_fail(err, KN_EIO, "%s: no .safetensors weights found", dir); }
    for (int i = 0; i < n; i++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        st = kn_st_open(p, &w->files[w->nfiles], err);
        if (!st) w->nfiles++;
        if (st) { for (int k = i; k < n; k++) free(names[k]); kn_weights_close(w); return st; }
        free(names[i]);
    }
    return KN_OK;
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const kn_st_tensor *)a)->name, ((const kn_st_tensor *)b)->name);
}

kn_status kn_weights_open_mem(kn_weights *w, const char *label, json_t *config, const kn_st_entry *t, int n,
                              kn_error *err) {
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s", label);
    snprintf(w->config_path, sizeof w->config_path, "%s/config.json", label);
    w->live = 1;
    kn_st_file *f = &w->files[0];
    f->path = kn_strdup(label);
    f->tensors = calloc(n > 0 ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->path || !f->tensors) { free(f->path); free(f->tensors); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    w->nfiles = 1;
    for (int i = 0; i < n; i++) {
        kn_st_tensor *d = &f->tensors[i];
        if (t[i].dtype != KN_F32 || t[i].ndim < 0 || t[i].ndim > 8) {
            kn_weights_close(w);
            return kn_fail(err, KN_EINVAL, "%s: in-memory tensor '%s' must be F32 with at most 8 dims", label, t[i].name);
        }
        if (!(d->name = kn_strdup(t[i].name))) { kn_weights_close(w); return kn_fail(err, KN_ENOMEM, "out of memory"); }
        f->ntensors++;
        d->dtype = KN_F32;
        d->ndim = t[i].ndim;
        size_t ne = 1;
        for (int k = 0; k < d->ndim; k++) { d->shape[k] = t[i].shape[k]; ne *= (size_t)t[i].shape[k]; }
        d->nbytes = ne * sizeof(float);
        d->data = t[i].data;
    }
    qsort(f->tensors, (size_t)f->ntensors, sizeof *f->tensors, cmp_tensor);
    for (int i = 1; i < f->ntensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            kn_status st = kn_fail(err, KN_EINVAL, "%s: tensor '%s' given twice", label, f->tensors[i].name);
            kn_weights_close(w);
            return st;
        }
    if (config) w->config = json_incref(config);
    return KN_OK;
}

kn_status kn_weights_open_schema(kn_weights *w, const char *label, json_t *config, kn_schema *out, kn_error *err) {
    kn_status st = kn_weights_open_mem(w, label, config, NULL, 0, err);
    if (!st) { w->schema = 1; w->schema_out = out; }
    return st;
}

void kn_schema_free(kn_schema *s) {
    for (int i = 0; i < s->n; i++) free((char *)s->t[i].name);
    free(s->t);
    memset(s, 0, sizeof *s);
}

static kn_status schema_record(kn_schema *s, const kn_st_tensor *t, kn_error *err) {
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 64;
        kn_st_entry *nt = realloc(s->t, sizeof *nt * (size_t)nc);
        if (!nt) return kn_fail(err, KN_ENOMEM, "out of memory");
        s->t = nt;
        s->cap = nc;
    }
    kn_st_entry *e = &s->t[s->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = kn_strdup(t->name))) return kn_fail(err, KN_ENOMEM, "out of memory");
    e->dtype = KN_F32;
    e->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) e->shape[i] = t->shape[i];
    s->n++;
    return KN_OK;
}

/* Schema mode: adds a zero-filled tensor `name` of `shape`, keeping the table sorted. */
static kn_status schema_create(kn_weights *w, const char *name, int ndim, const int64_t *shape, kn_error *err) {
    kn_st_file *f = &w->files[0];
    size_t ne = 1;
    if (ndim < 0 || ndim > 8) return kn_fail(err, KN_EINVAL, "%s: tensor '%s' has %d dims", w->dir, name, ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return kn_fail(err, KN_EINVAL, "%s: tensor '%s' asked for without a full shape", w->dir, name);
        ne *= (size_t)shape[i];
    }
    kn_st_tensor *nt = realloc(f->tensors, sizeof *nt * (size_t)(f->ntensors + 1));
    if (!nt) return kn_fail(err, KN_ENOMEM, "out of memory");
    f->tensors = nt;
    if (w->nowned == w->capowned) {
        int nc = w->capowned ? w->capowned * 2 : 64;
        float **no = realloc(w->owned, sizeof *no * nc);
        if (!no) return kn_fail(err, KN_ENOMEM, "out of memory");
        w->owned = no;
        w->capowned = nc;
    }
    float *data = kn_calloc(ne, sizeof(float));
    char *nm = kn_strdup(name);
    if (!data || !nm) { kn_free(data); free(nm); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    w->owned[w->nowned++] = data;
    int at = 0;
    while (at < f->ntensors && strcmp(f->tensors[at].name, name) < 0) at++;
    memmove(&f->tensors[at + 1], &f->tensors[at], sizeof *nt * (size_t)(f->ntensors - at));
    kn_st_tensor *t = &f->tensors[at];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = KN_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = ne * sizeof(float);
    t->data = data;
    f->ntensors++;
    return w->schema_out ? schema_record(w->schema_out, t, err) : KN_OK;
}

void kn_weights_close(kn_weights *w) {
    for (int i = 0; i < w->nfiles; i++) kn_st_close(&w->files[i]);
    for (int i = 0; i < w->nowned; i++) kn_free(w->owned[i]);
    free(w->owned);
    if (w->config) json_decref(w->config);
    memset(w, 0, sizeof *w);
}

const kn_st_tensor *kn_weights_find(const kn_weights *w, const char *name) {
    for (int i = 0; i < w->nfiles; i++) {
        const kn_st_tensor *t = kn_st_find(&w->files[i], name);
        if (t) return t;
    }
    return NULL;
}

static kn_status lookup(kn_weights *w, const char *name, int ndim, const int64_t *shape,
                        const kn_st_tensor **out, kn_error *err) {
    if (w->schema && !kn_st_find(&w->files[0], name)) {
        kn_status st = schema_create(w, name, ndim, shape, err);
        if (st) return st;
    }
    for (int i = 0; i < w->nfiles; i++)
        if (kn_st_find(&w->files[i], name)) {
            kn_status st = kn_st_get(&w->files[i], name, ndim, shape, out, err);
            if (!st) { w->used_bytes += (*out)->nbytes; w->nlooked++; }
            return st;
        }
    return kn_fail(err, KN_EFORMAT, "%s: missing weight '%s'", w->dir, name);
}

kn_status kn_weights_view(kn_weights *w, const char *name, int ndim, const int64_t *shape, kn_wview *out,
                          kn_error *err) {
    const kn_st_tensor *t;
    kn_status st = lookup(w, name, ndim, shape, &t, err);
    if (st) return st;
    if (t->dtype != KN_F32 && t->dtype != KN_F16 && t->dtype != KN_BF16)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: weight '%s' has dtype %s (F32, F16 or BF16 supported)", w->dir,
                       name, kn_dtype_name(t->dtype));
    out->data = t->data;
    out->dtype = t->dtype;
    return KN_OK;
}

kn_status kn_weights_f32(kn_weights *w, const char *name, int ndim, const int64_t *shape, float **out,
                         kn_error *err) {
    const kn_st_tensor *t;
    kn_status st = lookup(w, name, ndim, shape, &t, err);
    if (st) return st;
    if (w->live) { *out = (float *)t->data; return KN_OK; }   /* the caller's own f32 storage */
    if (w->nowned == w->capowned) {
        int nc = w->capowned ? w->capowned * 2 : 64;
        float **no = realloc(w->owned, sizeof *no * nc);
        if (!no) return kn_fail(err, KN_ENOMEM, "out of memory");
        w->owned = no;
        w->capowned = nc;
    }
    if ((st = kn_st_to_f32(t, out, err))) return kn_wrap(err, "%s", w->dir);
    w->owned[w->nowned++] = *out;
    return KN_OK;
}

#define FORMAT_NAME(buf, fmt) \
    char buf[512]; \
    va_list ap; \
    va_start(ap, fmt); \
    vsnprintf(buf, sizeof buf, fmt, ap); \
    va_end(ap)

kn_status kn_weights_viewf(kn_weights *w, kn_wview *out, kn_error *err, int ndim, const int64_t *shape,
                           const char *fmt, ...) {
    FORMAT_NAME(name, fmt);
    return kn_weights_view(w, name, ndim, shape, out, err);
}

kn_status kn_weights_f32f(kn_weights *w, float **out, kn_error *err, int ndim, const int64_t *shape,
                          const char *fmt, ...) {
    FORMAT_NAME(name, fmt);
    return kn_weights_f32(w, name, ndim, shape, out, err);
}

int kn_weights_has(const kn_weights *w, const char *fmt, ...) {
    FORMAT_NAME(name, fmt);
    return kn_weights_find(w, name) != NULL;
}
