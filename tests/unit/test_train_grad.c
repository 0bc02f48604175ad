/* The training passes against PyTorch autograd (the llm.c pattern): tools/train_grad_ref.py writes a
 * tiny pipeline (UNetMotionModel, CLIP text encoder, AutoencoderKL) with random f32 weights, inputs,
 * the trainer's two losses, torch's gradient of every parameter and the losses of ten AdamW steps.
 * Kinora must give the same losses, every gradient within 1e-4 relative (per tensor, against the
 * tensor's largest torch gradient), the same ten AdamW losses, training forwards bit-identical to the
 * inference passes, and the same gradients on 1 and 2 threads. */
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "train/train.h"

typedef struct fixture {
    char dir[256];
    kn_st_file io;
    kn_component unet_c, text_c, vae_c;
    kn_unet *unet;
    kn_clip_text *text;
    kn_vae *vae;
    kn_ws tape;
} fixture;

static const float *io_f32(const fixture *f, const char *name, size_t n) {
    const kn_st_tensor *t = kn_st_find(&f->io, name);
    if (!t || t->dtype != KN_F32 || (size_t)kn_st_numel(t) != n) return NULL;
    return t->data;
}

/* The PyTorch reference is written once per run (make_reference) and read by every test. */
static char ref_dir[64];

static int make_reference(void) {
    snprintf(ref_dir, sizeof ref_dir, "/tmp/kn_test_grad_XXXXXX");
    if (!mkdtemp(ref_dir)) return -1;
    const char *root = getenv("KINORA_ROOT");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/train_grad_ref.py %s > /dev/null", root ? root : ".", ref_dir);
    if (system(cmd) != 0) { fprintf(stderr, "  %s failed (needs Debian's python3-torch)\n", cmd); return -1; }
    return 0;
}

static int fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    if (!ref_dir[0]) return -1;
    snprintf(f->dir, sizeof f->dir, "%s", ref_dir);
    char p[600];
    kn_error err = {0};
    snprintf(p, sizeof p, "%s/io.safetensors", f->dir);
    int bad = kn_st_open(p, &f->io, &err) != KN_OK;
    snprintf(p, sizeof p, "%s/unet", f->dir);
    bad = bad || kn_component_load(&f->unet_c, KN_COMP_UNET, p, 0, &err) || kn_component_set_trainable(&f->unet_c, NULL, NULL, &err);
    snprintf(p, sizeof p, "%s/text_encoder", f->dir);
    bad = bad || kn_component_load(&f->text_c, KN_COMP_TEXT, p, 0, &err) || kn_component_set_trainable(&f->text_c, NULL, NULL, &err);
    snprintf(p, sizeof p, "%s/vae", f->dir);
    bad = bad || kn_component_load(&f->vae_c, KN_COMP_VAE, p, 0, &err) || kn_component_set_trainable(&f->vae_c, NULL, NULL, &err);
    bad = bad || kn_component_open_unet(&f->unet_c, &f->unet, &err) || kn_component_open_text(&f->text_c, &f->text, &err) ||
          kn_component_open_vae(&f->vae_c, &f->vae, &err) || kn_tape_init(&f->tape, (size_t)1 << 32, &err);
    if (bad) fprintf(stderr, "  fixture: %s\n", err.msg);
    return bad ? -1 : 0;
}

static void fixture_close(fixture *f) {
    kn_unet_close(f->unet);
    kn_clip_text_close(f->text);
    kn_vae_close(f->vae);
    kn_component_free(&f->unet_c);
    kn_component_free(&f->text_c);
    kn_component_free(&f->vae_c);
    kn_st_close(&f->io);
    kn_tape_free(&f->tape);
}

enum { B = 2, FR = 3, S = 8, L = 6, D = 8, C = 4 };

