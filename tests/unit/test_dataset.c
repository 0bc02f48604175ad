/* Synthetic data set: sprites load, clips are deterministic and thread-count independent, captions
 * and held-out bookkeeping are consistent. Skips (passing with a note) when the Debian artwork is
 * not installed. */
#include "test.h"
#include "train/dataset.h"
#include "io/io.h"
#include <unistd.h>

static int have_artwork(void) {
    return access("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", R_OK) == 0 &&
           access("/usr/share/unicode/emoji/emoji-test.txt", R_OK) == 0;
}

TEST(sprites_and_render) {
    if (!have_artwork()) { printf("  skipped: fonts-noto-color-emoji / unicode-data not installed\n"); return; }
    kn_sprite_set set;
    kn_error err = {0};
    REQUIRE(kn_sprites_load(NULL, NULL, &set, &err) == KN_OK);
    CHECK(set.s[kn_ds_object_index("red apple")].codepoint == 0x1F34E);
    CHECK(set.s[kn_ds_object_index("rocket")].codepoint == 0x1F680);
    /* the apple is mostly red where it is opaque */
    float *sp = malloc(22 * 22 * 4 * sizeof(float));
    REQUIRE(sp);
    REQUIRE(kn_sprite_scale(&set.s[0], 22, sp, &err) == KN_OK);
    double r = 0, g = 0, a = 0;
    for (int i = 0; i < 22 * 22; i++) { r += sp[4 * i]; g += sp[4 * i + 1]; a += sp[4 * i + 3]; }
    CHECK(a > 100 && r > 2 * g);
    free(sp);
    /* same spec -> same bytes; different clips differ */
    enum { S = 32, F = 8 };
    uint8_t *x = malloc(S * S * 3 * F), *y = malloc(S * S * 3 * F);
    REQUIRE(x && y);
    kn_clip_spec c = kn_ds_clip_spec(5, 17);
    REQUIRE(kn_ds_render(&set, &c, S, F, x, &err) == KN_OK);
    kn_clip_spec c2 = kn_ds_clip_spec(5, 17);
    REQUIRE(!memcmp(&c, &c2, sizeof c));
    REQUIRE(kn_ds_render(&set, &c2, S, F, y, &err) == KN_OK);
    CHECK(!memcmp(x, y, S * S * 3 * F));
    c2 = kn_ds_clip_spec(5, 18);
    REQUIRE(kn_ds_render(&set, &c2, S, F, y, &err) == KN_OK);
    CHECK(memcmp(x, y, S * S * 3 * F) != 0);
    free(x);
    free(y);
    kn_sprites_free(&set);
    CHECK(kn_sprites_load("/nonexistent.ttf", NULL, &set, &err) == KN_EIO);
    CHECK(strstr(err.msg, "nonexistent.ttf") != NULL);
}

TEST(captions_and_heldout) {
    int seen_train[KN_DS_NOBJECTS + KN_MOT_COUNT + KN_BG_COUNT] = {0};
    int nheld = 0, ntwo = 0;
    for (int i = 0; i < 3000; i++) {
        kn_clip_spec c = kn_ds_clip_spec(1, (uint64_t)i);
        char cap[512];
        kn_ds_caption(&c, cap, sizeof cap);
        for (int k = 0; k < c.nobj; k++) {
            CHECKF(strstr(cap, kn_ds_object_name(c.obj[k])) && strstr(cap, kn_ds_motion_phrase(c.motion[k])),
                   "caption '%s' lacks object %d", cap, k);
            if (!c.heldout) {
                seen_train[c.obj[k]] = 1;
                seen_train[KN_DS_NOBJECTS + c.motion[k]] = 1;
                /* a training clip never shows a held-out triple */
                CHECK(!kn_ds_is_heldout(c.obj[k], c.motion[k], c.bg));
            }
        }
        if (!c.heldout) seen_train[KN_DS_NOBJECTS + KN_MOT_COUNT + c.bg] = 1;
        nheld += c.heldout;
        ntwo += c.nobj == 2;
        if (c.nobj == 2) CHECK(c.obj[0] != c.obj[1] && strstr(cap, " and "));
    }
    for (int i = 0; i < KN_DS_NOBJECTS + KN_MOT_COUNT + KN_BG_COUNT; i++) CHECKF(seen_train[i], "category %d never trained", i);
    CHECK(nheld > 100 && nheld < 600);
    CHECK(ntwo > 300);
    int triples = 0;
    for (int a = 0; a < KN_DS_NOBJECTS; a++)
        for (int m = 0; m < KN_MOT_COUNT; m++)
            for (int b = 0; b < KN_BG_COUNT; b++) triples += kn_ds_is_heldout(a, m, b);
    CHECK(triples > 50 && triples < 200);
}

