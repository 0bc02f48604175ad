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

double kn_ssim_luma(const uint8_t *a, const uint8_t *b, int w, int h) {
    int win = 11;
    if (w < win || h < win) win = w < h ? w : h;
    double g[11], gs = 0;
    for (int i = 0; i < win; i++) { double d = i - (win - 1) / 2.0; g[i] = exp(-d * d / (2 * 1.5 * 1.5)); gs += g[i]; }
    for (int i = 0; i < win; i++) g[i] /= gs;
    int ow = w - win + 1, oh = h - win + 1;
    size_t n = (size_t)w * h;
    double *mem = malloc(sizeof(double) * (2 * n + 5 * (size_t)ow * h));
    if (!mem) return NAN;
    double *x = mem, *y = mem + n, *hs = mem + 2 * n;   /* 5 horizontally filtered maps */
    for (size_t i = 0; i < n; i++) { x[i] = luma(a + 3 * i); y[i] = luma(b + 3 * i); }
    for (int r = 0; r < h; r++)
        for (int c = 0; c < ow; c++) {
            double s[5] = {0};
            for (int k = 0; k < win; k++) {
                double xv = x[(size_t)r * w + c + k], yv = y[(size_t)r * w + c + k];
                s[0] += g[k] * xv; s[1] += g[k] * yv; s[2] += g[k] * xv * xv; s[3] += g[k] * yv * yv; s[4] += g[k] * xv * yv;
            }
            for (int m = 0; m < 5; m++) hs[(size_t)m * ow * h + (size_t)r * ow + c] = s[m];
        }
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    double total = 0;
    for (int r = 0; r < oh; r++)
        for (int c = 0; c < ow; c++) {
            double s[5] = {0};
            for (int k = 0; k < win; k++)
                for (int m = 0; m < 5; m++) s[m] += g[k] * hs[(size_t)m * ow * h + (size_t)(r + k) * ow + c];
            double mx = s[0], my = s[1], vx = s[2] - mx * mx, vy = s[3] - my * my, cxy = s[4] - mx * my;
            total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        }
    free(mem);
    return total / ((double)ow * oh);
}
