/* Kernels against PyTorch outputs dumped once by tools/dump_op_refs.py into tests/data/ops (inputs and
 * outputs both stored), at every ISA level the CPU has. */
#include "test.h"
#include "io/io.h"
#include "core/ops.h"

typedef struct { kn_st_file f; int ok; float *bufs[32]; int nb; } refs;

static int refs_open(kn_test_state *T_, refs *r, const char *name) {
    char path[256];
    kn_error err = {0};
    snprintf(path, sizeof path, "tests/data/ops/%s.safetensors", name);
    memset(r, 0, sizeof *r);
    r->ok = kn_st_open(path, &r->f, &err) == KN_OK;
    CHECKF(r->ok, "%s", err.msg);
    return r->ok;
}
/* f32 copy of a stored tensor (freed by refs_close); n receives the element count. */
static float *get(kn_test_state *T_, refs *r, const char *name, size_t *n) {
    const kn_st_tensor *t = kn_st_find(&r->f, name);
    float *out = NULL;
    kn_error err = {0};
    if (!t || kn_st_to_f32(t, &out, &err) != KN_OK || r->nb == 32) {
        CHECKF(0, "tensor %s missing or unreadable", name);
        return NULL;
    }
    if (n) *n = (size_t)kn_st_numel(t);
    r->bufs[r->nb++] = out;
    return out;
}
static void refs_close(refs *r) {
    for (int i = 0; i < r->nb; i++) kn_free(r->bufs[i]);
    if (r->ok) kn_st_close(&r->f);
}
static double rel_err(const float *a, const float *b, size_t n) {
    double m = 0, s = 1e-6;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > s) s = fabs(b[i]);
    for (size_t i = 0; i < n; i++) { double e = fabs((double)a[i] - b[i]); if (e > m || e != e) m = e != e ? INFINITY : e; }
    return m / s;
}

TEST(conv2d_vs_torch) {
    refs r;
    if (!refs_open(T_, &r, "conv2d")) return;
    size_t nx, nw, ny;
    float *x = get(T_, &r, "x", &nx), *w = get(T_, &r, "w", &nw), *b = get(T_, &r, "b", NULL);
    float *y = get(T_, &r, "y", &ny), *dy = get(T_, &r, "dy", NULL), *dx = get(T_, &r, "dx", NULL);
    float *dw = get(T_, &r, "dw", NULL), *db = get(T_, &r, "db", NULL), *y16 = get(T_, &r, "y_f16_pad1", NULL);
    const kn_st_tensor *w16 = kn_st_find(&r.f, "w_f16");
    REQUIRE(x && w && b && y && dy && dx && dw && db && y16 && w16 && w16->dtype == KN_F16);
    kn_conv2d_shape s = {2, 3, 9, 8, 4, 3, 3, 2, 0, 1, 0, 1};
    kn_conv2d_shape s1 = kn_conv2d_make(2, 3, 9, 8, 4, 3, 1, 1);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++) {
        kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
        float out[2 * 4 * 9 * 8], gx[2 * 3 * 9 * 8], gw[4 * 3 * 9], gb[4] = {0};
        REQUIRE(ny <= sizeof out / 4 && nx <= sizeof gx / 4 && nw <= sizeof gw / 4);
        kn_conv2d(&ctx, &s, x, kn_wf32(w), b, out);
        CHECKF(rel_err(out, y, ny) < 1e-5, "conv isa %s: %g", kn_isa_name(isa), rel_err(out, y, ny));
        memset(gw, 0, sizeof gw);
        kn_conv2d_backward(&ctx, &s, x, w, dy, gx, gw, gb);
        CHECK(rel_err(gx, dx, nx) < 1e-5 && rel_err(gw, dw, nw) < 1e-5 && rel_err(gb, db, 4) < 1e-5);
        kn_wview wv = {w16->data, KN_F16};
        kn_conv2d(&ctx, &s1, x, wv, b, out);
        CHECKF(rel_err(out, y16, 2 * 4 * 9 * 8) < 1e-5, "conv f16 isa %s", kn_isa_name(isa));
    }
    refs_close(&r);
}

TEST(norms_vs_torch) {
    refs r;
    if (!refs_open(T_, &r, "norms")) return;
    size_t n, nl;
    float *x = get(T_, &r, "gn_x", &n), *ga = get(T_, &r, "gn_gamma", NULL), *be = get(T_, &r, "gn_beta", NULL);
    float *y = get(T_, &r, "gn_y", NULL), *dy = get(T_, &r, "gn_dy", NULL), *dx = get(T_, &r, "gn_dx", NULL);
    float *dg = get(T_, &r, "gn_dgamma", NULL), *dbt = get(T_, &r, "gn_dbeta", NULL);
    float *xl = get(T_, &r, "ln_x", &nl), *gl = get(T_, &r, "ln_gamma", NULL), *bl = get(T_, &r, "ln_beta", NULL);
    float *yl = get(T_, &r, "ln_y", NULL);
    REQUIRE(x && ga && be && y && dy && dx && dg && dbt && xl && gl && bl && yl && n == 480 && nl == 480);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++) {
        kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
        float out[480], gx[480], gg[8] = {0}, gb[8] = {0};
        kn_group_norm(&ctx, x, 2, 8, 30, 4, 1e-6f, ga, be, out);
        CHECKF(rel_err(out, y, n) < 1e-5, "group norm isa %s: %g", kn_isa_name(isa), rel_err(out, y, n));
        kn_group_norm_backward(&ctx, x, 2, 8, 30, 4, 1e-6f, ga, dy, gx, gg, gb);
        CHECK(rel_err(gx, dx, n) < 1e-5 && rel_err(gg, dg, 8) < 1e-5 && rel_err(gb, dbt, 8) < 1e-5);
        kn_layer_norm(&ctx, xl, 30, 16, 1e-5f, gl, bl, out);
        CHECKF(rel_err(out, yl, nl) < 1e-5, "layer norm isa %s", kn_isa_name(isa));
    }
    refs_close(&r);
}

