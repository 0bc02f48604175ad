/* src/cli/interrupt.c: Ctrl-C (SIGINT), SIGTERM and SIGHUP for the long commands (cli.h). The signals
 * are blocked in every thread and taken by a watcher thread with sigwait, which only raises the
 * command's flag: the command's own loop sees it, stops and cleans up as after any error, so no
 * temporary file is left behind, and exits 128 + the signal, as a killed process would. Taking them
 * synchronously keeps the flag in the command's struct instead of a global a handler would need. */
#include "cli/cli.h"
#include <signal.h>
#include <unistd.h>

/* The first signal raises the flag; a second one, while the command is still stopping, ends the
 * process at once. */
static void *watch(void *arg) {
    kn_interrupt *it = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&it->set, &sig) != 0) return NULL;
        if (it->raised) _exit(128 + sig);
        it->raised = sig;
    }
}

int kn_interrupt_start(kn_interrupt *it) {
    it->raised = 0;
    it->started = 0;
    sigemptyset(&it->set);
    sigaddset(&it->set, SIGINT);
    sigaddset(&it->set, SIGTERM);
    sigaddset(&it->set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &it->set, &it->old) != 0) return -1;
    if (pthread_create(&it->thread, NULL, watch, it) != 0) {
        pthread_sigmask(SIG_SETMASK, &it->old, NULL);
        return -1;
    }
    it->started = 1;
    return 0;
}

int kn_interrupt_stop(kn_interrupt *it) {
    if (it->started) {
        pthread_cancel(it->thread);   /* sigwait is a cancellation point */
        pthread_join(it->thread, NULL);
        it->started = 0;
        pthread_sigmask(SIG_SETMASK, &it->old, NULL);   /* a signal still pending is delivered here */
    }
    return it->raised;
}

const char *kn_signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

int kn_interrupt_finish(kn_interrupt *it, const char *who, const char *out, int rc) {
    int sig = kn_interrupt_stop(it);
    if (!sig || rc == 0) return rc;   /* a signal after the output was written changes nothing */
    fprintf(stderr, "%s: stopped by %s; %s was not written\n", who, kn_signal_name(sig), out);
    return 128 + sig;
}
