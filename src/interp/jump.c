/* Jumps: content that changes in one frame step and stands still on both sides.
 *
 * On a screen recording a typed character appears and the cursor jumps one cell between two frames;
 * a slide, a menu or a webcam inset that repeats frames changes the same way. Nothing moves there:
 * the dropped frame shows either frame a or frame b, and which one cannot be told. The flow still
 * matches the cursor at a with the cursor at b, and the render slides it halfway, where neither
 * frame had it. Of the guesses that do not know which frame the dropped one equals, the mean of a
 * and b at the frame's time misses least (a quarter of the change squared at the midpoint), and it
 * missed half as much as the render on movie-hello.mp4's typing frames.
 *
 * The frames themselves show where this holds. Each frame m is compared, tile by tile, with
 * its neighbours m-1 and m+1: among the pixels that change from m-1 to m+1 by more than CHANGE
 * levels, m matches one end (within MATCH levels on every channel). A tile is a jump at m when at
 * least SHARE of those pixels match the same end, and hardly any pixel near it shows content that
 * neither end has (NEW_SHARE): a moving object shows both, at the intermediate place it passes
 * through and, at a moving edge, by matching m-1 on one side and m+1 on the other. A pair's tile is
 * rendered as the blend when a matches a-1 there (nothing happened before) and b matches b+1 (nothing
 * after), so the whole change happened between a and b. (A still pair between two changes, as at
 * the top of a throw, is a jump at both frames too, but the other way round, and keeps the render.)
 *
 * Measured (2026-12-06, docs/interpolation.md): movie-hello.mp4 +0.14 dB on minterpolate's frames
 * (its gain over minterpolate +0.47 -> +0.61); the other 17 clips of the two tables kept their PSNR
 * to 0.001 dB. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <stdlib.h>

#define CHANGE 24     /* levels on some channel: the pixel changes from m-1 to m+1 */
#define MATCH 6       /* levels on every channel: m matches that end */
#define BLOCK 16      /* pixels are counted in blocks of this side, and the windows are made of them */
#define REACH 1       /* blocks: the match shares count the pixels this far around the tile too */
#define NEW_REACH 3   /* and new content this far, where a moving object passing the tile would be */
#define MIN_CHANGED 16
#define SHARE 0.9
#define NEW_SHARE 0.1

/* What one pixel shows, as indices into a block's counts. */
enum { CHANGED, MATCHES_PREV, MATCHES_NEXT, NEW, NCOUNTS };

static int max_diff(const uint8_t *p, const uint8_t *q) {
    int m = 0;
    for (int c = 0; c < 3; c++) {
        int d = p[c] > q[c] ? p[c] - q[c] : q[c] - p[c];
        if (d > m) m = d;
    }
    return m;
}

typedef struct {
    const uint8_t *prev, *mid, *next;
    int w, h;
    int bw, bh;           /* blocks per row and column */
    int *counts;          /* NCOUNTS per block, row by row */
} measure_job;

static void count_task(void *arg, int by) {
    const measure_job *j = arg;
    int *row = j->counts + (size_t)by * j->bw * NCOUNTS;
    for (int i = 0; i < j->bw * NCOUNTS; i++) row[i] = 0;
    for (int y = by * BLOCK; y < (by + 1) * BLOCK && y < j->h; y++)
        for (int x = 0; x < j->w; x++) {
            size_t q = ((size_t)y * j->w + x) * 3;
            int *c = row + (x / BLOCK) * NCOUNTS;
            int dp = max_diff(j->mid + q, j->prev + q), dn = max_diff(j->mid + q, j->next + q);
            c[NEW] += (dp < dn ? dp : dn) > CHANGE;
            if (max_diff(j->prev + q, j->next + q) <= CHANGE) continue;
            c[CHANGED]++;
            c[MATCHES_PREV] += dp <= MATCH;
            c[MATCHES_NEXT] += dn <= MATCH;
        }
}

