/* In-memory f32 parameters for the layer-level training tests: each tensor has a gradient buffer, and
 * the set opens as kn_weights (what the layers read) plus a kn_gradmap (where their backward passes
 * accumulate). Each test file fills the values with its own initialisation. */
#ifndef KN_TEST_TRAIN_PARAMS_H
#define KN_TEST_TRAIN_PARAMS_H
#include "test.h"
#include "models/backward.h"

typedef struct { char name[96]; int ndim; int64_t shape[4]; float *w, *g; size_t n; } tparam;
enum { MAXP = 64 };
typedef struct {
    tparam p[MAXP];
    int n;
    uint64_t seed;   /* for the file's initialisation, if it wants a running seed */
    kn_st_entry e[MAXP];
    kn_grad_entry ge[MAXP];
    kn_gradmap gm;
} params;

/* A new zeroed tensor (and zeroed gradient) of ndim leading dimensions of a, b, c, d. */
static inline tparam *tparam_new(params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    if (P->n == MAXP) { fprintf(stderr, "  train_params: more than %d tensors\n", MAXP); abort(); }
    tparam *t = &P->p[P->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int64_t s[4] = {a, b, c, d};
    t->n = 1;
    for (int i = 0; i < ndim; i++) { t->shape[i] = s[i]; t->n *= (size_t)s[i]; }
    t->w = calloc(t->n, sizeof(float));
    t->g = calloc(t->n, sizeof(float));
    if (!t->w || !t->g) { fprintf(stderr, "  train_params: out of memory\n"); abort(); }
    return t;
}

/* 0 on success; the message goes to stderr otherwise. */
static inline int open_weights(params *P, kn_weights *w) {
    for (int i = 0; i < P->n; i++) {
        P->e[i] = (kn_st_entry){.name = P->p[i].name, .dtype = KN_F32, .ndim = P->p[i].ndim, .data = P->p[i].w};
        memcpy(P->e[i].shape, P->p[i].shape, sizeof P->p[i].shape);
        P->ge[i] = (kn_grad_entry){P->p[i].w, P->p[i].n, P->p[i].g};
    }
    kn_error err = {0};
    if (kn_gradmap_init(&P->gm, P->ge, (size_t)P->n, &err) || kn_weights_open_mem(w, "test", NULL, P->e, P->n, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        return 1;
    }
    return 0;
}

static inline void free_params(params *P) {
    for (int i = 0; i < P->n; i++) { free(P->p[i].w); free(P->p[i].g); }
}
#endif
