/* CLIP tokenizer: OpenAI simple_tokenizer semantics on a transformers CLIPTokenizer folder.
 * Contract: kn_tokenizer_open reads vocab.json + merges.txt (and, when present, tokenizer_config.json
 * then special_tokens_map.json for model_max_length and the bos/eos/pad tokens; OpenAI CLIP's values
 * otherwise). kn_tokenizer_encode is pure: it keeps no state in the tokenizer, so one tokenizer can
 * serve several threads.
 * Text clean-up: ftfy.fix_text's fixes (its entity decoding, C1 controls, ligatures, character width,
 * curly quotes, terminal escapes, control characters, NFC, repeated until stable) except its mojibake
 * repair (fix_encoding), which needs ftfy's statistical tables. Then html.unescape twice, whitespace collapsed, Python-style lower(), the CLIP pre-tokenizer regex and byte-level BPE
 * with "</w>" end-of-word marks, merges ranked by line order. */
#include <stdio.h>
#include <stdlib.h>
#include "models/models.h"
#include "io/io.h"

/* Tables generated into unicode_tables.c by tools/gen_unicode_tables.py. */
extern const uint32_t kn_uni_letter[][2], kn_uni_number[][2], kn_uni_space[][2], kn_html_dropped[][2];
extern const int kn_uni_letter_n, kn_uni_number_n, kn_uni_space_n, kn_html_dropped_n;
extern const int32_t kn_uni_lower[][4];
extern const int kn_uni_lower_n;
extern const char *const kn_html_entity[][2];
extern const int kn_html_entity_n;
extern const uint32_t kn_html_charref_fix[][2];
extern const int kn_html_charref_fix_n;
extern const uint32_t kn_uni_ccc[][3], kn_uni_decomp[][3], kn_uni_comp[][3];
extern const int kn_uni_ccc_n, kn_uni_decomp_n, kn_uni_comp_n;
extern const uint32_t kn_ftfy_width[][3];
extern const int kn_ftfy_width_n;
extern const char *const kn_ftfy_upper_entity[][2];
extern const int kn_ftfy_upper_entity_n;

/* Both reference tokenizers read only lines 2 .. 1 + this of merges.txt (49152 - 256 - 2 merges). */
#define MAX_MERGES 48894
#define MAX_MERGE_LEN 1024

typedef struct { uint32_t off, len; int32_t id; } sym;       /* interned string, vocab id or -1 */
typedef struct { uint64_t key; int32_t rank, merged; } merge; /* key = left << 32 | right */

struct kn_tokenizer {
    char *pool;                 /* interned strings */
    size_t pool_len, pool_cap;
    sym *syms;
    int nsyms, capsyms;
    int32_t *sym_hash;          /* open addressing: symbol index or -1 */
    size_t sym_hash_cap;
    merge *merges;              /* open addressing on key, rank -1 = empty */
    size_t merge_cap;
    int byte_sym[256][2];       /* symbol of each byte, alone and with "</w>" */
    int max_length;
    int64_t bos_id, eos_id, pad_id;
    char bos[64], eos[64];
};

/* ---- Unicode helpers (exposed for the unit tests) ---- */
static int in_ranges(const uint32_t (*r)[2], int n, uint32_t c) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid - 1;
        else if (c > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}
int kn_uni_is_letter(uint32_t c) { return in_ranges(kn_uni_letter, kn_uni_letter_n, c); }
int kn_uni_is_number(uint32_t c) { return in_ranges(kn_uni_number, kn_uni_number_n, c); }
int kn_uni_is_space(uint32_t c) { return in_ranges(kn_uni_space, kn_uni_space_n, c); }
uint32_t kn_uni_to_lower(uint32_t c) {
    int lo = 0, hi = kn_uni_lower_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if ((int32_t)c < kn_uni_lower[mid][0]) hi = mid - 1;
        else if ((int32_t)c > kn_uni_lower[mid][1]) lo = mid + 1;
        else return ((int32_t)c - kn_uni_lower[mid][0]) % kn_uni_lower[mid][3] ? c : (uint32_t)((int32_t)c + kn_uni_lower[mid][2]);
    }
    return c;
}

/* ---- code point buffers ---- */
typedef struct { uint32_t *v; size_t n, cap; } cpbuf;

static int cp_push(cpbuf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        uint32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = c;
    return 0;
}

static size_t utf8_decode1(const unsigned char *s, size_t n, uint32_t *c) {
    if (s[0] < 0x80) { *c = s[0]; return 1; }
    int len = s[0] >= 0xF0 && s[0] < 0xF5 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (!len || (size_t)len > n || s[0] >= 0xF5) return 0;
    uint32_t v = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *c = v;
    return (size_t)len;
}

