/* Synthetic data set: sprites load, clips are deterministic and thread-count independent, captions
 * and held-out bookkeeping are consistent. Skips (passing with a note) when the Debian artwork is
 * not installed. */
#include <math.h>
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

/* The spec of clip c played backwards: each path runs from its end to its start, growing and
 * shrinking swap, a spin turns the other way. */
static kn_clip_spec reversed_spec(const kn_clip_spec *c) {
    kn_clip_spec r = *c;
    for (int k = 0; k < c->nobj; k++) {
        r.motion[k] = kn_ds_motion_reversed(c->motion[k]);
        r.x0[k] = c->x1[k]; r.x1[k] = c->x0[k];
        r.y0[k] = c->y1[k]; r.y1[k] = c->y0[k];
        r.spin_dir[k] = -c->spin_dir[k];
    }
    return r;
}

/* Which way object k goes over a clip: signs of its x, y and scale change. */
static int path_signature(const kn_clip_spec *c, int k) {
    float xa, ya, sa, aa, xb, yb, sb, ab;
    kn_ds_object_pose(c, k, 0, 8, 64, &xa, &ya, &sa, &aa);
    kn_ds_object_pose(c, k, 7, 8, 64, &xb, &yb, &sb, &ab);
    int dx = (xb > xa + 1) - (xb < xa - 1), dy = (yb > ya + 1) - (yb < ya - 1), ds = (sb > sa + 0.1f) - (sb < sa - 0.1f);
    return (dx + 1) * 9 + (dy + 1) * 3 + ds + 1;
}

/* The reversed spec's motion label is the one the generator gives such a path, and its poses are
 * the original's in reverse order. */
TEST(reversed_motions_follow_the_generator) {
    int sig[KN_MOT_COUNT];
    for (int m = 0; m < KN_MOT_COUNT; m++) sig[m] = -1;
    for (int i = 0; i < 2000; i++) {   /* each motion's path signature, as generated */
        kn_clip_spec c = kn_ds_clip_spec(3, (uint64_t)i);
        for (int k = 0; k < c.nobj; k++) {
            int s = path_signature(&c, k);
            if (c.motion[k] == KN_MOT_BOUNCING || c.motion[k] == KN_MOT_FALLING) continue;
            CHECKF(sig[c.motion[k]] < 0 || sig[c.motion[k]] == s, "motion %s has two path signatures", kn_ds_motion_name(c.motion[k]));
            sig[c.motion[k]] = s;
        }
    }
    int checked = 0;
    for (int i = 0; i < 2000; i++) {
        kn_clip_spec c = kn_ds_clip_spec(4, (uint64_t)i);
        if (c.nobj != 1 || kn_ds_motion_reversed(c.motion[0]) < 0) continue;
        kn_clip_spec r = reversed_spec(&c);
        CHECKF(path_signature(&r, 0) == sig[r.motion[0]], "%s reversed to %s: the path does not match",
               kn_ds_motion_name(c.motion[0]), kn_ds_motion_name(r.motion[0]));
        if (c.motion[0] == KN_MOT_SPINNING) continue;
        float worst = 0;
        for (int f = 0; f < 8; f++) {
            float p[4], q[4];
            kn_ds_object_pose(&c, 0, f, 8, 64, &p[0], &p[1], &p[2], &p[3]);
            kn_ds_object_pose(&r, 0, 7 - f, 8, 64, &q[0], &q[1], &q[2], &q[3]);
            for (int j = 0; j < 4; j++) worst = fmaxf(worst, fabsf(p[j] - q[j]));
        }
        CHECKF(worst < 1e-3f, "%s: reversed poses differ by %g", kn_ds_motion_name(c.motion[0]), worst);
        checked++;
    }
    CHECK(checked > 500);
    CHECK(kn_ds_motion_reversed(KN_MOT_BOUNCING) == -1 && kn_ds_motion_reversed(KN_MOT_FALLING) == -1);
    CHECK(kn_ds_motion_reversed(-1) == -1 && kn_ds_motion_reversed(KN_MOT_COUNT) == -1);
}

