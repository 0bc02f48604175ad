/* CLIP tokenizer: BPE edge cases on hand-made vocabularies, text clean-up equivalences, Unicode
 * classes, truncation and padding, and errors that name the file or field at fault. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "io/io.h"
#include "models/models.h"
#include "test.h"

/* From unicode_tables.c / tokenizer.c (not part of the public model API). */
int kn_uni_is_letter(uint32_t c);
int kn_uni_is_number(uint32_t c);
int kn_uni_is_space(uint32_t c);
uint32_t kn_uni_to_lower(uint32_t c);
long kn_uni_nfc(const uint32_t *in, size_t n, uint32_t *out, size_t cap);

static int printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static unsigned byte_char(int b) {
    if (printable(b)) return (unsigned)b;
    int n = 0;
    for (int x = 0; x < b; x++) n += !printable(x);
    return 256u + (unsigned)n;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) { fputs(text, f); fclose(f); }
}

/* A folder with all 512 byte symbols (ids 0..511, "</w>" forms at 256+), `extra` vocabulary strings
 * (ids 512...), the special tokens after them, and the given merges. */
static void make_tok(char *dir, const char *const *extra, int nextra, const char *merges, const char *config) {
    strcpy(dir, "/tmp/kn_test_tok_XXXXXX");
    if (!mkdtemp(dir)) return;
    char p[512];
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    FILE *f = fopen(p, "w");
    if (!f) return;
    fputc('{', f);
    int id = 0;
    for (int w = 0; w < 2; w++)
        for (int b = 0; b < 256; b++) fprintf(f, "\"\\u%04x%s\": %d, ", byte_char(b), w ? "</w>" : "", id++);
    for (int i = 0; i < nextra; i++) fprintf(f, "\"%s\": %d, ", extra[i], id++);
    fprintf(f, "\"<|startoftext|>\": %d, \"<|endoftext|>\": %d}", id, id + 1);
    fclose(f);
    write_text(dir, "merges.txt", merges);
    if (config) write_text(dir, "tokenizer_config.json", config);
}