static int utf8_encode(uint32_t c, unsigned char *o) {
    if (c < 0x80) { o[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { o[0] = 0xC0 | c >> 6; o[1] = 0x80 | (c & 0x3F); return 2; }
    if (c < 0x10000) { o[0] = 0xE0 | c >> 12; o[1] = 0x80 | (c >> 6 & 0x3F); o[2] = 0x80 | (c & 0x3F); return 3; }
    o[0] = 0xF0 | c >> 18; o[1] = 0x80 | (c >> 12 & 0x3F); o[2] = 0x80 | (c >> 6 & 0x3F); o[3] = 0x80 | (c & 0x3F);
    return 4;
}

static kn_status decode_text(const char *text, cpbuf *out, kn_error *err) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = utf8_decode1(s + i, n - i, &c);
        if (!l) return kn_fail(err, KN_EINVAL, "tokenizer: text is not valid UTF-8 (byte %zu)", i);
        if (cp_push(out, c)) return kn_fail(err, KN_ENOMEM, "out of memory");
        i += l;
    }
    return KN_OK;
}

/* ---- NFC (the last step of ftfy.fix_text) ---- */
enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, LCOUNT = 19, VCOUNT = 21, TCOUNT = 28,
       NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

static int ccc_of(uint32_t c) {
    int lo = 0, hi = kn_uni_ccc_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < kn_uni_ccc[mid][0]) hi = mid - 1;
        else if (c > kn_uni_ccc[mid][1]) lo = mid + 1;
        else return (int)kn_uni_ccc[mid][2];
    }
    return 0;
}

static int decompose_push(cpbuf *out, uint32_t c, int depth) {
    if (c >= SBASE && c < SBASE + SCOUNT) {
        uint32_t s = c - SBASE, t = TBASE + s % TCOUNT;
        if (cp_push(out, LBASE + s / NCOUNT) || cp_push(out, VBASE + s % NCOUNT / TCOUNT)) return -1;
        return t != TBASE ? cp_push(out, t) : 0;
    }
    int lo = 0, hi = kn_uni_decomp_n - 1;
    while (lo <= hi && depth < 8) {
        int mid = (lo + hi) / 2;
        if (c < kn_uni_decomp[mid][0]) hi = mid - 1;
        else if (c > kn_uni_decomp[mid][0]) lo = mid + 1;
        else {
            if (decompose_push(out, kn_uni_decomp[mid][1], depth + 1)) return -1;
            return kn_uni_decomp[mid][2] ? decompose_push(out, kn_uni_decomp[mid][2], depth + 1) : 0;
        }
    }
    return cp_push(out, c);
}

static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    int lo = 0, hi = kn_uni_comp_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a < kn_uni_comp[mid][0] || (a == kn_uni_comp[mid][0] && b < kn_uni_comp[mid][1])) hi = mid - 1;
        else if (a > kn_uni_comp[mid][0] || b > kn_uni_comp[mid][1]) lo = mid + 1;
        else return kn_uni_comp[mid][2];
    }
    return 0;
}

/* Canonical decomposition, canonical ordering, then canonical composition (UAX #15). */
static int nfc(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    int simple = 1;
    for (size_t i = 0; i < in->n && simple; i++) simple = in->v[i] < 0x300;
    if (simple) {    /* nothing below U+0300 decomposes or combines */
        for (size_t i = 0; i < in->n; i++)
            if (cp_push(out, in->v[i])) return -1;
        return 0;
    }
    for (size_t i = 0; i < in->n; i++)
        if (decompose_push(out, in->v[i], 0)) return -1;
    uint32_t *v = out->v;
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && ccc_of(v[j]) && ccc_of(v[j - 1]) > ccc_of(v[j]); j--) {
            uint32_t t = v[j]; v[j] = v[j - 1]; v[j - 1] = t;
        }
    if (!out->n) return 0;
    size_t starter = 0, o = 1;
    int last = ccc_of(v[0]) ? 256 : 0;
    for (size_t i = 1; i < out->n; i++) {
        uint32_t c = v[i], comp = compose_pair(v[starter], c);
        int cc = ccc_of(c);
        if (comp && (last < cc || last == 0)) {
            v[starter] = comp;
            continue;
        }
        if (cc == 0) starter = o;
        last = cc;
        v[o++] = c;
    }
    out->n = o;
    return 0;
}

/* NFC of in[n] into out[cap] (exposed for the unit tests): the output length, or -1 when it does not
 * fit or memory runs out. */
