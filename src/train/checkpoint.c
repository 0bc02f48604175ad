/* Checkpoint folders: weights + optimiser state + trainer state, swapped into place atomically. */
#include "train/train.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/io.h"

static kn_status write_weights(const char *path, const kn_paramset *ps, kn_error *err) {
    kn_st_entry *e = calloc((size_t)(ps->n ? ps->n : 1), sizeof *e);
    if (!e) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < ps->n; i++) {
        const kn_param *p = &ps->p[i];
        e[i] = (kn_st_entry){.name = p->name, .dtype = KN_F32, .ndim = p->ndim, .data = p->w};
        memcpy(e[i].shape, p->shape, sizeof p->shape);
    }
    kn_status st = kn_st_write(path, e, ps->n, NULL, err);
    free(e);
    return st;
}

/* exp_avg.NAME, exp_avg_sq.NAME and (with EMA) ema.NAME for every tensor. */
static kn_status write_optimizer(const char *path, const kn_paramset *ps, kn_error *err) {
    int per = 3, n = 0;
    kn_st_entry *e = calloc((size_t)(ps->n * per + 1), sizeof *e);
    char **names = calloc((size_t)(ps->n * per + 1), sizeof *names);
    kn_status st = KN_OK;
    if (!e || !names) { st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path); goto done; }
    for (int i = 0; i < ps->n; i++) {
        const kn_param *p = &ps->p[i];
        const char *pre[3] = {"exp_avg.", "exp_avg_sq.", "ema."};
        const float *src[3] = {p->m, p->v, p->ema};
        for (int k = 0; k < per; k++) {
            if (!src[k]) continue;
            size_t len = strlen(pre[k]) + strlen(p->name) + 1;
            if (!(names[n] = malloc(len))) { st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path); goto done; }
            snprintf(names[n], len, "%s%s", pre[k], p->name);
            e[n] = (kn_st_entry){.name = names[n], .dtype = KN_F32, .ndim = p->ndim, .data = src[k]};
            memcpy(e[n].shape, p->shape, sizeof p->shape);
            n++;
        }
    }
    st = kn_st_write(path, e, n, NULL, err);
done:
    if (names) for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(e);
    return st;
}

/* 64-bit integers go to JSON as decimal strings so no value is rounded through a double. */
static json_t *u64_json(uint64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return json_string(b);
}

static kn_status write_state(const char *path, const kn_trainer_state *s, kn_error *err) {
    json_t *o = json_object();
    json_t *a = json_object();
    if (!o || !a) { json_decref(o); json_decref(a); return kn_fail(err, KN_ENOMEM, "%s: out of memory", path); }
    json_object_set_new(o, "format", json_string("kinora-trainer-state-1"));
    json_object_set_new(o, "step", u64_json((uint64_t)s->step));
    json_object_set_new(o, "seed", u64_json(s->seed));
    json_object_set_new(o, "data_cursor", u64_json(s->data_cursor));
    json_object_set_new(o, "epoch", u64_json((uint64_t)s->epoch));
    json_object_set_new(o, "ema_decay", json_real(s->ema_decay));
    json_object_set_new(o, "warmup_steps", u64_json((uint64_t)s->warmup_steps));
    json_object_set_new(o, "total_steps", u64_json((uint64_t)s->total_steps));
    json_object_set_new(o, "min_lr_ratio", json_real(s->min_lr_ratio));
    json_object_set_new(o, "max_grad_norm", json_real(s->max_grad_norm));
    json_object_set_new(a, "lr", json_real(s->adamw.lr));
    json_object_set_new(a, "beta1", json_real(s->adamw.beta1));
    json_object_set_new(a, "beta2", json_real(s->adamw.beta2));
    json_object_set_new(a, "eps", json_real(s->adamw.eps));
    json_object_set_new(a, "weight_decay", json_real(s->adamw.weight_decay));
    json_object_set_new(o, "adamw", a);
    /* jansson prints reals with 17 significant digits, which round-trips every double */
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!txt) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    kn_status st = kn_write_file_atomic(path, txt, strlen(txt), err);
    free(txt);
    return st;
}

