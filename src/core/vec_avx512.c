/* AVX-512 vector primitives (kernels.h: kn_vec_avx512). */
#include "core/kernels.h"
#include <immintrin.h>
#include <math.h>
typedef __m512 V;
#define VW 16
#define VLOAD _mm512_load_ps
#define VLOADU _mm512_loadu_ps
#define VSTORE _mm512_store_ps
#define VSTOREU _mm512_storeu_ps
#define VSET _mm512_set1_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VMIN _mm512_min_ps
#define VMAX _mm512_max_ps
#define VFMA _mm512_fmadd_ps
#define VFNMA _mm512_fnmadd_ps
#define VROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VPOW2I(fx) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23))
#define VABS(x) _mm512_abs_ps(x)
#define VCOPYSIGN(y, z) _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(VABS(y)), _mm512_and_si512(_mm512_set1_epi32((int)0x80000000u), _mm512_castps_si512(z))))
#define VLOAD_TAIL(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p))
#define VSTORE_TAIL(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (v))
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define VEC_TABLE kn_vec_avx512
#include "core/vec_impl.h"
