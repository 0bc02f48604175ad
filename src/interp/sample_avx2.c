/* kn_bicubic_rgb for samples whose 4x4 taps lie inside the frame, two rows of taps a vector (AVX2),
 * taken on machines that have it (ctx->isa). Each lane does kn_bicubic_rgb's arithmetic in the same
 * order, with separate multiplies and adds (this file is built with -mfma, but the intrinsics below
 * never ask for one, and -std=c11 keeps the compiler from contracting), so the samples are bit for
 * bit those of the scalar and SSE2 code (test_interp compares them). The bytes of a tap become
 * floats with one byte shuffle each, where SSE2 needs a shift and two unpacks. */
#include "interp/interp_impl.h"
#include <immintrin.h>

/* Each row's 12 tap bytes are held as bytes 0-7 and 4-11 of its 128-bit lane (never read past the
 * fourth tap). Tap k's three bytes, zero-extended to 32 bits, are at these places in that lane. */
#define Z -1
#define TAP(a, b, c) _mm256_setr_epi8(a, Z, Z, Z, b, Z, Z, Z, c, Z, Z, Z, Z, Z, Z, Z, \
                                      a, Z, Z, Z, b, Z, Z, Z, c, Z, Z, Z, Z, Z, Z, Z)

static inline __m128i row_bytes(const uint8_t *r) {
    return _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)r), _mm_loadl_epi64((const __m128i *)(r + 4)));
}

/* wy * (the row's weighted taps) for rows r and r + stride, in the low and high lanes. */
static inline __m256 two_rows(const uint8_t *r, size_t stride, const __m256 wx[4], __m256 wy) {
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(row_bytes(r)), row_bytes(r + stride), 1);
    __m256 t0 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, TAP(0, 1, 2)));
    __m256 t1 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, TAP(3, 4, 5)));
    __m256 t2 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, TAP(6, 7, 12)));
    __m256 t3 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, TAP(13, 14, 15)));
    __m256 h = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(wx[0], t0), _mm256_mul_ps(wx[1], t1)),
                                           _mm256_mul_ps(wx[2], t2)),
                             _mm256_mul_ps(wx[3], t3));
    return _mm256_mul_ps(wy, h);
}

void kn_bicubic_rgb_avx2(const uint8_t *im, int w, int h, float x, float y, float out[3]) {
    float cx = x, cy = y;
    kn_clamp_to_frame(w, h, &cx, &cy);
    int x0 = (int)cx, y0 = (int)cy;
    if (!(x0 >= 1 && y0 >= 1 && x0 + 2 < w && y0 + 2 < h)) {   /* taps clamped to the frame */
        kn_bicubic_rgb(im, w, h, x, y, out);
        return;
    }
    float fx[4], fy[4];
    kn_keys_weights(cx - (float)x0, fx);
    kn_keys_weights(cy - (float)y0, fy);
    __m256 wx[4];
    for (int i = 0; i < 4; i++) wx[i] = _mm256_set1_ps(fx[i]);
    size_t stride = (size_t)w * 3;
    const uint8_t *r = im + (size_t)(y0 - 1) * stride + (size_t)(x0 - 1) * 3;
    __m256 p01 = two_rows(r, stride, wx, _mm256_setr_ps(fy[0], fy[0], fy[0], fy[0], fy[1], fy[1], fy[1], fy[1]));
    __m256 p23 = two_rows(r + 2 * stride, stride, wx,
                          _mm256_setr_ps(fy[2], fy[2], fy[2], fy[2], fy[3], fy[3], fy[3], fy[3]));
    /* the rows added in order from 0, as the scalar loop does */
    __m128 acc = _mm_add_ps(_mm_setzero_ps(), _mm256_castps256_ps128(p01));
    acc = _mm_add_ps(acc, _mm256_extractf128_ps(p01, 1));
    acc = _mm_add_ps(acc, _mm256_castps256_ps128(p23));
    acc = _mm_add_ps(acc, _mm256_extractf128_ps(p23, 1));
    float v[4];
    _mm_storeu_ps(v, acc);
    out[0] = v[0]; out[1] = v[1]; out[2] = v[2];
}
