/* Checkpoint save/load gives a bit-identical continuation; loss log and plot. */
#include "test.h"
#include "train/train.h"
#include "io/io.h"
#include <sys/stat.h>
#include <unistd.h>

enum { DIN = 5, DOUT = 3, BATCH = 4 };

/* Toy model y = x W + b on synthetic data drawn from (seed, sample index): the data order lives in
 * the trainer state's cursor, so a resumed run must see the same samples. */
static float toy_step(kn_paramset *ps, kn_trainer_state *st) {
    kn_param *W = kn_paramset_find(ps, "linear.weight"), *b = kn_paramset_find(ps, "linear.bias");
    kn_paramset_zero_grad(ps);
    float loss = 0;
    for (int s = 0; s < BATCH; s++) {
        float x[DIN], y[DOUT];
        kn_randn(x, DIN, st->seed, 2 * st->data_cursor);
        kn_randn(y, DOUT, st->seed, 2 * st->data_cursor + 1);
        st->data_cursor++;
        for (int o = 0; o < DOUT; o++) {
            float p = b->w[o];
            for (int i = 0; i < DIN; i++) p += x[i] * W->w[i * DOUT + o];
            float r = p - (y[o] + 0.5f * x[o]);
            loss += r * r / (BATCH * DOUT);
            float g = 2 * r / (BATCH * DOUT);
            b->g[o] += g;
            for (int i = 0; i < DIN; i++) W->g[i * DOUT + o] += g * x[i];
        }
    }
    kn_grad_clip(ps, st->max_grad_norm);
    double lr = st->adamw.lr * kn_lr_factor(st->step, st->warmup_steps, st->total_steps, st->min_lr_ratio);
    kn_adamw_step(ps, &st->adamw, lr, &st->step);
    kn_ema_update(ps, st->ema_decay);
    return loss;
}

static void toy_init(kn_paramset *ps, kn_trainer_state *st) {
    int64_t sw[2] = {DIN, DOUT}, sb[1] = {DOUT};
    kn_error err = {0};
    kn_paramset_add(ps, "linear.weight", 2, sw, NULL, &err);
    kn_paramset_add(ps, "linear.bias", 1, sb, NULL, &err);
    kn_randn(ps->p[0].w, DIN * DOUT, 7, 0);
    kn_paramset_enable_ema(ps, &err);
    *st = (kn_trainer_state){.seed = 42, .ema_decay = 0.9, .adamw = kn_adamw_defaults(), .warmup_steps = 3,
                             .total_steps = 10, .max_grad_norm = 0.5};
    st->adamw.lr = 0.05;
}

static int same(const kn_paramset *a, const kn_paramset *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        size_t n = a->p[i].n * sizeof(float);
        if (memcmp(a->p[i].w, b->p[i].w, n) || memcmp(a->p[i].m, b->p[i].m, n) ||
            memcmp(a->p[i].v, b->p[i].v, n) || memcmp(a->p[i].ema, b->p[i].ema, n)) return 0;
    }
    return 1;
}

