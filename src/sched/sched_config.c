/* scheduler_config.json -> kn_sched_cfg. Every field diffusers 0.25 reads for the chosen class is read
 * and validated; a value Kinora does not implement is an error that names the field and the value, so
 * a config never silently runs with other semantics. Unknown keys are ignored, as diffusers does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "io/io.h"
#include "sched/sched_impl.h"

static const struct { const char *cli, *cls; kn_sched_kind kind; int karras; } classes[] = {
    {"ddim", "DDIMScheduler", KN_SK_DDIM, -1},
    {"ddpm", "DDPMScheduler", KN_SK_DDPM, -1},
    {"euler", "EulerDiscreteScheduler", KN_SK_EULER, -1},
    {"euler_a", "EulerAncestralDiscreteScheduler", KN_SK_EULER_A, -1},
    {"dpmpp_2m", "DPMSolverMultistepScheduler", KN_SK_DPM, 0},
    {"dpmpp_2m_karras", NULL, KN_SK_DPM, 1},
    {"lcm", "LCMScheduler", KN_SK_LCM, -1},
};

/* A string field restricted to `names`; *out is the index. JSON null or absence gives def_idx. */
static kn_status pick(const json_t *j, const char *name, const char *key, int def_idx, const char *const *names,
                      int nnames, int *out, kn_error *err) {
    const char *v;
    kn_status st = kn_cfg_str(j, name, key, NULL, &v, err);
    if (st) return st;
    if (!v) { *out = def_idx; return KN_OK; }
    for (int i = 0; i < nnames; i++)
        if (!strcmp(v, names[i])) { *out = i; return KN_OK; }
    char list[256] = "";
    for (int i = 0; i < nnames; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", names[i]);
    }
    return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported %s \"%.64s\" (supported: %s)", name, key, v, list);
}

/* A number that Python may have written as -Infinity/Infinity/NaN (kn_sched_parse_json turns those into
 * strings). */
static kn_status num_or_inf(const json_t *j, const char *name, const char *key, double def, double *out,
                            kn_error *err) {
    json_t *v = json_object_get(j, key);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "-Infinity")) { *out = -INFINITY; return KN_OK; }
        if (!strcmp(s, "Infinity")) { *out = INFINITY; return KN_OK; }
        return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be a number (got \"%.64s\")", name, key, s);
    }
    return kn_cfg_num(j, name, key, def, out, err);
}

static kn_status finite_num(const json_t *j, const char *name, const char *key, double def, double lo, double hi,
                            double *out, kn_error *err) {
    kn_status st = kn_cfg_num(j, name, key, def, out, err);
    if (st) return st;
    if (!(*out >= lo && *out <= hi))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported %s %g (must be in [%g, %g])", name, key, *out, lo, hi);
    return KN_OK;
}

static kn_status require_false(const json_t *j, const char *name, const char *key, kn_error *err) {
    int v;
    kn_status st = kn_cfg_bool(j, name, key, 0, &v, err);
    if (st) return st;
    if (v) return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported %s true (only false is implemented)", name, key);
    return KN_OK;
}

static kn_status read_trained_betas(const json_t *j, const char *name, kn_sched_cfg *c, kn_error *err) {
    json_t *v = json_object_get(j, "trained_betas");
    if (!v || json_is_null(v)) return KN_OK;
    if (!json_is_array(v)) return kn_fail(err, KN_EFORMAT, "%s: \"trained_betas\" must be a list of numbers", name);
    size_t n = json_array_size(v);
    if (n != (size_t)c->num_train)
        return kn_fail(err, KN_EFORMAT, "%s: \"trained_betas\" has %zu entries, num_train_timesteps is %d", name, n,
                       c->num_train);
    c->trained_betas = kn_malloc(n * sizeof(double));
    if (!c->trained_betas) return kn_fail(err, KN_ENOMEM, "%s: out of memory for trained_betas", name);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        double b = json_is_number(e) ? json_number_value(e) : NAN;
        if (!(b >= 0 && b < 1))
            return kn_fail(err, KN_EFORMAT, "%s: \"trained_betas\"[%zu] must be a number in [0, 1)", name, i);
        c->trained_betas[i] = b;
    }
    return KN_OK;
}

