/* Schedulers: config validation errors, timestep grids of each spacing (values worked out from
 * diffusers 0.25's formulas by hand), determinism, aliasing, noise requirements. Numeric parity with
 * diffusers is covered by the scheduler cases run through `kinora check`. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "sched/sched.h"
#include "test.h"

static kn_status make(const char *json, const char *override, kn_sched **s, kn_error *err) {
    json_t *j;
    kn_status st = kn_sched_parse_json(json, strlen(json), "cfg.json", &j, err);
    if (st) return st;
    st = kn_sched_from_json(j, "cfg.json", override, s, err);
    json_decref(j);
    return st;
}

#define SD "\"num_train_timesteps\": 1000, \"beta_start\": 0.00085, \"beta_end\": 0.012, " \
           "\"beta_schedule\": \"scaled_linear\", "

static int timesteps_are(kn_sched *s, const double *want, int n) {
    if (kn_sched_num_steps(s) != n) return 0;
    for (int i = 0; i < n; i++)
        if (fabs(kn_sched_timestep(s, i) - want[i]) > 1e-3) return 0;
    return 1;
}

TEST(unknown_class_is_named) {
    kn_error e = {0};
    kn_sched *s = NULL;
    kn_status st = make("{\"_class_name\": \"PNDMScheduler\"}", NULL, &s, &e);
    CHECK(st == KN_EUNSUPPORTED);
    CHECKF(strstr(e.msg, "PNDMScheduler") != NULL, "%s", e.msg);
    st = make("{\"_class_name\": \"DDIMScheduler\"}", "heun", &s, &e);
    CHECK(st == KN_EUNSUPPORTED && strstr(e.msg, "heun"));
    CHECK(make("{}", NULL, &s, &e) == KN_EFORMAT && strstr(e.msg, "_class_name"));
}

TEST(bad_fields_are_named) {
    kn_error e = {0};
    kn_sched *s = NULL;
    CHECK(make("{\"_class_name\": \"DDIMScheduler\", \"timestep_spacing\": \"sideways\"}", NULL, &s, &e) ==
          KN_EUNSUPPORTED);
    CHECKF(strstr(e.msg, "timestep_spacing") && strstr(e.msg, "sideways"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"EulerDiscreteScheduler\", \"prediction_type\": \"flow\"}", NULL, &s, &e));
    CHECKF(strstr(e.msg, "prediction_type") && strstr(e.msg, "flow"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DDIMScheduler\", \"thresholding\": true}", NULL, &s, &e));
    CHECKF(strstr(e.msg, "thresholding"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DDPMScheduler\", \"variance_type\": \"learned\"}", NULL, &s, &e));
    CHECKF(strstr(e.msg, "variance_type") && strstr(e.msg, "learned"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"sigmoid\"}", NULL, &s, &e));
    CHECKF(strstr(e.msg, "beta_schedule"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DPMSolverMultistepScheduler\", \"solver_order\": 4}", NULL, &s, &e));
    CHECKF(strstr(e.msg, "solver_order"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"EulerDiscreteScheduler\", \"interpolation_type\": \"log_linear\"}", NULL, &s,
               &e));
    CHECKF(strstr(e.msg, "interpolation_type"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DDIMScheduler\", \"clip_sample\": \"yes\"}", NULL, &s, &e) == KN_EFORMAT);
    CHECKF(strstr(e.msg, "clip_sample"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2]}",
               NULL, &s, &e) == KN_EFORMAT);
    CHECKF(strstr(e.msg, "trained_betas"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"DDIMScheduler\", \"steps_offset\": 5000}", NULL, &s, &e));
    CHECKF(strstr(e.msg, "steps_offset"), "%s", e.msg);
    CHECK(make("{\"_class_name\": \"EulerAncestralDiscreteScheduler\", \"prediction_type\": \"sample\"}", NULL, &s,
               &e));
}

TEST(python_infinity_is_read) {
    kn_error e = {0};
    kn_sched *s = NULL;
    REQUIRE(!make("{\"_class_name\": \"DPMSolverMultistepScheduler\", " SD "\"lambda_min_clipped\": -Infinity, "
                  "\"note\": \"NaN stays a string\"}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 10, &e));
    static const double want[] = {999, 899, 799, 699, 599, 500, 400, 300, 200, 100};
    CHECK(timesteps_are(s, want, 10));
    kn_sched_close(s);
    /* A finite clip trims the low-noise end of the grid. */
    REQUIRE(!make("{\"_class_name\": \"DPMSolverMultistepScheduler\", " SD "\"lambda_min_clipped\": -2.0}", NULL, &s,
                  &e));
    REQUIRE(!kn_sched_set_timesteps(s, 10, &e));
    CHECK(kn_sched_timestep(s, 0) < 999);
    kn_sched_close(s);
    /* And the same through a file. */
    char path[] = "/tmp/kn_sched_test_XXXXXX.json";
    int fd = mkstemps(path, 5);
    REQUIRE(fd >= 0);
    const char *txt = "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"lambda_min_clipped\": -Infinity}";
    REQUIRE(write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt));
    close(fd);
    CHECK(!kn_sched_open(path, NULL, &s, &e));
    if (s) kn_sched_close(s);
    unlink(path);
}

