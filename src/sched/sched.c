/* The sampler steps of diffusers 0.25 (DDIM, DDPM, Euler, Euler ancestral, DPM-Solver multistep, LCM)
 * behind the kn_sched interface. Per-step scalars are float32 as the torch 0-d tensors they are in
 * diffusers; the elementwise update runs in float. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "io/io.h"
#include "sched/sched_impl.h"

kn_status kn_sched_build_alphas(kn_sched *s, kn_error *err);
kn_status kn_sched_build_schedule(kn_sched *s, int n, kn_error *err);

/* ---- loading ---- */

kn_status kn_sched_parse_json(const char *buf, size_t n, const char *name, json_t **out, kn_error *err) {
    /* Rewrite Python's bare -Infinity/Infinity/NaN outside strings as strings. */
    static const char *const words[] = {"-Infinity", "Infinity", "NaN"};
    size_t cap = n * 2 + 16;   /* each word grows by 2 quotes and is at least 3 bytes long */
    char *t = kn_malloc(cap);
    if (!t) return kn_fail(err, KN_ENOMEM, "%s: out of memory", name);
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < n;) {
        char ch = buf[i];
        if (in_str) {
            t[o++] = ch;
            if (ch == '\\' && i + 1 < n) { t[o++] = buf[i + 1]; i += 2; continue; }
            if (ch == '"') in_str = 0;
            i++;
            continue;
        }
        if (ch == '"') { in_str = 1; t[o++] = ch; i++; continue; }
        size_t w = 0;
        for (int k = 0; k < 3 && !w; k++) {
            size_t l = strlen(words[k]);
            if (n - i >= l && !memcmp(buf + i, words[k], l)) {
                t[o++] = '"';
                memcpy(t + o, words[k], l);
                o += l;
                t[o++] = '"';
                w = l;
            }
        }
        if (w) { i += w; continue; }
        t[o++] = ch;
        i++;
    }
    json_error_t je;
    json_t *j = json_loadb(t, o, JSON_REJECT_DUPLICATES, &je);
    kn_free(t);
    if (!j) return kn_fail(err, KN_EFORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return kn_fail(err, KN_EFORMAT, "%s: top level is not a JSON object", name);
    }
    *out = j;
    return KN_OK;
}

kn_status kn_sched_load_json(const char *path, json_t **out, kn_error *err) {
    char *buf;
    size_t n;
    kn_status st = kn_read_file(path, 16u << 20, &buf, &n, err);
    if (st) return st;
    st = kn_sched_parse_json(buf, n, path, out, err);
    free(buf);
    return st;
}

kn_status kn_sched_from_json(const json_t *cfg, const char *name, const char *override_class, kn_sched **out,
                             kn_error *err) {
    kn_sched *s = kn_calloc(1, sizeof *s);
    if (!s) return kn_fail(err, KN_ENOMEM, "%s: out of memory", name);
    kn_status st = kn_sched_cfg_parse(cfg, name, override_class, &s->c, s->name, sizeof s->name, err);
    if (st) { kn_free(s); return st; }
    if ((st = kn_sched_build_alphas(s, err))) { kn_sched_close(s); return kn_wrap(err, "%s", name); }
    s->init_sigma = 1.f;
    if (s->c.kind == KN_SK_EULER || s->c.kind == KN_SK_EULER_A) {
        /* Before set_timesteps diffusers reports the training table's largest sigma. */
        int T = s->c.num_train;
        float mx = sqrtf((1.f - s->ac[T - 1]) / s->ac[T - 1]);
        s->init_sigma = s->c.spacing == KN_SP_LEADING ? sqrtf(mx * mx + 1.f) : mx;
    }
    *out = s;
    return KN_OK;
}

