/* libFuzzer harness: arbitrary bytes as a JSON config. Runs the typed config getters of src/io/config.c
 * on every key, then builds every scheduler from it (as kn_sched_open does, from memory) and samples a
 * few steps. Errors are fine; crashes, sanitizer reports and non-finite work on accepted configs that
 * hang are not. */
#include <stdint.h>
#include <stdlib.h>
#include "io/io.h"
#include "sched/sched.h"

static void getters(const json_t *j) {
    kn_error err;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        long long i, ints[16];
        double d;
        int b, n;
        const char *s, *strs[16];
        kn_cfg_int(j, "fuzz.json", key, 0, &i, &err);
        kn_cfg_num(j, "fuzz.json", key, 0, &d, &err);
        kn_cfg_bool(j, "fuzz.json", key, 0, &b, &err);
        kn_cfg_str(j, "fuzz.json", key, NULL, &s, &err);
        kn_cfg_int_list(j, "fuzz.json", key, ints, 16, &n, &err);
        kn_cfg_str_list(j, "fuzz.json", key, strs, 16, &n, &err);
    }
}

static void sample(kn_sched *s, int steps) {
    kn_error err;
    enum { N = 8 };
    float x[N], m[N], nz[N], o[N];
    if (kn_sched_set_timesteps(s, steps, &err)) return;
    for (int k = 0; k < N; k++) x[k] = (float)k - 3.5f;
    for (int i = 0; i < kn_sched_num_steps(s); i++) {
        for (int k = 0; k < N; k++) { m[k] = 0.25f * (float)(k + i); nz[k] = (float)(k % 3) - 1.f; }
        kn_sched_timestep(s, i);
        kn_sched_sigma(s, i);
        kn_sched_scale_input(s, i, x, N, o);
        kn_sched_add_noise(s, i, x, nz, N, o);
        if (kn_sched_step(s, i, m, x, nz, N, x, &err)) return;
    }
    kn_sched_init_noise_sigma(s);
    kn_sched_is_stochastic(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const classes[] = {NULL, "ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras",
                                          "lcm"};
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (j) {
        if (json_is_object(j)) getters(j);
        json_decref(j);
    }
    kn_error err;
    if (kn_sched_parse_json((const char *)data, size, "fuzz.json", &j, &err)) return 0;
    getters(j);
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        kn_sched *s;
        if (kn_sched_from_json(j, "fuzz.json", classes[c], &s, &err)) continue;
        kn_sched_name(s);
        kn_sched_set_eta(s, 0.5, &err);
        sample(s, 1);
        sample(s, 7);
        sample(s, 20);
        kn_sched_close(s);
    }
    json_decref(j);
    return 0;
}
