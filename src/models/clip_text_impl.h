/* src/models/clip_text_impl.h: CLIPTextModel's structure, shared by the inference pass (clip_text.c) and
 * the training pass (clip_text_train.c); not a public interface.
 * Contract: filled once by kn_clip_text_open / kn_clip_text_open_weights, read-only afterwards. */
#ifndef KN_CLIP_TEXT_IMPL_H
#define KN_CLIP_TEXT_IMPL_H
#include "models/models.h"
#include "models/weights.h"

typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    kn_wview q_w, k_w, v_w, o_w, fc1_w, fc2_w;
    float *q_b, *k_b, *v_b, *o_b, *fc1_b, *fc2_b;
} clip_layer;

struct kn_clip_text {
    kn_weights w;
    int hidden, inter, heads, layers, max_pos, vocab;
    kn_act act;
    float eps;
    kn_wview tok_emb, pos_emb;
    float *final_w, *final_b;
    clip_layer *layer;
};

/* ids in the vocabulary, L within the positions, skip within the layers */
kn_status kn_clip_text_check_args(const kn_clip_text *m, const int64_t *ids, int n, int L, int skip, kn_error *err);

#endif
