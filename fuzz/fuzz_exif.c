/* libFuzzer harness: arbitrary bytes as the EXIF data of a JPEG APP1 marker (src/io/image.c). The
 * parser must stay inside the bytes it is given and answer an orientation in 1..8, which then turns a
 * small image without reading or writing outside it. */
#include <stdint.h>
#include <stdlib.h>
#include "io/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int o = kn_exif_orientation(data, size);
    if (o < 1 || o > 8) abort();
    uint8_t src[5 * 3 * 3], dst[5 * 3 * 3];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)i;
    kn_rgb_orient(src, 5, 3, o, dst);
    return 0;
}
