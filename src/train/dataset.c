/* Synthetic clips: specification, captions, backgrounds and rendering (see dataset.h). */
#include "train/dataset.h"
#include <math.h>
#include <stdlib.h>

typedef struct { uint64_t s; } rng;

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t next(rng *r) { return mix64(r->s += 0x9E3779B97F4A7C15ull); }
static float unif(rng *r, float lo, float hi) { return lo + (hi - lo) * (float)(next(r) >> 40) * (1.0f / 16777216.0f); }
static int pick(rng *r, int n) { return (int)(next(r) % (uint64_t)n); }

static const char *const MOTIONS[KN_MOT_COUNT] = {
    "left", "right", "up", "down", "up-left", "up-right", "down-left", "down-right",
    "bouncing", "falling", "spinning", "growing", "shrinking"};
static const char *const PHRASES[KN_MOT_COUNT] = {
    "moving left", "moving right", "moving up", "moving down", "moving diagonally up and to the left",
    "moving diagonally up and to the right", "moving diagonally down and to the left",
    "moving diagonally down and to the right", "bouncing", "falling", "spinning", "growing", "shrinking"};
static const char *const BACKGROUNDS[KN_BG_COUNT] = {"plain", "gradient", "sky", "night", "grass", "checkered"};

typedef struct { const char *name; float rgb[3]; } named_colour;
static const named_colour COLOURS[] = {
    {"white", {0.96f, 0.96f, 0.96f}}, {"gray", {0.59f, 0.59f, 0.59f}}, {"black", {0.10f, 0.10f, 0.10f}},
    {"blue", {0.24f, 0.43f, 0.86f}}, {"light blue", {0.67f, 0.82f, 0.96f}}, {"green", {0.27f, 0.63f, 0.31f}},
    {"yellow", {0.94f, 0.84f, 0.31f}}, {"pink", {0.94f, 0.67f, 0.78f}}, {"orange", {0.94f, 0.59f, 0.24f}},
    {"purple", {0.51f, 0.31f, 0.67f}}};
#define NCOLOURS ((int)(sizeof COLOURS / sizeof COLOURS[0]))

const char *kn_ds_motion_name(int m) { return m >= 0 && m < KN_MOT_COUNT ? MOTIONS[m] : "?"; }
const char *kn_ds_motion_phrase(int m) { return m >= 0 && m < KN_MOT_COUNT ? PHRASES[m] : "?"; }
const char *kn_ds_background_name(int b) { return b >= 0 && b < KN_BG_COUNT ? BACKGROUNDS[b] : "?"; }

/* Time reversal maps a motion to the one a clip played backwards shows: a straight path runs the
 * other way, growing becomes shrinking, spinning stays spinning (the caption names no sense of
 * rotation). Bouncing and falling have no reversed form in the vocabulary (a reversed fall
 * decelerates upwards), so they give -1. */
int kn_ds_motion_reversed(int m) {
    static const int REV[KN_MOT_COUNT] = {
        KN_MOT_RIGHT, KN_MOT_LEFT, KN_MOT_DOWN, KN_MOT_UP, KN_MOT_DOWN_RIGHT, KN_MOT_DOWN_LEFT, KN_MOT_UP_RIGHT,
        KN_MOT_UP_LEFT, -1, -1, KN_MOT_SPINNING, KN_MOT_SHRINKING, KN_MOT_GROWING};
    return m >= 0 && m < KN_MOT_COUNT ? REV[m] : -1;
}

