/* Masked NCC templates, object scores, tracking, motion classes and flicker. */
#include "eval/eval.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const float SCALES[KN_EVAL_NSCALES] = {0.55f, 0.66f, 0.78f, 0.9f, 1.0f, 1.1f, 1.2f, 1.3f};

static const char *const CLASSES[KN_MC_COUNT] = {
    "left", "right", "up", "down", "up-left", "up-right", "down-left", "down-right", "bounce", "grow", "shrink", "still"};
const char *kn_eval_class_name(int c) { return c >= 0 && c < KN_MC_COUNT ? CLASSES[c] : "?"; }

int kn_eval_expected_class(int m) {
    switch (m) {
    case KN_MOT_BOUNCING: return KN_MC_BOUNCE;
    case KN_MOT_FALLING: return KN_MC_DOWN;
    case KN_MOT_SPINNING: return KN_MC_STILL;
    case KN_MOT_GROWING: return KN_MC_GROW;
    case KN_MOT_SHRINKING: return KN_MC_SHRINK;
    default: return m;   /* the eight directions share their order with kn_motion */
    }
}

/* The silhouette's background ring: pixels with alpha < 0.1 (or outside the sprite's box) within
 * `margin` pixels (Chebyshev distance) of an opaque one (alpha >= 0.75). A template that fits the
 * object sees background there; one smaller than the object, placed inside it, sees the object. */
static kn_status build_ring(const float *px, int side, kn_eval_tmpl *t) {
    int m = (int)lroundf(side * 0.15f);
    if (m < 1) m = 1;
    int S = side + 2 * m;
    t->nring = 0;
    t->ring_dx = malloc((size_t)S * S * sizeof *t->ring_dx);
    t->ring_dy = malloc((size_t)S * S * sizeof *t->ring_dy);
    if (!t->ring_dx || !t->ring_dy) return KN_ENOMEM;
#define ALPHA(x, y) ((x) < 0 || (y) < 0 || (x) >= side || (y) >= side ? 0.f : px[((size_t)(y) * side + (x)) * 4 + 3])
    for (int y = -m; y < side + m; y++)
        for (int x = -m; x < side + m; x++) {
            if (ALPHA(x, y) >= 0.1f) continue;
            int near = 0;
            for (int v = y - m; v <= y + m && !near; v++)
                for (int u = x - m; u <= x + m && !near; u++) near = ALPHA(u, v) >= 0.75f;
            if (!near) continue;
            t->ring_dx[t->nring] = x;
            t->ring_dy[t->nring++] = y;
        }
#undef ALPHA
    return KN_OK;
}

/* Blurs the colour of the opaque pixels (alpha >= 0.75) of premultiplied RGBA px by `passes` 3x3
 * binomial passes, averaging over opaque neighbours only, so the silhouette and the background stay
 * out of it. Why: decoded and generated objects lack the sprite's finest detail (seeds, eyes,
 * stripes), and against sharp templates a plain look-alike (the balloon) outscored the right
 * sprite; through the shipped autoencoder the true object won in only 72% of clips. */
static int blur_inside(float *px, int side, int passes) {
    size_t n = (size_t)side * side;
    float *col = malloc(n * 3 * sizeof *col), *tmp = malloc(n * 3 * sizeof *tmp);
    if (!col || !tmp) { free(col); free(tmp); return -1; }
#define OPAQUE(x, y) (px[((size_t)(y) * side + (x)) * 4 + 3] >= 0.75f)
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) col[i * 3 + c] = px[i * 4 + 3] >= 0.75f ? px[i * 4 + c] / px[i * 4 + 3] : 0.f;
    for (int p = 0; p < passes; p++)
        for (int axis = 0; axis < 2; axis++) {
            memcpy(tmp, col, n * 3 * sizeof *col);
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) {
                    if (!OPAQUE(x, y)) continue;
                    float acc[3] = {0, 0, 0}, ws = 0;
                    for (int d = -1; d <= 1; d++) {
                        int u = axis ? x : x + d, v = axis ? y + d : y;
                        if (u < 0 || v < 0 || u >= side || v >= side || !OPAQUE(u, v)) continue;
                        float w = d ? 0.25f : 0.5f;
                        ws += w;
                        for (int c = 0; c < 3; c++) acc[c] += w * tmp[((size_t)v * side + u) * 3 + c];
                    }
                    for (int c = 0; c < 3; c++) col[((size_t)y * side + x) * 3 + c] = acc[c] / ws;
                }
        }
    for (size_t i = 0; i < n; i++)
        if (px[i * 4 + 3] >= 0.75f)
            for (int c = 0; c < 3; c++) px[i * 4 + c] = col[i * 3 + c] * px[i * 4 + 3];
