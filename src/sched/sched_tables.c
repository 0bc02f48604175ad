/* Beta tables and timestep/sigma schedules with diffusers 0.25's numerics: the beta table and
 * alphas_cumprod are float32 torch tensors there (torch's CPU cumprod accumulates in double), the
 * timestep arithmetic is numpy float64, and numpy's rounding is half-to-even (nearbyint here). */
#include <math.h>
#include <stdio.h>
#include "sched/sched_impl.h"

/* torch.linspace(a, b, n, dtype=float32): float step, filled from both ends. */
static void torch_linspace_f(float a, float b, int n, float *out) {
    float step = (b - a) / (float)(n - 1);
    int half = n / 2;
    for (int i = 0; i < n; i++) out[i] = i < half ? a + step * (float)i : b - step * (float)(n - 1 - i);
}

static double cos_alpha_bar(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}

static void betas_f(const kn_sched_cfg *c, float *b) {
    int T = c->num_train;
    if (c->trained_betas) {
        for (int i = 0; i < T; i++) b[i] = (float)c->trained_betas[i];
        return;
    }
    switch (c->beta_schedule) {
    case KN_BS_LINEAR: torch_linspace_f((float)c->beta_start, (float)c->beta_end, T, b); break;
    case KN_BS_SCALED_LINEAR:
        torch_linspace_f((float)sqrt(c->beta_start), (float)sqrt(c->beta_end), T, b);
        for (int i = 0; i < T; i++) b[i] = b[i] * b[i];
        break;
    case KN_BS_COS:
        for (int i = 0; i < T; i++) {
            double v = 1 - cos_alpha_bar((double)(i + 1) / T) / cos_alpha_bar((double)i / T);
            b[i] = (float)(v < 0.999 ? v : 0.999);
        }
        break;
    case KN_BS_SIGMOID: {
        float range = (float)(c->beta_end - c->beta_start);
        torch_linspace_f(-6.f, 6.f, T, b);
        for (int i = 0; i < T; i++) b[i] = 1.f / (1.f + expf(-b[i])) * range + (float)c->beta_start;
        break;
    }
    }
}

static void cumprod_f(const float *alphas, int n, float *out) {
    double acc = 1;
    for (int i = 0; i < n; i++) { acc *= alphas[i]; out[i] = (float)acc; }
}

/* "Common Diffusion Noise Schedules and Sample Steps are Flawed": shift sqrt(abar) so the last step has
 * zero SNR, keeping the first one; float32 as diffusers. */
static void rescale_zero_snr(float *b, int n, float *tmp) {
    for (int i = 0; i < n; i++) tmp[i] = 1.f - b[i];
    cumprod_f(tmp, n, tmp);
    for (int i = 0; i < n; i++) tmp[i] = sqrtf(tmp[i]);
    float s0 = tmp[0], sT = tmp[n - 1], scale = s0 / (s0 - sT);
    for (int i = 0; i < n; i++) { tmp[i] = (tmp[i] - sT) * scale; tmp[i] = tmp[i] * tmp[i]; }
    float prev = tmp[0];
    b[0] = 1.f - tmp[0];
    for (int i = 1; i < n; i++) { b[i] = 1.f - tmp[i] / prev; prev = tmp[i]; }
}

kn_status kn_sched_build_alphas(kn_sched *s, kn_error *err) {
    int T = s->c.num_train;
    float *b = kn_malloc((size_t)T * sizeof(float)), *tmp = kn_malloc((size_t)T * sizeof(float));
    s->ac = kn_malloc((size_t)T * sizeof(float));
    if (!b || !tmp || !s->ac) {
        kn_free(b);
        kn_free(tmp);
        return kn_fail(err, KN_ENOMEM, "scheduler: out of memory for %d betas", T);
    }
    betas_f(&s->c, b);
    if (s->c.rescale_zero_snr) rescale_zero_snr(b, T, tmp);
    for (int i = 0; i < T; i++) tmp[i] = 1.f - b[i];
    cumprod_f(tmp, T, s->ac);
    kn_free(b);
    kn_free(tmp);
    for (int i = 0; i < T; i++)
        if (!isfinite(s->ac[i]) || s->ac[i] < 0)
            return kn_fail(err, KN_EUNSUPPORTED, "scheduler: the beta schedule gives alphas_cumprod[%d] = %g", i,
                           (double)s->ac[i]);
    /* Sigma-space samplers cannot take the zero-SNR end as it is (infinite sigma): diffusers pins it. */
    if (s->c.rescale_zero_snr && (s->c.kind == KN_SK_EULER || s->c.kind == KN_SK_EULER_A))
        s->ac[T - 1] = 0x1p-24f;
    s->final_ac = s->c.set_alpha_to_one ? 1.f : s->ac[0];
    return KN_OK;
}