static kn_status write_config(const char *path, const json_t *config, kn_error *err) {
    char *txt = config ? json_dumps(config, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))
                       : strdup("{}");
    if (!txt) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    kn_status st = kn_write_file_atomic(path, txt, strlen(txt), err);
    free(txt);
    return st;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (!lstat(p, &sb) && S_ISDIR(sb.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

kn_status kn_ckpt_save(const char *dir, const char *weights_name, const json_t *config,
                       const kn_paramset *ps, const kn_trainer_state *st, kn_error *err) {
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl + 64 + strlen(weights_name) > 4000) return kn_fail(err, KN_EINVAL, "checkpoint path too long: %s", dir);
    char tmp[4096], old[4096], p[4400];
    snprintf(tmp, sizeof tmp, "%.*s.tmp-XXXXXX", (int)dl, dir);
    if (!mkdtemp(tmp)) return kn_fail(err, KN_EIO, "%.*s: cannot create a temporary folder: %s", (int)dl, dir, strerror(errno));
    kn_status s;
    snprintf(p, sizeof p, "%s/config.json", tmp);
    if ((s = write_config(p, config, err))) goto fail;
    snprintf(p, sizeof p, "%s/%s", tmp, weights_name);
    if ((s = write_weights(p, ps, err))) goto fail;
    snprintf(p, sizeof p, "%s/optimizer.safetensors", tmp);
    if ((s = write_optimizer(p, ps, err))) goto fail;
    snprintf(p, sizeof p, "%s/trainer_state.json", tmp);
    if ((s = write_state(p, st, err))) goto fail;
    /* rename() cannot replace a non-empty folder: move the old one aside first, then drop it */
    snprintf(p, sizeof p, "%.*s", (int)dl, dir);
    snprintf(old, sizeof old, "%.*s.old-XXXXXX", (int)dl, dir);
    int had_old = kn_path_is_dir(p);
    if (had_old) {
        if (!mkdtemp(old) || rmdir(old) || rename(p, old)) {
            s = kn_fail(err, KN_EIO, "%s: cannot move the previous checkpoint aside: %s", p, strerror(errno));
            goto fail;
        }
    }
    if (rename(tmp, p)) {
        s = kn_fail(err, KN_EIO, "%s: cannot rename %s into place: %s", p, tmp, strerror(errno));
        if (had_old) rename(old, p);
        goto fail;
    }
    if (had_old) remove_tree(old);
    return KN_OK;
fail:
    remove_tree(tmp);
    return s;
}

static kn_status load_into(const kn_st_file *f, const char *name, const kn_param *p, float *dst, kn_error *err) {
    const kn_st_tensor *t;
    kn_status s = kn_st_get(f, name, p->ndim, p->shape, &t, err);
    if (s) return s;
    if (t->dtype != KN_F32) return kn_fail(err, KN_EFORMAT, "%s: tensor '%s' is %s, expected F32", f->path, name, kn_dtype_name(t->dtype));
    memcpy(dst, t->data, p->n * sizeof(float));
    return KN_OK;
}

static kn_status get_u64(const json_t *o, const char *path, const char *key, uint64_t *out, kn_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return kn_fail(err, KN_EFORMAT, "%s: '%s' missing or not a decimal string", path, key);
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || end == s) return kn_fail(err, KN_EFORMAT, "%s: '%s' is not an unsigned integer ('%s')", path, key, s);
    *out = x;
    return KN_OK;
}

static kn_status read_state(const char *path, kn_trainer_state *s, kn_error *err) {
    json_t *o;
    kn_status st = kn_json_load(path, &o, err);
    if (st) return st;
    uint64_t step, epoch, warm, total;
    const json_t *a = json_object_get(o, "adamw");
    if ((st = get_u64(o, path, "step", &step, err)) || (st = get_u64(o, path, "seed", &s->seed, err)) ||
        (st = get_u64(o, path, "data_cursor", &s->data_cursor, err)) || (st = get_u64(o, path, "epoch", &epoch, err)) ||
        (st = get_u64(o, path, "warmup_steps", &warm, err)) || (st = get_u64(o, path, "total_steps", &total, err)) ||
        (st = kn_cfg_num(o, path, "ema_decay", 0, &s->ema_decay, err)) ||
        (st = kn_cfg_num(o, path, "min_lr_ratio", 0, &s->min_lr_ratio, err)) ||
        (st = kn_cfg_num(o, path, "max_grad_norm", 0, &s->max_grad_norm, err)))
        goto done;
    if (!json_is_object(a)) { st = kn_fail(err, KN_EFORMAT, "%s: 'adamw' missing or not an object", path); goto done; }
    if ((st = kn_cfg_num(a, path, "lr", 0, &s->adamw.lr, err)) || (st = kn_cfg_num(a, path, "beta1", 0, &s->adamw.beta1, err)) ||
        (st = kn_cfg_num(a, path, "beta2", 0, &s->adamw.beta2, err)) || (st = kn_cfg_num(a, path, "eps", 0, &s->adamw.eps, err)) ||
        (st = kn_cfg_num(a, path, "weight_decay", 0, &s->adamw.weight_decay, err)))
        goto done;
    s->step = (int64_t)step;
    s->epoch = (int64_t)epoch;
    s->warmup_steps = (int64_t)warm;
    s->total_steps = (int64_t)total;
done:
    json_decref(o);
    return st;
}

kn_status kn_ckpt_load(const char *dir, const char *weights_name, kn_paramset *ps,
                       kn_trainer_state *st, kn_error *err) {
    char p[4096];
    kn_st_file w, o;
    kn_status s;
    snprintf(p, sizeof p, "%s/%s", dir, weights_name);
    if ((s = kn_st_open(p, &w, err))) return s;
    snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
    if ((s = kn_st_open(p, &o, err))) { kn_st_close(&w); return s; }
    if (w.ntensors != ps->n) {
        s = kn_fail(err, KN_EFORMAT, "%s: %d tensors, the model has %d", w.path, w.ntensors, ps->n);
        goto done;
    }
    char name[1200];
    for (int i = 0; i < ps->n && !s; i++) {
        kn_param *q = &ps->p[i];
        if ((s = load_into(&w, q->name, q, q->w, err))) break;
        snprintf(name, sizeof name, "exp_avg.%s", q->name);
        if ((s = load_into(&o, name, q, q->m, err))) break;
        snprintf(name, sizeof name, "exp_avg_sq.%s", q->name);
        if ((s = load_into(&o, name, q, q->v, err))) break;
        snprintf(name, sizeof name, "ema.%s", q->name);
        if (kn_st_find(&o, name)) {
            if (!q->ema && !(q->ema = kn_malloc(q->n * sizeof(float)))) { s = kn_fail(err, KN_ENOMEM, "out of memory"); break; }
            s = load_into(&o, name, q, q->ema, err);
        }
    }
    if (!s) {
        snprintf(p, sizeof p, "%s/trainer_state.json", dir);
        s = read_state(p, st, err);
    }
done:
    kn_st_close(&w);
    kn_st_close(&o);
    return s;
}
