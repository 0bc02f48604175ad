/* Run-time CPU feature detection. The binary is built for baseline x86-64; AVX2/AVX-512 kernels are
 * only called when the CPU and the OS (XSAVE state) support them. */
#include "core/core.h"
#include <stdlib.h>
#include <strings.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
static kn_isa hw_isa(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return KN_ISA_SCALAR;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return KN_ISA_SCALAR;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 6) != 6) return KN_ISA_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return KN_ISA_SCALAR;
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int vnni = (c >> 11) & 1;
    unsigned a1, b1, c1, d1;
    int bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) ? (a1 >> 5) & 1 : 0;
    kn_isa isa = KN_ISA_SCALAR;
    if (avx2 && fma && f16c) isa = KN_ISA_AVX2;
    if (isa == KN_ISA_AVX2 && avx512f && avx512dq && avx512bw && avx512vl && vnni && bf16 &&
        (xcr0 & 0xe6) == 0xe6)
        isa = KN_ISA_AVX512;
    return isa;
}
#else
static kn_isa hw_isa(void) { return KN_ISA_SCALAR; }
#endif

kn_isa kn_cpu_detect(void) {
    kn_isa isa = hw_isa();
    const char *cap = getenv("KINORA_ISA");
    if (cap) {
        kn_isa want = isa;
        if (!strcasecmp(cap, "scalar")) want = KN_ISA_SCALAR;
        else if (!strcasecmp(cap, "avx2")) want = KN_ISA_AVX2;
        else if (!strcasecmp(cap, "avx512")) want = KN_ISA_AVX512;
        if (want < isa) isa = want;
    }
    return isa;
}

const char *kn_isa_name(kn_isa isa) {
    switch (isa) {
    case KN_ISA_SCALAR: return "scalar";
    case KN_ISA_AVX2: return "avx2";
    case KN_ISA_AVX512: return "avx512";
    }
    return "?";
}