long kn_uni_nfc(const uint32_t *in, size_t n, uint32_t *out, size_t cap) {
    cpbuf a = {(uint32_t *)in, n, n}, b = {0};
    long r = nfc(&a, &b) || b.n > cap ? -1 : (long)b.n;
    if (r > 0) memcpy(out, b.v, b.n * sizeof *out);
    free(b.v);
    return r;
}

/* ---- html.unescape ---- */
static int push_utf8_str(cpbuf *out, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = utf8_decode1((const unsigned char *)s + i, n - i, &c);
        if (!l || cp_push(out, c)) return -1;
        i += l;
    }
    return 0;
}

static int find_name(const char *const (*table)[2], int n, const uint32_t *name, size_t len) {
    char key[40];
    if (len >= sizeof key) return -1;
    for (size_t i = 0; i < len; i++) {
        if (name[i] > 0x7F) return -1;
        key[i] = (char)name[i];
    }
    key[len] = 0;
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(key, table[mid][0]);
        if (!c) return mid;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

static int entity_find(const uint32_t *name, size_t len) {
    return find_name(kn_html_entity, kn_html_entity_n, name, len);
}

static int hexval(uint32_t c) {
    return c >= '0' && c <= '9' ? (int)(c - '0') : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
         : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10) : -1;
}

/* Numeric reference at s[i] == '#': returns characters consumed after '&' (0 = no match). */
static size_t numeric_ref(const uint32_t *s, size_t n, cpbuf *out, int *fail) {
    size_t j = 1;
    int hex = j < n && (s[j] == 'x' || s[j] == 'X');
    if (hex) j++;
    size_t start = j;
    uint64_t v = 0;
    while (j < n && (hex ? hexval(s[j]) >= 0 : (s[j] >= '0' && s[j] <= '9'))) {
        if (v <= 0x110000) v = v * (hex ? 16 : 10) + (uint64_t)(hex ? hexval(s[j]) : (int)(s[j] - '0'));
        j++;
    }
    if (j == start) return 0;
    if (j < n && s[j] == ';') j++;
    uint32_t c = v > 0x10FFFF ? 0xFFFD : (uint32_t)v;
    for (int k = 0; k < kn_html_charref_fix_n; k++)
        if (kn_html_charref_fix[k][0] == v) { *fail = cp_push(out, kn_html_charref_fix[k][1]); return j; }
    if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
    if (!in_ranges(kn_html_dropped, kn_html_dropped_n, c)) *fail = cp_push(out, c);
    return j;
}

/* Named reference s[0..] (after '&'): Python's rule, the whole name (<= 32 chars, optional ';'), else the
 * longest known prefix of it. */
static size_t named_ref(const uint32_t *s, size_t n, cpbuf *out, int *fail) {
    size_t j = 0;
    while (j < n && j < 32 && s[j] != '\t' && s[j] != '\n' && s[j] != '\f' && s[j] != ' ' && s[j] != '<' &&
           s[j] != '&' && s[j] != '#' && s[j] != ';')
        j++;
    if (j == 0) return 0;
    if (j < n && s[j] == ';') j++;
    int e = entity_find(s, j);
    if (e >= 0) { *fail = push_utf8_str(out, kn_html_entity[e][1]); return j; }
    for (size_t x = j - 1; x > 1; x--) {
        if ((e = entity_find(s, x)) >= 0) {
            *fail = push_utf8_str(out, kn_html_entity[e][1]);
            for (size_t k = x; k < j && !*fail; k++) *fail = cp_push(out, s[k]);
            return j;
        }
    }
    if (cp_push(out, '&')) *fail = 1;
    for (size_t k = 0; k < j && !*fail; k++) *fail = cp_push(out, s[k]);
    return j;
}

static int html_unescape(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        int fail = 0;
        size_t used = 0;
        if (in->v[i] == '&' && i + 1 < in->n) {
            const uint32_t *s = in->v + i + 1;
            size_t n = in->n - i - 1;
            used = s[0] == '#' ? numeric_ref(s, n, out, &fail) : named_ref(s, n, out, &fail);
        }
        if (fail) return -1;
        if (used) i += used + 1;
        else if (cp_push(out, in->v[i++])) return -1;
    }
    return 0;
}

/* ---- ftfy.fix_text without its mojibake repair (fix_encoding) ----
 * Per line: [unescape_html], fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
 * remove_terminal_escapes, remove_control_chars, NFC, repeated until nothing changes. As in ftfy,
 * entities are decoded only while no line so far has contained '<'. */
