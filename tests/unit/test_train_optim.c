/* AdamW, schedule, clipping and EMA against torch (tests/data/train/adamw_ref.safetensors, made by
 * tools/train_adamw_ref.py with torch 1.13): the recorded raw gradients are replayed so only the updates are compared. */
#include "test.h"
#include "train/train.h"
#include "io/io.h"

/* Relative to the tensor's scale (max |b|): a weight crossing zero cannot turn one float rounding of
 * its neighbours' size into a huge per-element ratio. */
static double max_rel(const float *a, const float *b, size_t n) {
    double m = 0, scale = 0;
    for (size_t i = 0; i < n; i++) if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (scale > 0 ? scale : 1);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

static const float *ref(kn_test_state *T_, const kn_st_file *f, const char *tag, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", tag, name);
    const kn_st_tensor *t = kn_st_find(f, full);
    CHECKF(t != NULL, "reference tensor %s missing", full);
    return t ? (const float *)t->data : NULL;
}

static void replay(kn_test_state *T_, const kn_st_file *f, const char *tag, kn_adamw_cfg cfg, int64_t warmup,
                   int64_t total, double max_norm, double ema_decay) {
    kn_paramset ps = {0};
    kn_error err = {0};
    kn_param *W, *b;
    int64_t sw[2] = {4, 3}, sb[1] = {3};
    if (kn_paramset_add(&ps, "W", 2, sw, &W, &err) || kn_paramset_add(&ps, "b", 1, sb, &b, &err)) { CHECK(0); return; }
    W = kn_paramset_find(&ps, "W");
    const float *iw = ref(T_, f, tag, "init.W"), *ib = ref(T_, f, tag, "init.b");
    const float *lrs = ref(T_, f, tag, "lr"), *norms = ref(T_, f, tag, "norm");
    if (!iw || !ib || !lrs || !norms) goto out;
    memcpy(W->w, iw, 12 * sizeof(float));
    memcpy(b->w, ib, 3 * sizeof(float));
    REQUIRE(kn_paramset_enable_ema(&ps, &err) == KN_OK);
    int64_t step = 0;
    double worst = 0;
    for (int s = 0; s < 10; s++) {
        char n[32];
        snprintf(n, sizeof n, "grad%d.W", s);
        const float *gw = ref(T_, f, tag, n);
        snprintf(n, sizeof n, "grad%d.b", s);
        const float *gb = ref(T_, f, tag, n);
        if (!gw || !gb) goto out;
        memcpy(W->g, gw, 12 * sizeof(float));
        memcpy(b->g, gb, 3 * sizeof(float));
        double norm = kn_grad_clip(&ps, max_norm);
        CHECK_NEAR(norm, norms[s], 1e-6 * fabs(norms[s]));
        double lr = warmup >= 0 ? cfg.lr * kn_lr_factor(step, warmup, total, 0.0) : cfg.lr;
        CHECK_NEAR(lr, lrs[s], 1e-7 * fabs(lrs[s]) + 1e-12);
        kn_adamw_step(&ps, &cfg, lr, &step);
        kn_ema_update(&ps, ema_decay);
        const char *what[4] = {"step%d.W", "step%d.b", "ema%d.W", "ema%d.b"};
        const float *mine[4] = {W->w, b->w, W->ema, b->ema};
        for (int k = 0; k < 4; k++) {
            snprintf(n, sizeof n, what[k], s);
            const float *r = ref(T_, f, tag, n);
            if (!r) goto out;
            double e = max_rel(mine[k], r, k % 2 ? 3 : 12);
            if (e > worst) worst = e;
            CHECKF(e <= 1e-6, "%s %s: relative error %g", tag, n, e);
        }
    }
    CHECK(step == 10);
    printf("  case %s: worst relative error over 10 steps %.3g\n", tag, worst);
out:
    kn_paramset_free(&ps);
}

TEST(adamw_matches_torch) {
    kn_st_file f;
    kn_error err = {0};
    REQUIRE(kn_st_open("tests/data/train/adamw_ref.safetensors", &f, &err) == KN_OK);
    kn_adamw_cfg a = {.lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
    replay(T_, &f, "a", a, 3, 10, 1.0, 0.9);
    kn_adamw_cfg b = {.lr = 1e-3, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 1e-2};
    replay(T_, &f, "b", b, -1, 10, 0.0, 0.99);
    kn_st_close(&f);
}

TEST(lr_schedule_shape) {
    CHECK(kn_lr_factor(0, 10, 110, 0) == 0.0);
    CHECK_NEAR(kn_lr_factor(5, 10, 110, 0), 0.5, 1e-15);
    CHECK_NEAR(kn_lr_factor(10, 10, 110, 0), 1.0, 1e-15);
    CHECK_NEAR(kn_lr_factor(60, 10, 110, 0), 0.5, 1e-12);
    CHECK_NEAR(kn_lr_factor(110, 10, 110, 0), 0.0, 1e-15);
    CHECK_NEAR(kn_lr_factor(500, 10, 110, 0.1), 0.1, 1e-15);
    CHECK_NEAR(kn_lr_factor(60, 10, 110, 0.1), 0.55, 1e-12);
}

TEST(clip_leaves_small_gradients) {
    kn_paramset ps = {0};
    kn_error err = {0};
    kn_param *p;
    int64_t s[1] = {2};
    REQUIRE(kn_paramset_add(&ps, "x", 1, s, &p, &err) == KN_OK);
    CHECK(kn_paramset_add(&ps, "x", 1, s, NULL, &err) == KN_EINVAL);
    p = kn_paramset_find(&ps, "x");
    p->g[0] = 3; p->g[1] = 4;
    CHECK_NEAR(kn_grad_clip(&ps, 10.0), 5.0, 1e-12);
    CHECK(p->g[0] == 3 && p->g[1] == 4);
    CHECK_NEAR(kn_grad_clip(&ps, 1.0), 5.0, 1e-12);
    CHECK_NEAR(kn_grad_norm(&ps), 1.0, 1e-6);
    kn_paramset_free(&ps);
}

/* Two channels, three frames, two pixels: pixel 0 is still, pixel 1 changes in frame 2 only. */
TEST(motion_loss_weights) {
    const float x0[2 * 3 * 2] = {/* c0: f0, f1, f2 */ 1, 0, 1, 0, 1, 3, /* c1 */ -2, 1, -2, 1, -2, 1};
    float w[6];
    kn_motion_loss_weights(x0, 2, 3, 2, 0.0, w);
    for (int i = 0; i < 6; i++) CHECK(w[i] == 1.f);
    kn_motion_loss_weights(x0, 2, 3, 2, 3.0, w);
    /* d: pixel 0 all 0; pixel 1 (channel 0 only, mean 1): f0 1, f1 1, f2 2, /2 channels -> .5 .5 1;
     * mean(d) = 2/6; w = (1 + 3 d / mean) / 4 */
    const double want[6] = {0.25, 0.25 + 0.75 * 1.5, 0.25, 0.25 + 0.75 * 1.5, 0.25, 0.25 + 0.75 * 3};
    double sum = 0;
    for (int i = 0; i < 6; i++) { CHECK_NEAR(w[i], want[i], 1e-6); sum += w[i]; }
    CHECK_NEAR(sum / 6, 1.0, 1e-6);
    const float still[2 * 3 * 2] = {5, 5, 5, 5, 5, 5, -1, 2, -1, 2, -1, 2};
    kn_motion_loss_weights(still, 2, 3, 2, 3.0, w);
    for (int i = 0; i < 6; i++) CHECK(w[i] == 1.f);
}

TEST(timestep_shift) {
    for (int i = 0; i < 1000; i++) CHECK(kn_train_timestep(i / 1000.0, 1.0, 1000) == i);
    CHECK(kn_train_timestep(0.5, 0.0, 1000) == 500);
    CHECK(kn_train_timestep(0.5, 3.0, 1000) == 750);          /* 1.5 / 2 */
    CHECK(kn_train_timestep(0.25, 3.0, 1000) == 500);         /* 0.75 / 1.5 */
    CHECK(kn_train_timestep(0.0, 3.0, 1000) == 0);
    CHECK(kn_train_timestep(0.999999, 3.0, 1000) == 999);
    int prev = -1, ok = 1;   /* monotone, and never past T - 1 */
    for (int i = 0; i < 4096; i++) { int t = kn_train_timestep(i / 4096.0, 5.0, 1000); ok &= t >= prev && t <= 999; prev = t; }
    CHECK(ok);
}

TEST_MAIN_BEGIN
RUN(adamw_matches_torch);
RUN(lr_schedule_shape);
RUN(clip_leaves_small_gradients);
RUN(motion_loss_weights);
RUN(timestep_shift);
TEST_MAIN_END