static void rm_tok(const char *dir) {
    const char *names[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    char p[512];
    for (int i = 0; i < 4; i++) { snprintf(p, sizeof p, "%s/%s", dir, names[i]); unlink(p); }
    rmdir(dir);
}

#define CH(c) ((int64_t)byte_char(c))            /* id of a byte mid-word */
#define END(c) ((int64_t)(256 + byte_char(c)))   /* id of a byte ending a word */

/* Encodes and returns the number of ids before the first eos (excluding bos), or -1 on error. */
static int enc(kn_tokenizer *t, const char *s, int64_t *ids) {
    kn_error err = {0};
    if (kn_tokenizer_encode(t, s, ids, &err)) { fprintf(stderr, "  encode('%s'): %s\n", s, err.msg); return -1; }
    int L = kn_tokenizer_max_length(t), n = 0;
    while (1 + n < L && ids[1 + n] != ids[L - 1]) n++;
    return n;
}

static int same(kn_tokenizer *t, const char *a, const char *b) {
    int64_t x[77], y[77];
    if (enc(t, a, x) < 0 || enc(t, b, y) < 0) return 0;
    return !memcmp(x, y, sizeof x);
}

TEST(bpe_rank_order) {
    char dir[64];
    const char *ex[] = {"ab", "abc</w>", "bc</w>"};
    kn_tokenizer *t;
    kn_error err = {0};
    /* "a b" first: abc -> ab c</w> -> abc</w> */
    make_tok(dir, ex, 3, "#version: 0.2\na b\nab c</w>\nb c</w>\n", NULL);
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    int64_t ids[77];
    CHECK(enc(t, "abc", ids) == 1 && ids[1] == 513);
    CHECK(ids[0] == 515 && ids[2] == 516 && ids[76] == 516);
    kn_tokenizer_close(t);
    rm_tok(dir);
    /* "b c</w>" ranked first: abc -> a bc</w>, and no merge joins those two */
    make_tok(dir, ex, 3, "#version: 0.2\nb c</w>\na b\nab c</w>\n", NULL);
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    CHECK(enc(t, "abc", ids) == 2 && ids[1] == CH('a') && ids[2] == 514);
    kn_tokenizer_close(t);
    rm_tok(dir);
}

TEST(bpe_repeats_and_single_chars) {
    char dir[64];
    const char *ex[] = {"aa"};
    kn_tokenizer *t;
    kn_error err = {0};
    make_tok(dir, ex, 1, "#version: 0.2\na a\n", NULL);
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    int64_t ids[77];
    /* occurrences merge left to right without overlap: a a a -> aa a</w> */
    CHECK(enc(t, "aaa", ids) == 2 && ids[1] == 512 && ids[2] == END('a'));
    CHECK(enc(t, "aaaa", ids) == 3 && ids[1] == 512 && ids[2] == CH('a') && ids[3] == END('a'));
    CHECK(enc(t, "a", ids) == 1 && ids[1] == END('a'));
    /* digits are single tokens; punctuation runs stay together; contractions split off */
    CHECK(enc(t, "2024", ids) == 4 && ids[1] == END('2') && ids[4] == END('4'));
    CHECK(enc(t, "it's", ids) == 4 && ids[2] == END('t') && ids[3] == CH('\'') && ids[4] == END('s'));
    CHECK(enc(t, "--'s", ids) == 4 && ids[1] == CH('-') && ids[3] == END('\'') && ids[4] == END('s'));
    kn_tokenizer_close(t);
    rm_tok(dir);
}

TEST(text_cleanup_equivalences) {
    char dir[64];
    kn_tokenizer *t;
    kn_error err = {0};
    make_tok(dir, NULL, 0, "#version: 0.2\n", NULL);
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    int64_t ids[77];
    CHECK(same(t, "  Hello \t\n  World  ", "hello world"));
    CHECK(same(t, "don\xe2\x80\x99t", "don't"));                     /* curly apostrophe */
    CHECK(same(t, "\xef\xbc\xa1\xef\xbc\xa2", "ab"));                 /* full-width AB */
    CHECK(same(t, "\xef\xac\x81ne", "fine"));                         /* fi ligature */
    CHECK(same(t, "&lt;x&gt; &amp;", "<x> &"));
    CHECK(same(t, "&amp;lt;", "<"));                                  /* unescaped twice */
    CHECK(same(t, "&amp;amp;amp;lt;", "<"));                         /* ftfy decodes to a fixed point */
    CHECK(enc(t, "<&amp;amp;lt;", ids) == 5 && ids[2] == END('&'));  /* ...not after a '<': "<&lt;" */
    CHECK(same(t, "P&EACUTE;REZ &SZLIG;", "p\xc3\xa9rez ss"));        /* ftfy's all-caps entities */
    CHECK(same(t, "\xc2\x85\xc2\x93q\xc2\x94", "\xe2\x80\xa6\"q\""));    /* C1 controls as Windows-1252 */
    CHECK(same(t, "\xc5\x89 \xca\xbc", "'n '"));                     /* ligature, then the apostrophe */
    CHECK(same(t, "\x1b[1;31mred\x1b[0m\x07", "red"));                 /* terminal escapes, controls */
    CHECK(same(t, "\xef\xbd\xb6\xef\xbe\x9e", "\xe3\x82\xac"));        /* half-width ka + mark -> ga */
    CHECK(same(t, "&#233;&#xE9;&eacute", "\xc3\xa9\xc3\xa9\xc3\xa9"));
    CHECK(same(t, "&notit;", "\xc2\xacit;"));                         /* longest known prefix */
    CHECK(same(t, "&#128;", "\xe2\x82\xac"));                         /* Windows-1252 fix-up */
    CHECK(same(t, "\xce\x9f\xce\xa3 \xce\xa3\xce\x9f", "\xce\xbf\xcf\x82 \xcf\x83\xce\xbf"));  /* final sigma */
    CHECK(same(t, "\xc3\x89" "COLE \xd0\x94", "\xc3\xa9\x63ole \xd0\xb4"));
    CHECK(!same(t, "cafe", "caf\xc3\xa9"));
    CHECK(enc(t, "", ids) == 0 && ids[1] == 513);
    CHECK(enc(t, " \t ", ids) == 0);
    CHECK(enc(t, "<|startoftext|>x<|endoftext|>", ids) == 2 && ids[1] == 512 && ids[2] == END('x') && ids[3] == 513);
    kn_tokenizer_close(t);
    rm_tok(dir);
}

TEST(unicode_classes) {
    CHECK(kn_uni_is_letter('a') && kn_uni_is_letter(0xE9) && kn_uni_is_letter(0x4E00) && kn_uni_is_letter(0x0627));
    CHECK(kn_uni_is_letter(0x2C6) && kn_uni_is_letter(0xAC00) && kn_uni_is_letter(0x20000));
    CHECK(!kn_uni_is_letter('1') && !kn_uni_is_letter('!') && !kn_uni_is_letter(0x1F680) && !kn_uni_is_letter(0x301));
    CHECK(kn_uni_is_number('7') && kn_uni_is_number(0x663) && kn_uni_is_number(0xBD) && kn_uni_is_number(0x2163));
    CHECK(!kn_uni_is_number('a') && !kn_uni_is_number(' '));
    CHECK(kn_uni_is_space(' ') && kn_uni_is_space('\t') && kn_uni_is_space(0x85) && kn_uni_is_space(0xA0));
    CHECK(kn_uni_is_space(0x3000) && kn_uni_is_space(0x2029) && kn_uni_is_space(0x1C) && !kn_uni_is_space(0x200B));
    CHECK(kn_uni_to_lower('A') == 'a' && kn_uni_to_lower('a') == 'a' && kn_uni_to_lower(0xC9) == 0xE9);
    CHECK(kn_uni_to_lower(0x100) == 0x101 && kn_uni_to_lower(0x101) == 0x101 && kn_uni_to_lower(0x17D) == 0x17E);
    CHECK(kn_uni_to_lower(0x414) == 0x434 && kn_uni_to_lower(0x10A0) == 0x2D00 && kn_uni_to_lower(0xFF21) == 0xFF41);
    CHECK(kn_uni_to_lower(0x1E9E) == 0xDF && kn_uni_to_lower(0xDF) == 0xDF);
}

static int nfc_is(const uint32_t *in, size_t n, const uint32_t *want, size_t m) {
    uint32_t out[16];
    long r = kn_uni_nfc(in, n, out, 16);
    return r == (long)m && !memcmp(out, want, m * sizeof *out);
}

TEST(nfc) {
    /* e + acute -> e-acute; marks reorder by combining class (dot below 220 before acute 230) */
    CHECK(nfc_is((uint32_t[]){'e', 0x301}, 2, (uint32_t[]){0xE9}, 1));
    CHECK(nfc_is((uint32_t[]){'a', 0x301, 0x323}, 3, (uint32_t[]){0x1EA1, 0x301}, 2));
    CHECK(nfc_is((uint32_t[]){0x212B}, 1, (uint32_t[]){0xC5}, 1));                    /* singleton Angstrom */
    CHECK(nfc_is((uint32_t[]){0x1100, 0x1161, 0x11A8}, 3, (uint32_t[]){0xAC01}, 1));  /* Hangul LVT */
    CHECK(nfc_is((uint32_t[]){0x915, 0x93C}, 2, (uint32_t[]){0x915, 0x93C}, 2));       /* excluded (0x958) */
    CHECK(nfc_is((uint32_t[]){0x304B, 0x3099}, 2, (uint32_t[]){0x304C}, 1));
    CHECK(nfc_is((uint32_t[]){0x301, 'e'}, 2, (uint32_t[]){0x301, 'e'}, 2));
    CHECK(nfc_is((uint32_t[]){'a', 'b'}, 2, (uint32_t[]){'a', 'b'}, 2));
    char dir[64];
    kn_tokenizer *t;
    kn_error err = {0};
    make_tok(dir, NULL, 0, "#version: 0.2\n", NULL);
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    CHECK(same(t, "cafe\xcc\x81", "caf\xc3\xa9"));
    kn_tokenizer_close(t);
    rm_tok(dir);
}

TEST(truncation_and_padding) {
    char dir[64];
    kn_tokenizer *t;
    kn_error err = {0};
    make_tok(dir, NULL, 0, "#version: 0.2\n",
             "{\"model_max_length\": 5, \"pad_token\": \"!\", \"bos_token\": {\"content\": \"<|startoftext|>\"}}");
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    CHECK(kn_tokenizer_max_length(t) == 5);
    int64_t ids[5];
    REQUIRE(!kn_tokenizer_encode(t, "a b c d e f", ids, &err));
    CHECK(ids[0] == 512 && ids[1] == END('a') && ids[2] == END('b') && ids[3] == END('c') && ids[4] == 513);
    REQUIRE(!kn_tokenizer_encode(t, "a", ids, &err));
    CHECK(ids[1] == END('a') && ids[2] == 513 && ids[3] == CH('!') && ids[4] == CH('!'));
    REQUIRE(!kn_tokenizer_encode(t, "a b c", ids, &err));
    CHECK(ids[3] == END('c') && ids[4] == 513);
    kn_tokenizer_close(t);
    rm_tok(dir);
}

TEST(errors) {
    char dir[64], p[512];
    kn_tokenizer *t = NULL;
    kn_error err = {0};
    make_tok(dir, NULL, 0, "#version: 0.2\na b\nc d e\n", NULL);
    CHECK(kn_tokenizer_open(dir, &t, &err) == KN_EFORMAT && strstr(err.msg, "merges.txt:3") && !t);
    write_text(dir, "merges.txt", "#version: 0.2\n a\n");
    CHECK(kn_tokenizer_open(dir, &t, &err) == KN_EFORMAT && strstr(err.msg, "merges.txt:2"));
    write_text(dir, "merges.txt", "#version: 0.2\na b</w>\n");
    /* the merge result "ab</w>" is not in the vocabulary: encoding names the piece */
    REQUIRE(!kn_tokenizer_open(dir, &t, &err));
    int64_t ids[77];
    CHECK(kn_tokenizer_encode(t, "ab", ids, &err) == KN_EFORMAT && strstr(err.msg, "'ab</w>'"));
    CHECK(kn_tokenizer_encode(t, "a\xff", ids, &err) == KN_EINVAL && strstr(err.msg, "UTF-8"));
    kn_tokenizer_close(t);
    write_text(dir, "tokenizer_config.json", "{\"model_max_length\": \"long\"}");
    CHECK(kn_tokenizer_open(dir, &t, &err) && strstr(err.msg, "model_max_length"));
    write_text(dir, "tokenizer_config.json", "{\"model_max_length\": 1e30}");
    CHECK(kn_tokenizer_open(dir, &t, &err) && strstr(err.msg, "model_max_length"));
    write_text(dir, "tokenizer_config.json", "{\"eos_token\": \"<|nope|>\"}");
    CHECK(kn_tokenizer_open(dir, &t, &err) && strstr(err.msg, "eos_token") && strstr(err.msg, "<|nope|>"));
    write_text(dir, "tokenizer_config.json", "{\"pad_token\": 7}");
    CHECK(kn_tokenizer_open(dir, &t, &err) && strstr(err.msg, "pad_token"));
    write_text(dir, "tokenizer_config.json", "{}");
    write_text(dir, "vocab.json", "{\"a\": -1}");
    CHECK(kn_tokenizer_open(dir, &t, &err) == KN_EFORMAT && strstr(err.msg, "vocab.json"));
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    unlink(p);
    CHECK(kn_tokenizer_open(dir, &t, &err) && strstr(err.msg, "vocab.json"));
    rm_tok(dir);
    CHECK(kn_tokenizer_open("/nonexistent/tok", &t, &err) == KN_EIO);
}

TEST_MAIN_BEGIN
    RUN(bpe_rank_order);
    RUN(bpe_repeats_and_single_chars);
    RUN(text_cleanup_equivalences);
    RUN(unicode_classes);
    RUN(nfc);
    RUN(truncation_and_padding);
    RUN(errors);
TEST_MAIN_END
