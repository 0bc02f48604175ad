/* src/cli: argument parsing and progress display only; everything real lives in the library.
 * Each command is `int kn_cmd_NAME(int argc, char **argv)` (argv[0] is the command name) returning
 * the process exit code: 0 success, 1 failure, 2 usage error. */
#ifndef KN_CLI_H
#define KN_CLI_H
#include <stdio.h>

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
int kn_default_threads(void);
/* Draws one progress line on stderr, in place (\r): label, a bar of step out of total (none when
 * total <= 0), "~" before a total that is an estimate, the seconds elapsed and those left (eta < 0:
 * unknown). The caller ends the line. */
void kn_progress_line(const char *label, long long step, long long total, int estimate, double elapsed, double eta);
/* Bytes of memory the system can still give (MemAvailable in /proc/meminfo); 0 when unknown. */
double kn_available_memory(void);

#endif