#undef OPAQUE
    free(col);
    free(tmp);
    return 0;
}

/* Only clearly opaque pixels count: edges blend with whatever background the clip has. They are
 * stored as horizontal runs with offsets into a frame of side fsize, so matching reads memory in
 * order. */
static kn_status build_one(const kn_sprite *sp, int side, int fsize, kn_eval_tmpl *t, kn_error *err) {
    float *px = malloc((size_t)side * side * 4 * sizeof *px);
    t->side = side;
    t->run_off = malloc((size_t)side * side * sizeof *t->run_off);
    t->run_len = malloc((size_t)side * side * sizeof *t->run_len);
    t->val = malloc((size_t)side * side * 3 * sizeof *t->val);
    t->raw = malloc((size_t)side * side * 3 * sizeof *t->raw);
    if (!px || !t->run_off || !t->run_len || !t->val || !t->raw) { free(px); return kn_fail(err, KN_ENOMEM, "eval: out of memory for templates"); }
    kn_status st = kn_sprite_scale(sp, side, px, err);
    if (st) { free(px); return st; }
    if (blur_inside(px, side, KN_EVAL_TEMPLATE_BLUR)) { free(px); return kn_fail(err, KN_ENOMEM, "eval: out of memory for templates"); }
    int n = 0, nr = 0;
    double mean = 0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            const float *q = px + ((size_t)y * side + x) * 4;
            if (q[3] < 0.75f) continue;
            if (x == 0 || px[((size_t)y * side + x - 1) * 4 + 3] < 0.75f) {
                t->run_off[nr] = (y * fsize + x) * 3;
                t->run_len[nr++] = 0;
            }
            t->run_len[nr - 1] += 3;
            for (int c = 0; c < 3; c++) { t->raw[3 * n + c] = t->val[3 * n + c] = q[c] / q[3]; mean += q[c] / q[3]; }
            n++;
        }
    kn_status rs = build_ring(px, side, t);
    free(px);
    if (rs) return kn_fail(err, KN_ENOMEM, "eval: out of memory for templates");
    t->npix = n;
    t->nruns = nr;
    if (n < 4) return kn_fail(err, KN_EINTERNAL, "eval: sprite U+%04X has no opaque pixels at %d px", sp->codepoint, side);
    mean /= 3.0 * n;
    double nn = 0;
    for (int i = 0; i < 3 * n; i++) { t->val[i] -= (float)mean; nn += (double)t->val[i] * t->val[i]; }
    t->norm = (float)sqrt(nn);
    return KN_OK;
}

kn_status kn_eval_templates_build(const kn_sprite_set *set, int size, kn_eval_templates *T, kn_error *err) {
    memset(T, 0, sizeof *T);
    T->size = size;
    int base = kn_ds_sprite_side(size);
    for (int s = 0; s < KN_EVAL_NSCALES; s++) T->scales[s] = SCALES[s];
    for (int o = 0; o < KN_DS_NOBJECTS; o++)
        for (int s = 0; s < KN_EVAL_NSCALES; s++) {
            int side = (int)lroundf(base * SCALES[s]);
            if (side < 3) side = 3;
            kn_status st = build_one(&set->s[o], side, size, &T->t[o][s], err);
            if (st) { kn_eval_templates_free(T); return st; }
        }
    return KN_OK;
}

