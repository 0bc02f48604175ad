/* Parameter-address to gradient lookup and tape allocation for the training passes (backward.h). */
#include "models/backward.h"
#include <stdlib.h>
#include <sys/mman.h>

static int cmp_entry(const void *a, const void *b) {
    const kn_grad_entry *x = a, *y = b;
    return x->w < y->w ? -1 : x->w > y->w;
}

kn_status kn_gradmap_init(kn_gradmap *gm, kn_grad_entry *entries, size_t n, kn_error *err) {
    qsort(entries, n, sizeof *entries, cmp_entry);
    for (size_t i = 1; i < n; i++)
        if (entries[i - 1].w + entries[i - 1].n > entries[i].w)
            return kn_fail(err, KN_EINVAL, "gradient map: parameters %zu and %zu overlap", i - 1, i);
    gm->e = entries;
    gm->n = n;
    return KN_OK;
}

float *kn_grad_of(const kn_gradmap *gm, const void *p) {
    if (!gm || !p || !gm->n) return NULL;
    const float *f = p;
    size_t lo = 0, hi = gm->n;
    while (hi - lo > 1) {                 /* last entry whose start is <= f */
        size_t mid = (lo + hi) / 2;
        if (gm->e[mid].w <= f) lo = mid; else hi = mid;
    }
    const kn_grad_entry *e = &gm->e[lo];
    if (f < e->w || f >= e->w + e->n) return NULL;
    return e->g + (f - e->w);
}

kn_status kn_tape_init(kn_ws *tape, size_t cap, kn_error *err) {
    memset(tape, 0, sizeof *tape);
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return kn_fail(err, KN_ENOMEM, "cannot reserve %zu bytes for the training tape", cap);
    tape->base = p;
    tape->cap = cap;
    return KN_OK;
}

void kn_tape_free(kn_ws *tape) {
    if (tape->base) munmap(tape->base, tape->cap);
    memset(tape, 0, sizeof *tape);
}

void *kn_tape_new(kn_ws *tape, size_t bytes) {
    float *p = kn_ws_alloc(tape, (bytes + sizeof(float) - 1) / sizeof(float));
    if (p && !tape->measure) memset(p, 0, bytes);
    return tape->measure ? NULL : p;
}
