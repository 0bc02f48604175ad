/* Parity runner for kind "tokenizer" (not implemented yet: reported as UNSUPPORTED). */
#include "check/check.h"

kn_status kn_check_tokenizer(kn_check_case *c, kn_error *err) {
    (void)c;
    return kn_fail(err, KN_EUNSUPPORTED, "kind 'tokenizer' is not implemented yet");
}
