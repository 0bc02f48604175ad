/* yadif's rule, one plane at a time (deinterlace.h). */
#include "io/deinterlace.h"
#include <stdlib.h>
#include <string.h>

static inline int absi(int a) { return a < 0 ? -a : a; }
static inline int max3(int a, int b, int c) { int m = a > b ? a : b; return m > c ? m : c; }
static inline int min3(int a, int b, int c) { int m = a < b ? a : b; return m < c ? m : c; }
static inline int mini(int a, int b) { return a < b ? a : b; }
static inline int maxi(int a, int b) { return a > b ? a : b; }

/* Row y + dy, reflected about y where it leaves the plane (as yadif does), y where both sides do. */
static int row_near(int y, int dy, int h) {
    if (y + dy >= 0 && y + dy < h) return y + dy;
    if (y - dy >= 0 && y - dy < h) return y - dy;
    return y;
}

/* Rebuilt row y (not of the field's parity). */
static void rebuild_row(const uint8_t *p2, const uint8_t *p1, const uint8_t *cur, const uint8_t *n1,
                        const uint8_t *n2, ptrdiff_t stride, int w, int h, int y, uint8_t *out) {
    /* the field's own rows above and below (one of them twice at the top or bottom edge) */
    ptrdiff_t ra = row_near(y, -1, h) * stride, rb = row_near(y, 1, h) * stride;
    ptrdiff_t rm = y * stride, ru = row_near(y, -2, h) * stride, rd = row_near(y, 2, h) * stride;
    /* next to the top and bottom rows the rows two away are not the field's neighbours'; near the
     * sides a direction would reach outside: there the plainer rules (yadif's edges) */
    int check_rows = y != 1 && y != h - 2;
    const uint8_t *ca = cur + ra, *cb = cur + rb;
    for (int x = 0; x < w; x++) {
        int above = ca[x], below = cb[x];
        int d = (p1[rm + x] + n1[rm + x]) >> 1;   /* the temporal guess: the fields either side */
        int td0 = absi(p1[rm + x] - n1[rm + x]);
        int td1 = (absi(p2[ra + x] - above) + absi(p2[rb + x] - below)) >> 1;
        int td2 = (absi(n2[ra + x] - above) + absi(n2[rb + x] - below)) >> 1;
        int diff = max3(td0 >> 1, td1, td2);
        /* the spatial guess: along the direction (up to 2 px either way) whose three pixel pairs
         * differ least, a further one tried only where the nearer one was better */
#define AT(row, dx) (row)[x + (dx) < 0 ? 0 : x + (dx) >= w ? w - 1 : x + (dx)]
#define SCORE(j) (absi(AT(ca, -1 + (j)) - AT(cb, -1 - (j))) + absi(AT(ca, (j)) - AT(cb, -(j))) + \
                  absi(AT(ca, 1 + (j)) - AT(cb, 1 - (j))))
        int pred = (above + below) >> 1, best = SCORE(0) - 1;
        for (int side = -1; side <= 1 && x >= 3 && x < w - 3; side += 2)
            for (int j = side; absi(j) <= 2; j += side) {
                int s = SCORE(j);
                if (s >= best) break;
                best = s;
                pred = (AT(ca, j) + AT(cb, -j)) >> 1;
            }
#undef SCORE
#undef AT
        /* the change two rows away widens how far the spatial guess may leave the temporal one */
        if (check_rows) {
            int b = (p1[ru + x] + n1[ru + x]) >> 1, f = (p1[rd + x] + n1[rd + x]) >> 1;
            int hi = max3(d - below, d - above, mini(b - above, f - below));
            int lo = min3(d - below, d - above, maxi(b - above, f - below));
            diff = max3(diff, lo, -hi);
        }
        if (pred > d + diff) pred = d + diff;
        else if (pred < d - diff) pred = d - diff;
        out[x] = (uint8_t)(pred < 0 ? 0 : pred > 255 ? 255 : pred);
    }
}

void kn_deinterlace_plane(const uint8_t *p2, const uint8_t *p1, const uint8_t *cur, const uint8_t *n1,
                          const uint8_t *n2, ptrdiff_t stride, int w, int h, int parity, uint8_t *out,
                          ptrdiff_t out_stride) {
    if (!p1) p1 = n1;
    if (!n1) n1 = p1;
    if (!p1) p1 = n1 = cur;
    if (!p2) p2 = cur;
    if (!n2) n2 = cur;
    for (int y = 0; y < h; y++) {
        if ((y & 1) == parity || h == 1) memcpy(out + y * out_stride, cur + y * stride, (size_t)w);
        else rebuild_row(p2, p1, cur, n1, n2, stride, w, h, y, out + y * out_stride);
    }
}

/* Levels by which the interpolated top fields of a frame and both its neighbours must differ for a
 * pixel to count as moving: flat and still parts say nothing about timing. */
#define FIELD_MOVE_LEVELS 12
/* Moving pixels needed before a verdict, and how much worse the neighbours' top fields must match
 * than the frame's own for PsF. Measured 2026-12-07 on H.264 (crf 16, interlaced coding) made from
 * real footage (vtest.avi, box.mp4, cup.mp4; 48 frames), each once as PsF (its frames flagged
 * interlaced) and once interlaced (pairs of frames woven as fields, both field orders): PsF 7.3,
 * 1.40 and 3.9; interlaced 0.83, 0.93 and 0.58. Below the threshold the frames stay split into
 * fields, as they were before this test. */
#define FIELD_MIN_MOVING 1000
#define FIELD_PSF_RATIO 1.25

/* The top field interpolated to bottom line y (odd, 3 <= y <= h - 4), pixel x: taps -1, 9, 9, -1 on
 * the top lines y - 3, y - 1, y + 1, y + 3, times 16. */
static int top_at(const uint8_t *p, ptrdiff_t stride, int y, int x) {
    return 9 * (p[(y - 1) * stride + x] + p[(y + 1) * stride + x]) - p[(y - 3) * stride + x] - p[(y + 3) * stride + x];
}

void kn_field_timing_add(const uint8_t *prev, const uint8_t *cur, const uint8_t *next, ptrdiff_t stride, int w,
                         int h, kn_field_timing *t) {
    double own = 0, to_prev = 0, to_next = 0;
    long long moving = 0;
    for (int y = 3; y + 3 < h; y += 2)
        for (int x = 0; x < w; x++) {
            int c = top_at(cur, stride, y, x), p = top_at(prev, stride, y, x), n = top_at(next, stride, y, x);
            if (abs(p - c) <= 16 * FIELD_MOVE_LEVELS || abs(n - c) <= 16 * FIELD_MOVE_LEVELS) continue;
            int b = 16 * cur[y * stride + x];
            own += abs(b - c);
            to_prev += abs(b - p);
            to_next += abs(b - n);
            moving++;
        }
    t->own += own;
    t->other += to_prev < to_next ? to_prev : to_next;
    t->moving += moving;
}

int kn_field_timing_is_psf(const kn_field_timing *t) {
    return t->moving >= FIELD_MIN_MOVING && t->other > FIELD_PSF_RATIO * t->own;
}
