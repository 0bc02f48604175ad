/* The opposite of a prompt's motion: the same prompt with each motion word replaced by the word for
 * the motion the clip would show played backwards (left <-> right, up <-> down, growing <->
 * shrinking). Motion guidance (pipeline.c) steers away from the prediction for that prompt. The
 * table follows the training data's time reversal (kn_ds_motion_reversed): falling and bouncing have
 * no reversed form there, so they are left as they are. */
#include "pipeline/pipeline.h"
#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const OPPOSITES[][2] = {
    {"left", "right"},         {"up", "down"},           {"leftward", "rightward"}, {"leftwards", "rightwards"},
    {"upward", "downward"},    {"upwards", "downwards"}, {"growing", "shrinking"},   {"grow", "shrink"},
    {"grows", "shrinks"},      {"bigger", "smaller"},    {"larger", "smaller"},     {"clockwise", "counterclockwise"}};
#define NOPPOSITES (sizeof OPPOSITES / sizeof OPPOSITES[0])

/* The opposite of the word w[0..n) (any case), or NULL. "smaller" maps back to "bigger". */
static const char *opposite_of(const char *w, size_t n) {
    for (size_t i = 0; i < NOPPOSITES; i++)
        for (int side = 0; side < 2; side++) {
            const char *a = OPPOSITES[i][side];
            if (strlen(a) == n && !strncasecmp(a, w, n)) return OPPOSITES[i][!side];
        }
    return NULL;
}

int pl_motion_opposite(const char *prompt, char *out, size_t cap) {
    size_t o = 0;
    int swapped = 0;
    for (const char *p = prompt; *p;) {
        size_t n = 0;
        while (isalpha((unsigned char)p[n])) n++;
        if (n == 0) {                       /* one character that is not part of a word */
            if (o + 1 >= cap) return -1;
            out[o++] = *p++;
            continue;
        }
        const char *rep = opposite_of(p, n);
        size_t rn = rep ? strlen(rep) : n;
        if (o + rn >= cap) return -1;
        if (rep) {
            /* keep the word's case: "Left" -> "Right", "UP" -> "DOWN" */
            int upper_all = n > 1 && isupper((unsigned char)p[0]) && isupper((unsigned char)p[1]);
            for (size_t i = 0; i < rn; i++)
                out[o + i] = (char)(upper_all || (i == 0 && isupper((unsigned char)p[0])) ? toupper((unsigned char)rep[i])
                                                                                           : rep[i]);
            swapped++;
        } else
            memcpy(out + o, p, n);
        o += rn;
        p += n;
    }
    out[o] = '\0';
    return swapped;
}