/* ---- numpy helpers ---- */

/* Length and values of np.arange(start, stop, step) for floats (numpy fills start + i*delta with
 * delta = (start + step) - start). */
static int np_arange(double start, double stop, double step, double *out, int cap) {
    double len = ceil((stop - start) / step);
    if (!(len > 0)) return 0;
    if (len > cap) return -1;
    double delta = (start + step) - start;
    for (int i = 0; i < (int)len; i++) out[i] = start + i * delta;
    return (int)len;
}

/* np.linspace(a, b, n) (endpoint=True) */
static void np_linspace(double a, double b, int n, double *out) {
    if (n == 1) { out[0] = a; return; }
    double step = (b - a) / (n - 1);
    for (int i = 0; i < n; i++) out[i] = i * step + a;
    out[n - 1] = b;
}

/* np.interp(x, arange(len), y) */
static double np_interp_idx(double x, const float *y, int len) {
    if (x <= 0) return y[0];
    if (x >= len - 1) return y[len - 1];
    int j = (int)floor(x);
    double slope = ((double)y[j + 1] - y[j]) / 1.0;
    return slope * (x - j) + y[j];
}

/* diffusers' _sigma_to_t: fractional training step of sigma on log_sigmas (ascending). */
static double sigma_to_t(double sigma, const float *log_sigmas, int len) {
    double ls = log(sigma > 1e-10 ? sigma : 1e-10);
    int low = 0;
    for (int i = 0; i < len; i++)
        if (ls - log_sigmas[i] >= 0) low = i;
    if (low > len - 2) low = len - 2;
    double lo = log_sigmas[low], hi = log_sigmas[low + 1];
    double w = (lo - ls) / (lo - hi);
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    return (1 - w) * low + w * (low + 1);
}

/* Karras et al. (2022) rho=7 schedule between sigma_max and sigma_min, float64 as numpy. */
static void karras(double smin, double smax, int n, double *out) {
    double *ramp = out;
    np_linspace(0, 1, n, ramp);
    double lo = pow(smin, 1 / 7.0), hi = pow(smax, 1 / 7.0);
    for (int i = 0; i < n; i++) out[i] = pow(hi + ramp[i] * (lo - hi), 7.0);
}

/* Training-table sigmas sqrt((1-abar)/abar) in float32, and their float32 logs. */
static void table_sigmas(const kn_sched *s, float *sig, float *logsig) {
    for (int i = 0; i < s->c.num_train; i++) {
        sig[i] = sqrtf((1.f - s->ac[i]) / s->ac[i]);
        if (logsig) logsig[i] = logf(sig[i]);
    }
}

