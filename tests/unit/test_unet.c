/* UNet tests: parity of the API on tests/vectors/unet2d_b and unet_motion_b (adapter folder, and a
 * merged UNetMotionModel folder assembled here from the same weights), an f16-converted copy of the
 * shared unet2d_a model, load errors that name the missing tensor, the wrong-shaped tensor and each
 * unsupported config field, and call-time shape errors. */
#include "models/blocks.h"
#include "model_folder.h"

/* Runs the UNet on the case's inputs; returns the relative error of out.sample. */
static double unet_case_err(const char *model, const char *motion, const char *case_dir) {
    char p[1200];
    kn_error err = {0};
    kn_unet *u;
    kn_st_file io;
    snprintf(p, sizeof p, "%s/io.safetensors", case_dir);
    if (kn_st_open(p, &io, &err)) return INFINITY;
    if (kn_unet_open(model, motion, &u, &err)) { fprintf(stderr, "  %s\n", err.msg); kn_st_close(&io); return INFINITY; }
    const kn_st_tensor *tx = kn_st_find(&io, "in.sample"), *tt = kn_st_find(&io, "in.timestep"),
                       *tc = kn_st_find(&io, "in.encoder_hidden_states");
    float *x = NULL, *t = NULL, *c = NULL, *out = NULL;
    double e = INFINITY;
    if (tx && tt && tc && !kn_st_to_f32(tx, &x, &err) && !kn_st_to_f32(tt, &t, &err) && !kn_st_to_f32(tc, &c, &err)) {
        int video = tx->ndim == 5;
        int B = (int)tx->shape[0], F = video ? (int)tx->shape[2] : 1, H = (int)tx->shape[video ? 3 : 2],
            W = (int)tx->shape[video ? 4 : 3];
        out = kn_malloc((size_t)kn_st_numel(tx) * 4);
        kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
        if (out && !kn_unet_forward(u, &ctx, x, B, F, H, W, t, c, (int)tc->shape[1], out, &err)) e = rel_err(&io, "out.sample", out);
        else fprintf(stderr, "  %s\n", err.msg);
    }
    kn_free(x); kn_free(t); kn_free(c); kn_free(out);
    kn_unet_close(u);
    kn_st_close(&io);
    return e;
}

#define MOTION_CASE "tests/vectors/unet_motion_b"

TEST(unet2d_b_parity) {
    double e = unet_case_err("tests/vectors/unet2d_b/unet", NULL, "tests/vectors/unet2d_b");
    CHECKF(e <= 2e-3, "relative error %g", e);
}

TEST(unet_motion_adapter_parity) {
    double e = unet_case_err(MOTION_CASE "/unet", MOTION_CASE "/motion_adapter", MOTION_CASE);
    CHECKF(e <= 2e-3, "relative error %g", e);
    kn_unet *u;
    kn_error err = {0};
    REQUIRE(!kn_unet_open(MOTION_CASE "/unet", MOTION_CASE "/motion_adapter", &u, &err));
    CHECK(kn_unet_has_motion(u) && kn_unet_max_frames(u) == 8);
    CHECK(kn_unet_in_channels(u) == 4 && kn_unet_out_channels(u) == 4 && kn_unet_cross_dim(u) == 4);
    kn_unet_close(u);
}

/* The merged save: both folders' tensors in one file, the UNetMotionModel config from_unet2d writes. */
static int build_merged(const char *dst) {
    kn_error err = {0};
    if (mkdir(dst, 0700) && errno != EEXIST) return -1;
    json_error_t je;
    json_t *cfg = json_load_file(MOTION_CASE "/unet/config.json", 0, &je);
    if (!cfg) return -1;
    json_object_set_new(cfg, "_class_name", json_string("UNetMotionModel"));
    json_object_set_new(cfg, "down_block_types", json_pack("[ss]", "DownBlockMotion", "DownBlockMotion"));
    json_object_set_new(cfg, "up_block_types", json_pack("[ss]", "CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion"));
    json_object_set_new(cfg, "num_attention_heads", json_deep_copy(json_object_get(cfg, "attention_head_dim")));
    json_object_set_new(cfg, "motion_max_seq_length", json_integer(8));
    json_object_set_new(cfg, "motion_num_attention_heads", json_integer(2));
    json_object_set_new(cfg, "use_motion_mid_block", json_false());
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dst);
    int rc = json_dump_file(cfg, p, JSON_INDENT(1));
    json_decref(cfg);
    if (rc) return -1;
    kn_st_file a, b;
    if (kn_st_open(MOTION_CASE "/unet/diffusion_pytorch_model.safetensors", &a, &err)) return -1;
    if (kn_st_open(MOTION_CASE "/motion_adapter/diffusion_pytorch_model.safetensors", &b, &err)) { kn_st_close(&a); return -1; }
    int n = a.ntensors + b.ntensors;
    kn_st_entry *e = calloc((size_t)n, sizeof *e);
    if (e) {
        for (int i = 0; i < n; i++) {
            const kn_st_tensor *t = i < a.ntensors ? &a.tensors[i] : &b.tensors[i - a.ntensors];
            e[i].name = t->name; e[i].dtype = t->dtype; e[i].ndim = t->ndim; e[i].data = t->data;
            memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        }
        snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", dst);
        rc = kn_st_write(p, e, n, NULL, &err) ? -1 : 0;
    } else rc = -1;
    free(e);
    kn_st_close(&a);
    kn_st_close(&b);
    return rc;
}

