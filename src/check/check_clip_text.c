/* Parity runner for kind "clip_text": opens the CLIPTextModel folder named by case.json's "model" and
 * runs in.input_ids [n, L] (I64). Each out.* tensor of io.safetensors is compared:
 * out.last_hidden_state with skip 0 (after final_layer_norm), out.hidden_states_mK (transformers'
 * hidden_states[-K], the input of layer num_layers - K + 1, no norm) with clip skip K - 1. */
#include <stdio.h>
#include <stdlib.h>
#include "check/check.h"
#include "models/models.h"

static kn_status output_skip(kn_check_case *c, const char *name, int *skip, kn_error *err) {
    int k, used = 0;
    if (!strcmp(name, "out.last_hidden_state")) { *skip = 0; return KN_OK; }
    if (sscanf(name, "out.hidden_states_m%d%n", &k, &used) == 1 && name[used] == 0 && k >= 1) {
        *skip = k - 1;
        return KN_OK;
    }
    return kn_fail(err, KN_EUNSUPPORTED, "%s: unknown output '%s'", c->name, name);
}

kn_status kn_check_clip_text(kn_check_case *c, kn_error *err) {
    char dir[4096];
    kn_status st = kn_check_model_path(c, "model", dir, sizeof dir, err);
    if (st) return st;
    const kn_st_tensor *in = kn_st_find(&c->io, "in.input_ids");
    if (!in || in->dtype != KN_I64 || in->ndim != 2)
        return kn_fail(err, KN_EFORMAT, "%s: io.safetensors needs in.input_ids as an I64 [n, L] tensor", c->name);
    int n = (int)in->shape[0], L = (int)in->shape[1];
    int64_t *ids = malloc((size_t)n * L * sizeof *ids);
    if (!ids) return kn_fail(err, KN_ENOMEM, "out of memory");
    memcpy(ids, in->data, (size_t)n * L * sizeof *ids);   /* the mapping need not be 8-byte aligned */
    kn_clip_text *m;
    if ((st = kn_clip_text_open(dir, &m, err))) { free(ids); return st; }
    size_t count = (size_t)n * L * kn_clip_text_hidden(m);
    float *out = kn_malloc(count * sizeof(float));
    if (!out) st = kn_fail(err, KN_ENOMEM, "out of memory");
    for (int i = 0; i < c->io.ntensors && !st; i++) {
        const char *name = c->io.tensors[i].name;
        int skip = 0;
        if (strncmp(name, "out.", 4)) continue;
        if (!(st = output_skip(c, name, &skip, err)) && !(st = kn_clip_text_encode(m, c->ctx, ids, n, L, skip, out, err)))
            st = kn_check_compare(c, name, out, count, err);
    }
    kn_free(out);
    kn_clip_text_close(m);
    free(ids);
    return st;
}
