/* Case discovery, tensor comparison, the per-case report line. */
#include <stdio.h>
#include "check/check.h"
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

static const struct { const char *kind; kn_check_fn fn; } runners[] = {
    {"tokenizer", kn_check_tokenizer},   {"clip_text", kn_check_clip_text},
    {"vae", kn_check_vae},               {"unet2d", kn_check_unet2d},
    {"unet_motion", kn_check_unet_motion}, {"scheduler", kn_check_scheduler},
    {"pipeline_t2v", kn_check_pipeline_t2v},
};

kn_status kn_check_compare(kn_check_case *c, const char *name, const float *got, size_t n, kn_error *err) {
    const kn_st_tensor *t = kn_st_find(&c->io, name);
    if (!t) return kn_fail(err, KN_EFORMAT, "%s: io.safetensors has no tensor '%s'", c->name, name);
    if ((size_t)kn_st_numel(t) != n)
        return kn_fail(err, KN_EFORMAT, "%s: '%s' has %lld elements, computed %zu", c->name, name,
                       (long long)kn_st_numel(t), n);
    float *exp;
    kn_status st = kn_st_to_f32(t, &exp, err);
    if (st) return st;
    double maxabs = 0, maxerr = 0;
    int nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)exp[i]);
        if (e > maxabs) maxabs = e;
        if (!isfinite(got[i])) nonfinite = 1;
        double d = fabs((double)got[i] - exp[i]);
        if (d > maxerr) maxerr = d;
    }
    kn_free(exp);
    if (nonfinite) maxerr = INFINITY;
    double bound = c->tol * (maxabs > 1 ? maxabs : 1);
    double ratio = maxerr / bound;
    c->compared++;
    if (!(maxerr <= bound)) c->failed++;
    if (c->compared == 1 || ratio > c->worst_ratio || isnan(ratio)) {
        c->worst_ratio = ratio;
        c->worst_err = maxerr;
        c->worst_bound = bound;
        snprintf(c->worst_name, sizeof c->worst_name, "%s", name);
    }
    return KN_OK;
}

kn_status kn_check_compare_ids(kn_check_case *c, const char *name, const int64_t *got, size_t n, kn_error *err) {
    const kn_st_tensor *t = kn_st_find(&c->io, name);
    if (!t) return kn_fail(err, KN_EFORMAT, "%s: io.safetensors has no tensor '%s'", c->name, name);
    if ((size_t)kn_st_numel(t) != n || t->dtype != KN_I64)
        return kn_fail(err, KN_EFORMAT, "%s: '%s' is not an I64 tensor of %zu elements", c->name, name, n);
    size_t bad = 0;
    const int64_t *exp = t->data;
    for (size_t i = 0; i < n; i++) bad += exp[i] != got[i];
    c->compared++;
    if (bad) c->failed++;
    if (c->compared == 1 || (bad && (double)bad > c->worst_err)) {
        c->worst_err = (double)bad;
        c->worst_bound = 0;
        c->worst_ratio = bad ? INFINITY : 0;
        snprintf(c->worst_name, sizeof c->worst_name, "%s (mismatched ids)", name);
    }
    return KN_OK;
}

kn_status kn_check_input(kn_check_case *c, const char *name, float **out, const kn_st_tensor **t, kn_error *err) {
    const kn_st_tensor *tt = kn_st_find(&c->io, name);
    if (!tt) return kn_fail(err, KN_EFORMAT, "%s: io.safetensors has no tensor '%s'", c->name, name);
    if (t) *t = tt;
    return kn_st_to_f32(tt, out, err);
}

kn_status kn_check_model_path(kn_check_case *c, const char *key, char *buf, size_t cap, kn_error *err) {
    const char *v;
    kn_status st = kn_cfg_str(c->cfg, "case.json", key, NULL, &v, err);
    if (st) return st;
    if (!v) return kn_fail(err, KN_EFORMAT, "%s/case.json: missing \"%s\"", c->dir, key);
    if (strstr(v, "..") || v[0] == '/') return kn_fail(err, KN_EFORMAT, "%s/case.json: \"%s\" must name a sub-folder", c->dir, key);
    if ((size_t)snprintf(buf, cap, "%s/%s", c->dir, v) >= cap) return kn_fail(err, KN_EINVAL, "path too long");
    return KN_OK;
}

/* ---- discovery ---- */
typedef struct { char **v; int n, cap; } strvec;

