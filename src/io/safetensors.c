/* safetensors: 8-byte little-endian header length N, N bytes of JSON, then the data section.
 * The header is validated completely before any tensor is used (see io.h). */
#include "io/io.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_dtype(const char *s, kn_dtype *t) {
    static const struct { const char *n; kn_dtype t; } m[] = {
        {"F32", KN_F32}, {"F16", KN_F16}, {"BF16", KN_BF16}, {"I64", KN_I64}, {"I32", KN_I32},
        {"U8", KN_U8}, {"F64", KN_F64}, {"I8", KN_I8}, {"I16", KN_I16}, {"BOOL", KN_BOOL}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcmp(s, m[i].n)) { *t = m[i].t; return 1; }
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const kn_st_tensor *)a)->name, ((const kn_st_tensor *)b)->name);
}

typedef struct { size_t begin, end; int idx; } range;
static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

void kn_st_close(kn_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->metadata) json_decref(f->metadata);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static kn_status parse_entry(const char *file, const char *key, json_t *v, const uint8_t *data,
                             size_t data_size, kn_st_tensor *t, kn_error *err) {
    if (!json_is_object(v)) return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': entry is not an object", file, key);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': missing dtype", file, key);
    if (!parse_dtype(json_string_value(dt), &t->dtype))
        return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", file, key, json_string_value(dt));
    if (!json_is_array(sh)) return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': missing shape", file, key);
    size_t nd = json_array_size(sh);
    if (nd > 8) return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': %zu dimensions (at most 8)", file, key, nd);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(sh, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", file, key, i);
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] && numel > (UINT64_MAX / 16) / (uint64_t)t->shape[i])
            return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': shape product overflows", file, key);
        numel *= (uint64_t)t->shape[i];
    }
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)))
        return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': data_offsets must be [begin, end]", file, key);
    json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
    if (b < 0 || e < b || (uint64_t)e > data_size)
        return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] outside the %zu-byte data section",
                       file, key, (long long)b, (long long)e, data_size);
    uint64_t want = numel * kn_dtype_size(t->dtype);
    if ((uint64_t)(e - b) != want)
        return kn_fail(err, KN_EFORMAT, "%s: tensor '%s': %lld bytes for shape needing %llu (%s)", file, key,
                       (long long)(e - b), (unsigned long long)want, kn_dtype_name(t->dtype));
    t->nbytes = (size_t)(e - b);
    t->data = data + b;
    t->name = kn_strdup(key);
    if (!t->name) return kn_fail(err, KN_ENOMEM, "out of memory");
    return KN_OK;
}

kn_status kn_st_parse(const void *buf, size_t size, const char *file, kn_st_file *f, kn_error *err) {
    memset(f, 0, sizeof *f);
    const uint8_t *p = buf;
    if (size < 8) return kn_fail(err, KN_EFORMAT, "%s: %zu bytes, too short for a safetensors header", file, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return kn_fail(err, KN_EFORMAT, "%s: header length %llu runs past the end of the %zu-byte file", file,
                       (unsigned long long)hlen, size);
    if (hlen > 100u * 1024 * 1024) return kn_fail(err, KN_EFORMAT, "%s: header of %llu bytes is too large", file, (unsigned long long)hlen);
    json_error_t je;
    json_t *root = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) return kn_fail(err, KN_EFORMAT, "%s: header is not valid JSON: %s (column %d)", file, je.text, je.column);
    if (!json_is_object(root)) { json_decref(root); return kn_fail(err, KN_EFORMAT, "%s: header is not a JSON object", file); }
    const uint8_t *data = p + 8 + hlen;
    size_t data_size = size - 8 - hlen;
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    range *rs = calloc(n ? n : 1, sizeof *rs);
    kn_status st = KN_OK;
    if (!f->tensors || !rs) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) { st = kn_fail(err, KN_EFORMAT, "%s: __metadata__ is not an object", file); goto done; }
            f->metadata = json_incref(v);
            continue;
        }
        kn_st_tensor *t = &f->tensors[f->ntensors];
        if ((st = parse_entry(file, key, v, data, data_size, t, err))) goto done;
        rs[f->ntensors].begin = (size_t)(t->data ? (const uint8_t *)t->data - data : 0);
        rs[f->ntensors].end = rs[f->ntensors].begin + t->nbytes;
        rs[f->ntensors].idx = f->ntensors;
        f->ntensors++;
    }
    qsort(rs, f->ntensors, sizeof *rs, cmp_range);
    for (int i = 1; i < f->ntensors; i++)
        if (rs[i].begin < rs[i - 1].end && rs[i].end > rs[i].begin) {
            st = kn_fail(err, KN_EFORMAT, "%s: tensor '%s' overlaps tensor '%s'", file,
                         f->tensors[rs[i].idx].name, f->tensors[rs[i - 1].idx].name);
            goto done;
        }
    qsort(f->tensors, f->ntensors, sizeof *f->tensors, cmp_tensor_name);
done:
    free(rs);
    json_decref(root);
    if (st) {
        f->map = NULL;
        kn_st_close(f);
    }
    return st;
}

