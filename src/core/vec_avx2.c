/* AVX2/FMA vector primitives (kernels.h: kn_vec_avx2). */
#include "core/kernels.h"
#include <immintrin.h>
#include <math.h>
typedef __m256 V;
#define VW 8
#define VLOAD _mm256_load_ps
#define VLOADU _mm256_loadu_ps
#define VSTORE _mm256_store_ps
#define VSTOREU _mm256_storeu_ps
#define VSET _mm256_set1_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VMIN _mm256_min_ps
#define VMAX _mm256_max_ps
#define VFMA _mm256_fmadd_ps
#define VFNMA _mm256_fnmadd_ps
#define VROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VPOW2I(fx) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23))
#define VABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.f), (x))
#define VCOPYSIGN(y, z) _mm256_or_ps(VABS(y), _mm256_and_ps(_mm256_set1_ps(-0.f), (z)))
static inline __m256 tail_mask2(int n) {
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}
#define VLOAD_TAIL(p, n) _mm256_maskload_ps((p), _mm256_castps_si256(tail_mask2(n)))
#define VSTORE_TAIL(p, v, n) _mm256_maskstore_ps((p), _mm256_castps_si256(tail_mask2(n)), (v))
static inline float hsum2(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}
#define VHSUM(v) hsum2(v)
#define VEC_TABLE kn_vec_avx2
#include "core/vec_impl.h"
