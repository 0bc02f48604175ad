/* AVX2/FMA GEMM micro-kernel (6 x 16, 12 accumulators) and F16C conversion. Called only when
 * ctx->isa >= KN_ISA_AVX2. Stores use fma(alpha, acc, beta * c) for full and partial tiles alike, so
 * an element's value does not depend on where the tile edges fall. */
#include "core/kernels.h"
#include <immintrin.h>
#include <math.h>

void kn_ukr_avx2_6x16(int kc, const float *a, const float *b, float *c, size_t ldc, float alpha,
                      float beta, int mr, int nr) {
    for (int i = 0; i < mr; i++) {   /* C is touched only at the end: start its fetch now */
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + 15), _MM_HINT_T0);
    }
    /* alpha and beta wait in memory: 12 accumulators + 2 B + 1 broadcast fill all 16 registers, and
     * keeping the two scalars live made GCC spill an accumulator inside the loop. */
    volatile float alpha_mem = alpha, beta_mem = beta;
    /* Named accumulators: with an array GCC spills one of the 16 registers inside the loop. */
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int k = 0; k < kc; k++, a += 6, b += 16) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), av;
#define KN_ROW(i) av = _mm256_broadcast_ss(a + i); \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0); c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);
        KN_ROW(0) KN_ROW(1) KN_ROW(2) KN_ROW(3) KN_ROW(4) KN_ROW(5)
#undef KN_ROW
    }
    __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    alpha = alpha_mem;
    beta = beta_mem;
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == 6 && nr == 16) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            float *ci = c + (size_t)i * ldc;
            if (beta == 0.f) {
                _mm256_storeu_ps(ci, _mm256_mul_ps(va, acc[i][0]));
                _mm256_storeu_ps(ci + 8, _mm256_mul_ps(va, acc[i][1]));
            } else {
                _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
                _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
            }
        }
        return;
    }
    float tmp[6 * 16] __attribute__((aligned(32)));
#pragma GCC unroll 6   /* constant indices keep the accumulators in registers in the loop above */
    for (int i = 0; i < 6; i++) {
        _mm256_store_ps(tmp + i * 16, acc[i][0]);
        _mm256_store_ps(tmp + i * 16 + 8, acc[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < nr; j++)
            ci[j] = beta == 0.f ? alpha * tmp[i * 16 + j] : fmaf(alpha, tmp[i * 16 + j], beta * ci[j]);
    }
}

void kn_cvt_f16_avx2(const uint16_t *src, size_t n, float *dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

/* Pack f32 rows (element (r, k) at src[r * ld + k]) into dst[k * R + r], zero-padding rows rlen..R-1:
 * one masked 8-lane gather per k and 8 rows, with the rows fetched ahead. */
void kn_pack_rows_f32_avx2(const float *src, size_t ld, int rlen, int klen, int R, float *dst) {
    for (int c = 0; c < R; c += 8) {
        int w = R - c < 8 ? R - c : 8, live = rlen - c < 0 ? 0 : rlen - c < w ? rlen - c : w;
        __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i store = _mm256_cmpgt_epi32(_mm256_set1_epi32(w), lanes);
        __m256 load = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(live), lanes));
        __m256i idx = _mm256_mullo_epi32(lanes, _mm256_set1_epi32((int)ld));
        const float *base = src + (size_t)c * ld;
        for (int k = 0; k < klen; k++) {
            if ((k & 15) == 0 && k + 64 < klen)
                for (int r = 0; r < live; r++) _mm_prefetch((const char *)(base + (size_t)r * ld + k + 64), _MM_HINT_T0);
            __m256 v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base + k, idx, load, 4);
            _mm256_maskstore_ps(dst + (size_t)k * R + c, store, v);
        }
    }
}