static int ftfy_control(uint32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static const struct { uint32_t cp; const char *s; } ligatures[] = {
    {0x132, "IJ"}, {0x133, "ij"}, {0x149, "\xca\xbcn"}, {0x1C4, "D\xc5\xbd"}, {0x1C5, "D\xc5\xbe"},
    {0x1C6, "d\xc5\xbe"}, {0x1C7, "LJ"}, {0x1C8, "Lj"}, {0x1C9, "lj"}, {0x1CA, "NJ"}, {0x1CB, "Nj"},
    {0x1CC, "nj"}, {0x1F1, "DZ"}, {0x1F2, "Dz"}, {0x1F3, "dz"}, {0xFB00, "ff"}, {0xFB01, "fi"},
    {0xFB02, "fl"}, {0xFB03, "ffi"}, {0xFB04, "ffl"}, {0xFB05, "\xc5\xbft"}, {0xFB06, "st"},
};

/* fix_character_width then uncurl_quotes on one character. */
static int width_quotes_push(cpbuf *out, uint32_t c) {
    uint32_t second = 0;
    if (c >= 0x3000 && c <= 0xFFEF) {
        int lo = 0, hi = kn_ftfy_width_n - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            if (c < kn_ftfy_width[mid][0]) hi = mid - 1;
            else if (c > kn_ftfy_width[mid][0]) lo = mid + 1;
            else { c = kn_ftfy_width[mid][1]; second = kn_ftfy_width[mid][2]; break; }
        }
    }
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
    return cp_push(out, c) || (second && cp_push(out, second));
}

/* fix_c1_controls (as Windows-1252), then ligatures, width and quotes. */
static int char_fixes(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c >= 0x80 && c <= 0x9F)
            for (int k = 0; k < kn_html_charref_fix_n; k++)
                if (kn_html_charref_fix[k][0] == c) c = kn_html_charref_fix[k][1];
        const char *lig = NULL;
        for (size_t k = 0; k < sizeof ligatures / sizeof *ligatures && !lig; k++)
            if (ligatures[k].cp == c) lig = ligatures[k].s;
        if (!lig) {
            if (width_quotes_push(out, c)) return -1;
            continue;
        }
        size_t n = strlen(lig);
        for (size_t j = 0; j < n;) {
            uint32_t d;
            size_t l = utf8_decode1((const unsigned char *)lig + j, n - j, &d);
            if (!l || width_quotes_push(out, d)) return -1;
            j += l;
        }
    }
    return 0;
}

/* remove_terminal_escapes (ESC [ digits/';' letter), then remove_control_chars. */
static int strip_controls(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (in->v[i] == 0x1B && i + 1 < in->n && in->v[i + 1] == '[') {
            size_t j = i + 2;
            while (j < in->n && ((in->v[j] >= '0' && in->v[j] <= '9') || in->v[j] == ';')) j++;
            uint32_t e = j < in->n ? in->v[j] : 0;
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) { i = j; continue; }
        }
        if (!ftfy_control(in->v[i]) && cp_push(out, in->v[i])) return -1;
    }
    return 0;
}

static int is_alnum_ascii(uint32_t c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

/* ftfy's unescape_html at s[0] == '&': "&#?[0-9A-Za-z]{1,24};" when it names an HTML5 entity (or an
 * all-caps one), or a numeric reference that html.unescape consumes through its ';'. Returns the
 * characters consumed, 0 to keep the text. */
static size_t ftfy_entity(const uint32_t *s, size_t n, cpbuf *out, int *fail) {
    size_t j = 1;
    int hash = j < n && s[j] == '#';
    j += (size_t)hash;
    size_t start = j;
    while (j < n && j - start < 24 && is_alnum_ascii(s[j])) j++;
    if (j == start || j >= n || s[j] != ';') return 0;
    if (!hash) {
        int e = find_name(kn_html_entity, kn_html_entity_n, s + 1, j);
        if (e >= 0) { *fail = push_utf8_str(out, kn_html_entity[e][1]); return j + 1; }
        e = find_name(kn_ftfy_upper_entity, kn_ftfy_upper_entity_n, s + 1, j);
        if (e >= 0) { *fail = push_utf8_str(out, kn_ftfy_upper_entity[e][1]); return j + 1; }
        return 0;
    }
    int hex = s[start] == 'x' || s[start] == 'X';
    if (hex && j == start + 1) return 0;
    for (size_t k = start + (size_t)hex; k < j; k++)
        if (hex ? hexval(s[k]) < 0 : !(s[k] >= '0' && s[k] <= '9')) return 0;
    return numeric_ref(s + 1, j, out, fail) + 1;
}

static int ftfy_unescape(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        int fail = 0;
        size_t used = in->v[i] == '&' ? ftfy_entity(in->v + i, in->n - i, out, &fail) : 0;
        if (fail) return -1;
        if (used) i += used;
        else if (cp_push(out, in->v[i++])) return -1;
    }
    return 0;
}

