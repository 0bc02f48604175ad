/* Parity runner for kind "clip_text" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_clip_text(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'clip_text' is not implemented yet");
}
