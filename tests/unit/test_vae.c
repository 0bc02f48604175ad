/* AutoencoderKL tests: parity of the API on tests/vectors/vae_b (f16 weights, 3 blocks, non-square),
 * an f16-converted copy of the shared vae_a model against its f32 outputs, and load errors that name
 * the missing tensor, the wrong-shaped tensor and the unsupported config field. */
#include "models/models.h"
#include "model_folder.h"

/* Encodes and decodes the case's inputs; returns the worst relative error over its outputs. */
static double vae_case_err(const char *model, const char *case_dir) {
    char p[1200];
    kn_error err = {0};
    kn_vae *v;
    kn_st_file io;
    snprintf(p, sizeof p, "%s/io.safetensors", case_dir);
    if (kn_st_open(p, &io, &err)) return INFINITY;
    if (kn_vae_open(model, &v, &err)) { fprintf(stderr, "  %s\n", err.msg); kn_st_close(&io); return INFINITY; }
    const kn_st_tensor *ti = kn_st_find(&io, "in.image"), *tl = kn_st_find(&io, "in.latent");
    float *img = NULL, *lat = NULL;
    double worst = INFINITY;
    if (ti && tl && !kn_st_to_f32(ti, &img, &err) && !kn_st_to_f32(tl, &lat, &err)) {
        int B = (int)ti->shape[0], H = (int)ti->shape[2], W = (int)ti->shape[3], f = kn_vae_downscale(v);
        int h = (int)tl->shape[2], w = (int)tl->shape[3];
        size_t nz = (size_t)B * kn_vae_latent_channels(v) * (H / f) * (W / f);
        size_t nd = (size_t)kn_st_numel(kn_st_find(&io, "out.decoded"));
        float *mean = kn_malloc(nz * 4), *lv = kn_malloc(nz * 4), *dec = kn_malloc(nd * 4);
        kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
        if (mean && lv && dec && !kn_vae_encode(v, &ctx, img, B, H, W, mean, lv, &err) &&
            !kn_vae_decode(v, &ctx, lat, (int)tl->shape[0], h, w, dec, &err)) {
            double a = rel_err(&io, "out.mean", mean), b = rel_err(&io, "out.logvar", lv), c = rel_err(&io, "out.decoded", dec);
            worst = a > b ? a : b;
            if (c > worst) worst = c;
        }
        kn_free(mean); kn_free(lv); kn_free(dec);
    }
    kn_free(img); kn_free(lat);
    kn_vae_close(v);
    kn_st_close(&io);
    return worst;
}

TEST(vae_b_parity) {
    double e = vae_case_err("tests/vectors/vae_b/vae", "tests/vectors/vae_b");
    CHECKF(e <= 2e-3, "relative error %g", e);
}

TEST(vae_deprecated_attention_names) {
    /* query/key/value/proj_attn (files saved before diffusers 0.14) load like to_q/to_k/to_v/to_out.0 */
    char dir[] = "/tmp/kn_test_vaeold_XXXXXX";
    REQUIRE(mkdtemp(dir));
    model_edit e = {0};
    const char *from[4] = {".to_q.", ".to_k.", ".to_v.", ".to_out.0."};
    const char *to[4] = {".query.", ".key.", ".value.", ".proj_attn."};
    for (int i = 0; i < 4; i++) { e.ren_from[i] = from[i]; e.ren_to[i] = to[i]; }
    REQUIRE(!copy_model("tests/vectors/vae_b/vae", dir, &e));
    double err = vae_case_err(dir, "tests/vectors/vae_b");
    CHECKF(err <= 2e-3, "renamed weights: relative error %g", err);
    remove_model(dir);
}

TEST(vae_accessors) {
    kn_vae *v;
    kn_error err = {0};
    REQUIRE(!kn_vae_open("tests/vectors/vae_b/vae", &v, &err));
    CHECK(kn_vae_latent_channels(v) == 3);
    CHECK(kn_vae_downscale(v) == 4);
    CHECK_NEAR(kn_vae_scaling_factor(v), 0.3, 1e-7);
    kn_vae_close(v);
}

/* diffusers' convention: x / 127.5 - 1 in, clamp(x / 2 + 0.5, 0, 1) * 255 rounded out; interleaved
 * bytes, planar floats; every byte survives the round trip; out-of-range and NaN values clamp. */
