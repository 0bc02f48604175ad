/* libFuzzer harness: the engine's timing. Frames are pulled with timestamps taken from libFuzzer's
 * bytes (NaN, infinities, huge values, times going back, repeating, jumping ahead) and made into an
 * output rate by kn_interp_stream, as `interpolate --fps` does with a file's timestamps. Whatever the
 * times, the run ends with a status (a failure with a message), the sink gets frames 0, 1, 2, ... in
 * order, and no arithmetic on the times is undefined (UBSan: float-to-integer overflow included). The
 * sink stops a run after MAX_OUT frames: long gaps are the engine's to refuse or fill, not the
 * harness's to wait for.
 * Bytes: input rate (1..64 fps), output rate (1..128 fps), frame count (2..8), then a double per
 * frame (its time), then pixels (repeated as needed). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "interp/interp.h"

enum { W = 6, H = 4, MAX_FRAMES = 8, MAX_OUT = 400 };

typedef struct {
    const uint8_t *pix;
    size_t npix;
    const double *times;
    int n, next;
} fuzz_source;

static kn_status pull(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    (void)err;
    fuzz_source *s = user;
    *got = s->next < s->n;
    if (!*got) return KN_OK;
    for (int i = 0; i < W * H * 3; i++) rgb[i] = s->npix ? s->pix[(s->next * 7 + i) % s->npix] : (uint8_t)i;
    *time = s->times[s->next++];
    return KN_OK;
}

typedef struct { long long next; } fuzz_sink;

static kn_status put(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    (void)rgb;
    fuzz_sink *s = user;
    if (k != s->next) abort();   /* out of order or skipped */
    if (++s->next >= MAX_OUT) return kn_fail(err, KN_ECANCELLED, "fuzz: enough frames");
    return KN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    double in_fps = 1 + data[0] % 64, out_fps = 1 + data[1] % 128;
    int n = 2 + data[2] % (MAX_FRAMES - 1);
    data += 3; size -= 3;
    double times[MAX_FRAMES];
    for (int i = 0; i < n; i++) {
        if (size >= sizeof(double)) { memcpy(&times[i], data, sizeof(double)); data += sizeof(double); size -= sizeof(double); }
        else times[i] = NAN;
    }
    fuzz_source src = {data, size, times, n, 0};
    fuzz_sink sink = {0};
    kn_error err = {0};
    long long dropped = 0;
    kn_status st = kn_interp_stream(NULL, NULL, W, H, in_fps, pull, &src, 0, out_fps, put, &sink, &dropped, &err);
    if (st && !err.msg[0]) abort();
    if (!st && (sink.next < 1 || dropped < 0 || dropped > n - 1)) abort();
    return 0;
}