static int cp_equal(const cpbuf *a, const cpbuf *b) {
    return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

/* One line, fixed until stable; appended to out. */
static int ftfy_line(const uint32_t *s, size_t n, int unescape, cpbuf *out) {
    cpbuf cur = {0}, a = {0}, b = {0};
    int r = 0;
    for (size_t i = 0; i < n && !r; i++) r = cp_push(&cur, s[i]);
    for (int iter = 0; iter < 64 && !r; iter++) {
        if (unescape) r = ftfy_unescape(&cur, &a);
        else { a.n = 0; for (size_t i = 0; i < cur.n && !r; i++) r = cp_push(&a, cur.v[i]); }
        if (!r) r = char_fixes(&a, &b) || strip_controls(&b, &a) || nfc(&a, &b);
        if (r) break;
        int same = cp_equal(&b, &cur);
        cpbuf t = cur; cur = b; b = t;
        if (same) break;
    }
    for (size_t i = 0; i < cur.n && !r; i++) r = cp_push(out, cur.v[i]);
    free(cur.v);
    free(a.v);
    free(b.v);
    return r;
}

static int ftfy_fix(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    int unescape = 1;
    for (size_t i = 0; i < in->n;) {
        size_t j = i;
        while (j < in->n && in->v[j] != '\n') j++;
        if (j < in->n) j++;
        for (size_t k = i; k < j && unescape; k++)
            if (in->v[k] == '<') unescape = 0;
        if (ftfy_line(in->v + i, j - i, unescape, out)) return -1;
        i = j;
    }
    return 0;
}

/* whitespace runs -> one space, stripped; then Python's str.lower(). */
static int clean_and_lower(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    int pending = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (kn_uni_is_space(c)) { pending = out->n > 0; continue; }
        if (pending && cp_push(out, ' ')) return -1;
        pending = 0;
        if (c == 0x130) {                       /* SpecialCasing: I with dot -> i + combining dot */
            if (cp_push(out, 'i') || cp_push(out, 0x307)) return -1;
            continue;
        }
        if (c == 0x3A3) {                       /* Final_Sigma, approximated with letter neighbours */
            int before = i > 0 && kn_uni_is_letter(in->v[i - 1]);
            int after = i + 1 < in->n && kn_uni_is_letter(in->v[i + 1]);
            c = before && !after ? 0x3C2 : 0x3C3;
        } else {
            c = kn_uni_to_lower(c);
        }
        if (cp_push(out, c)) return -1;
    }
    return 0;
}

/* ---- interning ---- */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int sym_lookup(const kn_tokenizer *t, const char *s, size_t n) {
    size_t mask = t->sym_hash_cap - 1;
    for (size_t h = hash_bytes(s, n) & mask;; h = (h + 1) & mask) {
        int32_t k = t->sym_hash[h];
        if (k < 0) return -1;
        if (t->syms[k].len == n && !memcmp(t->pool + t->syms[k].off, s, n)) return k;
    }
}

static int grow_sym_hash(kn_tokenizer *t) {
    size_t cap = t->sym_hash_cap ? t->sym_hash_cap * 2 : 1024;
    int32_t *h = malloc(cap * sizeof *h);
    if (!h) return -1;
    for (size_t i = 0; i < cap; i++) h[i] = -1;
    for (int k = 0; k < t->nsyms; k++) {
        size_t p = hash_bytes(t->pool + t->syms[k].off, t->syms[k].len) & (cap - 1);
        while (h[p] >= 0) p = (p + 1) & (cap - 1);
        h[p] = k;
    }
    free(t->sym_hash);
    t->sym_hash = h;
    t->sym_hash_cap = cap;
    return 0;
}

