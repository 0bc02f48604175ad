/* libFuzzer harness: arbitrary bytes as a service request body. The first line is taken as the
 * Content-Type; the rest goes through the multipart splitter, base64 and, as JSON, request
 * validation with tight limits. Errors are fine; crashes and sanitizer reports are not. The serve
 * sources are compiled in here because scripts/fuzz.sh links only core and io. */
#include <stdint.h>
#include <stdlib.h>
#include "serve/sha256.c"
#include "serve/params.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ctn = nl ? (size_t)(nl - data) : 0;
    char ct[256];
    if (ctn >= sizeof ct) ctn = sizeof ct - 1;
    memcpy(ct, data, ctn);
    ct[ctn] = 0;
    const uint8_t *body = nl ? nl + 1 : data;
    size_t n = size - (size_t)(body - data);
    kn_part parts[16];
    int np = kn_multipart_parse(ct, body, n, parts, 16);
    for (int i = 0; i < np; i++)
        if (parts[i].data < body || parts[i].data + parts[i].n > body + n) abort();   /* parts must lie inside */
    char *s = malloc(n + 1);
    if (!s) return 0;
    memcpy(s, body, n);
    s[n] = 0;
    size_t bn;
    free(kn_base64_decode(s, &bn));
    json_t *req = json_loadb((const char *)body, n, 0, NULL);
    if (req) {
        kn_serve_limits l;
        kn_serve_limits_default(&l);
        l.max_prompt = 64;
        l.max_frames = 32;
        l.max_pixels = 4096;
        kn_field_error fe;
        json_decref(kn_job_params(req, &l, "m", &fe));
        json_decref(req);
    }
    free(s);
    return 0;
}