kn_status kn_sched_open(const char *path, const char *override_class, kn_sched **out, kn_error *err) {
    char file[4096];
    size_t l = strlen(path);
    int is_json = l >= 5 && !strcmp(path + l - 5, ".json");
    if ((size_t)snprintf(file, sizeof file, is_json ? "%s" : "%s/scheduler_config.json", path) >= sizeof file)
        return kn_fail(err, KN_EINVAL, "scheduler path too long");
    json_t *j;
    kn_status st = kn_sched_load_json(file, &j, err);
    if (st) return st;
    st = kn_sched_from_json(j, file, override_class, out, err);
    json_decref(j);
    return st;
}

static void free_hist(kn_sched *s) {
    for (int k = 0; k < 3; k++) { kn_free(s->hist[k]); s->hist[k] = NULL; }
    s->hist_len = 0;
    s->lower_order_nums = 0;
}

void kn_sched_close(kn_sched *s) {
    if (!s) return;
    free_hist(s);
    kn_free(s->ac);
    kn_free(s->t);
    kn_free(s->sig);
    kn_sched_cfg_free(&s->c);
    kn_free(s);
}

const char *kn_sched_name(const kn_sched *s) { return s->name; }

kn_status kn_sched_set_eta(kn_sched *s, double eta, kn_error *err) {
    if (!(eta >= 0 && eta <= 1e6)) return kn_fail(err, KN_EINVAL, "scheduler: eta %g must be >= 0", eta);
    if (eta > 0 && s->c.kind != KN_SK_DDIM)
        return kn_fail(err, KN_EUNSUPPORTED, "scheduler: eta applies to DDIMScheduler only (this is %s)", s->name);
    s->eta = eta;
    return KN_OK;
}

kn_status kn_sched_set_timesteps(kn_sched *s, int n, kn_error *err) {
    if (n < 1 || n > s->c.num_train)
        return kn_fail(err, KN_EINVAL, "scheduler: num_inference_steps %d must be in [1, %d]", n, s->c.num_train);
    free_hist(s);
    s->n_req = n;
    s->n = 0;
    kn_status st = kn_sched_build_schedule(s, n, err);
    if (st) s->n = 0;
    return st;
}

int kn_sched_num_steps(const kn_sched *s) { return s->n; }

float kn_sched_timestep(const kn_sched *s, int i) { return i >= 0 && i < s->n ? (float)s->t[i] : 0.f; }

float kn_sched_init_noise_sigma(const kn_sched *s) { return s->init_sigma; }

int kn_sched_step_needs_noise(const kn_sched *s, int i) {
    switch (s->c.kind) {
    case KN_SK_DDIM: return s->eta > 0;
    case KN_SK_DDPM: return i >= 0 && i < s->n && s->t[i] > 0;
    case KN_SK_EULER_A: return 1;
    case KN_SK_DPM: return s->c.algo == KN_DPM_SDE || s->c.algo == KN_DPM_SDE_PP;
    case KN_SK_LCM: return i != s->n_req - 1;
    default: return 0;
    }
}

int kn_sched_is_stochastic(const kn_sched *s) {
    if (s->c.kind == KN_SK_DDPM) return 1;
    if (s->c.kind == KN_SK_LCM) return s->n_req != 1;
    return kn_sched_step_needs_noise(s, 0);
}

static int sigma_space(const kn_sched *s) {
    return s->c.kind == KN_SK_EULER || s->c.kind == KN_SK_EULER_A || s->c.kind == KN_SK_DPM;
}

float kn_sched_sigma(const kn_sched *s, int i) {
    if (i < 0 || i > s->n || !s->n) return 0.f;
    if (sigma_space(s)) return s->sig[i];
    if (i == s->n) return 0.f;
    float a = s->ac[(int)s->t[i]];
    return sqrtf((1.f - a) / a);
}

void kn_sched_scale_input(const kn_sched *s, int i, const float *sample, size_t n, float *out) {
    if ((s->c.kind == KN_SK_EULER || s->c.kind == KN_SK_EULER_A) && i >= 0 && i < s->n) {
        float sg = s->sig[i], d = sqrtf(sg * sg + 1.f);
        for (size_t k = 0; k < n; k++) out[k] = sample[k] / d;
    } else if (out != sample) {
        memcpy(out, sample, n * sizeof(float));
    }
}