static int push(strvec *s, const char *p) {
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 16;
        char **nv = realloc(s->v, sizeof *nv * nc);
        if (!nv) return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n] = kn_strdup(p);
    return s->v[s->n] ? (s->n++, 0) : -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void find_cases(const char *dir, strvec *out, int depth) {
    char p[4096];
    snprintf(p, sizeof p, "%s/case.json", dir);
    struct stat sb;
    if (stat(p, &sb) == 0) { push(out, dir); return; }
    if (depth > 8) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (kn_path_is_dir(p)) find_cases(p, out, depth + 1);
    }
    closedir(d);
}

static kn_check_verdict run_case(const char *dir, kn_ctx *ctx, FILE *out) {
    kn_check_case c;
    memset(&c, 0, sizeof c);
    c.dir = dir;
    const char *slash = strrchr(dir, '/');
    c.name = slash && slash[1] ? slash + 1 : dir;
    c.ctx = ctx;
    kn_error err = {0};
    char p[4096];
    kn_check_verdict v = KN_CHECK_ERROR;
    snprintf(p, sizeof p, "%s/case.json", dir);
    kn_status st = kn_json_load(p, &c.cfg, &err);
    if (!st) st = kn_cfg_str(c.cfg, p, "kind", NULL, &c.kind, &err);
    if (!st && !c.kind) st = kn_fail(&err, KN_EFORMAT, "%s: missing \"kind\"", p);
    if (!st) st = kn_cfg_num(c.cfg, p, "tol", 1e-4, &c.tol, &err);
    snprintf(p, sizeof p, "%s/io.safetensors", dir);
    if (!st) st = kn_st_open(p, &c.io, &err);
    kn_check_fn fn = NULL;
    if (!st) {
        for (size_t i = 0; i < sizeof runners / sizeof runners[0]; i++)
            if (!strcmp(runners[i].kind, c.kind)) fn = runners[i].fn;
        if (!fn) st = kn_fail(&err, KN_EUNSUPPORTED, "unknown kind '%s'", c.kind);
    }
    double t0 = kn_now();
    if (!st) st = fn(&c, &err);
    double secs = kn_now() - t0;
    if (st == KN_EUNSUPPORTED) {
        v = KN_CHECK_UNSUPPORTED;
        fprintf(out, "%-28s %-13s %12s %12s  UNSUPPORTED  (%s)\n", c.name, c.kind ? c.kind : "?", "-", "-", err.msg);
    } else if (st) {
        fprintf(out, "%-28s %-13s %12s %12s  FAIL  error: %s\n", c.name, c.kind ? c.kind : "?", "-", "-", err.msg);
    } else if (c.compared == 0) {
        fprintf(out, "%-28s %-13s %12s %12s  FAIL  (no outputs compared)\n", c.name, c.kind, "-", "-");
    } else {
        v = c.failed ? KN_CHECK_FAIL : KN_CHECK_PASS;
        fprintf(out, "%-28s %-13s %12.3e %12.3e  %s  (%d outputs, worst %s, %.2fs)\n", c.name, c.kind, c.worst_err,
                c.worst_bound, v == KN_CHECK_PASS ? "PASS" : "FAIL", c.compared, c.worst_name, secs);
    }
    fflush(out);
    kn_st_close(&c.io);
    if (c.cfg) json_decref(c.cfg);
    return v;
}

int kn_check_run(const char *const *paths, int npaths, int threads, FILE *out, int *total) {
    strvec cases = {0};
    for (int i = 0; i < npaths; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s", paths[i]);
        size_t l = strlen(p);
        while (l > 1 && p[l - 1] == '/') p[--l] = 0;
        find_cases(p, &cases, 0);
    }
    qsort(cases.v, cases.n, sizeof *cases.v, cmp_str);
    kn_pool *pool = NULL;
    kn_error err = {0};
    if (kn_pool_create(threads, &pool, &err)) { fprintf(out, "error: %s\n", err.msg); return -1; }
    kn_ctx ctx = {pool, kn_cpu_detect(), NULL};
    fprintf(out, "%-28s %-13s %12s %12s  verdict\n", "case", "kind", "max error", "tolerance");
    int bad = 0;
    for (int i = 0; i < cases.n; i++) {
        if (run_case(cases.v[i], &ctx, out) != KN_CHECK_PASS) bad++;
        free(cases.v[i]);
    }
    free(cases.v);
    kn_pool_destroy(pool);
    *total = cases.n;
    return bad;
}
