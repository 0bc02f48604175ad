/* src/models/vae_impl.h: the AutoencoderKL's assembled structure, shared by the inference pass (vae.c)
 * and the training pass (vae_train.c); not a public interface.
 * Contract: filled once by kn_vae_open / kn_vae_open_weights, read-only afterwards. The encoder runs
 * e_in, nb blocks of lpb resnets (block i < nb-1 then downsamples), the mid block (resnet, optional
 * attention, resnet), e_norm + SiLU, e_out and quant_conv; the decoder runs post_conv, d_in, the mid
 * block, nb blocks of lpb+1 resnets (block i < nb-1 then upsamples 2x), d_norm + SiLU and d_out. */
#ifndef KN_VAE_IMPL_H
#define KN_VAE_IMPL_H
#include "models/blocks.h"
#include "models/models.h"

#define VAE_MAXB 8

struct kn_vae {
    kn_weights w;
    int in_ch, out_ch, latent, nb, lpb, groups, boc[VAE_MAXB], mid_attn, quant, post_quant;
    float scaling;
    /* encoder */
    kn_conv e_in, e_out, quant_conv;
    kn_resnet *e_res;            /* [nb * lpb] */
    kn_down e_down[VAE_MAXB];
    kn_resnet e_mid[2];
    kn_vae_attn e_attn;
    kn_norm e_norm;
    /* decoder */
    kn_conv post_conv, d_in, d_out;
    kn_resnet *d_res;            /* [nb * (lpb + 1)] */
    kn_up d_up[VAE_MAXB];
    kn_resnet d_mid[2];
    kn_vae_attn d_attn;
    kn_norm d_norm;
};

#endif
