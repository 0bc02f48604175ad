/* src/io: files in and out. Contract: every reader validates before use and names the file and the
 * offending field or tensor in its error; every writer writes NAME.tmp-XXXXXX, fsyncs and renames,
 * so a failure never leaves a half-written file under the final name. */
#ifndef KN_IO_H
#define KN_IO_H
#include <jansson.h>
#include "core/core.h"

/* ---- safetensors ---- */
typedef struct kn_st_tensor {
    char *name;
    kn_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t nbytes;
    const void *data;          /* points into the mapping (zero-copy) */
} kn_st_tensor;

typedef struct kn_st_file {
    char *path;
    void *map;                 /* whole file, read-only mmap */
    size_t map_size;
    int ntensors;
    kn_st_tensor *tensors;     /* sorted by name */
    json_t *metadata;          /* "__metadata__" object or NULL */
} kn_st_file;

/* Maps and validates: header length inside the file, well-formed JSON, known dtypes, shape product *
 * element size == byte range, ranges inside the data section and not overlapping. */
kn_status kn_st_open(const char *path, kn_st_file *f, kn_error *err);
/* The same checks on a buffer (used by the fuzzer); the buffer must outlive f. */
kn_status kn_st_parse(const void *buf, size_t size, const char *name, kn_st_file *f, kn_error *err);
void kn_st_close(kn_st_file *f);
const kn_st_tensor *kn_st_find(const kn_st_file *f, const char *name);
int64_t kn_st_numel(const kn_st_tensor *t);
/* Finds `name` and checks its shape (ndim entries; -1 = any); error names file and tensor. */
kn_status kn_st_get(const kn_st_file *f, const char *name, int ndim, const int64_t *shape,
                    const kn_st_tensor **out, kn_error *err);
/* Copies a tensor to newly allocated f32 (any float or integer dtype). */
kn_status kn_st_to_f32(const kn_st_tensor *t, float **out, kn_error *err);

typedef struct kn_st_entry {   /* one tensor to write */
    const char *name;
    kn_dtype dtype;
    int ndim;
    int64_t shape[8];
    const void *data;
} kn_st_entry;
/* Writes tensors (in the given dtypes) atomically. metadata may be NULL. */
kn_status kn_st_write(const char *path, const kn_st_entry *entries, int n, json_t *metadata, kn_error *err);

/* ---- JSON configs (jansson) ---- */
kn_status kn_json_load(const char *path, json_t **out, kn_error *err);
/* Typed getters: a missing key gives `def`; a key of the wrong type is an error naming file and key.
 * JSON null counts as missing. */
kn_status kn_cfg_int(const json_t *o, const char *path, const char *key, long long def, long long *out,
                     kn_error *err);
kn_status kn_cfg_num(const json_t *o, const char *path, const char *key, double def, double *out,
                     kn_error *err);
kn_status kn_cfg_bool(const json_t *o, const char *path, const char *key, int def, int *out, kn_error *err);
/* *out borrows from o; def may be NULL. */
kn_status kn_cfg_str(const json_t *o, const char *path, const char *key, const char *def, const char **out,
                     kn_error *err);
/* Array of ints (or a single int broadcast to n when n > 0): returns count in *n_out (max cap). */
kn_status kn_cfg_int_list(const json_t *o, const char *path, const char *key, long long *vals, int cap,
                          int *n_out, kn_error *err);
kn_status kn_cfg_str_list(const json_t *o, const char *path, const char *key, const char **vals, int cap,
                          int *n_out, kn_error *err);

/* ---- files ---- */
/* Writes all n bytes of buf to fd, going on after a short write or EINTR: 0, or -1 with errno set. */
int kn_write_all(int fd, const void *buf, size_t n);
/* Atomic write of a whole buffer: path.tmp-XXXXXX, fsync, rename. */
kn_status kn_write_file_atomic(const char *path, const void *data, size_t n, kn_error *err);
kn_status kn_read_file(const char *path, size_t max_size, char **out, size_t *n, kn_error *err);
/* Create a unique temporary path next to `path` ("path.tmp-XXXXXX"), opened for writing: returns fd. */
int kn_tmp_open(const char *path, char *tmp, size_t tmpcap);
int kn_path_is_dir(const char *path);
/* Whether paths a and b name the same existing file or folder (through links or other spellings). */
int kn_same_file(const char *a, const char *b);
kn_status kn_mkdirs(const char *path, kn_error *err);
/* A private folder for a command's temporary files, $TMPDIR (else /tmp)/kinora-XXXXXX, mode 0700,
 * into dir (cap bytes). The caller removes it (kn_remove_dir_flat). */
kn_status kn_tmp_dir(char *dir, size_t cap, kn_error *err);
/* Removes the files in dir (not in sub-folders), then dir itself. */
void kn_remove_dir_flat(const char *dir);
/* Copies what fd delivers until its end into a new file at path (mode 0600). A pipe can stall, so
 * fd is polled and *stop (when stop is not NULL) read between waits: once it is nonzero the copy
 * ends with KN_ECANCELLED. On any failure (full disk, read error) the partial file is removed and
 * err names what, and `what` names the stream in it ("the standard input"). */
kn_status kn_copy_fd_to_file(int fd, const char *what, const char *path, const volatile int *stop, kn_error *err);
/* Copies the file at path to fd (`what` names fd in errors, e.g. "the standard output"). */
kn_status kn_copy_file_to_fd(const char *path, int fd, const char *what, kn_error *err);

#endif