void kn_eval_templates_free(kn_eval_templates *T) {
    for (int o = 0; o < KN_DS_NOBJECTS; o++)
        for (int s = 0; s < KN_EVAL_NSCALES; s++) {
            free(T->t[o][s].run_off); free(T->t[o][s].run_len); free(T->t[o][s].val); free(T->t[o][s].raw);
            free(T->t[o][s].ring_dx); free(T->t[o][s].ring_dy);
        }
    memset(T, 0, sizeof *T);
}

void kn_eval_frame_f32(const uint8_t *rgb, int size, float *out) {
    for (size_t i = 0; i < (size_t)size * size * 3; i++) out[i] = rgb[i] * (1.f / 255.f);
}

/* Match score of template t with its top-left at (px, py) of a half-resolution frame of side h:
 * NCC (shape and shading) minus 1.5 x the mean absolute colour difference, because NCC alone lets
 * plain blobs (a balloon, a heart) match any patch with a similar light-dark structure. */
static float ncc_at(const kn_eval_tmpl *t, const float *img, int h, int px, int py) {
    float si = 0, sii = 0, sti = 0, sad = 0;
    const float *base = img + ((size_t)py * h + px) * 3, *v = t->val, *r = t->raw;
    for (int k = 0; k < t->nruns; k++) {
        const float *p = base + t->run_off[k];
        for (int j = 0; j < t->run_len[k]; j++) {
            si += p[j];
            sii += p[j] * p[j];
            sti += v[j] * p[j];
            sad += fabsf(p[j] - r[j]);
        }
        v += t->run_len[k];
        r += t->run_len[k];
    }
    float n3 = 3.f * t->npix, var = sii - si * si / n3, mad = sad / n3;
    if (var < 1e-9f) return -1.5f * mad;
    return sti / (sqrtf(var) * t->norm) - 1.5f * mad;
}

/* Silhouette term at top-left (px, py): the mean absolute difference (per channel, 0..1) between the
 * ring pixels inside the frame and the mean colour under the silhouette. */
static float ring_contrast(const kn_eval_tmpl *t, const float *img, int h, int px, int py) {
    double in[3] = {0, 0, 0};
    const float *base = img + ((size_t)py * h + px) * 3;
    for (int k = 0; k < t->nruns; k++) {
        const float *p = base + t->run_off[k];
        for (int j = 0; j < t->run_len[k]; j += 3) { in[0] += p[j]; in[1] += p[j + 1]; in[2] += p[j + 2]; }
    }
    for (int c = 0; c < 3; c++) in[c] /= t->npix;
    double d = 0;
    int n = 0;
    for (int k = 0; k < t->nring; k++) {
        int x = px + t->ring_dx[k], y = py + t->ring_dy[k];
        if (x < 0 || y < 0 || x >= h || y >= h) continue;
        const float *q = img + ((size_t)y * h + x) * 3;
        d += fabs(q[0] - in[0]) + fabs(q[1] - in[1]) + fabs(q[2] - in[2]);
        n++;
    }
    return n ? (float)(d / (3.0 * n)) : 0.f;
}

/* The match score: NCC with its colour penalty, plus the silhouette term. Two passes over the
 * silhouette's pixels; fusing ring_contrast's colour sums into ncc_at's loop was measured 4% slower
 * (60 clips scored on one thread: 23.4 s against 22.4), the double sums lengthening its chain. */
static float score_at(const kn_eval_tmpl *t, const float *img, int h, int px, int py) {
    return ncc_at(t, img, h, px, py) + KN_EVAL_RING_WEIGHT * ring_contrast(t, img, h, px, py);
}

typedef struct { float score; int px, py, s; } hit;

/* Best match over scales [s0, s1] and top-left positions within [x0,x1]x[y0,y1] (clipped so the
 * template stays inside), stepping `stride` and then refining around the best. */