int kn_ds_caption_reversed(const char *caption, const int *motions, int n, char *out, size_t cap) {
    size_t o = 0;
    const char *p = caption;
    for (int k = 0; k < n; k++) {
        int r = kn_ds_motion_reversed(motions[k]);
        if (r < 0) return -1;
        const char *ph = kn_ds_motion_phrase(motions[k]), *q = p;
        size_t len = strlen(ph);
        /* the phrase as whole words, after the previous object's */
        while ((q = strstr(q, ph)) && ((q > caption && q[-1] != ' ') || (q[len] != ' ' && q[len] != '\0'))) q++;
        if (!q) return -1;
        const char *rp = kn_ds_motion_phrase(r);
        size_t head = (size_t)(q - p), rl = strlen(rp);
        if (o + head + rl >= cap) return -1;
        memcpy(out + o, p, head);
        memcpy(out + o + head, rp, rl);
        o += head + rl;
        p = q + len;
    }
    size_t tail = strlen(p);
    if (o + tail >= cap) return -1;
    memcpy(out + o, p, tail + 1);
    return 0;
}

/* The index of name in names[0..n), or -1. */
static int name_index(const char *const *names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}
int kn_ds_background_index(const char *name) { return name_index(BACKGROUNDS, KN_BG_COUNT, name); }
int kn_ds_motion_index(const char *name) { return name_index(MOTIONS, KN_MOT_COUNT, name); }

/* About 6% of the 1872 triples; fixed for all seeds so held-out lists of different runs agree. */
int kn_ds_is_heldout(int obj, int motion, int bg) {
    uint64_t h = mix64(0x6b696e6f7261ull ^ ((uint64_t)obj << 16) ^ ((uint64_t)motion << 8) ^ (uint64_t)bg);
    return h % 100 < 6;
}

int kn_ds_sprite_side(int size) { int s = (int)lround(size * 0.36); return s < 4 ? 4 : s; }

/* Each object keeps to its own half (a "lane") across its motion so two objects rarely overlap. */
static float lane(rng *r, int nobj, int k) {
    if (nobj == 1) return unif(r, 0.3f, 0.7f);
    return k == 0 ? unif(r, 0.22f, 0.38f) : unif(r, 0.62f, 0.78f);
}

static void trajectory(kn_clip_spec *c, int k, rng *r) {
    float far0 = unif(r, 0.72f, 0.82f), far1 = unif(r, 0.18f, 0.28f), l = lane(r, c->nobj, k);
    float *x0 = &c->x0[k], *x1 = &c->x1[k], *y0 = &c->y0[k], *y1 = &c->y1[k];
    *x0 = *x1 = l;
    *y0 = *y1 = c->nobj == 1 ? unif(r, 0.35f, 0.65f) : l;
    switch (c->motion[k]) {
    case KN_MOT_LEFT: *x0 = far0; *x1 = far1; *y1 = *y0; break;
    case KN_MOT_RIGHT: *x0 = far1; *x1 = far0; break;
    case KN_MOT_UP: *y0 = far0; *y1 = far1; break;
    case KN_MOT_DOWN: *y0 = far1; *y1 = far0; break;
    case KN_MOT_UP_LEFT: *x0 = far0; *x1 = far1; *y0 = far0; *y1 = far1; break;
    case KN_MOT_UP_RIGHT: *x0 = far1; *x1 = far0; *y0 = far0; *y1 = far1; break;
    case KN_MOT_DOWN_LEFT: *x0 = far0; *x1 = far1; *y0 = far1; *y1 = far0; break;
    case KN_MOT_DOWN_RIGHT: *x0 = far1; *x1 = far0; *y0 = far1; *y1 = far0; break;
    case KN_MOT_BOUNCING: *y0 = unif(r, 0.72f, 0.8f); *y1 = unif(r, 0.22f, 0.3f); break;   /* floor, top */
    case KN_MOT_FALLING: *y0 = unif(r, 0.15f, 0.25f); *y1 = unif(r, 0.75f, 0.85f); break;
    default: break;   /* spinning, growing, shrinking stay in place */
    }
    c->spin_dir[k] = next(r) & 1 ? 1.f : -1.f;
}

