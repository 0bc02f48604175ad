/* AdamW, learning-rate schedule, gradient clipping and EMA with PyTorch's numerics.
 * The float/double split mirrors torch's single-tensor AdamW on CPU: scalars (bias corrections,
 * step size) are computed in double from a Python float step and rounded to float where torch
 * passes them to a float32 tensor op. */
#include "train/train.h"
#include <math.h>

kn_adamw_cfg kn_adamw_defaults(void) {
    return (kn_adamw_cfg){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2};
}

static void adamw_tensor(kn_param *p, const kn_adamw_cfg *c, double lr, int64_t t) {
    const float decay = (float)(1.0 - lr * c->weight_decay);
    const float b1 = (float)c->beta1, w1 = (float)(1.0 - c->beta1);
    const float b2 = (float)c->beta2, w2 = (float)(1.0 - c->beta2);
    const double bc1 = 1.0 - pow(c->beta1, (double)t);
    const double bc2 = 1.0 - pow(c->beta2, (double)t);
    const float neg_step = (float)(-(lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)c->eps;
    float *w = p->w, *m = p->m, *v = p->v;
    const float *g = p->g;
    for (size_t i = 0; i < p->n; i++) {
        w[i] *= decay;
        /* torch 1.13 order: exp_avg.mul_(beta1).add_(grad, alpha=1-beta1); later releases use lerp,
         * which differs by at most an ulp per step */
        m[i] = m[i] * b1 + w1 * g[i];
        v[i] = v[i] * b2 + w2 * (g[i] * g[i]);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] = w[i] + neg_step * (m[i] / denom);
    }
}

void kn_adamw_step(kn_paramset *ps, const kn_adamw_cfg *cfg, double lr, int64_t *step) {
    int64_t t = ++*step;
    for (int i = 0; i < ps->n; i++)
        if (!ps->p[i].frozen) adamw_tensor(&ps->p[i], cfg, lr, t);
}

double kn_lr_factor(int64_t step, int64_t warmup, int64_t total, double min_ratio) {
    if (step < warmup) return (double)step / (double)(warmup > 1 ? warmup : 1);
    int64_t span = total - warmup;
    double progress = (double)(step - warmup) / (double)(span > 1 ? span : 1);
    if (progress > 1.0) progress = 1.0;
    double c = 0.5 * (1.0 + cos(M_PI * progress));
    return min_ratio + (1.0 - min_ratio) * c;
}

double kn_grad_norm(const kn_paramset *ps) {
    double s = 0;
    for (int i = 0; i < ps->n; i++) {
        const float *g = ps->p[i].g;
        double t = 0;
        for (size_t j = 0; j < ps->p[i].n; j++) t += (double)g[j] * g[j];
        s += t;
    }
    return sqrt(s);
}

double kn_grad_clip(kn_paramset *ps, double max_norm) {
    double norm = kn_grad_norm(ps);
    if (max_norm <= 0) return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float cf = (float)coef;
        for (int i = 0; i < ps->n; i++)
            for (size_t j = 0; j < ps->p[i].n; j++) ps->p[i].g[j] *= cf;
    }
    return norm;
}

void kn_ema_update(kn_paramset *ps, double decay) {
    const float k = (float)(1.0 - decay);
    for (int i = 0; i < ps->n; i++) {
        kn_param *p = &ps->p[i];
        if (!p->ema || p->frozen) continue;
        for (size_t j = 0; j < p->n; j++) p->ema[j] -= k * (p->ema[j] - p->w[j]);
    }
}
