/* Named parameter sets: storage for weights, gradients, moments and EMA. */
#include "train/train.h"
#include <stdlib.h>

kn_status kn_paramset_add(kn_paramset *ps, const char *name, int ndim, const int64_t *shape,
                          kn_param **out, kn_error *err) {
    if (!name || ndim < 0 || ndim > 8) return kn_fail(err, KN_EINVAL, "paramset: bad tensor '%s'", name ? name : "(null)");
    if (kn_paramset_find(ps, name)) return kn_fail(err, KN_EINVAL, "paramset: duplicate tensor '%s'", name);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || (size_t)shape[i] > SIZE_MAX / 16 / n)
            return kn_fail(err, KN_EINVAL, "paramset: tensor '%s' has bad dimension %d", name, i);
        n *= (size_t)shape[i];
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 16;
        kn_param *np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np) return kn_fail(err, KN_ENOMEM, "paramset: out of memory adding '%s'", name);
        ps->p = np;
        ps->cap = cap;
    }
    kn_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    p->name = kn_strdup(name);
    p->ndim = ndim;
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i];
    p->n = n;
    p->w = kn_calloc(n, sizeof(float));
    p->g = kn_calloc(n, sizeof(float));
    p->m = kn_calloc(n, sizeof(float));
    p->v = kn_calloc(n, sizeof(float));
    if (!p->name || !p->w || !p->g || !p->m || !p->v) {
        free(p->name); kn_free(p->w); kn_free(p->g); kn_free(p->m); kn_free(p->v);
        return kn_fail(err, KN_ENOMEM, "paramset: out of memory for '%s' (%zu floats)", name, n);
    }
    ps->n++;
    if (out) *out = p;
    return KN_OK;
}

kn_param *kn_paramset_find(const kn_paramset *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return &ps->p[i];
    return NULL;
}

void kn_paramset_free(kn_paramset *ps) {
    for (int i = 0; i < ps->n; i++) {
        kn_param *p = &ps->p[i];
        free(p->name); kn_free(p->w); kn_free(p->g); kn_free(p->m); kn_free(p->v); kn_free(p->ema);
    }
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}

void kn_paramset_zero_grad(kn_paramset *ps) {
    for (int i = 0; i < ps->n; i++) memset(ps->p[i].g, 0, ps->p[i].n * sizeof(float));
}

kn_status kn_paramset_enable_ema(kn_paramset *ps, kn_error *err) {
    for (int i = 0; i < ps->n; i++) {
        kn_param *p = &ps->p[i];
        if (!p->ema && !(p->ema = kn_malloc(p->n * sizeof(float))))
            return kn_fail(err, KN_ENOMEM, "paramset: out of memory for the EMA of '%s'", p->name);
        memcpy(p->ema, p->w, p->n * sizeof(float));
    }
    return KN_OK;
}

size_t kn_paramset_numel(const kn_paramset *ps) {
    size_t n = 0;
    for (int i = 0; i < ps->n; i++) n += ps->p[i].n;
    return n;
}
