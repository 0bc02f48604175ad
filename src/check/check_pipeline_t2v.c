/* Parity runner for kind "pipeline_t2v" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_pipeline_t2v(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'pipeline_t2v' is not implemented yet");
}
