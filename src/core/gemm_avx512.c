/* AVX-512 GEMM micro-kernel (12 x 32, 24 accumulators). Called only when ctx->isa == KN_ISA_AVX512.
 * Stores use fma(alpha, acc, beta * c) for full and partial tiles alike (see gemm_avx2.c). */
#include "core/kernels.h"
#include <immintrin.h>
#include <math.h>

void kn_ukr_avx512_12x32(int kc, const float *a, const float *b, float *c, size_t ldc, float alpha,
                         float beta, int mr, int nr) {
    __m512 acc[12][2];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        if (i < mr) {   /* C is touched only at the end: start its fetch now */
            _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (size_t)i * ldc + 31), _MM_HINT_T0);
        }
    }
    for (int k = 0; k < kc; k++, a += 12, b += 32) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (mr == 12 && nr == 32) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            float *ci = c + (size_t)i * ldc;
            if (beta == 0.f) {
                _mm512_storeu_ps(ci, _mm512_mul_ps(va, acc[i][0]));
                _mm512_storeu_ps(ci + 16, _mm512_mul_ps(va, acc[i][1]));
            } else {
                _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc[i][0], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
                _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc[i][1], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
            }
        }
        return;
    }
    /* Edge tile: spill with constant indices (so the accumulators stay in registers above), then
     * masked loads/stores on the columns, rows cut at mr. */
    float tmp[12 * 32] __attribute__((aligned(64)));
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        _mm512_store_ps(tmp + i * 32, acc[i][0]);
        _mm512_store_ps(tmp + i * 32 + 16, acc[i][1]);
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr <= 16 ? 0 : nr >= 32 ? 0xffff : (__mmask16)((1u << (nr - 16)) - 1);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 a0 = _mm512_load_ps(tmp + i * 32), a1 = _mm512_load_ps(tmp + i * 32 + 16);
        if (beta == 0.f) {
            _mm512_mask_storeu_ps(ci, m0, _mm512_mul_ps(va, a0));
            _mm512_mask_storeu_ps(ci + 16, m1, _mm512_mul_ps(va, a1));
        } else {
            __m512 c0 = _mm512_maskz_loadu_ps(m0, ci), c1 = _mm512_maskz_loadu_ps(m1, ci + 16);
            _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(va, a0, _mm512_mul_ps(vb, c0)));
            _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(va, a1, _mm512_mul_ps(vb, c1)));
        }
    }
}

/* Pack f32 rows (element (r, k) at src[r * ld + k]) into dst[k * R + r], zero-padding rows rlen..R-1:
 * one masked 16-lane gather per k and 16 rows instead of R scalar strided stores. */
void kn_pack_rows_f32_avx512(const float *src, size_t ld, int rlen, int klen, int R, float *dst) {
    for (int c = 0; c < R; c += 16) {
        int w = R - c < 16 ? R - c : 16, live = rlen - c < 0 ? 0 : rlen - c < w ? rlen - c : w;
        __mmask16 store = (__mmask16)((1u << w) - 1), load = (__mmask16)((1u << live) - 1);
        __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32((int)ld));
        const float *base = src + (size_t)c * ld;
        for (int k = 0; k < klen; k++) {
            if ((k & 15) == 0 && k + 64 < klen)   /* rows are read 16 floats at a time: fetch ahead */
                for (int r = 0; r < live; r++) _mm_prefetch((const char *)(base + (size_t)r * ld + k + 64), _MM_HINT_T0);
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), load, idx, base + k, 4);
            _mm512_mask_storeu_ps(dst + (size_t)k * R + c, store, v);
        }
    }
}
