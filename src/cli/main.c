/* kinora: command dispatch. */
#include "cli/cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/media.h"
#include "kinora/kinora.h"

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } command;

static const command commands[] = {
    {"generate", kn_cmd_generate, "PROMPT -o OUT  text-to-video (and image-to-video with --image)"},
    {"regenerate", kn_cmd_regenerate, "--from DIR -o OUT  rebuild a video from corrected keyframes"},
    {"check", kn_cmd_check, "DIR...  run parity cases (case.json + io.safetensors) found under DIRs"},
    {"convert", kn_cmd_convert, "IN_DIR OUT_DIR --dtype f16|bf16|f32  copy a model folder converting its weights"},
    {"dataset", kn_cmd_dataset, "OUT_DIR  write the synthetic captioned training clips (emoji sprites in motion)"},
    {"eval-interp", kn_cmd_eval_interp, "VIDEO... [--frames N]  score interpolation vs duplication, blend, minterpolate"},
    {"eval", kn_cmd_eval, "--data DIR --truth  score clips against their captions (object, motion, flicker)"},
    {"interpolate", kn_cmd_interpolate, "IN -o OUT (--factor N | --fps F)  optical-flow frame interpolation"},
    {"keys", kn_cmd_keys, "create|list|revoke --data DIR  manage the service's API keys"},
    {"train", kn_cmd_train, "--stage S --init DIR --data DIR --out DIR  train the models (vae, image, motion, joint)"},
    {"serve", kn_cmd_serve, "--data DIR [--port 8080] [--model DIR]  run the HTTP generation service"},
};

static void usage(FILE *f) {
    fprintf(f, "kinora %s: text-to-video and image-to-video\n\nusage: kinora COMMAND [options]\n\ncommands:\n", KN_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`kinora COMMAND --help` describes a command's options.\n");
}

void kn_progress_line(const char *label, long long step, long long total, int estimate, double elapsed,
                      double eta) {
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    long long fill = total > 0 ? (step < total ? step : total) * WIDTH / total : 0;
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = 0;
    char left[32] = "";
    if (eta >= 0) snprintf(left, sizeof left, "  ETA %5.1fs", eta);
    if (total > 0)
        fprintf(stderr, "\r%-11s [%s] %3lld/%s%-3lld  %5.1fs elapsed%s ", label, bar, step, estimate ? "~" : "", total,
                elapsed, left);
    else
        fprintf(stderr, "\r%-11s %lld  %5.1fs elapsed ", label, step, elapsed);
    fflush(stderr);
}

int kn_arg_int(const char *opt, const char *val, long lo, long hi, long *out) {
    if (!val) { fprintf(stderr, "kinora: %s needs a value\n", opt); return -1; }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || *end || end == val || v < lo || v > hi) {
        fprintf(stderr, "kinora: %s must be an integer from %ld to %ld (got '%s')\n", opt, lo, hi, val);
        return -1;
    }
    *out = v;
    return 0;
}

int kn_arg_encoding(const char *opt, const char *val, kn_video_encoding *e, int *bad) {
    long crf;
    *bad = 0;
    if (!strcmp(opt, "--codec")) {
        if (!val) { fprintf(stderr, "kinora: %s needs a value\n", opt); *bad = 1; }
        e->codec = val;
    } else if (!strcmp(opt, "--crf")) {
        *bad = kn_arg_int(opt, val, 0, 63, &crf) != 0;
        if (!*bad) e->crf = (int)crf;
    } else {
        return 0;
    }
    return 1;
}

int kn_arg_rate(const char *opt, const char *val, double lo, double hi, double *out) {
    const char *slash = val ? strchr(val, '/') : NULL;
    if (!slash) return kn_arg_float(opt, val, lo, hi, out);
    char *end1, *end2;
    errno = 0;
    double num = strtod(val, &end1), den = strtod(slash + 1, &end2);
    double v = den > 0 ? num / den : NAN;
    if (errno || end1 != slash || *end2 || end2 == slash + 1 || !(v >= lo && v <= hi)) {
        fprintf(stderr, "kinora: %s must be a rate from %g to %g, as a number or a fraction like 30000/1001 "
                        "(got '%s')\n", opt, lo, hi, val);
        return -1;
    }
    *out = v;
    return 0;
}

int kn_arg_float(const char *opt, const char *val, double lo, double hi, double *out) {
    if (!val) { fprintf(stderr, "kinora: %s needs a value\n", opt); return -1; }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || *end || end == val || !(v >= lo && v <= hi)) {
        fprintf(stderr, "kinora: %s must be a number from %g to %g (got '%s')\n", opt, lo, hi, val);
        return -1;
    }
    *out = v;
    return 0;
}

int kn_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    kn_media_quiet();   /* FFmpeg's log level is process-wide: the program, not the library, sets it */
    if (!strcmp(argv[1], "--version")) { printf("kinora %s\n", KN_VERSION); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kinora: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
