/* Parity runner for kind "scheduler" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_scheduler(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'scheduler' is not implemented yet");
}