void kn_sched_add_noise(const kn_sched *s, int i, const float *x0, const float *noise, size_t n, float *out) {
    float a, b;
    if (i < 0 || i >= s->n) { memcpy(out, x0, n * sizeof(float)); return; }
    if (s->c.kind == KN_SK_EULER || s->c.kind == KN_SK_EULER_A) {
        a = 1.f;
        b = s->sig[i];
    } else if (s->c.kind == KN_SK_DPM) {
        a = 1.f / sqrtf(s->sig[i] * s->sig[i] + 1.f);
        b = s->sig[i] * a;
    } else {
        float ac = s->ac[(int)s->t[i]];
        a = sqrtf(ac);
        b = sqrtf(1.f - ac);
    }
    for (size_t k = 0; k < n; k++) out[k] = a * x0[k] + b * noise[k];
}

/* ---- steps ---- */

/* x0 from the model output for the alpha-bar parameterisation (DDIM, DDPM, LCM), then clipping.
 * Per element, so that prev_sample may alias sample. */
static inline float pred_x0_abar(const kn_sched *s, float sa, float sb, float m, float x) {
    float v;
    switch (s->c.pred) {
    case KN_PRED_EPS: v = (x - sb * m) / sa; break;
    case KN_PRED_V: v = sa * x - sb * m; break;
    default: v = m; break;
    }
    if (s->c.clip_sample) {
        float r = (float)s->c.clip_range;
        v = v < -r ? -r : v > r ? r : v;
    }
    return v;
}

static void step_ddim(const kn_sched *s, int i, const float *m, const float *x, const float *noise, size_t n,
                      float *out) {
    int t = (int)s->t[i], prev = t - s->c.num_train / s->n_req;
    float a_t = s->ac[t], a_p = prev >= 0 ? s->ac[prev] : s->final_ac;
    float b_t = 1.f - a_t, b_p = 1.f - a_p;
    float var = (b_p / b_t) * (1.f - a_t / a_p);
    float std = (float)s->eta * sqrtf(var);
    float sa = sqrtf(a_t), sb = sqrtf(b_t), sp = sqrtf(a_p), dir = sqrtf(1.f - a_p - std * std);
    for (size_t k = 0; k < n; k++) {
        float x0, eps;
        switch (s->c.pred) {
        case KN_PRED_EPS: x0 = (x[k] - sb * m[k]) / sa; eps = m[k]; break;
        case KN_PRED_V: x0 = sa * x[k] - sb * m[k]; eps = sa * m[k] + sb * x[k]; break;
        default: x0 = m[k]; eps = (x[k] - sa * x0) / sb; break;
        }
        if (s->c.clip_sample) {
            float r = (float)s->c.clip_range;
            x0 = x0 < -r ? -r : x0 > r ? r : x0;
        }
        float p = sp * x0 + dir * eps;
        out[k] = s->eta > 0 ? p + std * noise[k] : p;
    }
}

static void step_ddpm(const kn_sched *s, int i, const float *m, const float *x, const float *noise, size_t n,
                      float *out) {
    int t = (int)s->t[i], prev = t - s->c.num_train / s->n_req;
    float a_t = s->ac[t], a_p = prev >= 0 ? s->ac[prev] : 1.f;
    float b_t = 1.f - a_t, b_p = 1.f - a_p;
    float cur_a = a_t / a_p, cur_b = 1.f - cur_a;
    float c0 = (sqrtf(a_p) * cur_b) / b_t, c1 = sqrtf(cur_a) * b_p / b_t;
    float sd = 0;
    if (t > 0) {
        float var = (1.f - a_p) / (1.f - a_t) * cur_b;
        if (var < 1e-20f) var = 1e-20f;
        switch (s->c.var_type) {
        case KN_VAR_FIXED_SMALL: sd = sqrtf(var); break;
        case KN_VAR_FIXED_SMALL_LOG: sd = expf(0.5f * logf(var)); break;
        case KN_VAR_FIXED_LARGE: sd = sqrtf(cur_b); break;
        }
    }
    float sa = sqrtf(a_t), sb = sqrtf(b_t);
    for (size_t k = 0; k < n; k++) {
        float p = c0 * pred_x0_abar(s, sa, sb, m[k], x[k]) + c1 * x[k];
        out[k] = t > 0 ? p + sd * noise[k] : p;
    }
}

