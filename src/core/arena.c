/* Bump allocator. Sized once per shape; kernels take scratch with kn_arena_alloc and give it back
 * with kn_arena_reset(mark), so steady-state denoising performs no malloc. */
#include "core/core.h"

kn_status kn_arena_init(kn_arena *a, size_t cap, kn_error *err) {
    memset(a, 0, sizeof *a);
    a->base = kn_malloc(cap);
    if (!a->base) return kn_fail(err, KN_ENOMEM, "could not allocate a %zu-byte arena", cap);
    a->cap = cap;
    return KN_OK;
}

void kn_arena_free(kn_arena *a) {
    kn_free(a->base);
    memset(a, 0, sizeof *a);
}

void *kn_arena_alloc(kn_arena *a, size_t n) {
    size_t start = (a->used + 63) & ~(size_t)63;
    if (start > a->cap || n > a->cap - start) return NULL;
    a->used = start + n;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + start;
}