TEST(reversed_captions_name_the_backward_clip) {
    int nrev = 0, nnone = 0;
    for (int i = 0; i < 3000; i++) {
        kn_clip_spec c = kn_ds_clip_spec(2, (uint64_t)i);
        char cap[512], rev[512], want[512];
        kn_ds_caption(&c, cap, sizeof cap);
        int reversible = 1;
        for (int k = 0; k < c.nobj; k++) reversible &= kn_ds_motion_reversed(c.motion[k]) >= 0;
        int rc = kn_ds_caption_reversed(cap, c.motion, c.nobj, rev, sizeof rev);
        if (!reversible) { CHECKF(rc == -1, "'%s' has no reverse but got '%s'", cap, rev); nnone++; continue; }
        kn_clip_spec r = reversed_spec(&c);
        kn_ds_caption(&r, want, sizeof want);
        CHECKF(rc == 0 && !strcmp(rev, want), "reverse of '%s': got '%s', want '%s'", cap, rc ? "(none)" : rev, want);
        nrev++;
    }
    CHECK(nrev > 1500 && nnone > 300);
    /* the reverse of the reverse is the caption; a phrase must be whole words and present */
    int lr[2] = {KN_MOT_LEFT, KN_MOT_GROWING}, rl[2] = {KN_MOT_RIGHT, KN_MOT_SHRINKING};
    char a[256], b[256];
    CHECK(kn_ds_caption_reversed("a star moving left and a fish growing on a plain white background", lr, 2, a, sizeof a) == 0);
    CHECK(!strcmp(a, "a star moving right and a fish shrinking on a plain white background"));
    CHECK(kn_ds_caption_reversed(a, rl, 2, b, sizeof b) == 0);
    CHECK(!strcmp(b, "a star moving left and a fish growing on a plain white background"));
    CHECK(kn_ds_caption_reversed("a star moving leftwards", lr, 1, a, sizeof a) == -1);
    CHECK(kn_ds_caption_reversed("a star moving up", lr, 1, a, sizeof a) == -1);
    CHECK(kn_ds_caption_reversed("a star moving left on grass", lr, 1, a, 10) == -1);
    int fall = KN_MOT_FALLING;
    CHECK(kn_ds_caption_reversed("a star falling", &fall, 1, a, sizeof a) == -1);
}

/* Rendering the reversed spec gives the original frames in reverse order (to rounding of the
 * positions), so a reversed caption is true of the reversed frames. */
TEST(reversed_spec_renders_the_frames_backwards) {
    if (!have_artwork()) { printf("  skipped: artwork not installed\n"); return; }
    kn_sprite_set set;
    kn_error err = {0};
    REQUIRE(kn_sprites_load(NULL, NULL, &set, &err) == KN_OK);
    const int S = 32, F = 6;
    const size_t fb = (size_t)S * S * 3;
    uint8_t *x = malloc(fb * F), *y = malloc(fb * F);
    REQUIRE(x && y);
    int tested = 0;
    for (int i = 0; i < 400 && tested < 12; i++) {
        kn_clip_spec c = kn_ds_clip_spec(5, (uint64_t)i);
        int ok = 1;
        for (int k = 0; k < c.nobj; k++) ok &= kn_ds_motion_reversed(c.motion[k]) >= 0 && c.motion[k] != KN_MOT_SPINNING;
        if (!ok) continue;
        kn_clip_spec r = reversed_spec(&c);
        REQUIRE(kn_ds_render(&set, &c, S, F, x, &err) == KN_OK);
        REQUIRE(kn_ds_render(&set, &r, S, F, y, &err) == KN_OK);
        int worst = 0;
        for (int f = 0; f < F; f++)
            for (size_t j = 0; j < fb; j++) {
                int d = abs((int)x[(size_t)f * fb + j] - (int)y[(size_t)(F - 1 - f) * fb + j]);
                if (d > worst) worst = d;
            }
        CHECKF(worst <= 2, "clip %d (%s): reversed render differs by %d levels", i, kn_ds_motion_name(c.motion[0]), worst);
        tested++;
    }
    CHECK(tested == 12);
    free(x);
    free(y);
    kn_sprites_free(&set);
}

