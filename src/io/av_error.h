/* src/io/av_error.h: an FFmpeg error code as a Kinora status, for the files of src/io that call
 * FFmpeg. Contract: the message is "path: what: FFmpeg's own words"; out of memory is KN_ENOMEM,
 * anything else the caller's `other` (KN_EIO for writing, KN_EFORMAT for a file that does not
 * decode). */
#ifndef KN_AV_ERROR_H
#define KN_AV_ERROR_H
#include <libavutil/error.h>
#include "core/core.h"

static inline kn_status kn_av_fail(kn_error *err, kn_status other, const char *path, const char *what, int e) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(e, buf, sizeof buf);
    return kn_fail(err, e == AVERROR(ENOMEM) ? KN_ENOMEM : other, "%s: %s: %s", path, what, buf);
}

#endif
