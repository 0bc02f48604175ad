/* kinora convert IN_DIR OUT_DIR --dtype f16|bf16|f32
 * Copies a model folder (or a whole pipeline folder, recursively) converting every floating-point
 * tensor of every *.safetensors file to the chosen dtype, rounding to nearest even as torch's
 * .half() / .bfloat16() do; integer tensors, metadata and every other file are copied unchanged. Each
 * output file is written atomically (temporary name, fsync, rename). F64 tensors go through f32 first. */
#include "cli/cli.h"
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/io.h"

#define MAX_DEPTH 4

static int is_float(kn_dtype t) { return t == KN_F32 || t == KN_F16 || t == KN_BF16 || t == KN_F64; }

/* src tensor -> newly allocated buffer of dtype `to`. */
static kn_status convert_tensor(const kn_st_tensor *t, kn_dtype to, void **out, kn_error *err) {
    size_t n = (size_t)kn_st_numel(t);
    float *f;
    kn_status st = kn_st_to_f32(t, &f, err);
    if (st) return st;
    if (to == KN_F32) { *out = f; return KN_OK; }
    uint16_t *h = kn_malloc(n ? n * 2 : 2);
    if (!h) { kn_free(f); return kn_fail(err, KN_ENOMEM, "out of memory converting '%s'", t->name); }
    for (size_t i = 0; i < n; i++) h[i] = to == KN_F16 ? kn_f32_to_f16(f[i]) : kn_f32_to_bf16(f[i]);
    kn_free(f);
    *out = h;
    return KN_OK;
}

static kn_status convert_file(const char *in, const char *out, kn_dtype to, size_t *nconv, kn_error *err) {
    kn_st_file f;
    kn_status st = kn_st_open(in, &f, err);
    if (st) return st;
    kn_st_entry *e = calloc((size_t)f.ntensors + 1, sizeof *e);
    void **owned = calloc((size_t)f.ntensors + 1, sizeof *owned);
    if (!e || !owned) st = kn_fail(err, KN_ENOMEM, "out of memory");
    for (int i = 0; i < f.ntensors && !st; i++) {
        const kn_st_tensor *t = &f.tensors[i];
        e[i].name = t->name;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        e[i].dtype = t->dtype;
        e[i].data = t->data;
        if (is_float(t->dtype) && t->dtype != to) {
            if ((st = convert_tensor(t, to, &owned[i], err))) break;
            e[i].dtype = to;
            e[i].data = owned[i];
            (*nconv)++;
        }
    }
    if (!st) st = kn_st_write(out, e, f.ntensors, f.metadata, err);
    for (int i = 0; owned && i < f.ntensors; i++) kn_free(owned[i]);
    free(owned);
    free(e);
    kn_st_close(&f);
    return st;
}

static kn_status copy_file(const char *in, const char *out, kn_error *err) {
    char *buf;
    size_t n;
    kn_status st = kn_read_file(in, (size_t)4 << 30, &buf, &n, err);
    if (st) return st;
    st = kn_write_file_atomic(out, buf, n, err);
    free(buf);
    return st;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static kn_status convert_dir(const char *in, const char *out, kn_dtype to, int depth, kn_error *err) {
    if (depth > MAX_DEPTH) return KN_OK;
    kn_status st = kn_mkdirs(out, err);
    if (st) return st;
    DIR *d = opendir(in);
    if (!d) return kn_fail(err, KN_EIO, "%s: cannot list folder", in);
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-")) continue;
        char ip[PATH_MAX], op[PATH_MAX];
        if (snprintf(ip, sizeof ip, "%s/%s", in, de->d_name) >= (int)sizeof ip ||
            snprintf(op, sizeof op, "%s/%s", out, de->d_name) >= (int)sizeof op) {
            st = kn_fail(err, KN_EINVAL, "%s/%s: path too long", in, de->d_name);
            break;
        }
        struct stat sb;
        if (stat(ip, &sb)) { st = kn_fail(err, KN_EIO, "%s: cannot stat", ip); break; }
        if (S_ISDIR(sb.st_mode)) {
            st = convert_dir(ip, op, to, depth + 1, err);
        } else if (S_ISREG(sb.st_mode)) {
            if (ends_with(de->d_name, ".safetensors")) {
                size_t nconv = 0;
                st = convert_file(ip, op, to, &nconv, err);
                if (!st) printf("%s: %zu tensors converted to %s\n", op, nconv, kn_dtype_name(to));
            } else {
                st = copy_file(ip, op, err);
            }
        }
    }
    closedir(d);
    return st;
}

static int usage(FILE *f) {
    fprintf(f, "usage: kinora convert IN_DIR OUT_DIR --dtype f16|bf16|f32\n"
               "Copies a model folder (subfolders too), converting every floating-point tensor of every\n"
               "*.safetensors file to DTYPE (round to nearest even); other files are copied as is.\n");
    return f == stdout ? 0 : 2;
}

int kn_cmd_convert(int argc, char **argv) {
    const char *dirs[2] = {NULL, NULL}, *dt = NULL;
    int nd = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return usage(stdout);
        if (!strcmp(argv[i], "--dtype")) {
            if (i + 1 >= argc) { fprintf(stderr, "kinora: --dtype needs a value\n"); return 2; }
            dt = argv[++i];
        } else if (argv[i][0] == '-' || nd == 2) {
            return usage(stderr);
        } else dirs[nd++] = argv[i];
    }
    if (nd != 2 || !dt) return usage(stderr);
    kn_dtype to;
    if (!strcmp(dt, "f16") || !strcmp(dt, "fp16") || !strcmp(dt, "float16")) to = KN_F16;
    else if (!strcmp(dt, "bf16") || !strcmp(dt, "bfloat16")) to = KN_BF16;
    else if (!strcmp(dt, "f32") || !strcmp(dt, "fp32") || !strcmp(dt, "float32")) to = KN_F32;
    else { fprintf(stderr, "kinora: --dtype must be f16, bf16 or f32 (got '%s')\n", dt); return 2; }
    if (!kn_path_is_dir(dirs[0])) { fprintf(stderr, "kinora: %s: not a folder\n", dirs[0]); return 1; }
    kn_error err = {0};
    char ri[PATH_MAX], ro[PATH_MAX];
    int existed = kn_path_is_dir(dirs[1]);
    if (kn_mkdirs(dirs[1], &err)) { fprintf(stderr, "kinora convert: %s\n", err.msg); return 1; }
    size_t li = realpath(dirs[0], ri) ? strlen(ri) : 0;
    /* converting into IN_DIR itself or a folder inside it would read its own output */
    if (li && realpath(dirs[1], ro) && !strncmp(ri, ro, li) && (ro[li] == 0 || ro[li] == '/')) {
        fprintf(stderr, "kinora: OUT_DIR (%s) must not be IN_DIR or inside it\n", ro);
        if (!existed) rmdir(dirs[1]);
        return 2;
    }
    if (convert_dir(dirs[0], dirs[1], to, 0, &err)) {
        fprintf(stderr, "kinora convert: %s\n", err.msg);
        return 1;
    }
    return 0;
}