/* A training clip whose reverse would show a held-out triple gets no reversed caption. */
TEST(reversal_never_shows_a_heldout_triple) {
    int o = -1, m = -1, b = -1;
    for (int a = 0; a < KN_DS_NOBJECTS && o < 0; a++)
        for (int mm = 0; mm < KN_MOT_COUNT && o < 0; mm++)
            for (int bb = 0; bb < KN_BG_COUNT && o < 0; bb++) {
                int r = kn_ds_motion_reversed(mm);
                if (r >= 0 && !kn_ds_is_heldout(a, mm, bb) && kn_ds_is_heldout(a, r, bb)) { o = a; m = mm; b = bb; }
            }
    REQUIRE(o >= 0);
    char d[] = "/tmp/kn_test_rev_XXXXXX", path[128];
    REQUIRE(mkdtemp(d));
    snprintf(path, sizeof path, "%s/captions.jsonl", d);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    const char *fmt = "{\"caption\":\"a %s %s on a plain white background\",\"frames\":\"clips/%06d/frames.u8\","
                      "\"objects\":[\"%s\"],\"motions\":[\"%s\"],\"background\":\"%s\",\"split\":\"train\","
                      "\"size\":32,\"num_frames\":4}\n";
    fprintf(f, fmt, kn_ds_object_name(o), kn_ds_motion_phrase(m), 0, kn_ds_object_name(o), kn_ds_motion_name(m),
            kn_ds_background_name(b));
    /* the same object and motion on a background where the reverse is not held out */
    int b2 = -1;
    for (int bb = 0; bb < KN_BG_COUNT && b2 < 0; bb++)
        if (!kn_ds_is_heldout(o, m, bb) && !kn_ds_is_heldout(o, kn_ds_motion_reversed(m), bb)) b2 = bb;
    REQUIRE(b2 >= 0);
    fprintf(f, fmt, kn_ds_object_name(o), kn_ds_motion_phrase(m), 1, kn_ds_object_name(o), kn_ds_motion_name(m),
            kn_ds_background_name(b2));
    fclose(f);
    kn_clipset cs;
    kn_error err = {0};
    REQUIRE(kn_clipset_open(d, "train", &cs, &err) == KN_OK);
    CHECK(cs.n == 2 && cs.reversed[0] == NULL && cs.reversed[1] != NULL);
    kn_clipset_close(&cs);
    remove(path);
    rmdir(d);
}

/* Each clip's motion set is the motions its line lists; a line without "motions" has none. */
TEST(clipset_reads_motion_sets) {
    char d[] = "/tmp/kn_test_mot_XXXXXX", path[128];
    REQUIRE(mkdtemp(d));
    snprintf(path, sizeof path, "%s/captions.jsonl", d);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    const char *head = "\"frames\":\"clips/0/frames.u8\",\"split\":\"train\",\"size\":32,\"num_frames\":4";
    fprintf(f, "{\"caption\":\"a\",%s,\"motions\":[\"growing\"]}\n", head);
    fprintf(f, "{\"caption\":\"b\",%s,\"motions\":[\"left\",\"shrinking\"]}\n", head);
    fprintf(f, "{\"caption\":\"c\",%s}\n", head);
    fprintf(f, "{\"caption\":\"d\",%s,\"motions\":[\"up-right\",\"no such motion\"]}\n", head);
    fclose(f);
    kn_clipset cs;
    kn_error err = {0};
    REQUIRE(kn_clipset_open(d, "train", &cs, &err) == KN_OK);
    REQUIRE(cs.n == 4);
    CHECK(cs.motions[0] == 1u << KN_MOT_GROWING);
    CHECK(cs.motions[1] == ((1u << KN_MOT_LEFT) | (1u << KN_MOT_SHRINKING)));
    CHECK(cs.motions[2] == 0);
    CHECK(cs.motions[3] == 1u << KN_MOT_UP_RIGHT);
    kn_clipset_close(&cs);
    remove(path);
    rmdir(d);
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
    /* reversed captions exist exactly for the clips whose motions all have a reverse that shows no
     * held-out triple, and name the reversed clip */
    int nrev = 0;
    for (int i = 0; i < cs.n; i++) {
        int idx = atoi(cs.paths[i] + strlen("clips/"));
        kn_clip_spec c = kn_ds_clip_spec(9, (uint64_t)idx);
        int want = 1;
        for (int k = 0; k < c.nobj; k++) {
            int r = kn_ds_motion_reversed(c.motion[k]);
            want &= r >= 0 && !kn_ds_is_heldout(c.obj[k], r, c.bg);
        }
        CHECKF(want == !!cs.reversed[i], "clip %d: reversed caption %s", idx, cs.reversed[i] ? "present" : "missing");
        if (want && cs.reversed[i]) {
            char cap[512];
            kn_clip_spec r = reversed_spec(&c);
            kn_ds_caption(&r, cap, sizeof cap);
            CHECKF(!strcmp(cap, cs.reversed[i]), "clip %d: '%s' against '%s'", idx, cs.reversed[i], cap);
        }
        nrev += !!cs.reversed[i];
    }
    CHECK(nrev > 0);
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
RUN(reversed_motions_follow_the_generator);
RUN(reversed_captions_name_the_backward_clip);
RUN(reversed_spec_renders_the_frames_backwards);
RUN(reversal_never_shows_a_heldout_triple);
RUN(clipset_reads_motion_sets);
RUN(write_is_deterministic_across_threads);
RUN(epoch_order_is_a_permutation);
TEST_MAIN_END