static int same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    kn_error err = {0};
    if (kn_read_file(a, 1 << 26, &x, &nx, &err)) return 0;
    if (kn_read_file(b, 1 << 26, &y, &ny, &err)) { free(x); return 0; }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

TEST(write_is_deterministic_across_threads) {
    if (!have_artwork()) { printf("  skipped: artwork not installed\n"); return; }
    char d1[] = "/tmp/kn_test_ds1_XXXXXX", d2[] = "/tmp/kn_test_ds2_XXXXXX";
    REQUIRE(mkdtemp(d1) && mkdtemp(d2));
    kn_dataset_opts o = {.out_dir = d1, .clips = 40, .size = 32, .frames = 6, .seed = 9, .threads = 1, .png = 1};
    kn_dataset_stats s;
    kn_error err = {0};
    REQUIRE(kn_dataset_write(&o, &s, &err) == KN_OK);
    CHECK(s.train + s.heldout == 40);
    o.out_dir = d2;
    o.threads = 3;
    REQUIRE(kn_dataset_write(&o, &s, &err) == KN_OK);
    const char *files[] = {"captions.jsonl", "train.jsonl", "heldout.jsonl", "dataset.json",
                           "clips/000000/frames.u8", "clips/000039/frames.u8", "clips/000017/05.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "%s/%s", d1, files[i]);
        snprintf(b, sizeof b, "%s/%s", d2, files[i]);
        CHECKF(same_file(a, b), "%s differs between 1 and 3 threads", files[i]);
    }
    /* the trainer's loader reads it back */
    kn_clipset cs;
    REQUIRE(kn_clipset_open(d1, "train", &cs, &err) == KN_OK);
    CHECK(cs.n == s.train && cs.size == 32 && cs.frames == 6);
    float *clip = malloc((size_t)6 * 3 * 32 * 32 * sizeof(float));
    REQUIRE(clip);
    CHECK(kn_clipset_read(&cs, 0, clip, &err) == KN_OK);
    float lo = 1, hi = -1;
    for (int i = 0; i < 6 * 3 * 32 * 32; i++) { if (clip[i] < lo) lo = clip[i]; if (clip[i] > hi) hi = clip[i]; }
    CHECK(lo >= -1 && hi <= 1 && hi > lo);
    CHECK(kn_clipset_read(&cs, cs.n, clip, &err) == KN_EINVAL);
    free(clip);
    kn_clipset_close(&cs);
    CHECK(kn_clipset_open(d1, "nosuchsplit", &cs, &err) == KN_EINVAL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", d1, d2);
    CHECK(system(cmd) == 0);
    o.clips = 0;
    CHECK(kn_dataset_write(&o, &s, &err) == KN_EINVAL);
}

TEST(epoch_order_is_a_permutation) {
    int p[100], q[100], seen[100] = {0};
    kn_clipset_order(100, 4, 0, p);
    kn_clipset_order(100, 4, 0, q);
    CHECK(!memcmp(p, q, sizeof p));
    for (int i = 0; i < 100; i++) if (p[i] >= 0 && p[i] < 100) seen[p[i]]++;
    int ok = 1;
    for (int i = 0; i < 100; i++) ok &= seen[i] == 1;
    CHECK(ok);
    kn_clipset_order(100, 4, 1, q);
    CHECK(memcmp(p, q, sizeof p) != 0);
}

TEST_MAIN_BEGIN
RUN(sprites_and_render);
RUN(captions_and_heldout);
RUN(write_is_deterministic_across_threads);
RUN(epoch_order_is_a_permutation);
TEST_MAIN_END
