/* From a training output folder to the pipeline folder the generator ships: weights only (the EMA
 * copy when asked and present), in the dtype asked, no optimizer state, written beside OUT and
 * renamed into place so OUT is never half-written. */
#include "train/train.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static kn_status copy_file(const char *src, const char *dst, kn_error *err) {
    char *buf;
    size_t n;
    kn_status st = kn_read_file(src, (size_t)1 << 34, &buf, &n, err);
    if (st) return st;
    st = kn_write_file_atomic(dst, buf, n, err);
    free(buf);
    return st;
}

/* loss_STAGE.csv / loss_STAGE.png, as the trainer names its logs */
static int is_loss_log(const char *n) {
    size_t len = strlen(n);
    return !strncmp(n, "loss_", 5) && len > 9 && (!strcmp(n + len - 4, ".csv") || !strcmp(n + len - 4, ".png"));
}

kn_status kn_copy_pipeline(const char *src, const char *dst, const char *const *skip, int nskip, kn_error *err) {
    kn_status st = kn_mkdirs(dst, err);
    if (st) return st;
    DIR *d = opendir(src);
    if (!d) return kn_fail(err, KN_EIO, "%s: cannot list folder: %s", src, strerror(errno));
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        const char *n = e->d_name;
        /* optimizer state and training logs belong to the run that wrote them: a run started from
         * this folder begins its own */
        if (n[0] == '.' || strstr(n, ".tmp-") || strstr(n, ".old-") || !strcmp(n, "optimizer.safetensors") ||
            !strcmp(n, "trainer_state.json") || is_loss_log(n))
            continue;
        int skipped = 0;
        for (int i = 0; i < nskip; i++) skipped |= !strcmp(n, skip[i]);
        if (skipped) continue;
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/%s", src, n);
        snprintf(b, sizeof b, "%s/%s", dst, n);
        st = kn_path_is_dir(a) ? kn_copy_pipeline(a, b, NULL, 0, err) : copy_file(a, b, err);
    }
    closedir(d);
    return st;
}

/* One component: its weights (or their EMA) converted to `dtype`. */
static kn_status export_component(const char *src, const char *dst, const char *weights, kn_dtype dtype, int ema,
                                  kn_error *err) {
    char p[8400];
    snprintf(p, sizeof p, "%s/%s", src, weights);
    kn_st_file w, o;
    memset(&o, 0, sizeof o);
    kn_status st = kn_st_open(p, &w, err);
    if (st) return st;
    int have_o = 0;
    if (ema) {
        snprintf(p, sizeof p, "%s/optimizer.safetensors", src);
        FILE *f = fopen(p, "rb");
        if (f) { fclose(f); if ((st = kn_st_open(p, &o, err))) { kn_st_close(&w); return st; } have_o = 1; }
    }
    kn_st_entry *e = calloc((size_t)(w.ntensors ? w.ntensors : 1), sizeof *e);
    void **bufs = calloc((size_t)(w.ntensors ? w.ntensors : 1), sizeof *bufs);
    if (!e || !bufs) st = kn_fail(err, KN_ENOMEM, "out of memory");
    for (int i = 0; i < w.ntensors && !st; i++) {
        const kn_st_tensor *t = &w.tensors[i];
        char en[600];
        snprintf(en, sizeof en, "ema.%s", t->name);
        const kn_st_tensor *src_t = have_o && kn_st_find(&o, en) ? kn_st_find(&o, en) : t;
        float *f32;
        if ((st = kn_st_to_f32(src_t, &f32, err))) break;
        size_t n = (size_t)kn_st_numel(t);
        if (dtype == KN_F32) {
            bufs[i] = f32;
        } else {
            uint16_t *h = kn_malloc(n * sizeof *h);
            if (!h) { kn_free(f32); st = kn_fail(err, KN_ENOMEM, "out of memory"); break; }
            for (size_t j = 0; j < n; j++) h[j] = dtype == KN_F16 ? kn_f32_to_f16(f32[j]) : kn_f32_to_bf16(f32[j]);
            kn_free(f32);
            bufs[i] = h;
        }
        e[i] = (kn_st_entry){.name = t->name, .dtype = dtype, .ndim = t->ndim, .data = bufs[i]};
        memcpy(e[i].shape, t->shape, sizeof t->shape);
    }
    if (!st) {
        snprintf(p, sizeof p, "%s/%s", dst, weights);
        st = kn_st_write(p, e, w.ntensors, NULL, err);
    }
    if (bufs) for (int i = 0; i < w.ntensors; i++) kn_free(bufs[i]);
    free(bufs);
    free(e);
    kn_st_close(&w);
    if (have_o) kn_st_close(&o);
    return st;
}

kn_status kn_train_export(const char *ckpt_dir, const char *out_dir, kn_dtype dtype, int ema, kn_error *err) {
    static const char *const comps[3] = {"vae", "text_encoder", "unet"};
    static const char *const files[3] = {"diffusion_pytorch_model.safetensors", "model.safetensors",
                                         "diffusion_pytorch_model.safetensors"};
    if (!kn_path_is_dir(ckpt_dir)) return kn_fail(err, KN_EIO, "%s: training folder not found", ckpt_dir);
    char tmp[4100];
    snprintf(tmp, sizeof tmp, "%s.tmp-export", out_dir);
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) return kn_fail(err, KN_EIO, "%s: cannot clear", tmp);
    /* everything but the weights (configs, tokenizer, scheduler, index), then the weights */
    kn_status st = kn_copy_pipeline(ckpt_dir, tmp, NULL, 0, err);
    for (int i = 0; i < 3 && !st; i++) {
        char s[4200], d[4200], w[8500];
        snprintf(s, sizeof s, "%s/%s", ckpt_dir, comps[i]);
        snprintf(d, sizeof d, "%s/%s", tmp, comps[i]);
        snprintf(w, sizeof w, "%s/%s", d, files[i]);
        unlink(w);
        st = export_component(s, d, files[i], dtype, ema, err);
    }
    if (!st) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s.old-export' && { [ ! -e '%s' ] || mv '%s' '%s.old-export'; } && mv '%s' '%s' && rm -rf '%s.old-export'",
                 out_dir, out_dir, out_dir, out_dir, tmp, out_dir, out_dir);
        if (system(cmd) != 0) st = kn_fail(err, KN_EIO, "%s: cannot move the export into place", out_dir);
    }
    if (st) { snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp); if (system(cmd)) {} }
    return st;
}