kn_status kn_st_open(const char *path, kn_st_file *f, kn_error *err) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return kn_fail(err, KN_EIO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (size && map == MAP_FAILED) return kn_fail(err, KN_EIO, "%s: mmap failed: %s", path, strerror(errno));
    kn_status st = kn_st_parse(map, size, path, f, err);
    if (st) {
        if (map) munmap(map, size);
        return st;
    }
    f->map = map;
    f->map_size = size;
    f->path = kn_strdup(path);
    return KN_OK;
}

const kn_st_tensor *kn_st_find(const kn_st_file *f, const char *name) {
    int lo = 0, hi = f->ntensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(f->tensors[mid].name, name);
        if (!c) return &f->tensors[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

int64_t kn_st_numel(const kn_st_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

kn_status kn_st_get(const kn_st_file *f, const char *name, int ndim, const int64_t *shape,
                    const kn_st_tensor **out, kn_error *err) {
    const kn_st_tensor *t = kn_st_find(f, name);
    const char *file = f->path ? f->path : "safetensors";
    if (!t) return kn_fail(err, KN_EFORMAT, "%s: missing tensor '%s'", file, name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char want[128] = "", got[128] = "";
        size_t a = 0, b = 0;
        for (int i = 0; i < ndim; i++) a += snprintf(want + a, sizeof want - a, "%s%lld", i ? "," : "", (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++) b += snprintf(got + b, sizeof got - b, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        return kn_fail(err, KN_EFORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", file, name, got, want);
    }
    if (out) *out = t;
    return KN_OK;
}

kn_status kn_st_to_f32(const kn_st_tensor *t, float **out, kn_error *err) {
    size_t n = (size_t)kn_st_numel(t);
    float *p = kn_malloc(n * sizeof(float));
    if (!p) return kn_fail(err, KN_ENOMEM, "out of memory converting tensor '%s'", t->name);
    switch (t->dtype) {
    case KN_F32: case KN_F16: case KN_BF16: case KN_F64: case KN_I64: case KN_I32: {
        /* Offsets need not be multiples of the element size (nor the header length of 8): convert from
         * an aligned copy rather than load misaligned elements. */
        const void *src = t->data;
        void *tmp = NULL;
        if ((uintptr_t)src % kn_dtype_size(t->dtype)) {
            if (!(tmp = kn_malloc(t->nbytes))) { kn_free(p); return kn_fail(err, KN_ENOMEM, "out of memory converting tensor '%s'", t->name); }
            memcpy(tmp, src, t->nbytes);
            src = tmp;
        }
        kn_to_f32(p, src, t->dtype, n);
        kn_free(tmp);
        break;
    }
    default:
        kn_free(p);
        return kn_fail(err, KN_EUNSUPPORTED, "tensor '%s': dtype %s cannot be read as float", t->name,
                       kn_dtype_name(t->dtype));
    }
    *out = p;
    return KN_OK;
}

kn_status kn_st_write(const char *path, const kn_st_entry *e, int n, json_t *metadata, kn_error *err) {
    json_t *hdr = json_object();
    if (!hdr) return kn_fail(err, KN_ENOMEM, "out of memory");
    if (metadata) json_object_set(hdr, "__metadata__", metadata);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *t = json_object(), *sh = json_array();
        size_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) { json_array_append_new(sh, json_integer(e[i].shape[d])); numel *= (size_t)e[i].shape[d]; }
        size_t nb = numel * kn_dtype_size(e[i].dtype);
        json_object_set_new(t, "dtype", json_string(kn_dtype_name(e[i].dtype)));
        json_object_set_new(t, "shape", sh);
        json_t *o = json_array();
        json_array_append_new(o, json_integer((json_int_t)off));
        json_array_append_new(o, json_integer((json_int_t)(off + nb)));
        json_object_set_new(t, "data_offsets", o);
        json_object_set_new(hdr, e[i].name, t);
        off += nb;
    }
    char *js = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    if (!js) return kn_fail(err, KN_ENOMEM, "out of memory");
    size_t hl = strlen(js), padded = (hl + 7) & ~(size_t)7;
    char tmp[4096];
    int fd = kn_tmp_open(path, tmp, sizeof tmp);
    if (fd < 0) { free(js); return kn_fail(err, KN_EIO, "%s: cannot create: %s", path, strerror(errno)); }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = kn_write_all(fd, len8, 8) || kn_write_all(fd, js, hl) || kn_write_all(fd, "        ", padded - hl);
    free(js);
    for (int i = 0; !bad && i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= (size_t)e[i].shape[d];
        bad = kn_write_all(fd, e[i].data, numel * kn_dtype_size(e[i].dtype));
    }
    if (!bad) bad = fsync(fd) != 0;
    int saved = errno;
    if (close(fd) != 0 && !bad) { bad = 1; saved = errno; }
    if (bad || rename(tmp, path) != 0) {
        if (!bad) saved = errno;
        unlink(tmp);
        return kn_fail(err, KN_EIO, "%s: write failed: %s", path, strerror(saved));
    }
    return KN_OK;
}
