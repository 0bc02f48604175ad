/* kinora eval --data DATASET_DIR --truth [--split heldout|train|all] [--clips N] [--threads N] [--verbose] */
#include "cli/cli.h"
#include <string.h>
#include "eval/eval.h"

static void eval_usage(FILE *f) {
    fprintf(f, "usage: kinora eval --data DATASET_DIR --truth [--split heldout|train|all] [--clips N] [--threads N] [--verbose]\n"
               "Scores clips against their captions: object identity (sprite NCC), motion class (template tracking)\n"
               "and flicker. --truth scores the data set's own clips, a self-test of the scorers; scoring\n"
               "generated videos will come with the training pipeline.\n");
}

int kn_cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *split = "heldout";
    int truth = 0, verbose = 0;
    long clips = 200, threads = kn_default_threads();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { eval_usage(stdout); return 0; }
        else if (!strcmp(a, "--truth")) truth = 1;
        else if (!strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--data") && val) { dir = val; i++; }
        else if (!strcmp(a, "--split") && val) { split = strcmp(val, "all") ? val : NULL; i++; }
        else if (!strcmp(a, "--clips")) { if (kn_arg_int(a, val, 0, 999999, &clips)) return 2; i++; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, val, 1, 256, &threads)) return 2; i++; }
        else { fprintf(stderr, "kinora eval: unexpected argument '%s'\n", a); eval_usage(stderr); return 2; }
    }
    if (!dir || !truth) {
        if (dir && !truth) fprintf(stderr, "kinora eval: only --truth (scoring the data set's own clips) exists so far\n");
        eval_usage(stderr);
        return 2;
    }
    kn_eval_report r;
    kn_error err = {0};
    if (kn_eval_truth(dir, split, (int)clips, (int)threads, verbose ? stdout : NULL, &r, &err)) {
        fprintf(stderr, "kinora eval: %s\n", err.msg);
        return 1;
    }
    printf("split: %s\n", split ? split : "all");
    kn_eval_print(&r, stdout);
    return 0;
}
