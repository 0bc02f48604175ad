/* Pipeline pieces that need no reference dump: the motion-word reversal behind motion guidance, and
 * the guidance formula u + g (c - u) + m (c - r), checked through identities that any other formula
 * (another sign, another scale, batch items mixed up) breaks. Runs the small shared pipeline case
 * (pipeline_t2v_a) on random text embeddings. */
#include "pipeline/pipeline.h"
#include "test.h"

static const char *shared_dir(void) {
    const char *s = getenv("KINORA_SHARED");
    return s ? s : "../shared";
}

static int opp(const char *in, char *out, size_t cap) { return pl_motion_opposite(in, out, cap); }

TEST(motion_opposite_swaps_whole_words) {
    char b[256];
    CHECK(opp("a red apple moving left on a plain white background", b, sizeof b) == 1);
    CHECK(!strcmp(b, "a red apple moving right on a plain white background"));
    CHECK(opp("a sailboat moving diagonally up and to the left", b, sizeof b) == 2);
    CHECK(!strcmp(b, "a sailboat moving diagonally down and to the right"));
    CHECK(opp("a star moving right and a frog growing in a night sky", b, sizeof b) == 2);
    CHECK(!strcmp(b, "a star moving left and a frog shrinking in a night sky"));
    CHECK(opp("Shrinking balloon, moving UP!", b, sizeof b) == 2);
    CHECK(!strcmp(b, "Growing balloon, moving DOWN!"));
    /* parts of words are not words: "upper", "lefty", "downtown" stay */
    CHECK(opp("an upper lefty downtown", b, sizeof b) == 0);
    CHECK(!strcmp(b, "an upper lefty downtown"));
    /* motions with no reversed form in the training data are left alone */
    CHECK(opp("a rocket falling, a ball bouncing, a star spinning", b, sizeof b) == 0);
    CHECK(opp("", b, sizeof b) == 0 && b[0] == '\0');
}

TEST(motion_opposite_bounds) {
    char b[64];
    /* the documented bound, 2 strlen + 1, holds for the longest growth ("up" -> "down") */
    const char *worst = "up up up up up up up up up up";
    size_t cap = 2 * strlen(worst) + 1;
    CHECK(cap <= sizeof b);
    CHECK(opp(worst, b, cap) == 10);
    CHECK(!strcmp(b, "down down down down down down down down down down"));
    CHECK(opp("moving up", b, 9) == -1);          /* "moving down" needs 12 bytes */
    CHECK(opp("moving up", b, 12) == 1);
    CHECK(opp("abc", b, 3) == -1);
}

/* Runs the case's pipeline for 2 DDIM steps from fixed noise with the given guidance and returns
 * the final latents (caller frees). */
static float *denoise(kn_pipeline *p, const float *c, const float *u, const float *r, float g, float m, size_t *n) {
    kn_error err = {0};
    kn_sched *s = NULL;
    if (kn_sched_open(p->sched_path, NULL, &s, &err) || kn_sched_set_timesteps(s, 2, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        kn_sched_close(s);
        return NULL;
    }
    int C = kn_unet_in_channels(p->unet), K = 4, h = 8, w = 8;
    *n = (size_t)C * K * h * w;
    float *lat = kn_malloc(*n * 4);
    if (!lat) { kn_sched_close(s); return NULL; }
    kn_randn(lat, *n, 11, 1);
    kn_scale(lat, kn_sched_init_noise_sigma(s), *n, lat);
    pl_guide gd = {c, u, r, g, m};
    if (pl_denoise(p, s, 0, &gd, lat, K, h, w, 5, NULL, NULL, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        kn_free(lat);
        lat = NULL;
    }
    kn_sched_close(s);
    return lat;
}

static double rel(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(b[i]));
    return kn_test_maxdiff(a, b, n) / (m > 0 ? m : 1);
}

TEST(motion_guidance_formula) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/testvectors/pipeline_t2v_a", shared_dir());
    kn_error err = {0};
    kn_pipeline *p;
    if (kn_pipeline_open(dir, 2, &p, &err)) { fprintf(stderr, "  %s\n", err.msg); REQUIRE(0); }
    /* no generation_defaults.json in the case folder: the library's defaults */
    kn_generate_params gd, lib;
    kn_generate_params_default(&lib);
    memset(&gd, 0, sizeof gd);
    kn_pipeline_defaults(p, &gd);
    CHECK(gd.guidance == lib.guidance && gd.motion_guidance == lib.motion_guidance && gd.guidance == 7.5f);
    size_t Ld = (size_t)p->L * p->D, n = 0;
    float *c = kn_malloc(Ld * 4), *u = kn_malloc(Ld * 4), *r = kn_malloc(Ld * 4);
    REQUIRE(c && u && r);
    kn_randn(c, Ld, 1, 1);
    kn_randn(u, Ld, 2, 1);
    kn_randn(r, Ld, 3, 1);
    float *cfg2 = denoise(p, c, u, NULL, 2.f, 0.f, &n);
    /* no CFG, motion guidance 1 against u: c + (c - u) = u + 2 (c - u) */
    float *mg1 = denoise(p, c, NULL, u, 1.f, 1.f, &n);
    float *cfg5 = denoise(p, c, u, NULL, 5.f, 0.f, &n);
    /* both against u: u + 3 (c - u) + 2 (c - u) = u + 5 (c - u) */
    float *both = denoise(p, c, u, u, 3.f, 2.f, &n);
    float *cfg7 = denoise(p, c, u, NULL, 7.5f, 0.f, &n);
    /* the opposite equal to the prompt adds nothing, and the third batch item disturbs no other */
    float *same = denoise(p, c, u, c, 7.5f, 3.f, &n);
    /* a different opposite does change the result */
    float *diff = denoise(p, c, u, r, 7.5f, 3.f, &n);
    /* motion guidance 0 with an opposite given is plain CFG */
    float *zero = denoise(p, c, u, r, 7.5f, 0.f, &n);
    REQUIRE(cfg2 && mg1 && cfg5 && both && cfg7 && same && diff && zero);
    CHECKF(rel(mg1, cfg2, n) < 1e-5, "c + (c - u) vs CFG 2: %g", rel(mg1, cfg2, n));
    CHECKF(rel(both, cfg5, n) < 1e-5, "3 + 2 vs CFG 5: %g", rel(both, cfg5, n));
    CHECKF(rel(same, cfg7, n) < 1e-5, "opposite = prompt: %g", rel(same, cfg7, n));
    CHECKF(rel(diff, cfg7, n) > 1e-3, "another opposite changed only %g", rel(diff, cfg7, n));
    CHECK(rel(zero, cfg7, n) == 0);
    kn_free(cfg2); kn_free(mg1); kn_free(cfg5); kn_free(both); kn_free(cfg7); kn_free(same); kn_free(diff); kn_free(zero);
    kn_free(c); kn_free(u); kn_free(r);
    kn_pipeline_close(p);
}

TEST_MAIN_BEGIN
RUN(motion_opposite_swaps_whole_words);
RUN(motion_opposite_bounds);
RUN(motion_guidance_formula);
TEST_MAIN_END