static void step_lcm(const kn_sched *s, int i, const float *m, const float *x, const float *noise, size_t n,
                     float *out) {
    int t = (int)s->t[i];
    int prev = i + 1 < s->n ? (int)s->t[i + 1] : t;
    float a_t = s->ac[t], a_p = prev >= 0 ? s->ac[prev] : s->final_ac;
    float st = (float)t * (float)s->c.timestep_scaling;
    float c_skip = 0.25f / (st * st + 0.25f), c_out = st / sqrtf(st * st + 0.25f);
    float sp = sqrtf(a_p), sb = sqrtf(1.f - a_p);
    int last = i == s->n_req - 1;
    float sa = sqrtf(a_t), sb_t = sqrtf(1.f - a_t);
    for (size_t k = 0; k < n; k++) {
        float d = c_out * pred_x0_abar(s, sa, sb_t, m[k], x[k]) + c_skip * x[k];
        out[k] = last ? d : sp * d + sb * noise[k];
    }
}

static void step_euler(const kn_sched *s, int i, const float *m, const float *x, const float *noise, size_t n,
                       float *out) {
    float sg = s->sig[i], next = s->sig[i + 1], q = sg * sg + 1.f, r = sqrtf(q);
    float up = 0, dt;
    if (s->c.kind == KN_SK_EULER_A) {
        up = sqrtf(next * next * (sg * sg - next * next) / (sg * sg));
        dt = sqrtf(next * next - up * up) - sg;
    } else {
        dt = next - sg;
    }
    for (size_t k = 0; k < n; k++) {
        float x0;
        switch (s->c.pred) {
        case KN_PRED_EPS: x0 = x[k] - sg * m[k]; break;
        case KN_PRED_V: x0 = m[k] * (-sg / r) + x[k] / q; break;
        default: x0 = m[k]; break;
        }
        float p = x[k] + (x[k] - x0) / sg * dt;
        out[k] = s->c.kind == KN_SK_EULER_A ? p + noise[k] * up : p;
    }
}

/* ---- DPM-Solver (Lu et al. 2022) multistep, in diffusers' sigma parameterisation ---- */

typedef struct { float alpha, sigma, lambda; } dpm_pt;

static dpm_pt dpm_point(float sg) {
    dpm_pt p;
    p.alpha = 1.f / sqrtf(sg * sg + 1.f);
    p.sigma = sg * p.alpha;
    p.lambda = logf(p.alpha) - logf(p.sigma);
    return p;
}

static void dpm_convert(const kn_sched *s, int i, const float *m, const float *x, size_t n, float *out) {
    dpm_pt p = dpm_point(s->sig[i]);
    int pp = s->c.algo == KN_DPM_PP || s->c.algo == KN_DPM_SDE_PP;
    for (size_t k = 0; k < n; k++) {
        float v;
        if (pp) {
            switch (s->c.pred) {
            case KN_PRED_EPS: v = (x[k] - p.sigma * m[k]) / p.alpha; break;
            case KN_PRED_V: v = p.alpha * x[k] - p.sigma * m[k]; break;
            default: v = m[k]; break;
            }
        } else {
            switch (s->c.pred) {
            case KN_PRED_EPS: v = m[k]; break;
            case KN_PRED_V: v = p.alpha * m[k] + p.sigma * x[k]; break;
            default: v = (x[k] - p.alpha * m[k]) / p.sigma; break;
            }
        }
        out[k] = v;
    }
}

