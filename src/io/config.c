/* JSON configs through jansson. Errors name the file, line and column, or the key and its type. */
#include "io/io.h"
#include <math.h>
#include <stdio.h>

kn_status kn_json_load(const char *path, json_t **out, kn_error *err) {
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line < 0 || je.position == 0)
            return kn_fail(err, KN_EIO, "%s: %s", path, je.text);
        return kn_fail(err, KN_EFORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return kn_fail(err, KN_EFORMAT, "%s: top level is not a JSON object", path);
    }
    *out = j;
    return KN_OK;
}

static json_t *get(const json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

kn_status kn_cfg_int(const json_t *o, const char *path, const char *key, long long def, long long *out,
                     kn_error *err) {
    json_t *v = get(o, key);
    if (!v) { *out = def; return KN_OK; }
    if (json_is_integer(v)) { *out = json_integer_value(v); return KN_OK; }
    /* A whole-valued real (1000.0) counts; check the range before converting, which is undefined
     * outside long long. */
    double r = json_is_real(v) ? json_real_value(v) : NAN;
    if (r >= -0x1p63 && r < 0x1p63 && r == floor(r)) {
        *out = (long long)r;
        return KN_OK;
    }
    return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be an integer", path, key);
}

kn_status kn_cfg_num(const json_t *o, const char *path, const char *key, double def, double *out,
                     kn_error *err) {
    json_t *v = get(o, key);
    if (!v) { *out = def; return KN_OK; }
    if (!json_is_number(v)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be a number", path, key);
    *out = json_number_value(v);
    return KN_OK;
}

kn_status kn_cfg_bool(const json_t *o, const char *path, const char *key, int def, int *out, kn_error *err) {
    json_t *v = get(o, key);
    if (!v) { *out = def; return KN_OK; }
    if (!json_is_boolean(v)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = json_is_true(v);
    return KN_OK;
}

kn_status kn_cfg_str(const json_t *o, const char *path, const char *key, const char *def, const char **out,
                     kn_error *err) {
    json_t *v = get(o, key);
    if (!v) { *out = def; return KN_OK; }
    if (!json_is_string(v)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be a string", path, key);
    *out = json_string_value(v);
    return KN_OK;
}

kn_status kn_cfg_int_list(const json_t *o, const char *path, const char *key, long long *vals, int cap,
                          int *n_out, kn_error *err) {
    json_t *v = get(o, key);
    *n_out = 0;
    if (!v) return KN_OK;
    if (json_is_integer(v)) {
        vals[0] = json_integer_value(v);
        *n_out = -1;   /* a scalar: the caller broadcasts */
        return KN_OK;
    }
    if (!json_is_array(v)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be an integer or a list of integers", path, key);
    size_t n = json_array_size(v);
    if (n > (size_t)cap) return kn_fail(err, KN_EUNSUPPORTED, "%s: \"%s\" has %zu entries (at most %d supported)", path, key, n, cap);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\"[%zu] must be an integer", path, key, i);
        vals[i] = json_integer_value(e);
    }
    *n_out = (int)n;
    return KN_OK;
}

kn_status kn_cfg_str_list(const json_t *o, const char *path, const char *key, const char **vals, int cap,
                          int *n_out, kn_error *err) {
    json_t *v = get(o, key);
    *n_out = 0;
    if (!v) return KN_OK;
    if (!json_is_array(v)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\" must be a list of strings", path, key);
    size_t n = json_array_size(v);
    if (n > (size_t)cap) return kn_fail(err, KN_EUNSUPPORTED, "%s: \"%s\" has %zu entries (at most %d supported)", path, key, n, cap);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) return kn_fail(err, KN_EFORMAT, "%s: \"%s\"[%zu] must be a string", path, key, i);
        vals[i] = json_string_value(e);
    }
    *n_out = (int)n;
    return KN_OK;
}
