/* Emoji sprites: colour bitmaps from NotoColorEmoji.ttf via FreeType, looked up by emoji-test name. */
#include "train/dataset.h"
#include <ft2build.h>
#include FT_FREETYPE_H
#include <stdlib.h>

#define DEFAULT_FONT "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
#define DEFAULT_EMOJI_TEST "/usr/share/unicode/emoji/emoji-test.txt"

/* Single-code-point, distinct in shape and colour, recognisable at ~20 pixels. */
static const char *const OBJECTS[KN_DS_NOBJECTS] = {
    "red apple", "banana", "grapes", "watermelon", "strawberry", "rocket", "cat face", "dog face",
    "automobile", "soccer ball", "basketball", "star", "blue heart", "fish", "bird", "frog",
    "pig face", "panda", "butterfly", "ghost", "mushroom", "tulip", "balloon", "sailboat"};

const char *kn_ds_object_name(int obj) { return obj >= 0 && obj < KN_DS_NOBJECTS ? OBJECTS[obj] : "?"; }

int kn_ds_object_index(const char *name) {
    for (int i = 0; i < KN_DS_NOBJECTS; i++)
        if (!strcmp(name, OBJECTS[i])) return i;
    return -1;
}

/* Line format: "1F34E    ; fully-qualified     # 🍎 E0.6 red apple". Only single code points count. */
static kn_status find_codepoints(const char *path, uint32_t cps[KN_DS_NOBJECTS], kn_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return kn_fail(err, KN_EIO, "%s: cannot open (package unicode-data)", path);
    char line[512];
    memset(cps, 0, KN_DS_NOBJECTS * sizeof *cps);
    while (fgets(line, sizeof line, f)) {
        char *semi = strchr(line, ';'), *hash = strchr(line, '#');
        if (!semi || !hash || !strstr(semi, "fully-qualified")) continue;
        char *end;
        unsigned long cp = strtoul(line, &end, 16);
        while (*end == ' ') end++;
        if (end != semi) continue;                  /* a sequence of several code points */
        char *e = strstr(hash, " E");
        if (!e) continue;
        char *name = strchr(e + 2, ' ');
        if (!name) continue;
        name++;
        name[strcspn(name, "\r\n")] = 0;
        int k = kn_ds_object_index(name);
        if (k >= 0 && !cps[k]) cps[k] = (uint32_t)cp;
    }
    fclose(f);
    for (int i = 0; i < KN_DS_NOBJECTS; i++)
        if (!cps[i]) return kn_fail(err, KN_EFORMAT, "%s: no single-code-point fully-qualified emoji named '%s'", path, OBJECTS[i]);
    return KN_OK;
}

static kn_status load_glyph(FT_Face face, const char *font, int k, uint32_t cp, kn_sprite *sp, kn_error *err) {
    FT_UInt gi = FT_Get_Char_Index(face, cp);
    if (!gi) return kn_fail(err, KN_EFORMAT, "%s: no glyph for U+%04X (%s)", font, cp, OBJECTS[k]);
    if (FT_Load_Glyph(face, gi, FT_LOAD_COLOR) || (face->glyph->format != FT_GLYPH_FORMAT_BITMAP &&
                                                    FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL)))
        return kn_fail(err, KN_EFORMAT, "%s: cannot load glyph U+%04X (%s)", font, cp, OBJECTS[k]);
    const FT_Bitmap *b = &face->glyph->bitmap;
    if (b->pixel_mode != FT_PIXEL_MODE_BGRA || !b->width || !b->rows)
        return kn_fail(err, KN_EFORMAT, "%s: glyph U+%04X (%s) is not a colour bitmap", font, cp, OBJECTS[k]);
    int w = (int)b->width, h = (int)b->rows, side = w > h ? w : h;
    sp->codepoint = cp;
    sp->size = side;
    sp->rgba = kn_calloc((size_t)side * side * 4, sizeof(float));
    if (!sp->rgba) return kn_fail(err, KN_ENOMEM, "out of memory for sprite '%s'", OBJECTS[k]);
    int ox = (side - w) / 2, oy = (side - h) / 2;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = b->buffer + (ptrdiff_t)y * b->pitch;
        for (int x = 0; x < w; x++) {
            float *o = sp->rgba + ((size_t)(y + oy) * side + x + ox) * 4;
            o[0] = row[4 * x + 2] / 255.f;      /* FreeType's BGRA is already premultiplied */
            o[1] = row[4 * x + 1] / 255.f;
            o[2] = row[4 * x + 0] / 255.f;
            o[3] = row[4 * x + 3] / 255.f;
        }
    }
    return KN_OK;
}