static void dpm_first(const kn_sched *s, int i, const float *x, const float *noise, size_t n, float *out) {
    dpm_pt t = dpm_point(s->sig[i + 1]), s0 = dpm_point(s->sig[i]);
    float h = t.lambda - s0.lambda;
    const float *D0 = s->hist[s->c.order - 1];
    float a, b, c = 0;
    switch (s->c.algo) {
    case KN_DPM_PP: a = t.sigma / s0.sigma; b = -(t.alpha * (expf(-h) - 1.f)); break;
    case KN_DPM_PLAIN: a = t.alpha / s0.alpha; b = -(t.sigma * (expf(h) - 1.f)); break;
    case KN_DPM_SDE_PP:
        a = t.sigma / s0.sigma * expf(-h); b = t.alpha * (1.f - expf(-2.f * h));
        c = t.sigma * sqrtf(1.f - expf(-2.f * h));
        break;
    default:
        a = t.alpha / s0.alpha; b = -2.f * (t.sigma * (expf(h) - 1.f));
        c = t.sigma * sqrtf(expf(2.f * h) - 1.f);
        break;
    }
    for (size_t k = 0; k < n; k++) out[k] = a * x[k] + b * D0[k] + (c != 0 ? c * noise[k] : 0.f);
}

static void dpm_second(const kn_sched *s, int i, const float *x, const float *noise, size_t n, float *out) {
    dpm_pt t = dpm_point(s->sig[i + 1]), s0 = dpm_point(s->sig[i]), s1 = dpm_point(s->sig[i - 1]);
    const float *m0 = s->hist[s->c.order - 1], *m1 = s->hist[s->c.order - 2];
    float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, r0 = h0 / h, inv_r0 = 1.f / r0;
    float a, b, c, e = 0;   /* x_t = a*x + b*D0 + c*D1 + e*noise */
    int mid = !s->c.heun;
    switch (s->c.algo) {
    case KN_DPM_PP:
        a = t.sigma / s0.sigma; b = -(t.alpha * (expf(-h) - 1.f));
        c = mid ? -0.5f * (t.alpha * (expf(-h) - 1.f)) : t.alpha * ((expf(-h) - 1.f) / h + 1.f);
        break;
    case KN_DPM_PLAIN:
        a = t.alpha / s0.alpha; b = -(t.sigma * (expf(h) - 1.f));
        c = mid ? -0.5f * (t.sigma * (expf(h) - 1.f)) : -(t.sigma * ((expf(h) - 1.f) / h - 1.f));
        break;
    case KN_DPM_SDE_PP:
        a = t.sigma / s0.sigma * expf(-h); b = t.alpha * (1.f - expf(-2.f * h));
        c = mid ? 0.5f * (t.alpha * (1.f - expf(-2.f * h))) : t.alpha * ((1.f - expf(-2.f * h)) / (-2.f * h) + 1.f);
        e = t.sigma * sqrtf(1.f - expf(-2.f * h));
        break;
    default:
        a = t.alpha / s0.alpha; b = -2.f * (t.sigma * (expf(h) - 1.f));
        c = mid ? -(t.sigma * (expf(h) - 1.f)) : -2.f * (t.sigma * ((expf(h) - 1.f) / h - 1.f));
        e = t.sigma * sqrtf(expf(2.f * h) - 1.f);
        break;
    }
    for (size_t k = 0; k < n; k++) {
        float d1 = inv_r0 * (m0[k] - m1[k]);
        out[k] = a * x[k] + b * m0[k] + c * d1 + (e != 0 ? e * noise[k] : 0.f);
    }
}