TEST(linear_activations_vs_torch) {
    refs r;
    if (!refs_open(T_, &r, "linear_act")) return;
    size_t na, nu;
    float *x = get(T_, &r, "x", NULL), *b = get(T_, &r, "b", NULL), *y = get(T_, &r, "y", NULL);
    float *a = get(T_, &r, "act_x", &na), *gx = get(T_, &r, "geglu_x", NULL), *gy = get(T_, &r, "geglu_y", NULL);
    float *ux = get(T_, &r, "up_x", NULL), *uy = get(T_, &r, "up_y", &nu);
    const char *names[4] = {"silu", "gelu", "gelu_tanh", "quick_gelu"};
    float *ref[4];
    for (int i = 0; i < 4; i++) ref[i] = get(T_, &r, names[i], NULL);
    const kn_st_tensor *w = kn_st_find(&r.f, "w_bf16");
    REQUIRE(x && b && y && a && gx && gy && ux && uy && ref[0] && ref[1] && ref[2] && ref[3] && w &&
            w->dtype == KN_BF16 && na == 257 && nu == 96);
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++) {
        kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
        float out[257];
        kn_wview wv = {w->data, KN_BF16};
        kn_linear(&ctx, x, 5, 24, wv, b, 12, out);
        CHECKF(rel_err(out, y, 60) < 1e-5, "linear bf16 isa %s: %g", kn_isa_name(isa), rel_err(out, y, 60));
        for (int i = 0; i < 4; i++) {
            kn_activation(&ctx, (kn_act)i, a, na, out);
            CHECKF(rel_err(out, ref[i], na) < 2e-6, "%s isa %s: %g", names[i], kn_isa_name(isa), rel_err(out, ref[i], na));
        }
        kn_geglu(&ctx, gx, 4, 20, out);
        CHECKF(rel_err(out, gy, 80) < 2e-6, "geglu isa %s", kn_isa_name(isa));
        kn_upsample_nearest2x(&ctx, ux, 2, 3, 4, out);
        CHECK(!memcmp(out, uy, sizeof(float) * 96));
    }
    refs_close(&r);
}

TEST(attention_vs_torch) {
    refs r;
    if (!refs_open(T_, &r, "attention")) return;
    size_t nq, nk;
    float *q = get(T_, &r, "q", &nq), *k = get(T_, &r, "k", &nk), *v = get(T_, &r, "v", NULL);
    float *o = get(T_, &r, "out", NULL), *dout = get(T_, &r, "dout", NULL), *dq = get(T_, &r, "dq", NULL);
    float *dk = get(T_, &r, "dk", NULL), *dv = get(T_, &r, "dv", NULL), *oc = get(T_, &r, "out_causal", NULL);
    REQUIRE(q && k && v && o && dout && dq && dk && dv && oc && nq == 2 * 9 * 16 && nk == 2 * 11 * 16);
    kn_attn_shape s = {2, 9, 11, 2, 8, 16, 16, 16, 16, 0, 1.f / sqrtf(8.f)};
    for (int isa = 0; isa <= (int)kn_cpu_detect(); isa++) {
        kn_ctx ctx = {NULL, (kn_isa)isa, NULL};
        float out[288], gq[288], gk[352], gv[352];
        kn_attention(&ctx, &s, q, k, v, out);
        CHECKF(rel_err(out, o, nq) < 1e-5, "attention isa %s: %g", kn_isa_name(isa), rel_err(out, o, nq));
        kn_attention_backward(&ctx, &s, q, k, v, dout, gq, gk, gv);
        CHECKF(rel_err(gq, dq, nq) < 1e-5 && rel_err(gk, dk, nk) < 1e-5 && rel_err(gv, dv, nk) < 1e-5,
               "attention backward isa %s: %g %g %g", kn_isa_name(isa), rel_err(gq, dq, nq), rel_err(gk, dk, nk),
               rel_err(gv, dv, nk));
        /* causal self-attention over the first 9 keys: k and v rows keep their stride */
        kn_attn_shape sc = {2, 9, 9, 2, 8, 16, 16, 16, 16, 1, 1.f / sqrtf(8.f)};
        float kc[288], vc[288];
        for (int b = 0; b < 2; b++) {
            memcpy(kc + b * 144, k + b * 176, sizeof(float) * 144);
            memcpy(vc + b * 144, v + b * 176, sizeof(float) * 144);
        }
        kn_attention(&ctx, &sc, q, kc, vc, out);
        CHECKF(rel_err(out, oc, nq) < 1e-5, "causal attention isa %s", kn_isa_name(isa));
    }
    refs_close(&r);
}

TEST_MAIN_BEGIN
    RUN(conv2d_vs_torch);
    RUN(norms_vs_torch);
    RUN(linear_activations_vs_torch);
    RUN(attention_vs_torch);
TEST_MAIN_END
