/* Parity runner for kind "unet_motion" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_unet_motion(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'unet_motion' is not implemented yet");
}
