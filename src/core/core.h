/* src/core: the foundation every other folder stands on.
 * Contract: errors are returned as kn_status with a message in a caller-owned kn_error; allocation
 * failures are reported, never ignored; nothing here keeps global mutable state (the CPU feature
 * table is computed once per kn_cpu_detect call and passed around by value). */
#ifndef KN_CORE_H
#define KN_CORE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "kinora/kinora.h"

/* Fill err (may be NULL) and return code. printf-style. */
kn_status kn_fail(kn_error *err, kn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix an existing message: "ctx: old message". Returns err->code. */
kn_status kn_wrap(kn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *kn_malloc(size_t n);                 /* 64-byte aligned; NULL on failure or n == 0 overflow */
void *kn_calloc(size_t count, size_t size);/* 64-byte aligned, zeroed, overflow checked */
void kn_free(void *p);
char *kn_strdup(const char *s);

/* ---- dtypes ---- */
typedef enum kn_dtype { KN_F32 = 0, KN_F16 = 1, KN_BF16 = 2, KN_I64 = 3, KN_I32 = 4, KN_U8 = 5,
                        KN_F64 = 6, KN_I8 = 7, KN_I16 = 8, KN_BOOL = 9 } kn_dtype;
size_t kn_dtype_size(kn_dtype t);
const char *kn_dtype_name(kn_dtype t);
float kn_f16_to_f32(uint16_t h);
uint16_t kn_f32_to_f16(float f);      /* round to nearest even, as torch .half() */
float kn_bf16_to_f32(uint16_t h);
uint16_t kn_f32_to_bf16(float f);     /* round to nearest even, as torch .bfloat16() */
/* Convert n elements of src (dtype t) to f32. */
void kn_to_f32(float *dst, const void *src, kn_dtype t, size_t n);

/* ---- CPU features (run-time dispatch) ---- */
typedef enum kn_isa { KN_ISA_SCALAR = 0, KN_ISA_AVX2 = 1, KN_ISA_AVX512 = 2 } kn_isa;
/* Best ISA this CPU supports, capped by the KINORA_ISA environment variable (scalar|avx2|avx512),
 * which tests use to run every path. */
kn_isa kn_cpu_detect(void);
const char *kn_isa_name(kn_isa isa);

/* ---- thread pool ----
 * kn_pool_run calls fn(arg, task) for task in [0, ntasks) across the pool's threads and the caller.
 * Work must be split by task index, never by thread, so results do not depend on the thread count. */
typedef struct kn_pool kn_pool;
typedef void (*kn_task_fn)(void *arg, int task);
kn_status kn_pool_create(int nthreads, kn_pool **out, kn_error *err);
void kn_pool_destroy(kn_pool *p);
int kn_pool_size(const kn_pool *p);
void kn_pool_run(kn_pool *p, int ntasks, kn_task_fn fn, void *arg);

/* ---- arena: bump allocator; a denoising step allocates from a pre-sized arena only ---- */
typedef struct kn_arena {
    uint8_t *base;
    size_t cap, used, peak;
} kn_arena;
kn_status kn_arena_init(kn_arena *a, size_t cap, kn_error *err);
void kn_arena_free(kn_arena *a);
void *kn_arena_alloc(kn_arena *a, size_t n);   /* 64-byte aligned; NULL when full */
static inline size_t kn_arena_mark(const kn_arena *a) { return a->used; }
static inline void kn_arena_reset(kn_arena *a, size_t mark) { a->used = mark; }

/* ---- execution context passed to every kernel ---- */
typedef struct kn_ctx {
    kn_pool *pool;        /* may be NULL: single-threaded */
    kn_isa isa;
    kn_arena *scratch;    /* kernels take temporary buffers from here and give them back */
} kn_ctx;
/* A pool of nthreads (kn_pool_create) into *pool, and ctx over it for this CPU's instructions, with no
 * scratch arena; the caller destroys the pool. */
kn_status kn_ctx_open(int nthreads, kn_pool **pool, kn_ctx *ctx, kn_error *err);

/* ---- deterministic RNG: Philox4x32-10 keyed by (seed, stream), counter = element index ---- */
void kn_philox(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]);
/* n standard normal floats for (seed, stream), element i depends only on (seed, stream, i). */
void kn_randn(float *out, size_t n, uint64_t seed, uint64_t stream);
void kn_randu(float *out, size_t n, uint64_t seed, uint64_t stream);  /* uniform [0,1) */

/* ---- time ---- */
double kn_now(void);   /* monotonic seconds */

/* Bytes of memory the system can still give (MemAvailable in /proc/meminfo); 0 when unknown. */
double kn_available_memory(void);

#endif
