/* src/check: the parity runner behind `kinora check DIR...`.
 * Contract: a case is a folder with case.json + io.safetensors in the format of
 * shared/testvectors/README.md. Each kind has one runner (check_<kind>.c) that loads the models named
 * in case.json, computes every out.* tensor from the in.* tensors and reports through
 * kn_check_compare; every value comes from the case's files, none is assumed. */
#ifndef KN_CHECK_H
#define KN_CHECK_H
#include "core/ops.h"
#include "io/io.h"

typedef enum kn_check_verdict { KN_CHECK_PASS, KN_CHECK_FAIL, KN_CHECK_UNSUPPORTED, KN_CHECK_ERROR } kn_check_verdict;

typedef struct kn_check_case {
    const char *dir;          /* case folder */
    const char *name;         /* its base name */
    const char *kind;
    json_t *cfg;              /* case.json */
    kn_st_file io;            /* io.safetensors */
    double tol;
    kn_ctx *ctx;
    /* accumulated by kn_check_compare */
    double worst_err, worst_bound, worst_ratio;
    int compared, failed;
    char worst_name[128];
} kn_check_case;

typedef kn_status (*kn_check_fn)(kn_check_case *c, kn_error *err);

/* Compares got[n] with the expected tensor `name` from io.safetensors (which must have n elements):
 * passes when max|got - expected| <= tol * max(1, max|expected|). Records the worst tensor. */
kn_status kn_check_compare(kn_check_case *c, const char *name, const float *got, size_t n, kn_error *err);
/* Exact comparison for integer tensors (token ids). */
kn_status kn_check_compare_ids(kn_check_case *c, const char *name, const int64_t *got, size_t n, kn_error *err);
/* Loads in.* tensor as f32 (caller frees with kn_free); checks ndim when ndim >= 0. */
kn_status kn_check_input(kn_check_case *c, const char *name, float **out, const kn_st_tensor **t, kn_error *err);
/* Path of a model sub-folder named by case.json key `key` (e.g. "model"): writes dir/value. */
kn_status kn_check_model_path(kn_check_case *c, const char *key, char *buf, size_t cap, kn_error *err);

/* Runners, one per kind. Each returns KN_EUNSUPPORTED until implemented. */
kn_status kn_check_tokenizer(kn_check_case *c, kn_error *err);
kn_status kn_check_clip_text(kn_check_case *c, kn_error *err);
kn_status kn_check_vae(kn_check_case *c, kn_error *err);
kn_status kn_check_unet2d(kn_check_case *c, kn_error *err);
kn_status kn_check_unet_motion(kn_check_case *c, kn_error *err);
kn_status kn_check_scheduler(kn_check_case *c, kn_error *err);
kn_status kn_check_pipeline_t2v(kn_check_case *c, kn_error *err);

/* Runs every case found under each path; prints one line per case to `out`; returns the number of
 * cases that did not pass (UNSUPPORTED and errors count). *total receives the case count. */
int kn_check_run(const char *const *paths, int npaths, int threads, FILE *out, int *total);

#endif
