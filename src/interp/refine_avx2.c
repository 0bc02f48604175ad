/* The red-black SOR update of refine.c for eight pixels of one colour at a time (AVX2), taken on
 * machines that have it (ctx->isa). Each lane does refine.c's sor_solve arithmetic in the same
 * order, with separate multiplies and adds (no fused multiply-add: this file is built with -mfma,
 * but the intrinsics below never ask for one, and -std=c11 keeps the compiler from contracting),
 * so the flows are bit for bit those of the scalar loop on any machine (test_interp compares them).
 * A pixel's neighbours of the other colour lie at odd offsets, so every plane is read as two
 * vectors of 8 and their even lanes gathered; only the even lanes are stored back. */
#include "interp/interp_impl.h"
#include <immintrin.h>

/* Lanes 0, 2, ..., 14 of the 16 floats at p, in order. */
static inline __m256 evens(const float *p) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));   /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* v's 8 lanes into the even floats of the 16 at p; the odd ones are not touched. */
static inline void store_evens(float *p, __m256 v) {
    const __m256i even = _mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0);
    __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);   /* v0 v0 v1 v1 | v4 v4 v5 v5 ... */
    _mm256_maskstore_ps(p, even, _mm256_permute2f128_ps(lo, hi, 0x20));     /* v0 . v1 . v2 . v3 . */
    _mm256_maskstore_ps(p + 8, even, _mm256_permute2f128_ps(lo, hi, 0x31)); /* v4 . v5 . v6 . v7 . */
}

/* k * (flow + increment - centre) of the neighbours at offset off from the eight pixels at p. */
static inline __m256 pull(const float *f, const float *d, size_t p, ptrdiff_t off, __m256 k, __m256 centre) {
    return _mm256_mul_ps(k, _mm256_sub_ps(_mm256_add_ps(evens(f + p + off), evens(d + p + off)), centre));
}

int kn_sor_row_avx2(const kn_sor_planes *s, int y, int x, int w, float omega) {
    const __m256 om = _mm256_set1_ps(omega), keep = _mm256_set1_ps(1 - omega), tiny = _mm256_set1_ps(1e-9f);
    for (; x + 15 < w; x += 16) {   /* pixels x, x + 2, ..., x + 14, all inside (x + 14 < w - 1) */
        size_t p = (size_t)y * w + x;
        __m256 up = evens(s->u + p), vp = evens(s->v + p);
        __m256 k0 = evens(s->ws + p - 1), k1 = evens(s->ws + p), k2 = evens(s->ws + p - w);
        __m256 sw = _mm256_add_ps(k0, k1);
        __m256 su = pull(s->u, s->du, p, -1, k0, up), sv = pull(s->v, s->dv, p, -1, k0, vp);
        su = _mm256_add_ps(su, pull(s->u, s->du, p, 1, k1, up));
        sv = _mm256_add_ps(sv, pull(s->v, s->dv, p, 1, k1, vp));
        sw = _mm256_add_ps(sw, k2);
        su = _mm256_add_ps(su, pull(s->u, s->du, p, -(ptrdiff_t)w, k2, up));
        sv = _mm256_add_ps(sv, pull(s->v, s->dv, p, -(ptrdiff_t)w, k2, vp));
        sw = _mm256_add_ps(sw, k1);
        su = _mm256_add_ps(su, pull(s->u, s->du, p, w, k1, up));
        sv = _mm256_add_ps(sv, pull(s->v, s->dv, p, w, k1, vp));
        __m256 du = evens(s->du + p), dv = evens(s->dv + p), a12 = evens(s->a12 + p);
        __m256 nu = _mm256_div_ps(_mm256_add_ps(_mm256_sub_ps(evens(s->b1 + p), _mm256_mul_ps(a12, dv)), su),
                                  _mm256_add_ps(_mm256_add_ps(evens(s->a11 + p), sw), tiny));
        du = _mm256_add_ps(_mm256_mul_ps(keep, du), _mm256_mul_ps(om, nu));
        __m256 nv = _mm256_div_ps(_mm256_add_ps(_mm256_sub_ps(evens(s->b2 + p), _mm256_mul_ps(a12, du)), sv),
                                  _mm256_add_ps(_mm256_add_ps(evens(s->a22 + p), sw), tiny));
        dv = _mm256_add_ps(_mm256_mul_ps(keep, dv), _mm256_mul_ps(om, nv));
        store_evens(s->du + p, du);
        store_evens(s->dv + p, dv);
    }
    return x;
}