/* Fields every class reads: the beta table, prediction type, spacing. */
static kn_status parse_common(const json_t *j, const char *name, kn_sched_cfg *c, kn_error *err) {
    static const char *const bs_names[] = {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"};
    static const char *const pred_names[] = {"epsilon", "v_prediction", "sample"};
    static const char *const sp_names[] = {"linspace", "leading", "trailing"};
    long long nt;
    int idx;
    kn_status st = kn_cfg_int(j, name, "num_train_timesteps", 1000, &nt, err);
    if (st) return st;
    if (nt < 2 || nt > KN_SCHED_MAX_TRAIN)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported num_train_timesteps %lld (must be in [2, %d])", name, nt,
                       KN_SCHED_MAX_TRAIN);
    c->num_train = (int)nt;
    int lcm = c->kind == KN_SK_LCM;
    if ((st = finite_num(j, name, "beta_start", lcm ? 0.00085 : 0.0001, 0, 1, &c->beta_start, err))) return st;
    if ((st = finite_num(j, name, "beta_end", lcm ? 0.012 : 0.02, 0, 1, &c->beta_end, err))) return st;
    /* Only DDPM knows "sigmoid" in diffusers 0.25. */
    int nbs = c->kind == KN_SK_DDPM ? 4 : 3;
    if ((st = pick(j, name, "beta_schedule", lcm ? 1 : 0, bs_names, nbs, &idx, err))) return st;
    c->beta_schedule = (kn_beta_sched)idx;
    if ((st = read_trained_betas(j, name, c, err))) return st;
    if ((st = pick(j, name, "prediction_type", 0, pred_names, 3, &idx, err))) return st;
    c->pred = (kn_pred)idx;
    int def_sp = (c->kind == KN_SK_DDIM || c->kind == KN_SK_DDPM || lcm) ? 1 : 0;
    if ((st = pick(j, name, "timestep_spacing", def_sp, sp_names, 3, &idx, err))) return st;
    c->spacing = (kn_spacing)idx;
    if ((st = kn_cfg_int(j, name, "steps_offset", 0, &c->steps_offset, err))) return st;
    if (c->steps_offset < 0 || c->steps_offset >= c->num_train)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported steps_offset %lld", name, c->steps_offset);
    if ((st = kn_cfg_bool(j, name, "rescale_betas_zero_snr", 0, &c->rescale_zero_snr, err))) return st;
    return KN_OK;
}

/* DDIM, DDPM and LCM share the x0 clipping and thresholding fields. */
static kn_status parse_clip(const json_t *j, const char *name, kn_sched_cfg *c, int def_clip, kn_error *err) {
    double d;
    kn_status st;
    if ((st = kn_cfg_bool(j, name, "clip_sample", def_clip, &c->clip_sample, err))) return st;
    if ((st = finite_num(j, name, "clip_sample_range", 1.0, 0, 1e30, &c->clip_range, err))) return st;
    if ((st = require_false(j, name, "thresholding", err))) return st;
    if ((st = kn_cfg_num(j, name, "dynamic_thresholding_ratio", 0.995, &d, err))) return st;
    return kn_cfg_num(j, name, "sample_max_value", 1.0, &d, err);
}

static kn_status parse_ddpm(const json_t *j, const char *name, kn_sched_cfg *c, kn_error *err) {
    /* fixed_large_log is left out: diffusers 0.25 takes the square root of a log variance there (NaN). */
    static const char *const var_names[] = {"fixed_small", "fixed_small_log", "fixed_large"};
    int idx;
    kn_status st = parse_clip(j, name, c, 1, err);
    if (st) return st;
    if ((st = pick(j, name, "variance_type", 0, var_names, 3, &idx, err))) return st;
    c->var_type = (kn_var_type)idx;
    return KN_OK;
}

