/* kinora dataset OUT_DIR [--clips N] [--size S] [--frames F] [--seed S] [--png] [--threads N] */
#include "cli/cli.h"
#include <stdlib.h>
#include <string.h>
#include "train/dataset.h"

static void dataset_usage(FILE *f) {
    fprintf(f, "usage: kinora dataset OUT_DIR [--clips N] [--size 64] [--frames 16] [--seed S] [--png] [--threads N]\n"
               "Writes N captioned synthetic clips (emoji sprites from NotoColorEmoji moving over procedural\n"
               "backgrounds) to OUT_DIR/clips/NNNNNN/frames.u8 (frames x size x size x 3 RGB bytes; --png adds\n"
               "one PNG per frame), with OUT_DIR/captions.jsonl, train.jsonl, heldout.jsonl and dataset.json.\n"
               "The output is byte-identical for a given seed, size and frame count.\n");
}

int kn_cmd_dataset(int argc, char **argv) {
    kn_dataset_opts o = {.clips = 1000, .size = 64, .frames = 16, .seed = 0, .threads = kn_default_threads()};
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { dataset_usage(stdout); return 0; }
        else if (!strcmp(a, "--png")) o.png = 1;
        else if (!strcmp(a, "--clips")) { if (kn_arg_int(a, val, 1, 999999, &v)) return 2; o.clips = (int)v; i++; }
        else if (!strcmp(a, "--size")) { if (kn_arg_int(a, val, 16, 1024, &v)) return 2; o.size = (int)v; i++; }
        else if (!strcmp(a, "--frames")) { if (kn_arg_int(a, val, 2, 256, &v)) return 2; o.frames = (int)v; i++; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, val, 1, 256, &v)) return 2; o.threads = (int)v; i++; }
        else if (!strcmp(a, "--seed")) {
            char *end;
            if (!val || !*val || (o.seed = strtoull(val, &end, 10), *end)) {
                fprintf(stderr, "kinora: --seed needs a non-negative integer\n");
                return 2;
            }
            i++;
        } else if (a[0] == '-') { fprintf(stderr, "kinora dataset: unknown option '%s'\n", a); dataset_usage(stderr); return 2; }
        else if (!o.out_dir) o.out_dir = a;
        else { dataset_usage(stderr); return 2; }
    }
    if (!o.out_dir) { dataset_usage(stderr); return 2; }
    kn_dataset_stats s;
    kn_error err = {0};
    if (kn_dataset_write(&o, &s, &err)) { fprintf(stderr, "kinora dataset: %s\n", err.msg); return 1; }
    printf("%d clips (%d train, %d held out) of %d frames at %dx%d written to %s in %.2f s (%.0f clips/min)\n",
           o.clips, s.train, s.heldout, o.frames, o.size, o.size, o.out_dir, s.seconds,
           s.seconds > 0 ? o.clips * 60.0 / s.seconds : 0.0);
    return 0;
}
