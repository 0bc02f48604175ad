/* CLIPTextModel: thread-count independence, clip-skip semantics, f16 weights against f32, argument
 * errors and config errors that name the field. Uses the small model of tests/vectors/clip_text_gelu3
 * (tests run from the repository root). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "io/io.h"
#include "models/models.h"
#include "models/weights.h"
#include "test.h"

#define MODEL "tests/vectors/clip_text_gelu3/text_encoder"

static kn_status encode(const char *dir, kn_pool *pool, const int64_t *ids, int n, int L, int skip, float **out,
                        kn_error *err) {
    kn_clip_text *m;
    kn_status st = kn_clip_text_open(dir, &m, err);
    if (st) return st;
    kn_ctx ctx = {pool, kn_cpu_detect(), NULL};
    *out = malloc((size_t)n * L * kn_clip_text_hidden(m) * sizeof(float));
    st = *out ? kn_clip_text_encode(m, &ctx, ids, n, L, skip, *out, err) : KN_ENOMEM;
    kn_clip_text_close(m);
    return st;
}

static const int64_t IDS[2 * 10] = {38, 3, 17, 25, 0, 39, 39, 39, 39, 39, 38, 11, 12, 13, 14, 15, 16, 17, 18, 39};

TEST(threads_do_not_change_results) {
    kn_pool *pool;
    kn_error err = {0};
    REQUIRE(!kn_pool_create(3, &pool, &err));
    float *a = NULL, *b = NULL;
    CHECK(!encode(MODEL, NULL, IDS, 2, 10, 0, &a, &err));
    CHECK(!encode(MODEL, pool, IDS, 2, 10, 0, &b, &err));
    if (a && b) CHECK(!memcmp(a, b, 2 * 10 * 8 * sizeof(float)));
    kn_clip_text *m;
    if (a && !kn_clip_text_open(MODEL, &m, &err)) {   /* a NULL ctx is one thread */
        CHECK(!kn_clip_text_encode(m, NULL, IDS, 2, 10, 0, b, &err) && !memcmp(a, b, 2 * 10 * 8 * sizeof(float)));
        kn_clip_text_close(m);
    }
    free(a);
    free(b);
    kn_pool_destroy(pool);
}

TEST(causal_prefix_and_batch_independence) {
    kn_error err = {0};
    float *full = NULL, *one = NULL;
    REQUIRE(!encode(MODEL, NULL, IDS, 2, 10, 0, &full, &err));
    /* a causal model: the first 4 positions do not see the rest, and rows do not see each other */
    CHECK(!encode(MODEL, NULL, IDS + 10, 1, 4, 0, &one, &err));
    if (one) CHECK(kn_test_maxdiff(one, full + 10 * 8, 4 * 8) < 1e-5);
    free(full);
    free(one);
}

TEST(skip_all_layers_is_the_embedding) {
    kn_error err = {0};
    float *emb = NULL;
    REQUIRE(!encode(MODEL, NULL, IDS, 1, 10, 3, &emb, &err));
    kn_weights w;
    REQUIRE(!kn_weights_open(&w, MODEL, NULL, NULL, &err));
    float *tok, *pos;
    int64_t ts[2] = {40, 8}, ps[2] = {12, 8};
    REQUIRE(!kn_weights_f32(&w, "text_model.embeddings.token_embedding.weight", 2, ts, &tok, &err));
    REQUIRE(!kn_weights_f32(&w, "text_model.embeddings.position_embedding.weight", 2, ps, &pos, &err));
    double worst = 0;
    for (int i = 0; i < 10; i++)
        for (int d = 0; d < 8; d++) {
            double e = fabs(emb[i * 8 + d] - (tok[IDS[i] * 8 + d] + pos[i * 8 + d]));
            if (e > worst) worst = e;
        }
    CHECK(worst == 0);
    kn_weights_close(&w);
    free(emb);
}

TEST(argument_errors) {
    kn_clip_text *m;
    kn_error err = {0};
    REQUIRE(!kn_clip_text_open(MODEL, &m, &err));
    CHECK(kn_clip_text_hidden(m) == 8 && kn_clip_text_vocab(m) == 40 && kn_clip_text_max_positions(m) == 12);
    float out[13 * 8];
    int64_t ids[13] = {1, 2, 40};
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    CHECK(kn_clip_text_encode(m, &ctx, ids, 1, 3, 0, out, &err) == KN_EINVAL && strstr(err.msg, "token id 40"));
    ids[2] = -5;
    CHECK(kn_clip_text_encode(m, &ctx, ids, 1, 3, 0, out, &err) == KN_EINVAL && strstr(err.msg, "token id -5"));
    ids[2] = 3;
    CHECK(kn_clip_text_encode(m, &ctx, ids, 1, 3, 4, out, &err) == KN_EINVAL && strstr(err.msg, "skip"));
    memset(ids, 0, sizeof ids);
    CHECK(kn_clip_text_encode(m, &ctx, ids, 1, 13, 0, out, &err) == KN_EINVAL && strstr(err.msg, "max_position"));
    kn_clip_text_close(m);
}