TEST(unet_motion_merged_parity) {
    char dir[] = "/tmp/kn_test_merged_XXXXXX";
    REQUIRE(mkdtemp(dir));
    REQUIRE(!build_merged(dir));
    double e = unet_case_err(dir, NULL, MOTION_CASE);
    CHECKF(e <= 2e-3, "relative error %g", e);
    kn_unet *u;
    kn_error err = {0};
    CHECK(kn_unet_open(dir, MOTION_CASE "/motion_adapter", &u, &err) == KN_EINVAL);
    remove_model(dir);
}

TEST(unet_f16_copy_of_shared) {
    char src[1300], cs[1200], dir[] = "/tmp/kn_test_unet16_XXXXXX";
    snprintf(cs, sizeof cs, "%s/testvectors/unet2d_a", shared_dir());
    snprintf(src, sizeof src, "%s/unet", cs);
    if (!kn_path_is_dir(src)) { printf("# skipped: %s not found\n", src); return; }
    REQUIRE(mkdtemp(dir));
    model_edit e = {0};
    e.to_f16 = 1;
    REQUIRE(!copy_model(src, dir, &e));
    double err = unet_case_err(dir, NULL, cs);
    CHECKF(err <= 2e-2, "f16 copy relative error %g", err);
    CHECKF(err > 0, "f16 weights gave bit-identical outputs: conversion not exercised");
    remove_model(dir);
}

static void expect_error(kn_test_state *T_, const char *src, const model_edit *e, const char *needle, kn_status code) {
    char dir[] = "/tmp/kn_test_uneterr_XXXXXX";
    if (!mkdtemp(dir)) { T_->cur_failed = 1; return; }
    if (copy_model(src, dir, e)) { T_->cur_failed = 1; remove_model(dir); return; }
    kn_unet *u = NULL;
    kn_error err = {0};
    kn_status st = kn_unet_open(dir, NULL, &u, &err);
    CHECKF(st == code, "%s: status %d, expected %d (%s)", needle, (int)st, (int)code, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "message \"%s\" does not name \"%s\"", err.msg, needle);
    kn_unet_close(u);
    remove_model(dir);
}

#define UNET_B "tests/vectors/unet2d_b/unet"

TEST(unet_missing_tensor_named) {
    model_edit e = {0};
    e.drop = "up_blocks.2.attentions.1.transformer_blocks.1.attn2.to_k.weight";
    expect_error(T_, UNET_B, &e, e.drop, KN_EFORMAT);
}

TEST(unet_wrong_shape_named) {
    model_edit e = {0};
    e.reshape = "down_blocks.1.resnets.0.conv_shortcut.weight";
    expect_error(T_, UNET_B, &e, e.reshape, KN_EFORMAT);
}

