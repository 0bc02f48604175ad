/* Parity runner for kind "tokenizer": opens the tokenizer folder named by case.json's "model", encodes
 * every string of "texts" and compares the ids with out.input_ids [N, max_length] exactly. case.json's
 * "max_length" must agree with the tokenizer's model_max_length. */
#include <stdlib.h>
#include "check/check.h"
#include "models/models.h"

kn_status kn_check_tokenizer(kn_check_case *c, kn_error *err) {
    char dir[4096];
    kn_status st = kn_check_model_path(c, "model", dir, sizeof dir, err);
    if (st) return st;
    const json_t *texts = json_object_get(c->cfg, "texts");
    if (!json_is_array(texts) || json_array_size(texts) == 0)
        return kn_fail(err, KN_EFORMAT, "%s/case.json: \"texts\" must be a non-empty array of strings", c->dir);
    kn_tokenizer *tok;
    if ((st = kn_tokenizer_open(dir, &tok, err))) return st;
    long long L;
    int ml = kn_tokenizer_max_length(tok);
    st = kn_cfg_int(c->cfg, "case.json", "max_length", ml, &L, err);
    if (!st && L != ml)
        st = kn_fail(err, KN_EFORMAT, "%s: case.json max_length %lld but the tokenizer's model_max_length is %d",
                     c->name, L, ml);
    size_t n = json_array_size(texts);
    int64_t *ids = st ? NULL : malloc(n * (size_t)ml * sizeof *ids);
    if (!st && !ids) st = kn_fail(err, KN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        const json_t *s = json_array_get(texts, i);
        if (!json_is_string(s)) st = kn_fail(err, KN_EFORMAT, "%s/case.json: texts[%zu] is not a string", c->dir, i);
        else if ((st = kn_tokenizer_encode(tok, json_string_value(s), ids + i * (size_t)ml, err)))
            kn_wrap(err, "texts[%zu]", i);
    }
    if (!st) st = kn_check_compare_ids(c, "out.input_ids", ids, n * (size_t)ml, err);
    free(ids);
    kn_tokenizer_close(tok);
    return st;
}