static hit search(const kn_eval_templates *T, int obj, const float *img, int s0, int s1, int cx0, int cy0, int cx1,
                  int cy1, int stride) {
    int h = T->size;
    hit best = {-2, 0, 0, s0};
    for (int s = s0; s <= s1; s++) {
        const kn_eval_tmpl *t = &T->t[obj][s];
        int lim = h - t->side, half = t->side / 2;
        int xa = cx0 - half, xb = cx1 - half, ya = cy0 - half, yb = cy1 - half;
        if (xa < 0) xa = 0;
        if (ya < 0) ya = 0;
        if (xb > lim) xb = lim;
        if (yb > lim) yb = lim;
        hit b = {-2, 0, 0, s};
        for (int y = ya; y <= yb; y += stride)
            for (int x = xa; x <= xb; x += stride) {
                float v = score_at(t, img, h, x, y);
                if (v > b.score) { b.score = v; b.px = x; b.py = y; }
            }
        if (b.score < -1) continue;
        if (stride > 1) {
            hit r = b;
            for (int y = b.py - stride + 1; y <= b.py + stride - 1; y++)
                for (int x = b.px - stride + 1; x <= b.px + stride - 1; x++) {
                    if (x < 0 || y < 0 || x > lim || y > lim) continue;
                    float v = score_at(t, img, h, x, y);
                    if (v > r.score) { r.score = v; r.px = x; r.py = y; }
                }
            b = r;
        }
        if (b.score > best.score) best = b;
    }
    return best;
}

kn_status kn_eval_object_hits(const kn_eval_templates *T, const uint8_t *frames, int nframes,
                              kn_eval_hit hits[KN_EVAL_NPICK][KN_DS_NOBJECTS], kn_error *err) {
    int h = T->size;
    float *img = malloc((size_t)h * h * 3 * sizeof *img);
    if (!img) return kn_fail(err, KN_ENOMEM, "eval: out of memory");
    int pick[KN_EVAL_NPICK] = {0, nframes / 2, nframes - 1};
    for (int k = 0; k < KN_EVAL_NPICK; k++) {
        kn_eval_frame_f32(frames + (size_t)pick[k] * T->size * T->size * 3, T->size, img);
        for (int o = 0; o < KN_DS_NOBJECTS; o++) {
            hit best = {-2, 0, 0, 0};
            for (int sc = 0; sc < KN_EVAL_NSCALES; sc++) {
                hit b = search(T, o, img, sc, sc, 0, 0, h, h, 2);
                if (b.score > best.score) best = b;
            }
            float side = (float)T->t[o][best.s].side;
            hits[k][o] = (kn_eval_hit){best.score, best.px + side * 0.5f, best.py + side * 0.5f, side};
        }
    }
    free(img);
    return KN_OK;
}

/* Two hits on the same spot are one object seen twice (a balloon template on a red apple). */
static int overlaps(const kn_eval_hit *a, const kn_eval_hit *b) {
    float dx = a->x - b->x, dy = a->y - b->y, r = 0.35f * (a->side + b->side);
    return dx * dx + dy * dy < r * r;
}

void kn_eval_pick_objects(const kn_eval_hit hits[KN_EVAL_NPICK][KN_DS_NOBJECTS], int k, int *out) {
    for (int n = 0; n < k; n++) {
        int best = -1;
        float bs = -1e9f;
        for (int o = 0; o < KN_DS_NOBJECTS; o++) {
            int taken = 0;
            for (int j = 0; j < n; j++) taken |= out[j] == o;
            if (taken) continue;
            float s = -1e9f;
            for (int f = 0; f < KN_EVAL_NPICK; f++) {
                int clash = 0;
                for (int j = 0; j < n; j++) clash |= overlaps(&hits[f][o], &hits[f][out[j]]);
                if (!clash && hits[f][o].score > s) s = hits[f][o].score;
            }
            if (best < 0 || s > bs) { best = o; bs = s; }
        }
        out[n] = best;
    }
}