static void dpm_third(const kn_sched *s, int i, const float *x, size_t n, float *out) {
    dpm_pt t = dpm_point(s->sig[i + 1]), s0 = dpm_point(s->sig[i]), s1 = dpm_point(s->sig[i - 1]),
           s2 = dpm_point(s->sig[i - 2]);
    const float *m0 = s->hist[2], *m1 = s->hist[1], *m2 = s->hist[0];
    float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, h1 = s1.lambda - s2.lambda;
    float r0 = h0 / h, r1 = h1 / h;
    float a, b, c, d;
    if (s->c.algo == KN_DPM_PP) {
        a = t.sigma / s0.sigma; b = -(t.alpha * (expf(-h) - 1.f));
        c = t.alpha * ((expf(-h) - 1.f) / h + 1.f);
        d = -(t.alpha * ((expf(-h) - 1.f + h) / (h * h) - 0.5f));
    } else {
        a = t.alpha / s0.alpha; b = -(t.sigma * (expf(h) - 1.f));
        c = -(t.sigma * ((expf(h) - 1.f) / h - 1.f));
        d = -(t.sigma * ((expf(h) - 1.f - h) / (h * h) - 0.5f));
    }
    float w = r0 / (r0 + r1), inv = 1.f / (r0 + r1);
    for (size_t k = 0; k < n; k++) {
        float d10 = (1.f / r0) * (m0[k] - m1[k]), d11 = (1.f / r1) * (m1[k] - m2[k]);
        float D1 = d10 + w * (d10 - d11), D2 = inv * (d10 - d11);
        out[k] = a * x[k] + b * m0[k] + c * D1 + d * D2;
    }
}

static kn_status step_dpm(kn_sched *s, int i, const float *m, const float *x, const float *noise, size_t n,
                          float *out, kn_error *err) {
    int order = s->c.order;
    if (s->hist_len != n) {
        free_hist(s);
        for (int k = 0; k < order; k++)
            if (!(s->hist[k] = kn_calloc(n, sizeof(float))))
                return kn_fail(err, KN_ENOMEM, "scheduler: out of memory for the solver history");
        s->hist_len = n;
    }
    int N = s->n, few = N < 15;
    int lof = i == N - 1 && (s->c.euler_at_final || (s->c.lower_order_final && few) || s->c.final_zero);
    int los = i == N - 2 && s->c.lower_order_final && few;
    /* Rotate the history: hist[order-1] is the newest converted output. */
    float *oldest = s->hist[0];
    for (int k = 0; k < order - 1; k++) s->hist[k] = s->hist[k + 1];
    s->hist[order - 1] = oldest;
    dpm_convert(s, i, m, x, n, oldest);
    /* Out-of-order calls fall back to the orders whose history exists. */
    if (order == 1 || s->lower_order_nums < 1 || lof || i < 1) dpm_first(s, i, x, noise, n, out);
    else if (order == 2 || s->lower_order_nums < 2 || los || i < 2) dpm_second(s, i, x, noise, n, out);
    else dpm_third(s, i, x, n, out);
    if (s->lower_order_nums < order) s->lower_order_nums++;
    return KN_OK;
}

kn_status kn_sched_step(kn_sched *s, int i, const float *model_output, const float *sample, const float *noise,
                        size_t n, float *prev_sample, kn_error *err) {
    if (i < 0 || i >= s->n)
        return kn_fail(err, KN_EINVAL, "scheduler: step %d outside the %d scheduled steps (call set_timesteps)", i, s->n);
    if (!noise && kn_sched_step_needs_noise(s, i))
        return kn_fail(err, KN_EINVAL, "scheduler: %s step %d needs a noise tensor", s->name, i);
    switch (s->c.kind) {
    case KN_SK_DDIM: step_ddim(s, i, model_output, sample, noise, n, prev_sample); break;
    case KN_SK_DDPM: step_ddpm(s, i, model_output, sample, noise, n, prev_sample); break;
    case KN_SK_LCM: step_lcm(s, i, model_output, sample, noise, n, prev_sample); break;
    case KN_SK_EULER:
    case KN_SK_EULER_A: step_euler(s, i, model_output, sample, noise, n, prev_sample); break;
    case KN_SK_DPM: return step_dpm(s, i, model_output, sample, noise, n, prev_sample, err);
    }
    return KN_OK;
}

int kn_sched_num_train_timesteps(const kn_sched *s) { return s->c.num_train; }
const float *kn_sched_alphas_cumprod(const kn_sched *s) { return s->ac; }
int kn_sched_prediction_type(const kn_sched *s) { return s->c.pred == KN_PRED_V ? 1 : s->c.pred == KN_PRED_SAMPLE ? 2 : 0; }