/* A folder with the given config.json and one dummy tensor. */
static void make_dir(char *dir, const char *config) {
    strcpy(dir, "/tmp/kn_test_clip_XXXXXX");
    if (!mkdtemp(dir)) return;
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", dir);
    kn_error err;
    kn_write_file_atomic(p, config, strlen(config), &err);
    float x = 0;
    kn_st_entry e = {"dummy", KN_F32, 1, {1}, &x};
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    kn_st_write(p, &e, 1, NULL, &err);
}

static void rm_dir(const char *dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}

#define BASE "\"hidden_size\": 8, \"intermediate_size\": 16, \"max_position_embeddings\": 12, \"vocab_size\": 40"

static int open_fails_naming(const char *config, const char *a, const char *b) {
    char dir[64];
    make_dir(dir, config);
    kn_clip_text *m = NULL;
    kn_error err = {0};
    kn_status st = kn_clip_text_open(dir, &m, &err);
    rm_dir(dir);
    if (!st) { kn_clip_text_close(m); return 0; }
    int ok = strstr(err.msg, a) && (!b || strstr(err.msg, b));
    if (!ok) fprintf(stderr, "  unexpected message: %s\n", err.msg);
    return ok;
}

TEST(config_errors_name_the_field) {
    CHECK(open_fails_naming("{" BASE ", \"num_attention_heads\": 2, \"num_hidden_layers\": 1, \"hidden_act\": \"relu\"}",
                            "hidden_act", "relu"));
    CHECK(open_fails_naming("{" BASE ", \"num_attention_heads\": 2}", "num_hidden_layers", NULL));
    CHECK(open_fails_naming("{" BASE ", \"num_attention_heads\": 3, \"num_hidden_layers\": 1}", "num_attention_heads", NULL));
    CHECK(open_fails_naming("{" BASE ", \"num_attention_heads\": \"2\", \"num_hidden_layers\": 1}", "num_attention_heads", NULL));
    CHECK(open_fails_naming("{" BASE ", \"num_attention_heads\": 2, \"num_hidden_layers\": 1, \"layer_norm_eps\": -1}",
                            "layer_norm_eps", NULL));
    CHECK(open_fails_naming("{" BASE ", \"num_attention_heads\": 2, \"num_hidden_layers\": 1}",
                            "text_model.embeddings.token_embedding.weight", NULL));
    kn_clip_text *m;
    kn_error err = {0};
    CHECK(kn_clip_text_open("/nonexistent/te", &m, &err) && strstr(err.msg, "/nonexistent/te"));
}

TEST(f16_weights_stay_close_to_f32) {
    /* Rewrites the f32 model with f16 weights (as `kinora convert --dtype f16` does) and compares. */
    kn_st_file f;
    kn_error err = {0};
    REQUIRE(!kn_st_open(MODEL "/model.safetensors", &f, &err));
    char dir[64];
    strcpy(dir, "/tmp/kn_test_clip16_XXXXXX");
    REQUIRE(mkdtemp(dir));
    kn_st_entry *e = calloc((size_t)f.ntensors, sizeof *e);
    uint16_t **h = calloc((size_t)f.ntensors, sizeof *h);
    REQUIRE(e && h);
    for (int i = 0; i < f.ntensors; i++) {
        const kn_st_tensor *t = &f.tensors[i];
        size_t n = (size_t)kn_st_numel(t);
        float *x;
        REQUIRE(!kn_st_to_f32(t, &x, &err));
        h[i] = malloc(n * 2);
        for (size_t k = 0; k < n; k++) h[i][k] = kn_f32_to_f16(x[k]);
        kn_free(x);
        e[i] = (kn_st_entry){t->name, KN_F16, t->ndim, {0}, h[i]};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    char p[256], cfg[256];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK(!kn_st_write(p, e, f.ntensors, NULL, &err));
    char *buf;
    size_t n;
    REQUIRE(!kn_read_file(MODEL "/config.json", 1 << 20, &buf, &n, &err));
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    CHECK(!kn_write_file_atomic(cfg, buf, n, &err));
    free(buf);
    float *a = NULL, *b = NULL;
    CHECK(!encode(MODEL, NULL, IDS, 2, 10, 0, &a, &err));
    CHECK(!encode(dir, NULL, IDS, 2, 10, 0, &b, &err));
    if (a && b) {
        double d = kn_test_maxdiff(a, b, 2 * 10 * 8);
        CHECKF(d > 0 && d < 2e-2, "f16 vs f32 max diff %g", d);
    }
    free(a);
    free(b);
    for (int i = 0; i < f.ntensors; i++) free(h[i]);
    free(h);
    free(e);
    kn_st_close(&f);
    unlink(p);
    unlink(cfg);
    rmdir(dir);
}

TEST_MAIN_BEGIN
    RUN(threads_do_not_change_results);
    RUN(causal_prefix_and_batch_independence);
    RUN(skip_all_layers_is_the_embedding);
    RUN(argument_errors);
    RUN(config_errors_name_the_field);
    RUN(f16_weights_stay_close_to_f32);
TEST_MAIN_END
