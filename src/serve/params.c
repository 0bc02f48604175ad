/* Request validation: a generation request object -> the normalized parameters stored with the job.
 * Limits answer 422 naming the field (413 for a prompt over the length limit, as an oversized
 * payload); unknown fields are refused so that typos do not silently fall back to defaults. */
#include "serve/serve.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void kn_serve_limits_default(kn_serve_limits *l) {
    l->max_body = 16u << 20;
    l->max_prompt = 2000;
    l->max_frames = 256;
    l->max_keyframes = 64;
    l->max_steps = 150;
    l->max_pixels = 1024L * 1024;
    l->max_queue = 1000;
    l->tenant_quota = 200;
    l->rate = 100;
    l->burst = 200;
    l->max_batch = 100;
}

static json_t *bad(kn_field_error *fe, int status, const char *field, const char *fmt, const char *a, long b) {
    fe->status = status;
    snprintf(fe->field, sizeof fe->field, "%s", field);
    snprintf(fe->msg, sizeof fe->msg, fmt, a, b);
    return NULL;
}

static const char *SAMPLERS[] = {"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm", NULL};
static const char *FIELDS[] = {"prompt", "negative_prompt", "seed", "steps", "guidance", "motion_guidance", "sampler", "keyframes",
                               "frames", "fps", "seconds", "size", "model", "image", "image_strength", NULL};

/* Integer field in [lo, hi] or absent (def). Returns 0 on error (fe filled). */
static int get_int(const json_t *req, const char *k, long lo, long hi, long def, long *out, kn_field_error *fe) {
    const json_t *v = json_object_get(req, k);
    if (!v || json_is_null(v)) { *out = def; return 1; }
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))) {
        bad(fe, 422, k, "%s must be an integer", k, 0);
        return 0;
    }
    double d = json_number_value(v);
    if (d < lo || d > hi) {
        fe->status = 422;
        snprintf(fe->field, sizeof fe->field, "%s", k);
        snprintf(fe->msg, sizeof fe->msg, "%s must be from %ld to %ld", k, lo, hi);
        return 0;
    }
    *out = (long)d;
    return 1;
}

static int get_num(const json_t *req, const char *k, double lo, double hi, double def, double *out, kn_field_error *fe) {
    const json_t *v = json_object_get(req, k);
    if (!v || json_is_null(v)) { *out = def; return 1; }
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
        fe->status = 422;
        snprintf(fe->field, sizeof fe->field, "%s", k);
        snprintf(fe->msg, sizeof fe->msg, "%s must be a number from %g to %g", k, lo, hi);
        return 0;
    }
    *out = json_number_value(v);
    return 1;
}

static int get_str(const json_t *req, const char *k, const char **out, kn_field_error *fe) {
    const json_t *v = json_object_get(req, k);
    *out = NULL;
    if (!v || json_is_null(v)) return 1;
    if (!json_is_string(v)) { bad(fe, 422, k, "%s must be a string", k, 0); return 0; }
    *out = json_string_value(v);
    return 1;
}

static json_t *check_fields(const json_t *req, kn_field_error *fe) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        int known = 0;
        for (int i = 0; FIELDS[i]; i++) known |= !strcmp(k, FIELDS[i]);
        if (!known) return bad(fe, 422, k, "unknown field '%s'", k, 0);
    }
    return (json_t *)req;
}