TEST(vae_pixel_convention) {
    enum { N = 256 };
    uint8_t rgb[N * 3], back[N * 3];
    float pl[N * 3];
    for (int i = 0; i < N; i++) { rgb[i * 3] = (uint8_t)i; rgb[i * 3 + 1] = (uint8_t)(255 - i); rgb[i * 3 + 2] = (uint8_t)(i * 7); }
    kn_vae_pixels_from_rgb8(rgb, N, pl);
    CHECK(pl[0] == -1.f && pl[255] == 1.f);                       /* red plane: 0 .. 255 */
    CHECK(pl[N] == 1.f && pl[N + 255] == -1.f);                   /* green plane, reversed */
    CHECK_NEAR(pl[2 * N + 1], 7 / 127.5 - 1, 1e-7);               /* blue plane */
    kn_vae_pixels_to_rgb8(pl, N, back);
    CHECK(memcmp(rgb, back, sizeof rgb) == 0);
    float odd[3] = {-3.f, 2.f, NAN};
    uint8_t o[3];
    kn_vae_pixels_to_rgb8(odd, 1, o);
    CHECK(o[0] == 0 && o[1] == 255 && o[2] == 0);
    float half[3] = {0.f, -0.5f, 0.5f};                          /* 127.5, 63.75, 191.25 */
    kn_vae_pixels_to_rgb8(half, 1, o);
    CHECK(o[0] == 128 && o[1] == 64 && o[2] == 191);
}

TEST(vae_f16_copy_of_shared) {
    char src[1300], cs[1200], dir[] = "/tmp/kn_test_vae16_XXXXXX";
    snprintf(cs, sizeof cs, "%s/testvectors/vae_a", shared_dir());
    snprintf(src, sizeof src, "%s/vae", cs);
    if (!kn_path_is_dir(src)) { printf("# skipped: %s not found\n", src); return; }
    REQUIRE(mkdtemp(dir));
    model_edit e = {0};
    e.to_f16 = 1;
    REQUIRE(!copy_model(src, dir, &e));
    double err = vae_case_err(dir, cs);
    CHECKF(err <= 2e-2, "f16 copy relative error %g", err);
    CHECKF(err > 0, "f16 weights gave bit-identical outputs: conversion not exercised");
    remove_model(dir);
}

static void expect_error(kn_test_state *T_, const model_edit *e, const char *needle, kn_status code) {
    char dir[] = "/tmp/kn_test_vaeerr_XXXXXX";
    if (!mkdtemp(dir)) { T_->cur_failed = 1; return; }
    if (copy_model("tests/vectors/vae_b/vae", dir, e)) { T_->cur_failed = 1; remove_model(dir); return; }
    kn_vae *v = NULL;
    kn_error err = {0};
    kn_status st = kn_vae_open(dir, &v, &err);
    CHECKF(st == code, "status %d, expected %d (%s)", (int)st, (int)code, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "message \"%s\" does not name \"%s\"", err.msg, needle);
    kn_vae_close(v);
    remove_model(dir);
}

TEST(vae_missing_tensor_named) {
    model_edit e = {0};
    e.drop = "decoder.mid_block.attentions.0.to_k.weight";
    expect_error(T_, &e, "decoder.mid_block.attentions.0.to_k.weight", KN_EFORMAT);
}

TEST(vae_wrong_shape_named) {
    model_edit e = {0};
    e.reshape = "encoder.down_blocks.1.resnets.0.conv_shortcut.weight";
    expect_error(T_, &e, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", KN_EFORMAT);
}

TEST(vae_unsupported_config_named) {
    model_edit e = {0};
    e.key = "act_fn"; e.value = "\"gelu\"";
    expect_error(T_, &e, "act_fn", KN_EUNSUPPORTED);
    e.key = "down_block_types"; e.value = "[\"DownEncoderBlock2D\", \"AttnDownEncoderBlock2D\", \"DownEncoderBlock2D\"]";
    expect_error(T_, &e, "AttnDownEncoderBlock2D", KN_EUNSUPPORTED);
    e.key = "norm_type"; e.value = "\"spatial\"";
    expect_error(T_, &e, "norm_type", KN_EUNSUPPORTED);
}

TEST(vae_workspace_from_scratch_arena) {
    /* the same outputs whether activations come from ctx->scratch or from one allocation */
    kn_vae *v;
    kn_error err = {0};
    REQUIRE(!kn_vae_open("tests/vectors/vae_b/vae", &v, &err));
    float z[3 * 4 * 3], a[3 * 16 * 12], b[3 * 16 * 12];
    for (int i = 0; i < 36; i++) z[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    kn_ctx c1 = {NULL, kn_cpu_detect(), NULL};
    kn_arena ar;
    REQUIRE(!kn_arena_init(&ar, 8u << 20, &err));
    kn_ctx c2 = {NULL, c1.isa, &ar};
    CHECK(!kn_vae_decode(v, &c1, z, 1, 4, 3, a, &err));
    CHECK(!kn_vae_decode(v, &c2, z, 1, 4, 3, b, &err));
    CHECK(kn_test_maxdiff(a, b, sizeof a / sizeof *a) == 0);
    CHECK(ar.used == 0);
    kn_arena_free(&ar);
    kn_vae_close(v);
}

TEST_MAIN_BEGIN
    RUN(vae_b_parity);
    RUN(vae_accessors);
    RUN(vae_pixel_convention);
    RUN(vae_deprecated_attention_names);
    RUN(vae_f16_copy_of_shared);
    RUN(vae_missing_tensor_named);
    RUN(vae_wrong_shape_named);
    RUN(vae_unsupported_config_named);
    RUN(vae_workspace_from_scratch_arena);
TEST_MAIN_END