/* UNet loss and gradients (text encoder included); pred_out (may be NULL) receives the prediction. */
static double unet_step(fixture *f, const kn_ctx *ctx, float *pred_out) {
    const size_t n = (size_t)B * C * FR * S * S;
    const float *x = io_f32(f, "x", n), *t = io_f32(f, "t", B), *target = io_f32(f, "target", n);
    const kn_st_tensor *idt = kn_st_find(&f->io, "ids");
    if (!x || !t || !target || !idt || idt->nbytes != sizeof(int64_t) * B * L) return NAN;
    int64_t ids[B * L];   /* a copy: tensors in a safetensors file need not be 8-byte aligned */
    memcpy(ids, idt->data, sizeof ids);
    kn_error err = {0};
    size_t mark = kn_ws_mark(&f->tape);
    float *ctxt = kn_ws_alloc(&f->tape, B * L * D), *dctx = kn_ws_alloc(&f->tape, B * L * D);
    float *pred = kn_ws_alloc(&f->tape, n), *dpred = kn_ws_alloc(&f->tape, n);
    kn_clip_text_act *ta;
    kn_unet_act *ua;
    double loss = 0;
    if (kn_clip_text_encode_train(f->text, ctx, &f->tape, ids, B, L, 0, ctxt, &ta, &err) ||
        kn_unet_forward_train(f->unet, ctx, &f->tape, x, B, FR, S, S, t, ctxt, L, pred, &ua, &err)) {
        fprintf(stderr, "  forward: %s\n", err.msg);
        return NAN;
    }
    for (size_t i = 0; i < n; i++) { double d = (double)pred[i] - target[i]; loss += d * d; dpred[i] = (float)(2.0 * d / (double)n); }
    memset(dctx, 0, sizeof(float) * B * L * D);
    if (kn_unet_backward(f->unet, ctx, &f->tape, ua, &f->unet_c.gm, dpred, dctx, &err) ||
        kn_clip_text_backward(f->text, ctx, &f->tape, ta, &f->text_c.gm, dctx, &err)) {
        fprintf(stderr, "  backward: %s\n", err.msg);
        return NAN;
    }
    if (pred_out) memcpy(pred_out, pred, n * sizeof(float));
    kn_ws_release(&f->tape, mark);
    return loss / (double)n;
}

/* The trainer's VAE loss (reconstruction MSE + 1e-3 KL) and its gradients. */
static double vae_step(fixture *f, const kn_ctx *ctx) {
    const int H = 16, h = 8, LC = 4;
    const size_t ni = (size_t)B * 3 * H * H, nl = (size_t)B * LC * h * h;
    const float *img = io_f32(f, "img", ni), *eps = io_f32(f, "eps", nl);
    if (!img || !eps) return NAN;
    kn_error err = {0};
    size_t mark = kn_ws_mark(&f->tape);
    float *mean = kn_ws_alloc(&f->tape, nl), *lv = kn_ws_alloc(&f->tape, nl), *z = kn_ws_alloc(&f->tape, nl);
    float *rec = kn_ws_alloc(&f->tape, ni), *drec = kn_ws_alloc(&f->tape, ni), *dz = kn_ws_alloc(&f->tape, nl);
    float *dm = kn_ws_alloc(&f->tape, nl), *dlv = kn_ws_alloc(&f->tape, nl);
    kn_vae_act *ea, *da;
    if (kn_vae_encode_train(f->vae, ctx, &f->tape, img, B, H, H, mean, lv, &ea, &err)) { fprintf(stderr, "  %s\n", err.msg); return NAN; }
    for (size_t i = 0; i < nl; i++) z[i] = mean[i] + expf(0.5f * lv[i]) * eps[i];
    if (kn_vae_decode_train(f->vae, ctx, &f->tape, z, B, h, h, rec, &da, &err)) { fprintf(stderr, "  %s\n", err.msg); return NAN; }
    double r = 0, kl = 0, kw = 1e-3;
    for (size_t i = 0; i < ni; i++) { double d = (double)rec[i] - img[i]; r += d * d; drec[i] = (float)(2.0 * d / (double)ni); }
    for (size_t i = 0; i < nl; i++) kl += 0.5 * ((double)mean[i] * mean[i] + exp(lv[i]) - 1.0 - lv[i]);
    if (kn_vae_decode_backward(f->vae, ctx, &f->tape, da, &f->vae_c.gm, drec, dz, &err)) { fprintf(stderr, "  %s\n", err.msg); return NAN; }
    for (size_t i = 0; i < nl; i++) {
        dm[i] = dz[i] + (float)(kw * mean[i] / (double)nl);
        dlv[i] = dz[i] * 0.5f * expf(0.5f * lv[i]) * eps[i] + (float)(kw * 0.5 * (exp(lv[i]) - 1.0) / (double)nl);
    }
    if (kn_vae_encode_backward(f->vae, ctx, &f->tape, ea, &f->vae_c.gm, dm, dlv, &err)) { fprintf(stderr, "  %s\n", err.msg); return NAN; }
    kn_ws_release(&f->tape, mark);
    return r / (double)ni + kw * kl / (double)nl;
}

