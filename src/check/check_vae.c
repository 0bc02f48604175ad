/* Parity runner for kind "vae": AutoencoderKL encode (in.image -> out.mean, out.logvar) and decode
 * (in.latent -> out.decoded), each run when its input is in io.safetensors. */
#include <stdlib.h>
#include "check/check.h"
#include "models/models.h"

static kn_status run_encode(kn_check_case *c, const kn_vae *v, kn_error *err) {
    float *img = NULL, *mean = NULL, *logvar = NULL;
    const kn_st_tensor *t;
    kn_status st = kn_check_input(c, "in.image", &img, &t, err);
    if (st) return st;
    if (t->ndim != 4) { kn_free(img); return kn_fail(err, KN_EFORMAT, "%s: in.image must be [B,C,H,W]", c->name); }
    int B = (int)t->shape[0], H = (int)t->shape[2], W = (int)t->shape[3], f = kn_vae_downscale(v);
    size_t n = (size_t)B * kn_vae_latent_channels(v) * (H / f) * (W / f);   /* each (0,1,0,1)-padded stride-2 conv floors */
    mean = kn_malloc(n * sizeof(float));
    logvar = kn_malloc(n * sizeof(float));
    if (!mean || !logvar) st = kn_fail(err, KN_ENOMEM, "out of memory");
    if (!st) st = kn_vae_encode(v, c->ctx, img, B, H, W, mean, logvar, err);
    if (!st && kn_st_find(&c->io, "out.mean")) st = kn_check_compare(c, "out.mean", mean, n, err);
    if (!st && kn_st_find(&c->io, "out.logvar")) st = kn_check_compare(c, "out.logvar", logvar, n, err);
    kn_free(img); kn_free(mean); kn_free(logvar);
    return st;
}

static kn_status run_decode(kn_check_case *c, const kn_vae *v, kn_error *err) {
    float *z = NULL, *img = NULL;
    const kn_st_tensor *t;
    kn_status st = kn_check_input(c, "in.latent", &z, &t, err);
    if (st) return st;
    if (t->ndim != 4) { kn_free(z); return kn_fail(err, KN_EFORMAT, "%s: in.latent must be [B,C,h,w]", c->name); }
    int B = (int)t->shape[0], h = (int)t->shape[2], w = (int)t->shape[3], f = kn_vae_downscale(v);
    const kn_st_tensor *o = kn_st_find(&c->io, "out.decoded");
    size_t n = o ? (size_t)kn_st_numel(o) : (size_t)B * 3 * h * f * w * f;
    img = kn_malloc(n * sizeof(float));
    if (!img) st = kn_fail(err, KN_ENOMEM, "out of memory");
    if (!st) st = kn_vae_decode(v, c->ctx, z, B, h, w, img, err);
    if (!st && o) st = kn_check_compare(c, "out.decoded", img, n, err);
    kn_free(z); kn_free(img);
    return st;
}

kn_status kn_check_vae(kn_check_case *c, kn_error *err) {
    char dir[2048];
    kn_status st = kn_check_model_path(c, "model", dir, sizeof dir, err);
    if (st) return st;
    kn_vae *v;
    if ((st = kn_vae_open(dir, &v, err))) return st;
    if (kn_st_find(&c->io, "in.image")) st = run_encode(c, v, err);
    if (!st && kn_st_find(&c->io, "in.latent")) st = run_decode(c, v, err);
    kn_vae_close(v);
    return st;
}
