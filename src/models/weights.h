/* src/models/weights.h: a model folder's weights and config.
 * Contract: a folder holds config.json (or the file named) and one or more *.safetensors files (any
 * of f32/f16/bf16). Matrices and conv kernels are borrowed from the mmap (zero-copy) as kn_wview;
 * small vectors (biases, norm scales) are converted once to owned f32. Every lookup checks the shape
 * and names the folder and tensor when it fails. */
#ifndef KN_WEIGHTS_H
#define KN_WEIGHTS_H
#include "core/ops.h"
#include "io/io.h"

typedef struct kn_weights {
    char dir[1024];
    json_t *config;            /* parsed config file, NULL when none was asked for */
    char config_path[1100];
    int nfiles;
    kn_st_file files[8];
    /* owned f32 copies handed out by kn_weights_f32 */
    float **owned;
    int nowned, capowned;
    int live;                  /* opened with kn_weights_open_mem: f32 lookups borrow, never copy */
    int schema;                /* opened with kn_weights_open_schema: lookups create what they ask for */
    struct kn_schema *schema_out;
    size_t used_bytes;         /* bytes of tensors looked up so far (for unused-weight checks) */
    int nlooked;
} kn_weights;

/* Opens dir/config_name (may be NULL for no config) and every *.safetensors in dir (or only
 * `weights_name` when not NULL). */
kn_status kn_weights_open(kn_weights *w, const char *dir, const char *config_name, const char *weights_name,
                          kn_error *err);
/* Weights the caller holds in memory (the trainer's parameters): every tensor must be F32; the
 * entries' data is borrowed, not copied, and so are the f32 vectors kn_weights_f32 hands out, so a
 * model opened on these weights sees every update the caller makes. `label` names them in errors;
 * config is borrowed (a reference is taken). The data must outlive w. */
kn_status kn_weights_open_mem(kn_weights *w, const char *label, json_t *config, const kn_st_entry *t, int n,
                              kn_error *err);
/* Weights that do not exist yet: every lookup creates a zero-filled f32 tensor of the shape asked for
 * (which must then be fully given) and appends its name and shape to `out`, so opening a model on
 * them lists the tensors a config needs. Optional tensors (kn_weights_has) stay absent. */
typedef struct kn_schema {
    int n, cap;
    kn_st_entry *t;            /* names owned (kn_schema_free), data NULL */
} kn_schema;
kn_status kn_weights_open_schema(kn_weights *w, const char *label, json_t *config, kn_schema *out, kn_error *err);
void kn_schema_free(kn_schema *s);
void kn_weights_close(kn_weights *w);
const kn_st_tensor *kn_weights_find(const kn_weights *w, const char *name);
/* A weight as a view (f32/f16/bf16 zero-copy) with the shape checked (-1 = any). */
kn_status kn_weights_view(kn_weights *w, const char *name, int ndim, const int64_t *shape, kn_wview *out,
                          kn_error *err);
/* A weight converted to an owned f32 array (freed with the kn_weights), shape checked. */
kn_status kn_weights_f32(kn_weights *w, const char *name, int ndim, const int64_t *shape, float **out,
                         kn_error *err);
/* printf-style name helpers: kn_weights_viewf(w, out, err, ndim, shape, "down_blocks.%d.x", i) */
kn_status kn_weights_viewf(kn_weights *w, kn_wview *out, kn_error *err, int ndim, const int64_t *shape,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
kn_status kn_weights_f32f(kn_weights *w, float **out, kn_error *err, int ndim, const int64_t *shape,
                          const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Does a tensor exist? printf-style. */
int kn_weights_has(const kn_weights *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
