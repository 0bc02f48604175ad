/* Frame quality metrics for eval-interp: RGB PSNR and luma SSIM (Wang et al. 2004: 11x11 Gaussian
 * window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, window positions fully inside the frame). */
#include "interp/interp.h"
#include <math.h>
#include <stdlib.h>

double kn_psnr_rgb(const uint8_t *a, const uint8_t *b, int w, int h) {
    size_t n = (size_t)w * h * 3;
    double se = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)a[i] - b[i]; se += d * d; }
    if (se == 0) return INFINITY;
    return 10.0 * log10(255.0 * 255.0 * (double)n / se);
}

static double luma(const uint8_t *p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

enum { SX, SY, SXX, SYY, SXY, NSUM };

/* Row r's horizontal window sums (the five maps) at the ow window positions into hs. */
static void row_sums(const uint8_t *a, const uint8_t *b, int w, int r, const double *g, int win, int ow,
                     double *lx, double *ly, double *hs) {
    for (int c = 0; c < w; c++) {
        lx[c] = luma(a + 3 * ((size_t)r * w + c));
        ly[c] = luma(b + 3 * ((size_t)r * w + c));
    }
    for (int c = 0; c < ow; c++) {
        double s[NSUM] = {0};
        for (int k = 0; k < win; k++) {
            double xv = lx[c + k], yv = ly[c + k];
            s[SX] += g[k] * xv; s[SY] += g[k] * yv; s[SXX] += g[k] * xv * xv; s[SYY] += g[k] * yv * yv;
            s[SXY] += g[k] * xv * yv;
        }
        for (int m = 0; m < NSUM; m++) hs[(size_t)m * ow + c] = s[m];
    }
}

/* The window is separable: each row's horizontal sums are kept in a ring of win rows, and every
 * output row sums its win rows in order, so only win rows are held (a frame's worth of doubles, 56
 * bytes a pixel, was allocated and faulted in for every frame before). */
double kn_ssim_luma(const uint8_t *a, const uint8_t *b, int w, int h) {
    int win = 11;
    if (w < win || h < win) win = w < h ? w : h;
    double g[11], gs = 0;
    for (int i = 0; i < win; i++) { double d = i - (win - 1) / 2.0; g[i] = exp(-d * d / (2 * 1.5 * 1.5)); gs += g[i]; }
    for (int i = 0; i < win; i++) g[i] /= gs;
    int ow = w - win + 1, oh = h - win + 1;
    size_t row = (size_t)NSUM * ow;
    double *mem = malloc(sizeof(double) * (2 * (size_t)w + (size_t)win * row));
    if (!mem) return NAN;
    double *lx = mem, *ly = mem + w, *ring = mem + 2 * (size_t)w;
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    double total = 0;
    for (int r = 0; r < win - 1; r++) row_sums(a, b, w, r, g, win, ow, lx, ly, ring + (size_t)r * row);
    for (int r = 0; r < oh; r++) {
        int last = r + win - 1;
        row_sums(a, b, w, last, g, win, ow, lx, ly, ring + (size_t)(last % win) * row);
        for (int c = 0; c < ow; c++) {
            double s[NSUM] = {0};
            for (int k = 0; k < win; k++) {
                const double *hs = ring + (size_t)((r + k) % win) * row;
                for (int m = 0; m < NSUM; m++) s[m] += g[k] * hs[(size_t)m * ow + c];
            }
            double mx = s[SX], my = s[SY], vx = s[SXX] - mx * mx, vy = s[SYY] - my * my, cxy = s[SXY] - mx * my;
            total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        }
    }
    free(mem);
    return total / ((double)ow * oh);
}