/* Returns the symbol of s (created when new), or -1 when out of memory. */
static int intern(kn_tokenizer *t, const char *s, size_t n) {
    int k = sym_lookup(t, s, n);
    if (k >= 0) return k;
    if ((size_t)(t->nsyms + 1) * 2 > t->sym_hash_cap && grow_sym_hash(t)) return -1;
    if (t->nsyms == t->capsyms) {
        int nc = t->capsyms * 2;
        sym *ns = realloc(t->syms, (size_t)nc * sizeof *ns);
        if (!ns) return -1;
        t->syms = ns;
        t->capsyms = nc;
    }
    if (t->pool_len + n + 1 > t->pool_cap) {
        size_t nc = (t->pool_cap + n + 1) * 2;
        char *np = realloc(t->pool, nc);
        if (!np) return -1;
        t->pool = np;
        t->pool_cap = nc;
    }
    memcpy(t->pool + t->pool_len, s, n);
    t->pool[t->pool_len + n] = 0;
    t->syms[t->nsyms] = (sym){(uint32_t)t->pool_len, (uint32_t)n, -1};
    t->pool_len += n + 1;
    size_t mask = t->sym_hash_cap - 1, h = hash_bytes(s, n) & mask;
    while (t->sym_hash[h] >= 0) h = (h + 1) & mask;
    t->sym_hash[h] = t->nsyms;
    return t->nsyms++;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static const merge *merge_find(const kn_tokenizer *t, int a, int b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t mask = t->merge_cap - 1;
    for (size_t h = mix64(key) & mask;; h = (h + 1) & mask) {
        if (t->merges[h].rank < 0) return NULL;
        if (t->merges[h].key == key) return &t->merges[h];
    }
}

/* ---- BPE ---- */
/* bytes_to_unicode: printable Latin-1 bytes map to themselves, the others to 256 + n in byte order. */
static uint32_t byte_char(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256u + (uint32_t)n;
}

typedef struct { int64_t *v; size_t n, cap; } idbuf;

static int id_push(idbuf *b, int64_t id) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 128;
        int64_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = id;
    return 0;
}

static kn_status emit_sym(const kn_tokenizer *t, int s, idbuf *ids, kn_error *err) {
    if (t->syms[s].id < 0)
        return kn_fail(err, KN_EFORMAT, "tokenizer: BPE piece '%s' is not in vocab.json", t->pool + t->syms[s].off);
    return id_push(ids, t->syms[s].id) ? kn_fail(err, KN_ENOMEM, "out of memory") : KN_OK;
}

/* One pre-token (UTF-8 bytes) -> ids: repeatedly merge every occurrence of the best-ranked pair. */
static kn_status bpe_word(const kn_tokenizer *t, const unsigned char *b, size_t n, idbuf *ids, kn_error *err) {
    int *word = malloc(n * sizeof *word);
    if (!word) return kn_fail(err, KN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) word[i] = t->byte_sym[b[i]][i + 1 == n];
    size_t len = n;
    for (;;) {
        const merge *bm = NULL;
        for (size_t i = 0; i + 1 < len; i++) {
            const merge *m = merge_find(t, word[i], word[i + 1]);
            if (m && (!bm || m->rank < bm->rank)) bm = m;
        }
        if (!bm) break;
        int a = (int)(bm->key >> 32), c = (int)(uint32_t)bm->key;
        size_t o = 0;
        for (size_t i = 0; i < len;) {
            if (i + 1 < len && word[i] == a && word[i + 1] == c) { word[o++] = bm->merged; i += 2; }
            else word[o++] = word[i++];
        }
        len = o;
    }
    kn_status st = KN_OK;
    for (size_t i = 0; i < len && !st; i++) st = emit_sym(t, word[i], ids, err);
    free(word);
    return st;
}

/* The reference regex is compiled case-insensitive; after lower() the only other character that
 * simple case folding matches to a literal's letters is LONG S (U+017F ~ 's'). */
static int match_literal(const uint32_t *s, size_t n, const char *lit) {
    size_t l = strlen(lit);
    if (l > n) return 0;
    for (size_t i = 0; i < l; i++)
        if (s[i] != (unsigned char)lit[i] && !(lit[i] == 's' && s[i] == 0x17F)) return 0;
    return (int)l;
}

/* The pre-tokenizer regex at s[0]: length of the match, 0 when s[0] is whitespace. *special is 1 or 2
 * for a raw bos / eos token (kept whole, as the reference's BPE cache does). */
static size_t pretoken(const kn_tokenizer *t, const uint32_t *s, size_t n, int *special) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    int l;
    *special = 1;
    if ((l = match_literal(s, n, t->bos))) return (size_t)l;
    *special = 2;
    if ((l = match_literal(s, n, t->eos))) return (size_t)l;
    *special = 0;
    for (int k = 0; k < 7; k++)
        if ((l = match_literal(s, n, contractions[k]))) return (size_t)l;
    size_t i = 0;
    if (kn_uni_is_letter(s[0])) {
        while (i < n && kn_uni_is_letter(s[i])) i++;
        return i;
    }
    if (kn_uni_is_number(s[0])) return 1;
    while (i < n && !kn_uni_is_space(s[i]) && !kn_uni_is_letter(s[i]) && !kn_uni_is_number(s[i])) i++;
    return i;
}

