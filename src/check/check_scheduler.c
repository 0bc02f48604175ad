/* Parity runner for kind "scheduler": builds the sampler named by case.json's "class" from the case's
 * scheduler_config.json (case.json's prediction_type, when present, overrides the config's, and its
 * "eta" feeds DDIM), then runs the sampling loop on the recorded model outputs and noises, comparing
 * out.timesteps, out.init_noise_sigma, out.scaled_input_i and out.prev_sample_i. The loop feeds its own
 * prev_sample into the next step, as a pipeline does. */
#include <stdio.h>
#include <stdlib.h>
#include "check/check.h"
#include "sched/sched.h"

static kn_status open_case_sched(kn_check_case *c, kn_sched **out, kn_error *err) {
    char dir[4096], file[4200];
    kn_status st = kn_check_model_path(c, "model", dir, sizeof dir, err);
    if (st) return st;
    snprintf(file, sizeof file, "%s/scheduler_config.json", dir);
    const char *cls, *pred;
    if ((st = kn_cfg_str(c->cfg, "case.json", "class", NULL, &cls, err))) return st;
    if ((st = kn_cfg_str(c->cfg, "case.json", "prediction_type", NULL, &pred, err))) return st;
    json_t *j;
    if ((st = kn_sched_load_json(file, &j, err))) return st;
    if (pred && json_object_set_new(j, "prediction_type", json_string(pred))) {
        json_decref(j);
        return kn_fail(err, KN_ENOMEM, "%s: out of memory", c->name);
    }
    st = kn_sched_from_json(j, file, cls, out, err);
    json_decref(j);
    return st;
}

static kn_status run_steps(kn_check_case *c, kn_sched *s, kn_error *err) {
    float *x = NULL, *m = NULL, *noise = NULL, *buf = NULL;
    const kn_st_tensor *t;
    kn_status st = kn_check_input(c, "in.sample_0", &x, &t, err);
    if (st) return st;
    size_t n = (size_t)kn_st_numel(t);
    if (!(buf = kn_malloc(n * sizeof(float)))) { kn_free(x); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    int steps = kn_sched_num_steps(s);
    for (int i = 0; i < steps && !st; i++) {
        char name[64];
        kn_sched_scale_input(s, i, x, n, buf);
        snprintf(name, sizeof name, "out.scaled_input_%d", i);
        if ((st = kn_check_compare(c, name, buf, n, err))) break;
        snprintf(name, sizeof name, "in.model_output_%d", i);
        if ((st = kn_check_input(c, name, &m, &t, err))) break;
        int bad = (size_t)kn_st_numel(t) != n;
        snprintf(name, sizeof name, "in.noise_%d", i);
        if (kn_sched_step_needs_noise(s, i) && (st = kn_check_input(c, name, &noise, &t, err))) break;
        if (noise && (size_t)kn_st_numel(t) != n) bad = 1;
        if (bad) {
            st = kn_fail(err, KN_EFORMAT, "%s: step %d tensors do not match in.sample_0 in size", c->name, i);
            break;
        }
        if ((st = kn_sched_step(s, i, m, x, noise, n, buf, err))) break;
        snprintf(name, sizeof name, "out.prev_sample_%d", i);
        st = kn_check_compare(c, name, buf, n, err);
        memcpy(x, buf, n * sizeof(float));
        kn_free(m);
        kn_free(noise);
        m = noise = NULL;
    }
    kn_free(m);
    kn_free(noise);
    kn_free(x);
    kn_free(buf);
    return st;
}

kn_status kn_check_scheduler(kn_check_case *c, kn_error *err) {
    long long steps;
    double eta;
    kn_status st = kn_cfg_int(c->cfg, "case.json", "num_inference_steps", -1, &steps, err);
    if (st) return st;
    if (steps < 1 || steps > 100000) return kn_fail(err, KN_EFORMAT, "%s: case.json needs num_inference_steps", c->name);
    if ((st = kn_cfg_num(c->cfg, "case.json", "eta", 0.0, &eta, err))) return st;
    kn_sched *s;
    if ((st = open_case_sched(c, &s, err))) return st;
    if (eta > 0) st = kn_sched_set_eta(s, eta, err);
    if (!st) st = kn_sched_set_timesteps(s, (int)steps, err);
    if (!st) {
        int n = kn_sched_num_steps(s);
        float *ts = kn_malloc((size_t)n * sizeof(float));
        if (!ts) st = kn_fail(err, KN_ENOMEM, "out of memory");
        for (int i = 0; !st && i < n; i++) ts[i] = kn_sched_timestep(s, i);
        if (!st) st = kn_check_compare(c, "out.timesteps", ts, (size_t)n, err);
        kn_free(ts);
    }
    if (!st) {
        float ins = kn_sched_init_noise_sigma(s);
        st = kn_check_compare(c, "out.init_noise_sigma", &ins, 1, err);
    }
    if (!st) st = run_steps(c, s, err);
    kn_sched_close(s);
    return st;
}