static void pose_t(const kn_clip_spec *c, int k, float t, float *x, float *y, float *scale, float *angle) {
    *x = c->x0[k] + (c->x1[k] - c->x0[k]) * t;
    *y = c->y0[k] + (c->y1[k] - c->y0[k]) * t;
    *scale = 1.f;
    *angle = 0.f;
    switch (c->motion[k]) {
    case KN_MOT_BOUNCING: *y = c->y0[k] + (c->y1[k] - c->y0[k]) * fabsf(sinf((float)M_PI * 1.5f * t)); break;
    case KN_MOT_FALLING: *y = c->y0[k] + (c->y1[k] - c->y0[k]) * t * t; break;
    case KN_MOT_SPINNING: *angle = c->spin_dir[k] * 2.f * (float)M_PI * t * 0.9375f; break;
    case KN_MOT_GROWING: *scale = 0.55f + 0.75f * t; break;
    case KN_MOT_SHRINKING: *scale = 1.3f - 0.75f * t; break;
    default: break;
    }
}

/* Two objects must stay apart all clip long (sprite half-sides 0.18 of the frame, times scale), or
 * neither the caption nor the evaluator could tell them apart. */
static int apart(const kn_clip_spec *c) {
    for (int i = 0; i <= 32; i++) {
        float t = i / 32.f, xa, ya, sa, aa, xb, yb, sb, ab;
        pose_t(c, 0, t, &xa, &ya, &sa, &aa);
        pose_t(c, 1, t, &xb, &yb, &sb, &ab);
        float need = 0.18f * 1.15f * (sa + sb);
        if ((xa - xb) * (xa - xb) + (ya - yb) * (ya - yb) < need * need) return 0;
    }
    return 1;
}

kn_clip_spec kn_ds_clip_spec(uint64_t seed, uint64_t index) {
    uint32_t key[4];
    kn_philox(seed, 0x6b64617461ull, index, key);
    rng r = {((uint64_t)key[0] << 32 | key[1]) ^ ((uint64_t)key[2] << 32 | key[3])};
    kn_clip_spec c;
    memset(&c, 0, sizeof c);
    c.nobj = unif(&r, 0, 1) < 0.25f ? 2 : 1;
    c.obj[0] = pick(&r, KN_DS_NOBJECTS);
    if (c.nobj == 2) { c.obj[1] = pick(&r, KN_DS_NOBJECTS - 1); if (c.obj[1] >= c.obj[0]) c.obj[1]++; }
    c.bg = pick(&r, KN_BG_COUNT);
    c.bg_colour = pick(&r, NCOLOURS);
    c.bg_colour2 = pick(&r, NCOLOURS - 1);
    if (c.bg_colour2 >= c.bg_colour) c.bg_colour2++;
    c.bg_seed = next(&r);
    /* rejection sampling of motion pairs that keep the objects apart; one object if none does */
    for (int tries = 0;; tries++) {
        for (int k = 0; k < c.nobj; k++) {
            c.motion[k] = pick(&r, KN_MOT_COUNT);
            trajectory(&c, k, &r);
        }
        if (c.nobj == 1 || apart(&c)) break;
        if (tries == 24) c.nobj = 1;
    }
    for (int k = 0; k < c.nobj; k++)
        if (kn_ds_is_heldout(c.obj[k], c.motion[k], c.bg)) c.heldout = 1;
    return c;
}

void kn_ds_object_pose(const kn_clip_spec *c, int k, int f, int frames, int size, float *cx, float *cy,
                       float *scale, float *angle) {
    float x, y;
    pose_t(c, k, frames > 1 ? (float)f / (float)(frames - 1) : 0.f, &x, &y, scale, angle);
    *cx = x * size;
    *cy = y * size;
}

static const char *article(const char *name) {
    if (!strcmp(name, "grapes")) return "";
    return strchr("aeiou", name[0]) ? "an " : "a ";
}