static kn_status tokenize(const kn_tokenizer *t, const cpbuf *text, idbuf *ids, kn_error *err) {
    kn_status st = KN_OK;
    for (size_t i = 0; i < text->n && !st;) {
        int special;
        size_t l = pretoken(t, text->v + i, text->n - i, &special);
        if (!l) { i++; continue; }
        if (special) {
            if (id_push(ids, special == 1 ? t->bos_id : t->eos_id)) st = kn_fail(err, KN_ENOMEM, "out of memory");
            i += l;
            continue;
        }
        unsigned char *bytes = malloc(4 * l);
        if (!bytes) return kn_fail(err, KN_ENOMEM, "out of memory");
        size_t nb = 0;
        for (size_t k = 0; k < l; k++) nb += (size_t)utf8_encode(text->v[i + k], bytes + nb);
        st = bpe_word(t, bytes, nb, ids, err);
        free(bytes);
        i += l;
    }
    return st;
}

kn_status kn_tokenizer_encode(const kn_tokenizer *t, const char *text, int64_t *ids, kn_error *err) {
    cpbuf a = {0}, b = {0};
    idbuf body = {0};
    kn_status st = decode_text(text ? text : "", &a, err);
    /* basic_clean: html.unescape(html.unescape(ftfy.fix_text(text))) */
    if (!st && (ftfy_fix(&a, &b) || html_unescape(&b, &a) || html_unescape(&a, &b)))
        st = kn_fail(err, KN_ENOMEM, "out of memory");
    if (!st && clean_and_lower(&b, &a)) st = kn_fail(err, KN_ENOMEM, "out of memory");
    if (!st) st = tokenize(t, &a, &body, err);
    if (!st) {
        int L = t->max_length;
        size_t keep = body.n < (size_t)(L - 2) ? body.n : (size_t)(L - 2);
        ids[0] = t->bos_id;
        for (size_t i = 0; i < keep; i++) ids[1 + i] = body.v[i];
        ids[1 + keep] = t->eos_id;
        for (int i = (int)keep + 2; i < L; i++) ids[i] = t->pad_id;
    }
    free(a.v);
    free(b.v);
    free(body.v);
    return st;
}

/* ---- loading ---- */
static kn_status load_vocab(kn_tokenizer *t, const char *dir, kn_error *err) {
    char p[2048];
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    json_t *j;
    kn_status st = kn_json_load(p, &j, err);
    if (st) return st;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            kn_fail(err, KN_EFORMAT, "%s: entry '%s' is not a non-negative integer id", p, key);
            json_decref(j);
            return KN_EFORMAT;
        }
        int s = intern(t, key, strlen(key));
        if (s < 0) { json_decref(j); return kn_fail(err, KN_ENOMEM, "out of memory"); }
        t->syms[s].id = (int32_t)json_integer_value(v);
    }
    json_decref(j);
    if (!t->nsyms) return kn_fail(err, KN_EFORMAT, "%s: empty vocabulary", p);
    return KN_OK;
}

static kn_status add_merge(kn_tokenizer *t, int a, int b, int merged, int rank) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t mask = t->merge_cap - 1, h = mix64(key) & mask;
    while (t->merges[h].rank >= 0) {
        if (t->merges[h].key == key) return KN_OK;    /* a repeated pair keeps its first (best) rank */
        h = (h + 1) & mask;
    }
    t->merges[h] = (merge){key, rank, merged};
    return KN_OK;
}

static kn_status load_merges(kn_tokenizer *t, const char *dir, kn_error *err) {
    char p[2048];
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    char *buf;
    size_t n;
    kn_status st = kn_read_file(p, (size_t)64 << 20, &buf, &n, err);
    if (st) return st;
    t->merge_cap = 1 << 17;
    t->merges = malloc(t->merge_cap * sizeof *t->merges);
    if (!t->merges) { free(buf); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    for (size_t i = 0; i < t->merge_cap; i++) t->merges[i].rank = -1;
    int rank = 0, line = 0;
    char *s = buf, *end = buf + n;
    while (s < end && line <= MAX_MERGES && !st) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        char *e = nl ? nl : end;
        line++;
        size_t len = (size_t)(e - s);
        if (len && s[len - 1] == '\r') len--;
        if (line == 1) { s = e + 1; continue; }   /* both references drop line 1 ("#version: 0.2") unread */
        if (len) {
            char *sp = memchr(s, ' ', len);
            if (!sp || sp == s || sp == s + len - 1 || memchr(sp + 1, ' ', (size_t)(s + len - sp - 1)))
                st = kn_fail(err, KN_EFORMAT, "%s:%d: expected two symbols separated by one space", p, line);
            char both[2 * MAX_MERGE_LEN];
            size_t la = (size_t)(sp ? sp - s : 0), lb = sp ? len - la - 1 : 0;
            if (!st && la + lb >= sizeof both) st = kn_fail(err, KN_EFORMAT, "%s:%d: merge too long", p, line);
            if (!st) {
                memcpy(both, s, la);
                memcpy(both + la, sp + 1, lb);
                int a = intern(t, s, la), b = intern(t, sp + 1, lb), m = intern(t, both, la + lb);
                if (a < 0 || b < 0 || m < 0) st = kn_fail(err, KN_ENOMEM, "out of memory");
                else st = add_merge(t, a, b, m, rank++);
            }
        }
        s = e + 1;
    }
    free(buf);
    return st;
}

