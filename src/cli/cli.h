/* src/cli: argument parsing, progress display and Ctrl-C only; everything real lives in the library.
 * Each command is `int kn_cmd_NAME(int argc, char **argv)` (argv[0] is the command name) returning
 * the process exit code: 0 success, 1 failure, 2 usage error. */
#ifndef KN_CLI_H
#define KN_CLI_H
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include "kinora/kinora.h"

int kn_cmd_check(int argc, char **argv);
int kn_cmd_convert(int argc, char **argv);
int kn_cmd_generate(int argc, char **argv);
int kn_cmd_regenerate(int argc, char **argv);
int kn_cmd_interpolate(int argc, char **argv);
int kn_cmd_eval_interp(int argc, char **argv);
int kn_cmd_serve(int argc, char **argv);
int kn_cmd_keys(int argc, char **argv);
int kn_cmd_train(int argc, char **argv);
int kn_cmd_dataset(int argc, char **argv);
int kn_cmd_eval(int argc, char **argv);

/* Small shared helpers for option parsing: return 0 on success, print an error and return -1. */
int kn_arg_int(const char *opt, const char *val, long lo, long hi, long *out);
int kn_arg_float(const char *opt, const char *val, double lo, double hi, double *out);
/* A frame rate: a number, or a fraction as FFmpeg writes rates (30000/1001). */
int kn_arg_rate(const char *opt, const char *val, double lo, double hi, double *out);
/* --codec NAME or --crf N (value val) into e: 1 when opt is one of them (*bad set, after printing
 * why, when val is missing or not a crf 0..63; the codec decides its own range later), 0 otherwise. */
int kn_arg_encoding(const char *opt, const char *val, kn_video_encoding *e, int *bad);
int kn_default_threads(void);
/* Draws one progress line on stderr, in place (\r): label, a bar of step out of total (none when
 * total <= 0), "~" before a total that is an estimate, the seconds elapsed and those left (eta < 0:
 * unknown). The caller ends the line. */
void kn_progress_line(const char *label, long long step, long long total, int estimate, double elapsed, double eta);
/* Ctrl-C and kill for a long command (interrupt.c): start, before the command makes any thread, blocks
 * SIGINT, SIGTERM and SIGHUP and sets `raised` to the signal when one comes; the command polls it,
 * stops as after an error (cleaning up) and ends with stop, which returns the signal (0: none; the
 * exit code is then 128 + it). */
typedef struct kn_interrupt {
    volatile int raised;
    int started;
    sigset_t set, old;
    pthread_t thread;
} kn_interrupt;
int kn_interrupt_start(kn_interrupt *it);
int kn_interrupt_stop(kn_interrupt *it);
/* stop, for a command that writes out: its exit code rc, or 128 + the signal that stopped it
 * (saying, after who, that out was not written). */
int kn_interrupt_finish(kn_interrupt *it, const char *who, const char *out, int rc);
/* "SIGINT", "SIGTERM" or "SIGHUP" (others: "a signal"). */
const char *kn_signal_name(int sig);

#endif