TEST(ddim_spacings) {
    kn_error e = {0};
    kn_sched *s;
    REQUIRE(!make("{\"_class_name\": \"DDIMScheduler\", " SD "\"timestep_spacing\": \"leading\", \"steps_offset\": 1}",
                  NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 10, &e));
    static const double lead[] = {901, 801, 701, 601, 501, 401, 301, 201, 101, 1};
    CHECK(timesteps_are(s, lead, 10));
    CHECK(kn_sched_init_noise_sigma(s) == 1.f);
    CHECK(!kn_sched_is_stochastic(s));
    kn_sched_close(s);
    REQUIRE(!make("{\"_class_name\": \"DDIMScheduler\", " SD "\"timestep_spacing\": \"trailing\"}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 10, &e));
    static const double trail[] = {999, 899, 799, 699, 599, 499, 399, 299, 199, 99};
    CHECK(timesteps_are(s, trail, 10));
    REQUIRE(!kn_sched_set_timesteps(s, 3, &e));
    static const double trail3[] = {999, 666, 332};   /* round(1000 - k*333.33) - 1 */
    CHECK(timesteps_are(s, trail3, 3));
    kn_sched_close(s);
    REQUIRE(!make("{\"_class_name\": \"DDIMScheduler\", " SD "\"timestep_spacing\": \"linspace\"}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 4, &e));
    static const double lin[] = {999, 666, 333, 0};
    CHECK(timesteps_are(s, lin, 4));
    CHECK(kn_sched_set_timesteps(s, 0, &e) == KN_EINVAL);
    CHECK(kn_sched_set_timesteps(s, 1001, &e) == KN_EINVAL);
    kn_sched_close(s);
}

TEST(euler_spacings_and_init_sigma) {
    kn_error e = {0};
    kn_sched *s;
    REQUIRE(!make("{\"_class_name\": \"EulerDiscreteScheduler\", " SD "\"timestep_spacing\": \"linspace\"}", NULL, &s,
                  &e));
    REQUIRE(!kn_sched_set_timesteps(s, 4, &e));
    static const double lin[] = {999, 666, 333, 0};
    CHECK(timesteps_are(s, lin, 4));
    /* linspace/trailing: init_noise_sigma is the largest sigma itself; leading: sqrt(max^2 + 1). */
    float smax = kn_sched_sigma(s, 0);
    CHECK_NEAR(kn_sched_init_noise_sigma(s), smax, 1e-5);
    CHECK(kn_sched_sigma(s, 4) == 0.f);
    kn_sched_close(s);
    REQUIRE(!make("{\"_class_name\": \"EulerDiscreteScheduler\", " SD "\"timestep_spacing\": \"leading\", "
                  "\"steps_offset\": 1}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 4, &e));
    static const double lead[] = {751, 501, 251, 1};
    CHECK(timesteps_are(s, lead, 4));
    smax = kn_sched_sigma(s, 0);
    CHECK_NEAR(kn_sched_init_noise_sigma(s), sqrtf(smax * smax + 1), 1e-4);
    kn_sched_close(s);
}

TEST(lcm_timesteps) {
    kn_error e = {0};
    kn_sched *s;
    REQUIRE(!make("{\"_class_name\": \"LCMScheduler\", \"original_inference_steps\": 50}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 4, &e));
    static const double want[] = {999, 759, 499, 259};
    CHECK(timesteps_are(s, want, 4));
    CHECK(kn_sched_set_timesteps(s, 51, &e) == KN_EINVAL);
    kn_sched_close(s);
}

TEST(cli_overrides) {
    static const char *names[] = {"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"};
    kn_error e = {0};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        kn_sched *s = NULL;
        kn_status st = make("{\"_class_name\": \"DDIMScheduler\", " SD "\"clip_sample\": false}", names[k], &s, &e);
        CHECKF(!st, "%s: %s", names[k], e.msg);
        if (st) continue;
        CHECKF(!kn_sched_set_timesteps(s, 8, &e), "%s: %s", names[k], e.msg);
        kn_sched_close(s);
    }
}

/* Runs every sampler for a few steps on fixed data; returns the final sample's sum of squares. */
static double run_sampler(const char *cls, int alias, kn_error *e, int *ok) {
    kn_sched *s;
    *ok = 0;
    if (make("{\"_class_name\": \"DDIMScheduler\", " SD "\"clip_sample\": false}", cls, &s, e)) return 0;
    enum { N = 37 };
    float x[N], m[N], nz[N], out[N];
    kn_randn(x, N, 7, 0);
    if (kn_sched_set_timesteps(s, 6, e)) { kn_sched_close(s); return 0; }
    for (int i = 0; i < N; i++) x[i] *= kn_sched_init_noise_sigma(s);
    for (int i = 0; i < kn_sched_num_steps(s); i++) {
        kn_randn(m, N, 7, 100 + (uint64_t)i);
        kn_randn(nz, N, 7, 200 + (uint64_t)i);
        kn_sched_scale_input(s, i, x, N, out);
        if (kn_sched_step(s, i, m, x, nz, N, alias ? x : out, e)) { kn_sched_close(s); return 0; }
        if (!alias) memcpy(x, out, sizeof x);
    }
    double ss = 0;
    for (int i = 0; i < N; i++) ss += (double)x[i] * x[i];
    kn_sched_close(s);
    *ok = isfinite(ss);
    return ss;
}

TEST(deterministic_and_alias_safe) {
    static const char *names[] = {"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"};
    kn_error e = {0};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int ok1, ok2, ok3;
        double a = run_sampler(names[k], 0, &e, &ok1), b = run_sampler(names[k], 0, &e, &ok2),
               c = run_sampler(names[k], 1, &e, &ok3);
        CHECKF(ok1 && ok2 && ok3, "%s: %s", names[k], e.msg);
        CHECKF(a == b && a == c, "%s: %g %g %g", names[k], a, b, c);
    }
}

TEST(noise_is_required_where_stochastic) {
    kn_error e = {0};
    kn_sched *s;
    REQUIRE(!make("{\"_class_name\": \"EulerAncestralDiscreteScheduler\", " SD "\"timestep_spacing\": \"leading\"}",
                  NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 4, &e));
    CHECK(kn_sched_is_stochastic(s));
    float x[4] = {1, 2, 3, 4}, o[4];
    CHECK(kn_sched_step(s, 0, x, x, NULL, 4, o, &e) == KN_EINVAL);
    CHECK(kn_sched_step(s, 9, x, x, x, 4, o, &e) == KN_EINVAL);
    kn_sched_close(s);
    REQUIRE(!make("{\"_class_name\": \"DDIMScheduler\", " SD "\"clip_sample\": false}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 4, &e));
    CHECK(!kn_sched_step(s, 0, x, x, NULL, 4, o, &e));
    REQUIRE(!kn_sched_set_eta(s, 0.5, &e));
    CHECK(kn_sched_is_stochastic(s));
    CHECK(kn_sched_step(s, 0, x, x, NULL, 4, o, &e) == KN_EINVAL);
    CHECK(kn_sched_set_eta(s, -1, &e) == KN_EINVAL);
    kn_sched_close(s);
}

TEST(add_noise_levels) {
    kn_error e = {0};
    kn_sched *s;
    float x0[3] = {1, -2, 0.5f}, nz[3] = {0.3f, 0.1f, -1}, out[3];
    REQUIRE(!make("{\"_class_name\": \"DDIMScheduler\", " SD "\"timestep_spacing\": \"trailing\"}", NULL, &s, &e));
    REQUIRE(!kn_sched_set_timesteps(s, 5, &e));
    /* out = sqrt(abar) x0 + sqrt(1 - abar) noise, with abar = 1 / (1 + sigma^2). */
    float sg = kn_sched_sigma(s, 2), abar = 1.f / (1.f + sg * sg);
    kn_sched_add_noise(s, 2, x0, nz, 3, out);
    for (int i = 0; i < 3; i++) CHECK_NEAR(out[i], sqrtf(abar) * x0[i] + sqrtf(1 - abar) * nz[i], 1e-5);
    kn_sched_close(s);
    REQUIRE(!make("{\"_class_name\": \"EulerDiscreteScheduler\", " SD "\"timestep_spacing\": \"trailing\"}", NULL, &s,
                  &e));
    REQUIRE(!kn_sched_set_timesteps(s, 5, &e));
    sg = kn_sched_sigma(s, 1);
    kn_sched_add_noise(s, 1, x0, nz, 3, out);
    for (int i = 0; i < 3; i++) CHECK_NEAR(out[i], x0[i] + sg * nz[i], 1e-5);
    kn_sched_close(s);
}

TEST_MAIN_BEGIN
    RUN(unknown_class_is_named);
    RUN(bad_fields_are_named);
    RUN(python_infinity_is_read);
    RUN(ddim_spacings);
    RUN(euler_spacings_and_init_sigma);
    RUN(lcm_timesteps);
    RUN(cli_overrides);
    RUN(deterministic_and_alias_safe);
    RUN(noise_is_required_where_stochastic);
    RUN(add_noise_levels);
TEST_MAIN_END
