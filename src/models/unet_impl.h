/* src/models/unet_impl.h: the UNet's assembled structure, shared by the inference pass (unet.c) and
 * the training pass (unet_train.c); not a public interface.
 * Contract: filled once by kn_unet_open / kn_unet_open_weights and read-only afterwards. Down block i
 * runs nres resnets (each followed by a Transformer2DModel when has_attn and a motion module when the
 * UNet has motion), then a downsample when has_sample; up blocks mirror them with nres = layers + 1,
 * each resnet taking the next skip connection concatenated on the channel axis. */
#ifndef KN_UNET_IMPL_H
#define KN_UNET_IMPL_H
#include "models/blocks.h"
#include "models/models.h"

#define UN_MAXB 8
#define UN_MAXSKIP 64

typedef struct ublock {
    int nres, cin, cout, has_attn, has_sample, H, W;
    kn_resnet *res;
    kn_t2d *attn;                /* [nres] when has_attn */
    kn_ttm *mm;                  /* [nres] when the UNet has motion */
    kn_down down;
    kn_up up;
} ublock;

struct kn_unet {
    kn_weights w, mw;
    int has_mw;
    int merged;                  /* UNetMotionModel config */
    int in_ch, out_ch, cross, nb, boc[UN_MAXB], lpb[UN_MAXB], tl[UN_MAXB], rtl[UN_MAXB], heads[UN_MAXB];
    int down_attn[UN_MAXB], up_attn[UN_MAXB];
    int groups, temb, conv_in_k, conv_out_k, down_pad, flip, linear_proj, center, has_mid;
    float eps, shift, mid_scale;
    int motion, mmax, mheads, mid_motion;
    kn_conv conv_in, conv_out;
    kn_lin t1, t2;
    kn_norm norm_out;
    ublock down[UN_MAXB], up[UN_MAXB];
    kn_resnet mid_res[2];
    kn_t2d mid_attn;
    kn_ttm mid_mm;
    int nskip, skip_c[UN_MAXSKIP];
};

#endif