json_t *kn_job_params(const json_t *req, const kn_serve_limits *lim, const char *model_id, kn_field_error *fe) {
    memset(fe, 0, sizeof *fe);
    if (!json_is_object(req)) return bad(fe, 422, "body", "the request must be a JSON object%s", "", 0);
    if (!check_fields(req, fe)) return NULL;
    const char *prompt, *neg, *sampler, *size, *model;
    long steps, keyframes, frames, w = 64, h = 64;
    double guidance, motion_guidance, fps, seconds, strength;   /* guidance < 0: absent, the model's default */
    if (!get_str(req, "prompt", &prompt, fe)) return NULL;
    if (!prompt || !*prompt) return bad(fe, 422, "prompt", "prompt is required%s", "", 0);
    if ((long)strlen(prompt) > lim->max_prompt)
        return bad(fe, 413, "prompt", "prompt is longer than %s%ld characters", "", lim->max_prompt);
    if (!get_str(req, "negative_prompt", &neg, fe)) return NULL;
    if (neg && (long)strlen(neg) > lim->max_prompt)
        return bad(fe, 413, "negative_prompt", "negative_prompt is longer than %s%ld characters", "", lim->max_prompt);
    if (!get_int(req, "steps", 1, lim->max_steps, 20 < lim->max_steps ? 20 : lim->max_steps, &steps, fe) ||
        !get_num(req, "guidance", 0, 50, -1, &guidance, fe) ||
        !get_num(req, "motion_guidance", 0, 50, -1, &motion_guidance, fe) ||
        !get_int(req, "keyframes", 1, lim->max_keyframes, 8 < lim->max_keyframes ? 8 : lim->max_keyframes, &keyframes, fe) ||
        !get_num(req, "fps", 0.5, 120, 16, &fps, fe) || !get_num(req, "seconds", 0.05, 3600, 0, &seconds, fe) ||
        !get_num(req, "image_strength", 0, 1, 0.9, &strength, fe) ||
        !get_str(req, "sampler", &sampler, fe) || !get_str(req, "size", &size, fe) || !get_str(req, "model", &model, fe))
        return NULL;
    long def_frames = seconds > 0 ? lround(fps * seconds) : keyframes * 4;
    if (def_frames > lim->max_frames && !json_object_get(req, "frames"))
        return bad(fe, 422, "seconds", "fps*seconds gives more than %s%ld frames", "", lim->max_frames);
    if (!get_int(req, "frames", 1, lim->max_frames, def_frames < 1 ? 1 : def_frames, &frames, fe)) return NULL;
    if (frames < keyframes) return bad(fe, 422, "frames", "frames must be at least keyframes (%s%ld)", "", keyframes);
    if (sampler) {
        int ok = 0;
        for (int i = 0; SAMPLERS[i]; i++) ok |= !strcmp(sampler, SAMPLERS[i]);
        if (!ok) return bad(fe, 422, "sampler", "unknown sampler '%s'", sampler, 0);
    }
    if (size) {
        char *e1, *e2;
        w = strtol(size, &e1, 10);
        if (e1 == size || (*e1 != 'x' && *e1 != 'X')) return bad(fe, 422, "size", "size must be WxH, got '%s'", size, 0);
        h = strtol(e1 + 1, &e2, 10);
        if (*e2 || e2 == e1 + 1 || w < 8 || h < 8 || w % 8 || h % 8)
            return bad(fe, 422, "size", "size must be WxH with multiples of 8, got '%s'", size, 0);
        if (w > 16384 || h > 16384 || w * h > lim->max_pixels)
            return bad(fe, 422, "size", "size %s has more than %ld pixels", size, lim->max_pixels);
    }
    if (model && model_id && strcmp(model, model_id)) return bad(fe, 422, "model", "unknown model '%s'", model, 0);
    json_int_t seed;
    const json_t *sv = json_object_get(req, "seed");
    if (sv && !json_is_null(sv)) {
        if (!json_is_integer(sv) || json_integer_value(sv) < 0) return bad(fe, 422, "seed", "seed must be a non-negative integer%s", "", 0);
        seed = json_integer_value(sv);
    } else {
        char hex[17];
        if (kn_random_hex(hex, 6, NULL)) return bad(fe, 500, "seed", "no randomness for a seed%s", "", 0);
        seed = (json_int_t)strtoll(hex, NULL, 16);
    }
    json_t *p = json_pack("{sssssIsisssisisfsisiss}", "prompt", prompt, "negative_prompt", neg ? neg : "",
                          "seed", seed, "steps", (int)steps, "sampler", sampler ? sampler : "",
                          "keyframes", (int)keyframes, "frames", (int)frames, "fps", fps, "width", (int)w,
                          "height", (int)h, "model", model ? model : (model_id ? model_id : ""));
    if (p) json_object_set_new(p, "image_strength", json_real(strength));
    /* absent guidance settings stay absent: the worker applies the model's own (generation_defaults.json) */
    if (p && guidance >= 0) json_object_set_new(p, "guidance", json_real(guidance));
    if (p && motion_guidance >= 0) json_object_set_new(p, "motion_guidance", json_real(motion_guidance));
    if (!p) return bad(fe, 500, "body", "out of memory%s", "", 0);
    return p;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

uint8_t *kn_base64_decode(const char *s, size_t *n) {
    const char *comma = strncmp(s, "data:", 5) ? NULL : strchr(s, ',');
    if (comma) s = comma + 1;
    size_t len = strlen(s);
    uint8_t *out = malloc(len / 4 * 3 + 4);
    if (!out) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '=') break;
        if (isspace(c)) continue;
        int v = b64val(c);
        if (v < 0) { free(out); return NULL; }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (uint8_t)(acc >> bits); }
    }
    *n = o;
    return out;
}

