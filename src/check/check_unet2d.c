/* Parity runner for kind "unet2d" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_unet2d(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'unet2d' is not implemented yet");
}
