/* Errors, allocation, dtype conversion, timing, the machine's free memory. */
#include "core/core.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>

const char *kn_status_name(kn_status s) {
    switch (s) {
    case KN_OK: return "ok";
    case KN_EINVAL: return "invalid argument";
    case KN_EIO: return "I/O error";
    case KN_EFORMAT: return "malformed input";
    case KN_ENOMEM: return "out of memory";
    case KN_EUNSUPPORTED: return "unsupported";
    case KN_ECANCELLED: return "cancelled";
    case KN_EINTERNAL: return "internal error";
    }
    return "unknown";
}

kn_status kn_fail(kn_error *err, kn_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

kn_status kn_wrap(kn_error *err, const char *fmt, ...) {
    if (!err) return KN_EINTERNAL;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->msg - 2) {
        size_t used = (size_t)n;
        err->msg[used++] = ':';
        err->msg[used++] = ' ';
        size_t room = sizeof err->msg - used - 1, len = strlen(old);
        if (len > room) len = room;
        memcpy(err->msg + used, old, len);
        err->msg[used + len] = 0;
    }
    return err->code;
}

void *kn_malloc(size_t n) {
    if (n == 0) n = 1;
    if (n > SIZE_MAX - 64) return NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    return aligned_alloc(64, rounded);
}

void *kn_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = kn_malloc(count * size);
    if (p) memset(p, 0, (count && size) ? count * size : 1);
    return p;
}

void kn_free(void *p) { free(p); }

char *kn_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

size_t kn_dtype_size(kn_dtype t) {
    switch (t) {
    case KN_F32: case KN_I32: return 4;
    case KN_F16: case KN_BF16: case KN_I16: return 2;
    case KN_I64: case KN_F64: return 8;
    case KN_U8: case KN_I8: case KN_BOOL: return 1;
    }
    return 0;
}

const char *kn_dtype_name(kn_dtype t) {
    static const char *names[] = {"F32", "F16", "BF16", "I64", "I32", "U8", "F64", "I8", "I16", "BOOL"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

float kn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kn_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);          /* overflow to inf */
    if (ax < 0x38800000u) {                                            /* subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e;                                     /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax - 0x38000000u;                                     /* rebias exponent */
    uint32_t lsb = (r >> 13) & 1;
    r += 0xfff + lsb;
    return (uint16_t)(sign | (r >> 13));
}

float kn_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kn_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void kn_to_f32(float *dst, const void *src, kn_dtype t, size_t n) {
    switch (t) {
    case KN_F32: memcpy(dst, src, n * 4); break;
    case KN_F16: { const uint16_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = kn_f16_to_f32(s[i]); } break;
    case KN_BF16: { const uint16_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = kn_bf16_to_f32(s[i]); } break;
    case KN_F64: { const double *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; } break;
    case KN_I64: { const int64_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; } break;
    case KN_I32: { const int32_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; } break;
    default: memset(dst, 0, n * 4); break;
    }
}

double kn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double kn_available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024.0;
}
