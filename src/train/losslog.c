/* Loss log: one CSV line per logged step, flushed so a crash loses at most the current line. */
#include "train/train.h"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>

kn_status kn_losslog_open(kn_losslog *log, const char *path, kn_error *err) {
    struct stat sb;
    int fresh = stat(path, &sb) != 0 || sb.st_size == 0;
    log->path = kn_strdup(path);
    if (!log->path) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    if (!(log->f = fopen(path, "a"))) {
        free(log->path);
        log->path = NULL;
        return kn_fail(err, KN_EIO, "%s: cannot open the loss log: %s", path, strerror(errno));
    }
    if (fresh && (fputs("step,loss,lr,grad_norm,seconds\n", log->f) < 0 || fflush(log->f)))
        return kn_fail(err, KN_EIO, "%s: write failed", path);
    return KN_OK;
}

kn_status kn_losslog_write(kn_losslog *log, int64_t step, double loss, double lr, double grad_norm,
                           double seconds, kn_error *err) {
    if (fprintf(log->f, "%" PRId64 ",%.9g,%.9g,%.9g,%.3f\n", step, loss, lr, grad_norm, seconds) < 0 || fflush(log->f))
        return kn_fail(err, KN_EIO, "%s: write failed: %s", log->path, strerror(errno));
    return KN_OK;
}

void kn_losslog_close(kn_losslog *log) {
    if (log->f) fclose(log->f);
    free(log->path);
    log->f = NULL;
    log->path = NULL;
}