int kn_is_image(const uint8_t *p, size_t n) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    return (n >= 8 && !memcmp(p, png, 8)) || (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff);
}

static const uint8_t *find(const uint8_t *h, size_t hn, const char *needle, size_t nn) {
    if (nn == 0 || hn < nn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == (uint8_t)needle[0] && !memcmp(h + i, needle, nn)) return h + i;
    return NULL;
}

/* Copies the value of `key="..."` (or key=token) from a header line into out. */
static void header_param(const char *line, size_t n, const char *key, char *out, size_t cap) {
    out[0] = 0;
    char pat[32];
    int pl = snprintf(pat, sizeof pat, "%s=", key);
    for (size_t i = 0; i + (size_t)pl <= n; i++) {
        if (strncasecmp(line + i, pat, (size_t)pl) || (i > 0 && (isalnum((unsigned char)line[i - 1])))) continue;
        const char *v = line + i + pl, *end = line + n;
        int quoted = v < end && *v == '"';
        if (quoted) v++;
        size_t k = 0;
        while (v < end && k + 1 < cap && (quoted ? *v != '"' : (*v != ';' && *v != ' ' && *v != '\r'))) out[k++] = *v++;
        out[k] = 0;
        return;
    }
}

int kn_multipart_parse(const char *content_type, const uint8_t *body, size_t n, kn_part *parts, int cap) {
    char boundary[128], delim[140];
    if (!content_type) return -1;
    header_param(content_type, strlen(content_type), "boundary", boundary, sizeof boundary);
    if (!boundary[0]) return -1;
    int dl = snprintf(delim, sizeof delim, "--%s", boundary);
    const uint8_t *p = find(body, n, delim, (size_t)dl), *end = body + n;
    int count = 0;
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return count;     /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return -1;
        p += 2;
        const uint8_t *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend || count >= cap) return -1;
        kn_part *pt = &parts[count];
        memset(pt, 0, sizeof *pt);
        for (const uint8_t *l = p; l < hend;) {
            const uint8_t *le = find(l, (size_t)(hend + 2 - l), "\r\n", 2);
            size_t ln = (size_t)(le - l);
            if (ln > 20 && !strncasecmp((const char *)l, "content-disposition:", 20)) {
                header_param((const char *)l, ln, "name", pt->name, sizeof pt->name);
                header_param((const char *)l, ln, "filename", pt->filename, sizeof pt->filename);
            } else if (ln > 13 && !strncasecmp((const char *)l, "content-type:", 13)) {
                size_t k = 0;
                const char *v = (const char *)l + 13;
                while (*v == ' ') v++;
                while (v < (const char *)le && k + 1 < sizeof pt->ctype) pt->ctype[k++] = *v++;
                pt->ctype[k] = 0;
            }
            l = le + 2;
        }
        const uint8_t *data = hend + 4;
        char nd[144];
        int ndl = snprintf(nd, sizeof nd, "\r\n%s", delim);
        const uint8_t *next = find(data, (size_t)(end - data), nd, (size_t)ndl);
        if (!next) return -1;
        pt->data = data;
        pt->n = (size_t)(next - data);
        count++;
        p = next + 2;
    }
    return -1;
}