TEST(unet_unsupported_config_named) {
    static const char *cases[][2] = {
        {"class_embed_type", "\"timestep\""}, {"addition_embed_type", "\"text_time\""},
        {"resnet_time_scale_shift", "\"scale_shift\""}, {"attention_type", "\"gated\""},
        {"dual_cross_attention", "true"}, {"time_embedding_type", "\"fourier\""},
        {"only_cross_attention", "true"}, {"encoder_hid_dim_type", "\"text_proj\""},
        {"time_cond_proj_dim", "256"}, {"num_class_embeds", "10"}, {"act_fn", "\"gelu\""},
        {"mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\""}, {"cross_attention_norm", "\"group_norm\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        model_edit e = {0};
        e.key = cases[i][0]; e.value = cases[i][1];
        expect_error(T_, UNET_B, &e, cases[i][0], KN_EUNSUPPORTED);
    }
    model_edit e = {0};
    e.key = "down_block_types"; e.value = "[\"CrossAttnDownBlock2D\", \"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\"]";
    expect_error(T_, UNET_B, &e, "SimpleCrossAttnDownBlock2D", KN_EUNSUPPORTED);
    e.key = "up_block_types"; e.value = "[\"UpBlock2D\", \"AttnUpBlock2D\", \"CrossAttnUpBlock2D\"]";
    expect_error(T_, UNET_B, &e, "AttnUpBlock2D", KN_EUNSUPPORTED);
}

TEST(unet_call_errors) {
    kn_unet *u;
    kn_error err = {0};
    REQUIRE(!kn_unet_open(MOTION_CASE "/unet", MOTION_CASE "/motion_adapter", &u, &err));
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    size_t n = (size_t)4 * 9 * 2 * 2;
    float *x = calloc(n, 4), *o = calloc(n, 4), t = 1, c[4 * 3] = {0};
    REQUIRE(x && o);
    CHECK(kn_unet_forward(u, &ctx, x, 1, 9, 2, 2, &t, c, 3, o, &err) == KN_EINVAL);
    CHECK(strstr(err.msg, "motion_max_seq_length") != NULL);
    free(x); free(o);
    kn_unet_close(u);
    REQUIRE(!kn_unet_open(UNET_B, NULL, &u, &err));
    CHECK(kn_unet_has_motion(u) == 0 && kn_unet_max_frames(u) == 0);
    float y[4 * 2 * 4];
    CHECK(kn_unet_forward(u, &ctx, y, 1, 2, 2, 2, &t, c, 2, y, &err) == KN_EINVAL);
    kn_unet_close(u);
}

TEST(unet_scratch_arena_and_workspace_size) {
    /* activations from ctx->scratch give the same numbers and the arena is handed back as found */
    kn_unet *u;
    kn_error err = {0};
    REQUIRE(!kn_unet_open(MOTION_CASE "/unet", MOTION_CASE "/motion_adapter", &u, &err));
    int B = 2, F = 3, H = 5, W = 7, L = 3;
    size_t n = (size_t)B * 4 * F * H * W, need = kn_unet_workspace_bytes(u, B, F, H, W, L);
    CHECK(need > n * 4);
    CHECK(kn_unet_workspace_bytes(u, B, 9, H, W, L) == 0);
    float *x = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4), t[2] = {10, 900}, c[2 * 3 * 4];
    REQUIRE(x && a && b);
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 29) % 13) / 6.5f - 1.0f;
    for (int i = 0; i < 24; i++) c[i] = (float)(i % 5) - 2.0f;
    kn_arena ar;
    REQUIRE(!kn_arena_init(&ar, need + (4u << 20), &err));
    kn_ctx c1 = {NULL, kn_cpu_detect(), NULL}, c2 = {NULL, c1.isa, &ar};
    CHECK(!kn_unet_forward(u, &c1, x, B, F, H, W, t, c, L, a, &err));
    CHECK(!kn_unet_forward(u, &c2, x, B, F, H, W, t, c, L, b, &err));
    CHECK(kn_test_maxdiff(a, b, n) == 0);
    CHECK(ar.used == 0 && ar.peak >= need);
    /* and the same bits with three threads */
    kn_pool *pool;
    REQUIRE(!kn_pool_create(3, &pool, &err));
    kn_ctx c3 = {pool, c1.isa, NULL};
    CHECK(!kn_unet_forward(u, &c3, x, B, F, H, W, t, c, L, b, &err));
    CHECK(kn_test_maxdiff(a, b, n) == 0);
    kn_pool_destroy(pool);
    /* frames of one batch item share its context and timestep: item 1 alone gives item 1's output */
    CHECK(!kn_unet_forward(u, &c1, x + n / 2, 1, F, H, W, t + 1, c + 12, L, b, &err));
    CHECK(kn_test_maxdiff(a + n / 2, b, n / 2) < 1e-5);
    kn_arena_free(&ar);
    free(x); free(a); free(b);
    kn_unet_close(u);
}

TEST_MAIN_BEGIN
    RUN(unet2d_b_parity);
    RUN(unet_motion_adapter_parity);
    RUN(unet_motion_merged_parity);
    RUN(unet_f16_copy_of_shared);
    RUN(unet_missing_tensor_named);
    RUN(unet_wrong_shape_named);
    RUN(unet_unsupported_config_named);
    RUN(unet_call_errors);
    RUN(unet_scratch_arena_and_workspace_size);
TEST_MAIN_END
