/* Layer-level training passes against central finite differences, for the branches the tiny-model
 * PyTorch check (test_train_grad) does not reach: a ResnetBlock2D with a 1x1 shortcut, a time
 * embedding shared by rep = 2 frames and out_scale 2; the upsampler's general nearest-to-size path
 * (3x5 -> 5x9); the stride-2 downsampler with diffusers' (0,1,0,1) padding. The loss is
 * sum(y * R) for a fixed random R, so dy = R; every input and parameter gradient is checked on a
 * sample of elements, in double-checked f32 (relative 2e-2 of the tensor's largest gradient). */
#include "train_params.h"

static void add(params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, uint64_t seed) {
    tparam *t = tparam_new(P, name, ndim, a, b, c, d);
    kn_randn(t->w, t->n, seed, 0);
    for (size_t i = 0; i < t->n; i++) t->w[i] *= ndim == 1 ? 0.3f : 0.4f;
    if (ndim == 1 && strstr(name, "norm") && strstr(name, "weight")) for (size_t i = 0; i < t->n; i++) t->w[i] += 1.0f;
}

/* loss(x) = sum(forward(x) * R); fwd computes the layer output into y */
typedef double (*loss_fn)(void *ctx, const float *x);

static double fd(loss_fn f, void *c, float *v, const float *x) {
    float keep = *v, h = 1e-2f * (fabsf(keep) > 1 ? fabsf(keep) : 1);
    *v = keep + h;
    double a = f(c, x);
    *v = keep - h;
    double b = f(c, x);
    *v = keep;
    return (a - b) / (2.0 * h);
}

/* Compares analytic g against finite differences on up to 12 elements of v. */
static int check_tensor(const char *what, loss_fn f, void *c, float *v, const float *g, size_t n, const float *x) {
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(g[i]));
    size_t step = n / 12 + 1;
    for (size_t i = 0; i < n; i += step) {
        double d = fabs(fd(f, c, &v[i], x) - g[i]);
        if (d > worst) worst = d;
    }
    if (worst > 2e-2 * mx + 1e-4) { fprintf(stderr, "  %s: fd diff %.3g, max |g| %.3g\n", what, worst, mx); return 1; }
    return 0;
}

/* ---- ResnetBlock2D ---- */
enum { RN = 4, RCI = 4, RCO = 8, RH = 5, RW = 4, RT = 6, REP = 2 };
typedef struct { kn_resnet r; float temb[(RN / REP) * RT], R[RN * RCO * RH * RW]; } rcase;

static double res_loss(void *c_, const float *x) {
    rcase *c = c_;
    float y[RN * RCO * RH * RW];
    kn_ws tape;
    kn_error err = {0};
    if (kn_tape_init(&tape, (size_t)64 << 20, &err)) return NAN;
    kn_resnet_act *a;
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    double s = 0;
    if (!kn_resnet_fwd_train(&ctx, &tape, &c->r, x, RN, RH, RW, c->temb, REP, y, &a, &err))
        for (size_t i = 0; i < sizeof y / sizeof *y; i++) s += (double)y[i] * c->R[i];
    kn_tape_free(&tape);
    return s;
}

TEST(resnet_shortcut_temb_outscale) {
    params P = {0};
    add(&P, "r.norm1.weight", 1, RCI, 0, 0, 0, 1); add(&P, "r.norm1.bias", 1, RCI, 0, 0, 0, 2);
    add(&P, "r.conv1.weight", 4, RCO, RCI, 3, 3, 3); add(&P, "r.conv1.bias", 1, RCO, 0, 0, 0, 4);
    add(&P, "r.time_emb_proj.weight", 2, RCO, RT, 0, 0, 5); add(&P, "r.time_emb_proj.bias", 1, RCO, 0, 0, 0, 6);
    add(&P, "r.norm2.weight", 1, RCO, 0, 0, 0, 7); add(&P, "r.norm2.bias", 1, RCO, 0, 0, 0, 8);
    add(&P, "r.conv2.weight", 4, RCO, RCO, 3, 3, 9); add(&P, "r.conv2.bias", 1, RCO, 0, 0, 0, 10);
    add(&P, "r.conv_shortcut.weight", 4, RCO, RCI, 1, 1, 11); add(&P, "r.conv_shortcut.bias", 1, RCO, 0, 0, 0, 12);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    rcase c;
    kn_error err = {0};
    REQUIRE(kn_resnet_load(&c.r, &w, "r", RCI, RCO, RT, 2, 1e-5f, 2.0f, &err) == KN_OK);
    float x[RN * RCI * RH * RW], dx[RN * RCI * RH * RW], dt[(RN / REP) * RT] = {0}, y[RN * RCO * RH * RW];
    kn_randn(x, sizeof x / sizeof *x, 20, 0);
    kn_randn(c.temb, sizeof c.temb / sizeof *c.temb, 21, 0);
    kn_randn(c.R, sizeof c.R / sizeof *c.R, 22, 0);
    kn_ws tape;
    REQUIRE(kn_tape_init(&tape, (size_t)64 << 20, &err) == KN_OK);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_resnet_act *a;
    REQUIRE(kn_resnet_fwd_train(&ctx, &tape, &c.r, x, RN, RH, RW, c.temb, REP, y, &a, &err) == KN_OK);
    /* the training forward is the inference forward */
    float yi[RN * RCO * RH * RW];
    kn_ws ws;
    REQUIRE(kn_tape_init(&ws, (size_t)64 << 20, &err) == KN_OK);
    REQUIRE(kn_resnet_fwd(&ctx, &ws, &c.r, x, RN, RH, RW, c.temb, REP, yi, &err) == KN_OK);
    CHECK(memcmp(y, yi, sizeof y) == 0);
    kn_tape_free(&ws);
    REQUIRE(kn_resnet_bwd(&ctx, &tape, &c.r, a, &P.gm, c.R, dx, dt, &err) == KN_OK);
    int bad = check_tensor("dx", res_loss, &c, x, dx, sizeof x / sizeof *x, x);
    bad += check_tensor("dtemb", res_loss, &c, c.temb, dt, sizeof dt / sizeof *dt, x);
    for (int i = 0; i < P.n; i++) bad += check_tensor(P.p[i].name, res_loss, &c, P.p[i].w, P.p[i].g, P.p[i].n, x);
    CHECK(bad == 0);
    kn_tape_free(&tape);
    kn_weights_close(&w);
    free_params(&P);
}