/* The counts summed over the blocks of tile (tx, ty) and `reach` blocks around it. */
static void window_counts(const measure_job *j, int tx, int ty, int reach, int sum[NCOUNTS]) {
    int per = KN_JUMP_TILE / BLOCK;
    int x0 = kn_clampi(tx * per - reach, 0, j->bw), x1 = kn_clampi((tx + 1) * per + reach, 0, j->bw);
    int y0 = kn_clampi(ty * per - reach, 0, j->bh), y1 = kn_clampi((ty + 1) * per + reach, 0, j->bh);
    for (int k = 0; k < NCOUNTS; k++) sum[k] = 0;
    for (int by = y0; by < y1; by++)
        for (int bx = x0; bx < x1; bx++)
            for (int k = 0; k < NCOUNTS; k++) sum[k] += j->counts[((size_t)by * j->bw + bx) * NCOUNTS + k];
}

static int8_t tile_kind(const measure_job *j, int tx, int ty) {
    int near[NCOUNTS], wide[NCOUNTS];
    window_counts(j, tx, ty, REACH, near);
    window_counts(j, tx, ty, NEW_REACH, wide);
    double changed = near[CHANGED];
    if (changed < MIN_CHANGED) return KN_JUMP_NONE;
    if (wide[NEW] > NEW_SHARE * changed) return KN_JUMP_MOVED;
    if (near[MATCHES_PREV] >= SHARE * changed) return KN_JUMP_AFTER;
    if (near[MATCHES_NEXT] >= SHARE * changed) return KN_JUMP_BEFORE;
    return KN_JUMP_MOVED;
}

kn_status kn_jump_measure(const kn_ctx *ctx, const uint8_t *prev, const uint8_t *mid, const uint8_t *next, int w,
                          int h, int8_t *tiles, kn_error *err) {
    int bw = (w + BLOCK - 1) / BLOCK, bh = (h + BLOCK - 1) / BLOCK;
    int *counts = malloc(sizeof *counts * NCOUNTS * (size_t)bw * bh);
    if (!counts) return kn_fail(err, KN_ENOMEM, "interp: out of memory looking for jumps in %dx%d frames", w, h);
    measure_job j = {prev, mid, next, w, h, bw, bh, counts};
    kn_interp_run(ctx, bh, count_task, &j);
    int tw = kn_jump_span(w), th = kn_jump_span(h);
    for (int ty = 0; ty < th; ty++)
        for (int tx = 0; tx < tw; tx++) tiles[(size_t)ty * tw + tx] = tile_kind(&j, tx, ty);
    free(counts);
    return KN_OK;
}

typedef struct {
    const uint8_t *a, *b;
    const int8_t *at_a, *at_b;
    int w, h;
    float t;
    uint8_t *out;
} blend_job;

static void blend_task(void *arg, int y) {
    const blend_job *j = arg;
    int tw = kn_jump_span(j->w);
    size_t trow = (size_t)(y / KN_JUMP_TILE) * tw;
    for (int tx = 0; tx < tw; tx++) {
        if (j->at_a[trow + tx] != KN_JUMP_AFTER || j->at_b[trow + tx] != KN_JUMP_BEFORE) continue;
        int x1 = (tx + 1) * KN_JUMP_TILE < j->w ? (tx + 1) * KN_JUMP_TILE : j->w;
        for (size_t q = ((size_t)y * j->w + (size_t)tx * KN_JUMP_TILE) * 3; q < ((size_t)y * j->w + x1) * 3; q++)
            j->out[q] = (uint8_t)((1 - j->t) * j->a[q] + j->t * j->b[q] + 0.5f);
    }
}

void kn_jump_blend(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, int w, int h, const int8_t *at_a,
                   const int8_t *at_b, float t, uint8_t *out) {
    blend_job j = {a, b, at_a, at_b, w, h, t, out};
    kn_interp_run(ctx, h, blend_task, &j);
}
