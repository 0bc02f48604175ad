/* libFuzzer harness: kn_st_parse on arbitrary bytes, then every accessor on what it accepted. Any
 * sanitizer report or crash is a bug in src/io/safetensors.c (or what it calls). */
#include <stdint.h>
#include <stdlib.h>
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kn_st_file f;
    kn_error err;
    if (kn_st_parse(data, size, "fuzz.safetensors", &f, &err)) return 0;
    for (int i = 0; i < f.ntensors; i++) {
        const kn_st_tensor *t = &f.tensors[i];
        if (kn_st_find(&f, t->name) != t) abort();   /* names are unique and sorted */
        int64_t shape[8];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (kn_st_get(&f, t->name, t->ndim, shape, NULL, &err)) abort();
        float *v;
        if (!kn_st_to_f32(t, &v, &err)) {
            volatile float sink = 0;
            for (int64_t k = 0; k < kn_st_numel(t); k++) sink += v[k];
            (void)sink;
            kn_free(v);
        }
    }
    kn_st_find(&f, "missing");
    kn_st_close(&f);
    return 0;
}
