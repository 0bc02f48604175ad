/* Where does a text encoder tell two captions apart? Encodes both captions with a pipeline folder's
 * tokenizer and text encoder and prints, per token position, the relative difference of the two
 * outputs, |a - b| / |a| over the hidden vector (docs/training.md uses it for "left" against "right").
 * Positions after the end token are shown up to the first padding position, then the last one.
 * Build: make tools (build/tools/text_encoder_diff)
 * Usage: text_encoder_diff MODEL_DIR "caption one" "caption two" */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "models/models.h"

static int diff(const char *dir, const char *c0, const char *c1, kn_error *err) {
    char path[4096];
    kn_tokenizer *tok = NULL;
    kn_clip_text *te = NULL;
    kn_arena scratch = {0};
    int64_t *ids = NULL;
    float *out = NULL;
    int rc = 1;
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    if (kn_tokenizer_open(path, &tok, err)) goto done;
    snprintf(path, sizeof path, "%s/text_encoder", dir);
    if (kn_clip_text_open(path, &te, err)) goto done;
    if (kn_arena_init(&scratch, (size_t)256 << 20, err)) goto done;
    kn_ctx ctx = {NULL, kn_cpu_detect(), &scratch};
    int L = kn_tokenizer_max_length(tok), H = kn_clip_text_hidden(te);
    ids = malloc(sizeof *ids * 2 * L);
    out = malloc(sizeof *out * 2 * (size_t)L * H);
    if (!ids || !out) { kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if (kn_tokenizer_encode(tok, c0, ids, err) || kn_tokenizer_encode(tok, c1, ids + L, err) ||
        kn_clip_text_encode(te, &ctx, ids, 2, L, 0, out, err)) goto done;
    printf("pos  id one / id two  |a-b|/|a|\n");
    int shown_pad = 0;
    for (int i = 0; i < L; i++) {
        int pad = i > 0 && ids[i] == ids[i - 1] && ids[L + i] == ids[L + i - 1];
        if (pad && shown_pad && i != L - 1) continue;
        shown_pad |= pad;
        double d = 0, a = 0;
        for (int k = 0; k < H; k++) {
            double x = out[(size_t)i * H + k], y = out[((size_t)L + i) * H + k];
            d += (x - y) * (x - y);
            a += x * x;
        }
        printf("%3d  %6lld / %-6lld  %.2f%s\n", i, (long long)ids[i], (long long)ids[L + i],
               a > 0 ? sqrt(d / a) : 0.0, pad ? "  (padding)" : "");
    }
    rc = 0;
done:
    free(ids);
    free(out);
    kn_arena_free(&scratch);
    if (te) kn_clip_text_close(te);
    if (tok) kn_tokenizer_close(tok);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL_DIR \"caption one\" \"caption two\"\n", argv[0]);
        return 2;
    }
    kn_error err = {0};
    if (diff(argv[1], argv[2], argv[3], &err)) {
        fprintf(stderr, "text_encoder_diff: %s\n", err.msg);
        return 1;
    }
    return 0;
}