/* A special token in tokenizer_config.json / special_tokens_map.json: a string or {"content": ...}. */
static kn_status special_token(const json_t *o, const char *path, const char *key, char *dst, size_t cap,
                               kn_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return KN_OK;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap)
        return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be a token string (or an object with \"content\")", path, key);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return KN_OK;
}

static kn_status read_token_config(const char *dir, long long *max_len, char *bos, char *eos, char *pad,
                                   kn_error *err) {
    static const char *const files[] = {"tokenizer_config.json", "special_tokens_map.json"};
    for (int f = 0; f < 2; f++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, files[f]);
        FILE *fp = fopen(p, "rb");
        if (!fp) continue;
        fclose(fp);
        json_t *j;
        kn_status st = kn_json_load(p, &j, err);
        if (st) return st;
        double ml;
        st = kn_cfg_num(j, p, "model_max_length", (double)*max_len, &ml, err);
        if (!st && !(ml >= 3 && ml <= 1 << 20))
            st = kn_fail(err, KN_EFORMAT, "%s: \"model_max_length\" %g is outside [3, 1048576]", p, ml);
        if (!st) *max_len = (long long)ml;
        if (!st) st = special_token(j, p, "bos_token", bos, 64, err);
        if (!st) st = special_token(j, p, "eos_token", eos, 64, err);
        if (!st) st = special_token(j, p, "pad_token", pad, 64, err);
        json_decref(j);
        if (st) return st;
    }
    return KN_OK;
}

static kn_status token_id(const kn_tokenizer *t, const char *dir, const char *what, const char *tok, int64_t *id,
                          kn_error *err) {
    int s = sym_lookup(t, tok, strlen(tok));
    if (s < 0 || t->syms[s].id < 0)
        return kn_fail(err, KN_EFORMAT, "%s: %s '%s' is not in vocab.json", dir, what, tok);
    *id = t->syms[s].id;
    return KN_OK;
}

static kn_status open_tables(kn_tokenizer *t, const char *dir, kn_error *err) {
    t->capsyms = 1024;
    if (!(t->syms = malloc((size_t)t->capsyms * sizeof *t->syms)) || grow_sym_hash(t))
        return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = load_vocab(t, dir, err);
    if (st) return st;
    for (int b = 0; b < 256; b++) {
        unsigned char u[8];
        int l = utf8_encode(byte_char(b), u);
        memcpy(u + l, "</w>", 4);
        int s0 = intern(t, (const char *)u, (size_t)l), s1 = intern(t, (const char *)u, (size_t)l + 4);
        if (s0 < 0 || s1 < 0) return kn_fail(err, KN_ENOMEM, "out of memory");
        t->byte_sym[b][0] = s0;
        t->byte_sym[b][1] = s1;
    }
    return load_merges(t, dir, err);
}

kn_status kn_tokenizer_open(const char *dir, kn_tokenizer **out, kn_error *err) {
    *out = NULL;
    if (!kn_path_is_dir(dir)) return kn_fail(err, KN_EIO, "%s: tokenizer folder not found", dir);
    kn_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return kn_fail(err, KN_ENOMEM, "out of memory");
    long long max_len = 77;
    char pad[64];
    snprintf(t->bos, sizeof t->bos, "<|startoftext|>");
    snprintf(t->eos, sizeof t->eos, "<|endoftext|>");
    snprintf(pad, sizeof pad, "<|endoftext|>");
    kn_status st = read_token_config(dir, &max_len, t->bos, t->eos, pad, err);
    if (!st) st = open_tables(t, dir, err);
    if (!st) st = token_id(t, dir, "bos_token", t->bos, &t->bos_id, err);
    if (!st) st = token_id(t, dir, "eos_token", t->eos, &t->eos_id, err);
    if (!st) st = token_id(t, dir, "pad_token", pad, &t->pad_id, err);
    if (st) { kn_tokenizer_close(t); return st; }
    t->max_length = (int)max_len;
    *out = t;
    return KN_OK;
}

void kn_tokenizer_close(kn_tokenizer *t) {
    if (!t) return;
    free(t->pool);
    free(t->syms);
    free(t->sym_hash);
    free(t->merges);
    free(t);
}

int kn_tokenizer_max_length(const kn_tokenizer *t) { return t->max_length; }
