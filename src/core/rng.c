/* Philox4x32-10 (Salmon et al. 2011): counter-based, so element i of a noise tensor depends only on
 * (seed, stream, i) and never on thread count or order of generation. */
#include "core/core.h"
#include <math.h>

void kn_philox(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static float u01(uint32_t x) { return (float)((x >> 8) * (1.0 / 16777216.0)); }

void kn_randu(float *out, size_t n, uint64_t seed, uint64_t stream) {
    for (size_t i = 0; i < n; i += 4) {
        uint32_t r[4];
        kn_philox(seed, stream, i / 4, r);
        for (size_t j = 0; j < 4 && i + j < n; j++) out[i + j] = u01(r[j]);
    }
}

/* Box-Muller on pairs, in double for accuracy. */
void kn_randn(float *out, size_t n, uint64_t seed, uint64_t stream) {
    for (size_t i = 0; i < n; i += 4) {
        uint32_t r[4];
        kn_philox(seed, stream, i / 4, r);
        for (int pair = 0; pair < 2; pair++) {
            double u1 = ((r[2 * pair] >> 8) + 1.0) / 16777217.0;   /* (0,1] */
            double u2 = (r[2 * pair + 1] >> 8) / 16777216.0;
            double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
            size_t k = i + 2 * (size_t)pair;
            if (k < n) out[k] = (float)(rad * cos(th));
            if (k + 1 < n) out[k + 1] = (float)(rad * sin(th));
        }
    }
}