/* Every parameter gradient of a component against torch's; returns the number of tensors off. */
static int compare_grads(const fixture *f, const kn_component *c, double *worst) {
    int bad = 0;
    for (int i = 0; i < c->ps.n; i++) {
        const kn_param *p = &c->ps.p[i];
        if (p->frozen) continue;
        char name[512];
        snprintf(name, sizeof name, "grad.%s/%s", c->name, p->name);
        const float *ref = io_f32(f, name, p->n);
        if (!ref) { fprintf(stderr, "  no reference gradient %s\n", name); bad++; continue; }
        double mx = 0;
        for (size_t j = 0; j < p->n; j++) mx = fmax(mx, fabs(ref[j]));
        double d = kn_test_maxdiff(p->g, ref, p->n), rel = d / (mx + 1e-30);
        if (d > 1e-4 * mx + 1e-7) { fprintf(stderr, "  %s: max diff %.3g, max |g| %.3g (rel %.2e)\n", name, d, mx, rel); bad++; }
        if (mx > 1e-6 && rel > *worst) *worst = rel;
    }
    return bad;
}

static void zero_all(fixture *f) {
    kn_paramset_zero_grad(&f->unet_c.ps);
    kn_paramset_zero_grad(&f->text_c.ps);
    kn_paramset_zero_grad(&f->vae_c.ps);
}

TEST(gradients_match_torch) {
    fixture f;
    REQUIRE(fixture_open(&f) == 0);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    zero_all(&f);
    double lu = unet_step(&f, &ctx, NULL), lv = vae_step(&f, &ctx);
    const float *ru = io_f32(&f, "loss_unet", 1), *rv = io_f32(&f, "loss_vae", 1);
    REQUIRE(ru && rv);
    CHECKF(fabs(lu - ru[0]) <= 1e-4 * fabs(ru[0]), "unet loss %.7f, torch %.7f", lu, ru[0]);
    CHECKF(fabs(lv - rv[0]) <= 1e-4 * fabs(rv[0]), "vae loss %.7f, torch %.7f", lv, rv[0]);
    double worst = 0;
    int bad = compare_grads(&f, &f.unet_c, &worst) + compare_grads(&f, &f.text_c, &worst) + compare_grads(&f, &f.vae_c, &worst);
    printf("  # losses %.6f / %.6f; %d tensors; worst relative gradient difference %.2e\n", lu, lv,
           f.unet_c.ps.n + f.text_c.ps.n + f.vae_c.ps.n, worst);
    CHECKF(bad == 0, "%d gradient tensors differ from torch", bad);
    fixture_close(&f);
}

TEST(training_forward_is_the_inference_forward) {
    fixture f;
    REQUIRE(fixture_open(&f) == 0);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    const size_t n = (size_t)B * C * FR * S * S;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), ctxt[B * L * D];
    REQUIRE(a && b);
    const kn_st_tensor *idt = kn_st_find(&f.io, "ids");
    REQUIRE(idt && idt->nbytes == sizeof(int64_t) * B * L);
    int64_t ids[B * L];
    memcpy(ids, idt->data, sizeof ids);
    kn_error err = {0};
    REQUIRE(kn_clip_text_encode(f.text, &ctx, ids, B, L, 0, ctxt, &err) == KN_OK);
    REQUIRE(kn_unet_forward(f.unet, &ctx, io_f32(&f, "x", n), B, FR, S, S, io_f32(&f, "t", B), ctxt, L, a, &err) == KN_OK);
    unet_step(&f, &ctx, b);
    CHECK(memcmp(a, b, n * sizeof(float)) == 0);
    free(a);
    free(b);
    fixture_close(&f);
}