kn_status kn_sprites_load(const char *font_path, const char *emoji_test_path, kn_sprite_set *set, kn_error *err) {
    const char *font = font_path ? font_path : DEFAULT_FONT;
    const char *et = emoji_test_path ? emoji_test_path : DEFAULT_EMOJI_TEST;
    memset(set, 0, sizeof *set);
    uint32_t cps[KN_DS_NOBJECTS];
    kn_status st = find_codepoints(et, cps, err);
    if (st) return st;
    FT_Library lib;
    FT_Face face;
    if (FT_Init_FreeType(&lib)) return kn_fail(err, KN_EINTERNAL, "FreeType initialisation failed");
    if (FT_New_Face(lib, font, 0, &face)) {
        FT_Done_FreeType(lib);
        return kn_fail(err, KN_EIO, "%s: cannot open the emoji font (package fonts-noto-color-emoji)", font);
    }
    if (!FT_HAS_COLOR(face) || face->num_fixed_sizes < 1 || FT_Select_Size(face, 0))
        st = kn_fail(err, KN_EFORMAT, "%s: not a colour bitmap font", font);
    for (int k = 0; k < KN_DS_NOBJECTS && !st; k++) st = load_glyph(face, font, k, cps[k], &set->s[k], err);
    FT_Done_Face(face);
    FT_Done_FreeType(lib);
    if (st) kn_sprites_free(set);
    return st;
}

void kn_sprites_free(kn_sprite_set *set) {
    for (int k = 0; k < KN_DS_NOBJECTS; k++) kn_free(set->s[k].rgba);
    memset(set, 0, sizeof *set);
}

/* Exact box filter: output cell i covers source [i*r, (i+1)*r); each source pixel contributes its
 * overlap with that interval. Separable, rows first. */
static void area_1d(const float *src, int n, int stride, int m, float *dst, int dstride, int ch) {
    double r = (double)n / m;
    for (int i = 0; i < m; i++) {
        double a = i * r, b = (i + 1) * r;
        float acc[4] = {0, 0, 0, 0};
        for (int j = (int)a; j < n && j < b; j++) {
            double lo = j > a ? j : a, hi = j + 1 < b ? j + 1 : b;
            float wgt = (float)((hi - lo) / r);
            for (int c = 0; c < ch; c++) acc[c] += wgt * src[(size_t)j * stride + c];
        }
        for (int c = 0; c < ch; c++) dst[(size_t)i * dstride + c] = acc[c];
    }
}

kn_status kn_sprite_scale(const kn_sprite *sp, int side, float *out, kn_error *err) {
    int n = sp->size;
    if (side < 1 || side > 4096) return kn_fail(err, KN_EINVAL, "sprite side %d out of range", side);
    float *tmp = malloc((size_t)n * side * 4 * sizeof *tmp);
    if (!tmp) return kn_fail(err, KN_ENOMEM, "out of memory scaling a sprite to %d px", side);
    for (int y = 0; y < n; y++) area_1d(sp->rgba + (size_t)y * n * 4, n, 4, side, tmp + (size_t)y * side * 4, 4, 4);
    for (int x = 0; x < side; x++) area_1d(tmp + (size_t)x * 4, n, side * 4, side, out + (size_t)x * 4, side * 4, 4);
    free(tmp);
    return KN_OK;
}