/* An optional positive sigma: absent or null gives NAN (take it from the table). */
static kn_status opt_sigma(const json_t *j, const char *name, const char *key, double *out, kn_error *err) {
    kn_status st = kn_cfg_num(j, name, key, NAN, out, err);
    if (st || isnan(*out)) return st;
    if (!(*out > 0 && *out < 1e30))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported %s %g (must be positive)", name, key, *out);
    return KN_OK;
}

static kn_status parse_euler(const json_t *j, const char *name, kn_sched_cfg *c, kn_error *err) {
    static const char *const interp_names[] = {"linear"};
    static const char *const tt_names[] = {"discrete", "continuous"};
    int idx;
    kn_status st = pick(j, name, "interpolation_type", 0, interp_names, 1, &idx, err);
    if (st) return st;
    if ((st = kn_cfg_bool(j, name, "use_karras_sigmas", 0, &c->karras, err))) return st;
    if ((st = opt_sigma(j, name, "sigma_min", &c->sigma_min, err))) return st;
    if ((st = opt_sigma(j, name, "sigma_max", &c->sigma_max, err))) return st;
    if ((st = pick(j, name, "timestep_type", 0, tt_names, 2, &idx, err))) return st;
    c->continuous_t = idx == 1 && c->pred == KN_PRED_V;
    return KN_OK;
}

static kn_status parse_dpm(const json_t *j, const char *name, kn_sched_cfg *c, kn_error *err) {
    /* diffusers maps the UniPC/DEIS names onto these (algorithm "deis" -> dpmsolver++, solver types
     * logrho/bh1/bh2 -> midpoint). */
    static const char *const algo_names[] = {"dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver", "deis"};
    static const char *const solver_names[] = {"midpoint", "heun", "logrho", "bh1", "bh2"};
    static const char *const final_names[] = {"sigma_min", "zero"};
    long long order;
    double d;
    int idx;
    kn_status st = kn_cfg_int(j, name, "solver_order", 2, &order, err);
    if (st) return st;
    if (order < 1 || order > 3)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported solver_order %lld (1, 2 or 3)", name, order);
    c->order = (int)order;
    if ((st = require_false(j, name, "thresholding", err))) return st;
    if ((st = kn_cfg_num(j, name, "dynamic_thresholding_ratio", 0.995, &d, err))) return st;
    if ((st = kn_cfg_num(j, name, "sample_max_value", 1.0, &d, err))) return st;
    if ((st = pick(j, name, "algorithm_type", 0, algo_names, 5, &idx, err))) return st;
    c->algo = idx == 4 ? KN_DPM_PP : (kn_dpm_algo)idx;
    if ((c->algo == KN_DPM_SDE || c->algo == KN_DPM_SDE_PP) && c->order == 3)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported solver_order 3 with algorithm_type %s", name,
                       algo_names[idx]);
    if ((st = pick(j, name, "solver_type", 0, solver_names, 5, &idx, err))) return st;
    c->heun = idx == 1;
    if ((st = kn_cfg_bool(j, name, "lower_order_final", 1, &c->lower_order_final, err))) return st;
    if ((st = kn_cfg_bool(j, name, "euler_at_final", 0, &c->euler_at_final, err))) return st;
    if ((st = kn_cfg_bool(j, name, "use_karras_sigmas", 0, &c->karras, err))) return st;
    if ((st = kn_cfg_bool(j, name, "use_lu_lambdas", 0, &c->lu_lambdas, err))) return st;
    if ((st = num_or_inf(j, name, "lambda_min_clipped", -INFINITY, &c->lambda_min_clipped, err))) return st;
    if (isnan(c->lambda_min_clipped)) return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported lambda_min_clipped NaN", name);
    const char *vt;
    if ((st = kn_cfg_str(j, name, "variance_type", NULL, &vt, err))) return st;
    if (vt && (!strcmp(vt, "learned") || !strcmp(vt, "learned_range")))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported variance_type \"%s\"", name, vt);
    /* final_sigmas_type arrived after 0.25; its default keeps 0.25's last sigma. */
    if ((st = pick(j, name, "final_sigmas_type", 0, final_names, 2, &idx, err))) return st;
    c->final_zero = idx == 1;
    /* diffusers 0.25's DPM-Solver has no rescale_betas_zero_snr: refuse it rather than ignore it. */
    if (c->rescale_zero_snr)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported rescale_betas_zero_snr true for DPMSolverMultistepScheduler",
                       name);
    return KN_OK;
}

