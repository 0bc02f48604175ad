/* Parity runner for kind "vae" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_vae(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'vae' is not implemented yet");
}