/* The integer/float timestep grid shared by DDIM, DDPM, Euler and Euler a. */
static kn_status base_timesteps(kn_sched *s, int n, double *t, int *count, kn_error *err) {
    int T = s->c.num_train;
    switch (s->c.spacing) {
    case KN_SP_LINSPACE:
        np_linspace(0, T - 1, n, t);
        for (int i = 0; i < n; i++) t[i] = s->c.kind == KN_SK_DDIM || s->c.kind == KN_SK_DDPM ? nearbyint(t[i])
                                                                                               : (double)(float)t[i];
        *count = n;
        break;
    case KN_SP_LEADING: {
        int ratio = T / n;
        for (int i = 0; i < n; i++) t[i] = (double)i * ratio + (double)s->c.steps_offset;
        *count = n;
        break;
    }
    case KN_SP_TRAILING: {
        int len = np_arange(T, 0, -(double)T / n, t, n + 1);
        if (len <= 0) return kn_fail(err, KN_EINVAL, "scheduler: trailing spacing gives no timesteps for %d steps", n);
        for (int i = 0; i < len; i++) t[i] = nearbyint(t[i]) - 1;
        *count = len;
        break;
    }
    }
    /* Reverse the ascending grids: sampling runs from noise to data. */
    if (s->c.spacing != KN_SP_TRAILING)
        for (int i = 0, j = *count - 1; i < j; i++, j--) { double x = t[i]; t[i] = t[j]; t[j] = x; }
    return KN_OK;
}

static kn_status sigma_schedule_euler(kn_sched *s, int n, float *tab, float *logtab, kn_error *err) {
    int T = s->c.num_train, count;
    double *t = s->t;
    kn_status st = base_timesteps(s, n, t, &count, err);
    if (st) return st;
    s->n = count;
    for (int i = 0; i < count; i++) t[i] = (float)t[i];   /* astype(np.float32) */
    table_sigmas(s, tab, logtab);
    double *sg = kn_malloc((size_t)(count + 1) * sizeof(double));
    if (!sg) return kn_fail(err, KN_ENOMEM, "scheduler: out of memory");
    for (int i = 0; i < count; i++) sg[i] = np_interp_idx(t[i], tab, T);
    if (s->c.kind == KN_SK_EULER && s->c.karras) {
        double smin = isnan(s->c.sigma_min) ? sg[count - 1] : s->c.sigma_min;
        double smax = isnan(s->c.sigma_max) ? sg[0] : s->c.sigma_max;
        karras(smin, smax, count, sg);
        for (int i = 0; i < count; i++) t[i] = (float)sigma_to_t(sg[i], logtab, T);
    }
    for (int i = 0; i < count; i++) s->sig[i] = (float)sg[i];
    s->sig[count] = 0;
    kn_free(sg);
    if (s->c.continuous_t)
        for (int i = 0; i < count; i++) t[i] = (float)(0.25f * logf(s->sig[i]));
    float mx = 0;
    for (int i = 0; i <= count; i++) if (s->sig[i] > mx) mx = s->sig[i];
    s->init_sigma = s->c.spacing == KN_SP_LEADING ? sqrtf(mx * mx + 1.f) : mx;
    return KN_OK;
}

static kn_status sigma_schedule_dpm(kn_sched *s, int n, float *tab, float *logtab, kn_error *err) {
    int T = s->c.num_train, count = 0;
    double *t = s->t;
    /* lambda_min_clipped trims the low-noise end (searchsorted on the flipped float32 lambda table). */
    int clipped = 0;
    for (int k = 0; k < T; k++) {
        int i = T - 1 - k;
        float lam = logf(sqrtf(s->ac[i])) - logf(sqrtf(1.f - s->ac[i]));
        if (!(lam < s->c.lambda_min_clipped)) break;
        clipped = k + 1;
    }
    int last = T - clipped;
    if (last < 1) return kn_fail(err, KN_EUNSUPPORTED, "scheduler: lambda_min_clipped leaves no timesteps");
    if (s->c.spacing == KN_SP_LINSPACE) {
        double *g = kn_malloc((size_t)(n + 1) * sizeof(double));
        if (!g) return kn_fail(err, KN_ENOMEM, "scheduler: out of memory");
        np_linspace(0, last - 1, n + 1, g);
        for (int i = 0; i < n; i++) t[i] = nearbyint(g[n - i]);
        kn_free(g);
        count = n;
    } else if (s->c.spacing == KN_SP_LEADING) {
        int ratio = last / (n + 1);
        for (int i = 0; i < n; i++) t[i] = (double)(n - i) * ratio + (double)s->c.steps_offset;
        count = n;
    } else {
        count = np_arange(last, 0, -(double)T / n, t, n + 1);
        if (count <= 0) return kn_fail(err, KN_EINVAL, "scheduler: trailing spacing gives no timesteps for %d steps", n);
        for (int i = 0; i < count; i++) t[i] = nearbyint(t[i]) - 1;
    }
    table_sigmas(s, tab, logtab);
    double *sg = kn_malloc((size_t)(count + 1) * sizeof(double));
    if (!sg) return kn_fail(err, KN_ENOMEM, "scheduler: out of memory");
    if (s->c.karras || s->c.lu_lambdas) {
        count = n;
        if (s->c.karras) {
            karras(tab[0], tab[T - 1], n, sg);
        } else {
            double *ramp = sg;
            np_linspace(0, 1, n, ramp);
            double lmin = logtab[0], lmax = logtab[T - 1];
            for (int i = 0; i < n; i++) sg[i] = exp(lmax + ramp[i] * (lmin - lmax));
        }
        for (int i = 0; i < n; i++) t[i] = nearbyint(sigma_to_t(sg[i], logtab, T));
        sg[n] = sg[n - 1];
    } else {
        for (int i = 0; i < count; i++) sg[i] = np_interp_idx(t[i], tab, T);
        sg[count] = sqrtf((1.f - s->ac[0]) / s->ac[0]);
    }
    if (s->c.final_zero) sg[count] = 0;
    for (int i = 0; i <= count; i++) s->sig[i] = (float)sg[i];
    kn_free(sg);
    s->n = count;
    s->init_sigma = 1.f;
    return KN_OK;
}