static kn_status parse_lcm(const json_t *j, const char *name, kn_sched_cfg *c, kn_error *err) {
    long long os;
    kn_status st = parse_clip(j, name, c, 0, err);
    if (st) return st;
    if ((st = kn_cfg_bool(j, name, "set_alpha_to_one", 1, &c->set_alpha_to_one, err))) return st;
    if ((st = kn_cfg_int(j, name, "original_inference_steps", 50, &os, err))) return st;
    if (os < 1 || os > c->num_train)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported original_inference_steps %lld (1..%d)", name, os,
                       c->num_train);
    c->orig_steps = (int)os;
    return finite_num(j, name, "timestep_scaling", 10.0, -1e30, 1e30, &c->timestep_scaling, err);
}

kn_status kn_sched_cfg_parse(const json_t *j, const char *name, const char *override_class, kn_sched_cfg *c,
                             char *cls_name, size_t cls_cap, kn_error *err) {
    memset(c, 0, sizeof *c);
    c->sigma_min = c->sigma_max = NAN;
    const char *cls = override_class;
    kn_status st;
    if (!cls) {
        if ((st = kn_cfg_str(j, name, "_class_name", NULL, &cls, err))) return st;
        if (!cls) return kn_fail(err, KN_EFORMAT, "%s: missing \"_class_name\"", name);
    }
    int ci = -1;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (!strcmp(cls, classes[i].cli) || (classes[i].cls && !strcmp(cls, classes[i].cls))) ci = (int)i;
    if (ci < 0 && override_class)   /* a sampler name from the caller, not the file's class */
        return kn_fail(err, KN_EUNSUPPORTED, "unknown sampler \"%.64s\" (ddim, ddpm, euler, euler_a, dpmpp_2m, "
                       "dpmpp_2m_karras, lcm, or a scheduler class such as DDIMScheduler)", cls);
    if (ci < 0)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported scheduler class \"%.64s\" (supported: DDIMScheduler, "
                       "DDPMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, "
                       "DPMSolverMultistepScheduler, LCMScheduler)", name, cls);
    c->kind = classes[ci].kind;
    snprintf(cls_name, cls_cap, "%s", classes[ci].cls ? classes[ci].cls : "DPMSolverMultistepScheduler");
    if ((st = parse_common(j, name, c, err))) goto fail;
    switch (c->kind) {
    case KN_SK_DDIM:
        if ((st = parse_clip(j, name, c, 1, err))) goto fail;
        st = kn_cfg_bool(j, name, "set_alpha_to_one", 1, &c->set_alpha_to_one, err);
        break;
    case KN_SK_DDPM: st = parse_ddpm(j, name, c, err); break;
    case KN_SK_EULER: st = parse_euler(j, name, c, err); break;
    case KN_SK_EULER_A:
        if (c->pred == KN_PRED_SAMPLE)
            st = kn_fail(err, KN_EUNSUPPORTED, "%s: unsupported prediction_type \"sample\" for "
                         "EulerAncestralDiscreteScheduler", name);
        break;
    case KN_SK_DPM: st = parse_dpm(j, name, c, err); break;
    case KN_SK_LCM: st = parse_lcm(j, name, c, err); break;
    }
    if (st) goto fail;
    /* The CLI names pin the DPM variant they stand for. */
    if (override_class && classes[ci].karras >= 0 && !strcmp(override_class, classes[ci].cli)) {
        c->karras = classes[ci].karras;
        c->algo = KN_DPM_PP;
        c->order = 2;
        c->lu_lambdas = 0;
    }
    return KN_OK;
fail:
    kn_sched_cfg_free(c);
    return st;
}

void kn_sched_cfg_free(kn_sched_cfg *c) {
    kn_free(c->trained_betas);
    c->trained_betas = NULL;
}