/* ---- up (general nearest size) and down (pad 0) ---- */
enum { UN = 2, UC = 3, UH = 3, UW = 5, UHO = 5, UWO = 9 };
typedef struct { kn_up u; kn_down d; int down; float R[UN * UC * UHO * UWO]; } rscase;

static double rs_loss(void *c_, const float *x) {
    rscase *c = c_;
    float y[UN * UC * UHO * UWO];
    kn_ws tape;
    kn_error err = {0};
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    if (kn_tape_init(&tape, (size_t)16 << 20, &err)) return NAN;
    size_t n;
    if (c->down) { kn_down_fwd(&ctx, &c->d, x, UN, UHO, UWO, y); n = (size_t)UN * UC * kn_down_out(UHO, 0) * kn_down_out(UWO, 0); }
    else { kn_up_fwd(&ctx, &tape, &c->u, x, UN, UH, UW, UHO, UWO, y, &err); n = (size_t)UN * UC * UHO * UWO; }
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * c->R[i];
    kn_tape_free(&tape);
    return s;
}

TEST(upsample_to_size_and_downsample_pad0) {
    params P = {0};
    add(&P, "u.conv.weight", 4, UC, UC, 3, 3, 31); add(&P, "u.conv.bias", 1, UC, 0, 0, 0, 32);
    add(&P, "d.conv.weight", 4, UC, UC, 3, 3, 33); add(&P, "d.conv.bias", 1, UC, 0, 0, 0, 34);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    rscase c;
    kn_error err = {0};
    REQUIRE(kn_up_load(&c.u, &w, "u", UC, &err) == KN_OK);
    REQUIRE(kn_down_load(&c.d, &w, "d", UC, 0, &err) == KN_OK);
    kn_randn(c.R, sizeof c.R / sizeof *c.R, 35, 0);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    kn_ws tape;
    REQUIRE(kn_tape_init(&tape, (size_t)16 << 20, &err) == KN_OK);
    float xu[UN * UC * UH * UW], dxu[UN * UC * UH * UW], xd[UN * UC * UHO * UWO], dxd[UN * UC * UHO * UWO];
    kn_randn(xu, sizeof xu / sizeof *xu, 36, 0);
    kn_randn(xd, sizeof xd / sizeof *xd, 37, 0);
    c.down = 0;
    REQUIRE(kn_up_bwd(&ctx, &tape, &c.u, &P.gm, xu, UN, UH, UW, UHO, UWO, c.R, dxu, &err) == KN_OK);
    int bad = check_tensor("up dx", rs_loss, &c, xu, dxu, sizeof xu / sizeof *xu, xu);
    bad += check_tensor("up weight", rs_loss, &c, P.p[0].w, P.p[0].g, P.p[0].n, xu);
    bad += check_tensor("up bias", rs_loss, &c, P.p[1].w, P.p[1].g, P.p[1].n, xu);
    c.down = 1;
    REQUIRE(kn_down_bwd(&ctx, &c.d, &P.gm, xd, UN, UHO, UWO, c.R, dxd, &err) == KN_OK);
    bad += check_tensor("down dx", rs_loss, &c, xd, dxd, sizeof xd / sizeof *xd, xd);
    bad += check_tensor("down weight", rs_loss, &c, P.p[2].w, P.p[2].g, P.p[2].n, xd);
    CHECK(bad == 0);
    kn_tape_free(&tape);
    kn_weights_close(&w);
    free_params(&P);
}

TEST(frozen_parameters_get_no_gradient) {
    params P = {0};
    add(&P, "l.weight", 2, 3, 4, 0, 0, 41); add(&P, "l.bias", 1, 3, 0, 0, 0, 42);
    kn_weights w;
    REQUIRE(open_weights(&P, &w) == 0);
    kn_lin l;
    kn_error err = {0};
    REQUIRE(kn_lin_load(&l, &w, "l", 4, 3, 1, 0, &err) == KN_OK);
    kn_grad_entry be = {P.p[1].w, P.p[1].n, P.p[1].g};
    kn_gradmap only_bias = {&be, 1};
    float x[8], dy[6], dx[8];
    kn_randn(x, 8, 43, 0);
    kn_randn(dy, 6, 44, 0);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    REQUIRE(kn_lin_bwd(&ctx, &l, &only_bias, x, 2, dy, dx, &err) == KN_OK);
    double s = 0;
    for (size_t i = 0; i < P.p[0].n; i++) s += fabs(P.p[0].g[i]);
    CHECK(s == 0);
    CHECK(fabs(P.p[1].g[0] - (dy[0] + dy[3])) < 1e-6);
    kn_weights_close(&w);
    free_params(&P);
}

TEST_MAIN_BEGIN
RUN(resnet_shortcut_temb_outscale);
RUN(upsample_to_size_and_downsample_pad0);
RUN(frozen_parameters_get_no_gradient);
TEST_MAIN_END