static int bg_phrase(const kn_clip_spec *c, char *b, size_t cap) {
    const char *a = COLOURS[c->bg_colour].name, *z = COLOURS[c->bg_colour2].name;
    const char *an = strchr("aeiou", a[0]) ? "an" : "a";
    switch (c->bg) {
    case KN_BG_PLAIN: return snprintf(b, cap, "on a plain %s background", a);
    case KN_BG_GRADIENT: return snprintf(b, cap, "on %s %s to %s gradient", an, a, z);
    case KN_BG_SKY: return snprintf(b, cap, "in a blue sky with clouds");
    case KN_BG_NIGHT: return snprintf(b, cap, "in a night sky with stars");
    case KN_BG_GRASS: return snprintf(b, cap, "over green grass");
    default: return snprintf(b, cap, "on %s %s and %s checkered background", an, a, z);
    }
}

void kn_ds_caption(const kn_clip_spec *c, char *buf, size_t cap) {
    size_t n = 0;
    for (int k = 0; k < c->nobj && n < cap; k++) {
        const char *name = kn_ds_object_name(c->obj[k]);
        n += (size_t)snprintf(buf + n, cap - n, "%s%s%s %s", k ? " and " : "", article(name), name,
                              kn_ds_motion_phrase(c->motion[k]));
    }
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, " ");
    if (n < cap) bg_phrase(c, buf + n, cap - n);
}

/* ---- backgrounds ---- */
static float hash01(uint64_t seed, int x, int y) {
    return (float)(mix64(seed ^ ((uint64_t)(uint32_t)x << 32 | (uint32_t)y)) >> 40) * (1.0f / 16777216.0f);
}

/* Value noise with smoothstep interpolation; cell sizes in pixels. */
static float vnoise(uint64_t seed, float x, float y, float cw, float ch) {
    float fx = x / cw, fy = y / ch;
    int ix = (int)floorf(fx), iy = (int)floorf(fy);
    float tx = fx - ix, ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    float a = hash01(seed, ix, iy), b = hash01(seed, ix + 1, iy), c = hash01(seed, ix, iy + 1), d = hash01(seed, ix + 1, iy + 1);
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

static void mixc(float *o, const float *a, const float *b, float t) {
    for (int i = 0; i < 3; i++) o[i] = a[i] + (b[i] - a[i]) * t;
}

static void background(const kn_clip_spec *c, int size, float *rgb) {
    const float *ca = COLOURS[c->bg_colour].rgb, *cb = COLOURS[c->bg_colour2].rgb;
    const float sky0[3] = {0.35f, 0.59f, 0.90f}, sky1[3] = {0.71f, 0.84f, 0.98f}, white[3] = {1, 1, 1};
    const float night0[3] = {0.04f, 0.06f, 0.18f}, night1[3] = {0.12f, 0.12f, 0.31f};
    const float grass[3] = {0.24f, 0.55f, 0.20f};
    float u = size / 64.f;   /* feature sizes scale with the frame */
    int cell = size / 8 > 1 ? size / 8 : 1;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            float *o = rgb + ((size_t)y * size + x) * 3, t = (y + 0.5f) / size;
            switch (c->bg) {
            case KN_BG_PLAIN: memcpy(o, ca, 3 * sizeof *o); break;
            case KN_BG_GRADIENT: mixc(o, ca, cb, t); break;
            case KN_BG_SKY: {
                mixc(o, sky0, sky1, t);
                float n = 0.65f * vnoise(c->bg_seed, x, y, 16 * u, 10 * u) + 0.35f * vnoise(c->bg_seed + 1, x, y, 6 * u, 4 * u);
                float k = (n - 0.5f) / 0.2f;
                k = k < 0 ? 0 : k > 1 ? 1 : k * k * (3 - 2 * k);
                mixc(o, o, white, 0.9f * k);
                break;
            }
            case KN_BG_NIGHT: {
                mixc(o, night0, night1, t);
                float h = hash01(c->bg_seed, x, y);
                if (h < 0.012f) mixc(o, o, white, 0.5f + 40.f * h);
                break;
            }
            case KN_BG_GRASS: {
                float n = 0.6f * vnoise(c->bg_seed, x, y, 1.5f * u, 9 * u) + 0.4f * vnoise(c->bg_seed + 2, x, y, 8 * u, 8 * u);
                float k = 0.7f + 0.6f * n;
                for (int i = 0; i < 3; i++) o[i] = grass[i] * k;
                break;
            }
            default: memcpy(o, ((x / cell + y / cell) & 1) ? cb : ca, 3 * sizeof *o); break;
            }
        }
}

