/* Parity runner for kind "unet2d": UNet2DConditionModel(in.sample [B,C,H,W], in.timestep [B],
 * in.encoder_hidden_states [B,L,D]) -> out.sample. */
#include <stdlib.h>
#include "check/check.h"
#include "models/models.h"

/* Shared with the unet_motion runner: runs an opened UNet on the case inputs and compares out.sample. */
kn_status kn_check_unet_run(kn_check_case *c, const kn_unet *u, int video, kn_error *err);

kn_status kn_check_unet_run(kn_check_case *c, const kn_unet *u, int video, kn_error *err) {
    float *x = NULL, *t = NULL, *ctxv = NULL, *out = NULL;
    const kn_st_tensor *tx, *tt, *tc;
    kn_status st = kn_check_input(c, "in.sample", &x, &tx, err);
    if (!st) st = kn_check_input(c, "in.timestep", &t, &tt, err);
    if (!st) st = kn_check_input(c, "in.encoder_hidden_states", &ctxv, &tc, err);
    if (st) goto done;
    if (tx->ndim != (video ? 5 : 4) || tc->ndim != 3 || kn_st_numel(tt) != tx->shape[0] || tc->shape[0] != tx->shape[0]) {
        st = kn_fail(err, KN_EFORMAT, "%s: unexpected input shapes", c->name);
        goto done;
    }
    int B = (int)tx->shape[0], F = video ? (int)tx->shape[2] : 1, H = (int)tx->shape[video ? 3 : 2],
        W = (int)tx->shape[video ? 4 : 3], L = (int)tc->shape[1];
    if ((int)tc->shape[2] != kn_unet_cross_dim(u) || (int)tx->shape[1] != kn_unet_in_channels(u)) {
        st = kn_fail(err, KN_EFORMAT, "%s: input channels do not match the model", c->name);
        goto done;
    }
    size_t n = (size_t)B * kn_unet_out_channels(u) * F * H * W;
    out = kn_malloc(n * sizeof(float));
    if (!out) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if ((st = kn_unet_forward(u, c->ctx, x, B, F, H, W, t, ctxv, L, out, err))) goto done;
    st = kn_check_compare(c, "out.sample", out, n, err);
done:
    kn_free(x); kn_free(t); kn_free(ctxv); kn_free(out);
    return st;
}

kn_status kn_check_unet2d(kn_check_case *c, kn_error *err) {
    char dir[2048];
    kn_status st = kn_check_model_path(c, "model", dir, sizeof dir, err);
    if (st) return st;
    kn_unet *u;
    if ((st = kn_unet_open(dir, NULL, &u, err))) return st;
    st = kn_check_unet_run(c, u, 0, err);
    kn_unet_close(u);
    return st;
}