TEST(gradients_independent_of_threads) {
    fixture f;
    REQUIRE(fixture_open(&f) == 0);
    kn_pool *pool;
    kn_error err = {0};
    REQUIRE(kn_pool_create(2, &pool, &err) == KN_OK);
    kn_ctx one = {NULL, kn_cpu_detect(), NULL}, two = {pool, kn_cpu_detect(), NULL};
    size_t n = kn_paramset_numel(&f.unet_c.ps);
    float *g1 = malloc(n * sizeof(float));
    REQUIRE(g1);
    zero_all(&f);
    unet_step(&f, &one, NULL);
    for (int i = 0, o = 0; i < f.unet_c.ps.n; o += (int)f.unet_c.ps.p[i].n, i++)
        memcpy(g1 + o, f.unet_c.ps.p[i].g, f.unet_c.ps.p[i].n * sizeof(float));
    zero_all(&f);
    unet_step(&f, &two, NULL);
    int same = 1;
    for (int i = 0, o = 0; i < f.unet_c.ps.n; o += (int)f.unet_c.ps.p[i].n, i++)
        same &= !memcmp(g1 + o, f.unet_c.ps.p[i].g, f.unet_c.ps.p[i].n * sizeof(float));
    CHECK(same);
    free(g1);
    kn_pool_destroy(pool);
    fixture_close(&f);
}

TEST(ten_adamw_steps_match_torch) {
    fixture f;
    REQUIRE(fixture_open(&f) == 0);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    const float *ref = io_f32(&f, "adamw_losses", 10);
    REQUIRE(ref);
    kn_adamw_cfg cfg = kn_adamw_defaults();
    int64_t su = 0, stx = 0;
    double worst = 0;
    for (int s = 0; s < 10; s++) {
        zero_all(&f);
        double l = unet_step(&f, &ctx, NULL);
        double rel = fabs(l - ref[s]) / fabs(ref[s]);
        if (rel > worst) worst = rel;
        CHECKF(rel <= 1e-4, "step %d: loss %.7f, torch %.7f", s, l, ref[s]);
        kn_adamw_step(&f.unet_c.ps, &cfg, 1e-3, &su);
        kn_adamw_step(&f.text_c.ps, &cfg, 1e-3, &stx);
    }
    printf("  # ten AdamW steps: losses %.6f -> %.6f, worst relative difference %.2e\n", ref[0], ref[9], worst);
    fixture_close(&f);
}

/* One more reference model beside the fixture: folder SUB of the reference, all of it trainable, its
 * gradients compared under the prefix SUB. */
static int load_trainable(const fixture *f, const char *sub, kn_comp_kind kind, kn_component *c) {
    char p[300];
    kn_error err = {0};
    snprintf(p, sizeof p, "%s/%s", f->dir, sub);
    if (kn_component_load(c, kind, p, 0, &err) || kn_component_set_trainable(c, NULL, NULL, &err)) {
        fprintf(stderr, "  %s: %s\n", sub, err.msg);
        return -1;
    }
    snprintf(c->name, sizeof c->name, "%s", sub);
    return 0;
}

/* A plain UNet2DConditionModel (conv projections, DownBlock2D / UpBlock2D, center_input_sample, a 7x7
 * input that downsamples to 4x4 and is upsampled back to the skip's 7x7), one frame, with the gradient
 * of the context checked directly. */