/* ---- compositing ---- */
static void sample(const float *sp, int side, float u, float v, float out[4]) {
    int x0 = (int)floorf(u), y0 = (int)floorf(v);
    float fx = u - x0, fy = v - y0;
    out[0] = out[1] = out[2] = out[3] = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int x = x0 + i, y = y0 + j;
            if (x < 0 || y < 0 || x >= side || y >= side) continue;
            float w = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            const float *p = sp + ((size_t)y * side + x) * 4;
            for (int c = 0; c < 4; c++) out[c] += w * p[c];
        }
}

/* Premultiplied "over" of a side x side sprite centred at (cx, cy), rotated by angle. */
static void draw_sprite(float *rgb, int size, const float *sp, int side, float cx, float cy, float angle) {
    float cs = cosf(angle), sn = sinf(angle), half = side * 0.5f, rad = side * 0.7072f + 2;
    int xa = (int)floorf(cx - rad), xb = (int)ceilf(cx + rad), ya = (int)floorf(cy - rad), yb = (int)ceilf(cy + rad);
    if (xa < 0) xa = 0;
    if (ya < 0) ya = 0;
    if (xb > size) xb = size;
    if (yb > size) yb = size;
    for (int y = ya; y < yb; y++)
        for (int x = xa; x < xb; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            float u = cs * dx + sn * dy + half - 0.5f, v = -sn * dx + cs * dy + half - 0.5f;
            float s[4];
            sample(sp, side, u, v, s);
            if (s[3] <= 0) continue;
            float *o = rgb + ((size_t)y * size + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = s[c] + (1 - s[3]) * o[c];
        }
}

kn_status kn_ds_render(const kn_sprite_set *set, const kn_clip_spec *c, int size, int frames, uint8_t *out,
                       kn_error *err) {
    int base = kn_ds_sprite_side(size), maxside = (int)ceilf(base * 1.3f) + 2;
    size_t npix = (size_t)size * size;
    float *bg = malloc(npix * 3 * sizeof *bg), *fr = malloc(npix * 3 * sizeof *fr);
    float *sp[KN_DS_MAXOBJ] = {0};
    int have[KN_DS_MAXOBJ] = {0, 0};
    kn_status st = KN_OK;
    for (int k = 0; k < c->nobj; k++) sp[k] = malloc((size_t)maxside * maxside * 4 * sizeof(float));
    if (!bg || !fr || !sp[0] || (c->nobj > 1 && !sp[1])) { st = kn_fail(err, KN_ENOMEM, "out of memory rendering a clip"); goto done; }
    background(c, size, bg);
    for (int f = 0; f < frames; f++) {
        memcpy(fr, bg, npix * 3 * sizeof *fr);
        for (int k = 0; k < c->nobj; k++) {
            float cx, cy, scale, angle;
            kn_ds_object_pose(c, k, f, frames, size, &cx, &cy, &scale, &angle);
            int side = (int)lroundf(base * scale);
            if (side < 2) side = 2;
            if (side != have[k] && (st = kn_sprite_scale(&set->s[c->obj[k]], side, sp[k], err))) goto done;
            have[k] = side;
            draw_sprite(fr, size, sp[k], side, cx, cy, angle);
        }
        uint8_t *o = out + (size_t)f * npix * 3;
        for (size_t i = 0; i < npix * 3; i++) {
            float v = fr[i] < 0 ? 0 : fr[i] > 1 ? 1 : fr[i];
            o[i] = (uint8_t)(v * 255.f + 0.5f);
        }
    }
done:
    free(bg);
    free(fr);
    for (int k = 0; k < KN_DS_MAXOBJ; k++) free(sp[k]);
    return st;
}