kn_status kn_eval_track(const kn_eval_templates *T, int obj, const uint8_t *frames, int nframes, float *xs,
                        float *ys, float *scales, float *scores, kn_error *err) {
    int h = T->size, win = h / 5 > 3 ? h / 5 : 3;
    float *img = malloc((size_t)h * h * 3 * sizeof *img);
    if (!img) return kn_fail(err, KN_ENOMEM, "eval: out of memory");
    hit prev = {0, 0, 0, 0};
    for (int f = 0; f < nframes; f++) {
        kn_eval_frame_f32(frames + (size_t)f * T->size * T->size * 3, T->size, img);
        hit b;
        if (f == 0) b = search(T, obj, img, 0, KN_EVAL_NSCALES - 1, 0, 0, h, h, 2);
        else {
            int half = T->t[obj][prev.s].side / 2, cx = prev.px + half, cy = prev.py + half;
            b = search(T, obj, img, 0, KN_EVAL_NSCALES - 1, cx - win, cy - win, cx + win, cy + win, 1);
        }
        const kn_eval_tmpl *t = &T->t[obj][b.s];
        xs[f] = b.px + t->side * 0.5f;
        ys[f] = b.py + t->side * 0.5f;
        scales[f] = T->scales[b.s];
        scores[f] = b.score;
        prev = b;
    }
    free(img);
    return KN_OK;
}

/* The frames the classifier averages at each end: the first and last thirds (one frame below 6). */
static int end_frames(int n) { return n >= 6 ? n / 3 : 1; }

float kn_eval_growth(const float *scales, int n) {
    int k = end_frames(n);
    float s0 = 0, s1 = 0;
    for (int i = 0; i < k; i++) { s0 += scales[i]; s1 += scales[n - 1 - i]; }
    return s0 > 0 ? s1 / s0 : 1.f;
}

/* Thresholds are fractions of the frame: a direction needs a net move of 15% of it, a bounce an up
 * and a down travel of 20% each over a vertical range of 25%, a size change a factor of 1.6 between the first and last thirds. */
int kn_eval_classify(const float *xs, const float *ys, const float *scales, int n, int size) {
    int k = end_frames(n);
    float x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    for (int i = 0; i < k; i++) {
        x0 += xs[i]; x1 += xs[n - 1 - i];
        y0 += ys[i]; y1 += ys[n - 1 - i];
    }
    /* 1.6: the data set's growth is 0.55 -> 1.3 (about 1.9 between thirds), while an upright template
     * tracks a turning object at up to ~1.5 times too small a scale */
    float g = kn_eval_growth(scales, n);
    if (g > 1.6f) return KN_MC_GROW;
    if (g * 1.6f < 1.f) return KN_MC_SHRINK;
    float up = 0, down = 0;
    for (int i = 1; i < n; i++) {
        float d = ys[i] - ys[i - 1];
        if (d > 0) down += d; else up -= d;
    }
    float ylo = ys[0], yhi = ys[0];
    for (int i = 1; i < n; i++) { if (ys[i] < ylo) ylo = ys[i]; if (ys[i] > yhi) yhi = ys[i]; }
    if (up > 0.2f * size && down > 0.2f * size && yhi - ylo > 0.25f * size) return KN_MC_BOUNCE;
    float dx = (x1 - x0) / k, dy = (y1 - y0) / k;
    if (sqrtf(dx * dx + dy * dy) < 0.15f * size) return KN_MC_STILL;
    /* eight 45-degree sectors, image y pointing down */
    double a = atan2(-dy, dx) * 180.0 / M_PI;
    if (a < 0) a += 360;
    static const int sector[8] = {KN_MC_RIGHT, KN_MC_UP_RIGHT, KN_MC_UP, KN_MC_UP_LEFT, KN_MC_LEFT, KN_MC_DOWN_LEFT,
                                  KN_MC_DOWN, KN_MC_DOWN_RIGHT};
    return sector[(int)floor((a + 22.5) / 45.0) % 8];
}

double kn_eval_flicker(const uint8_t *frames, int nframes, int size) {
    if (nframes < 2) return 0;
    size_t n = (size_t)size * size * 3;
    double total = 0;
    for (int f = 1; f < nframes; f++) {
        const uint8_t *a = frames + (size_t)(f - 1) * n, *b = frames + (size_t)f * n;
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) s += (uint64_t)abs((int)a[i] - (int)b[i]);
        total += (double)s / n;
    }
    return total / (nframes - 1);
}