TEST(unet2d_gradients_match_torch) {
    fixture f;
    REQUIRE(fixture_open(&f) == 0);
    kn_component c;
    kn_unet *u = NULL;
    kn_error err = {0};
    REQUIRE(load_trainable(&f, "unet2d", KN_COMP_UNET, &c) == 0);
    REQUIRE(kn_component_open_unet(&c, &u, &err) == KN_OK);
    enum { S2 = 7 };
    const size_t n = (size_t)B * C * S2 * S2;
    const float *x = io_f32(&f, "x2", n), *ctxt = io_f32(&f, "ctx2", B * L * D), *t = io_f32(&f, "t", B);
    const float *target = io_f32(&f, "target2", n), *rl = io_f32(&f, "loss_unet2d", 1), *rdc = io_f32(&f, "grad_ctx2", B * L * D);
    REQUIRE(x && ctxt && t && target && rl && rdc);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    float pred[B * C * S2 * S2], dpred[B * C * S2 * S2], dctx[B * L * D] = {0};
    kn_unet_act *a;
    REQUIRE(kn_unet_forward_train(u, &ctx, &f.tape, x, B, 1, S2, S2, t, ctxt, L, pred, &a, &err) == KN_OK);
    double loss = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)pred[i] - target[i]; loss += d * d; dpred[i] = (float)(2.0 * d / (double)n); }
    loss /= (double)n;
    REQUIRE(kn_unet_backward(u, &ctx, &f.tape, a, &c.gm, dpred, dctx, &err) == KN_OK);
    float inf[B * C * S2 * S2];
    REQUIRE(kn_unet_forward(u, &ctx, x, B, 1, S2, S2, t, ctxt, L, inf, &err) == KN_OK);
    CHECK(memcmp(inf, pred, sizeof inf) == 0);
    CHECKF(fabs(loss - rl[0]) <= 1e-4 * fabs(rl[0]), "loss %.7f, torch %.7f", loss, rl[0]);
    double worst = 0, mx = 0;
    for (int i = 0; i < B * L * D; i++) mx = fmax(mx, fabs(rdc[i]));
    double dcd = kn_test_maxdiff(dctx, rdc, (size_t)B * L * D);
    CHECKF(dcd <= 1e-4 * mx, "d(context): max diff %.3g, max |g| %.3g", dcd, mx);
    CHECK(compare_grads(&f, &c, &worst) == 0);
    printf("  # plain UNet: %d tensors, worst relative gradient difference %.2e, d(context) %.2e\n", c.ps.n, worst, dcd / mx);
    kn_unet_close(u);
    kn_component_free(&c);
    fixture_close(&f);
}

/* A CLIP text encoder with hidden_act "gelu" (the exact erf form; the fixture's uses quick_gelu) and
 * three layers: loss mse(output, target), every parameter's gradient. */
TEST(clip_gelu_gradients_match_torch) {
    fixture f;
    REQUIRE(fixture_open(&f) == 0);
    kn_component c;
    kn_clip_text *m = NULL;
    kn_error err = {0};
    REQUIRE(load_trainable(&f, "text_gelu", KN_COMP_TEXT, &c) == 0);
    REQUIRE(kn_component_open_text(&c, &m, &err) == KN_OK);
    const size_t n = (size_t)B * L * D;
    const float *target = io_f32(&f, "target3", n), *rl = io_f32(&f, "loss_text_gelu", 1);
    const kn_st_tensor *idt = kn_st_find(&f.io, "ids3");
    REQUIRE(target && rl && idt && idt->nbytes == sizeof(int64_t) * B * L);
    int64_t ids[B * L];
    memcpy(ids, idt->data, sizeof ids);
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    float out[B * L * D], dout[B * L * D], inf[B * L * D];
    kn_clip_text_act *a;
    REQUIRE(kn_clip_text_encode_train(m, &ctx, &f.tape, ids, B, L, 0, out, &a, &err) == KN_OK);
    double loss = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)out[i] - target[i]; loss += d * d; dout[i] = (float)(2.0 * d / (double)n); }
    loss /= (double)n;
    REQUIRE(kn_clip_text_backward(m, &ctx, &f.tape, a, &c.gm, dout, &err) == KN_OK);
    REQUIRE(kn_clip_text_encode(m, &ctx, ids, B, L, 0, inf, &err) == KN_OK);
    CHECK(memcmp(inf, out, sizeof inf) == 0);
    CHECKF(fabs(loss - rl[0]) <= 1e-4 * fabs(rl[0]), "loss %.7f, torch %.7f", loss, rl[0]);
    double worst = 0;
    CHECK(compare_grads(&f, &c, &worst) == 0);
    printf("  # CLIP with gelu: %d tensors, worst relative gradient difference %.2e\n", c.ps.n, worst);
    kn_clip_text_close(m);
    kn_component_free(&c);
    fixture_close(&f);
}

TEST_MAIN_BEGIN
if (make_reference()) ref_dir[0] = 0;
RUN(gradients_match_torch);
RUN(training_forward_is_the_inference_forward);
RUN(gradients_independent_of_threads);
RUN(ten_adamw_steps_match_torch);
RUN(unet2d_gradients_match_torch);
RUN(clip_gelu_gradients_match_torch);
if (ref_dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", ref_dir);
    if (system(cmd) != 0) fprintf(stderr, "  could not remove %s\n", ref_dir);
}
TEST_MAIN_END