TEST(resume_is_bit_identical) {
    char dir[] = "/tmp/kn_test_ckpt_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char ck[256];
    snprintf(ck, sizeof ck, "%s/checkpoint-5", dir);
    kn_paramset a = {0}, b = {0}, c = {0};
    kn_trainer_state sa, sb, sc;
    kn_error err = {0};
    toy_init(&a, &sa);
    float la[10], lb[10];
    for (int i = 0; i < 10; i++) la[i] = toy_step(&a, &sa);
    CHECK(la[9] < la[0]);
    toy_init(&b, &sb);
    for (int i = 0; i < 5; i++) lb[i] = toy_step(&b, &sb);
    json_t *cfg = json_pack("{s:s,s:i}", "_class_name", "ToyLinear", "in_features", DIN);
    REQUIRE(kn_ckpt_save(ck, "model.safetensors", cfg, &b, &sb, &err) == KN_OK);
    /* saving again over an existing checkpoint replaces it whole */
    REQUIRE(kn_ckpt_save(ck, "model.safetensors", cfg, &b, &sb, &err) == KN_OK);
    json_decref(cfg);
    kn_paramset_free(&b);
    /* a fresh process would start from an untrained model and a default state */
    toy_init(&c, &sc);
    memset(&sc, 0, sizeof sc);
    REQUIRE(kn_ckpt_load(ck, "model.safetensors", &c, &sc, &err) == KN_OK);
    CHECK(sc.step == 5 && sc.data_cursor == 5 * BATCH && sc.seed == 42 && sc.adamw.lr == 0.05);
    for (int i = 5; i < 10; i++) lb[i] = toy_step(&c, &sc);
    CHECK(!memcmp(la, lb, sizeof la));
    CHECK(same(&a, &c));
    CHECK(sa.step == sc.step && sa.data_cursor == sc.data_cursor);

    /* the weights file is a plain diffusers-style safetensors the engine can open */
    char p[300];
    snprintf(p, sizeof p, "%s/model.safetensors", ck);
    kn_st_file f;
    REQUIRE(kn_st_open(p, &f, &err) == KN_OK);
    CHECK(f.ntensors == 2 && kn_st_find(&f, "linear.weight"));
    kn_st_close(&f);
    snprintf(p, sizeof p, "%s/config.json", ck);
    json_t *j;
    REQUIRE(kn_json_load(p, &j, &err) == KN_OK);
    CHECK(json_integer_value(json_object_get(j, "in_features")) == DIN);
    json_decref(j);

    /* a mismatched model is refused by name */
    kn_paramset d = {0};
    int64_t s1[1] = {4};
    kn_paramset_add(&d, "linear.weight", 1, s1, NULL, &err);
    kn_paramset_add(&d, "linear.bias", 1, s1, NULL, &err);
    CHECK(kn_ckpt_load(ck, "model.safetensors", &d, &sc, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "linear.") != NULL);
    kn_paramset_free(&d);

    kn_paramset_free(&a);
    kn_paramset_free(&c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(loss_log_and_plot) {
    char dir[] = "/tmp/kn_test_log_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char csv[256], png[256];
    snprintf(csv, sizeof csv, "%s/loss.csv", dir);
    snprintf(png, sizeof png, "%s/loss.png", dir);
    kn_losslog log = {0};
    kn_error err = {0};
    REQUIRE(kn_losslog_open(&log, csv, &err) == KN_OK);
    for (int i = 0; i < 300; i++)
        CHECK(kn_losslog_write(&log, i, 2.0 * exp(-i / 50.0) + 0.01 * (i % 7), 1e-4, 0.5, i * 0.1, &err) == KN_OK);
    kn_losslog_close(&log);
    REQUIRE(kn_losslog_open(&log, csv, &err) == KN_OK);   /* reopening appends without a second header */
    CHECK(kn_losslog_write(&log, 300, 0.02, 1e-4, 0.5, 30.0, &err) == KN_OK);
    kn_losslog_close(&log);
    char *txt;
    size_t n;
    REQUIRE(kn_read_file(csv, 1 << 20, &txt, &n, &err) == KN_OK);
    CHECK(!strncmp(txt, "step,loss,lr,grad_norm,seconds\n0,2,", 35));
    CHECK(strstr(txt + 10, "step,") == NULL);
    free(txt);
    REQUIRE(kn_plot_loss_csv(csv, png, 320, 200, &err) == KN_OK);
    struct stat sb;
    CHECK(stat(png, &sb) == 0 && sb.st_size > 200);
    FILE *f = fopen(png, "rb");
    unsigned char sig[8] = {0};
    if (f) { CHECK(fread(sig, 1, 8, f) == 8); fclose(f); }
    CHECK(sig[1] == 'P' && sig[2] == 'N' && sig[3] == 'G');
    unlink(csv);
    unlink(png);
    rmdir(dir);
}

TEST_MAIN_BEGIN
RUN(resume_is_bit_identical);
RUN(loss_log_and_plot);
TEST_MAIN_END