static kn_status lcm_timesteps(kn_sched *s, int n, kn_error *err) {
    int T = s->c.num_train, os = s->c.orig_steps, k = T / os;
    if (n > os)
        return kn_fail(err, KN_EINVAL, "scheduler: num_inference_steps %d is larger than original_inference_steps %d",
                       n, os);
    /* origin grid k*(1..os)-1 reversed; indices floor(linspace(0, os, n, endpoint=False)). */
    double step = (double)os / n;
    for (int i = 0; i < n; i++) {
        int idx = (int)floor(i * step);
        s->t[i] = (double)(os - idx) * k - 1;
    }
    s->n = n;
    s->init_sigma = 1.f;
    return KN_OK;
}

kn_status kn_sched_build_schedule(kn_sched *s, int n, kn_error *err) {
    int T = s->c.num_train;
    kn_free(s->t);
    kn_free(s->sig);
    s->t = kn_calloc((size_t)n + 2, sizeof(double));
    s->sig = kn_calloc((size_t)n + 2, sizeof(float));
    float *tab = kn_malloc((size_t)T * sizeof(float)), *logtab = kn_malloc((size_t)T * sizeof(float));
    kn_status st = KN_OK;
    if (!s->t || !s->sig || !tab || !logtab) {
        st = kn_fail(err, KN_ENOMEM, "scheduler: out of memory for %d steps", n);
        goto done;
    }
    s->init_sigma = 1.f;
    switch (s->c.kind) {
    case KN_SK_DDIM:
    case KN_SK_DDPM: st = base_timesteps(s, n, s->t, &s->n, err); break;
    case KN_SK_EULER:
    case KN_SK_EULER_A: st = sigma_schedule_euler(s, n, tab, logtab, err); break;
    case KN_SK_DPM: st = sigma_schedule_dpm(s, n, tab, logtab, err); break;
    case KN_SK_LCM: st = lcm_timesteps(s, n, err); break;
    }
    if (st) goto done;
    /* Integer-step samplers index alphas_cumprod with t: it must lie on the training grid. */
    if (s->c.kind != KN_SK_EULER && s->c.kind != KN_SK_EULER_A)
        for (int i = 0; i < s->n; i++)
            if (!(s->t[i] >= 0 && s->t[i] < T)) {
                st = kn_fail(err, KN_EUNSUPPORTED, "scheduler: timestep %g of step %d is outside [0, %d) "
                             "(steps_offset %lld, %d steps)", s->t[i], i, T, s->c.steps_offset, n);
                goto done;
            }
done:
    kn_free(tab);
    kn_free(logtab);
    return st;
}
