/* kinora eval --data DATASET_DIR (--truth | --model DIR) [--split heldout|train|all] [--clips N] ... */
#include "cli/cli.h"
#include <string.h>
#include <unistd.h>
#include "eval/eval.h"

static void eval_usage(FILE *f) {
    fprintf(f, "usage: kinora eval --data DATASET_DIR --truth [--vae DIR] [--split heldout|train|all] [--clips N] [--threads N]\n"
               "                   [--verbose]\n"
               "       kinora eval --data DATASET_DIR --model DIR [--split heldout] [--skip 0] [--clips 200] [--steps 25] [--guidance G]\n"
               "                   [--motion-guidance M] [--sampler NAME]\n"
               "                   [--keyframes 8] [--seed S] [--grid OUT.png] [--clips-out DIR] [--threads N] [--verbose]\n"
               "Scores clips against their captions with no learned judge: object identity (sprite NCC), motion\n"
               "class (template tracking) and flicker. --truth scores the data set's own clips (a self-test of the\n"
               "scorers); with --vae (an AutoencoderKL folder, e.g. models/default/vae) each clip is first encoded\n"
               "and decoded by it, the most a model decoding through it can score; --model generates each caption's keyframes (seed S + clip index, the data set's size)\n"
               "and scores those. --grid writes the first 8 clips' keyframes as a PNG grid (captions in OUT.png.txt).\n"
               "--clips-out DIR keeps the generated keyframes as a data set folder, to score again with --truth --data DIR.\n"
               "--guidance and --motion-guidance default to the model's own, --sampler to its scheduler (see kinora\n"
               "generate --help).\n"
               "--skip N passes over the split's first N clips (seeds still count from the split's first clip), so\n"
               "settings can be chosen on clips 200.. and reported on clips 0..199 without overlap.\n");
}

int kn_cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *split = "heldout", *model = NULL, *sampler = NULL, *grid = NULL, *vae = NULL, *clips_out = NULL;
    int truth = 0, verbose = 0;
    long clips = 200, skip = 0, threads = kn_default_threads(), steps = 25, keyframes = 8, seed = 0;
    double guidance = -1, motion_guidance = -1;   /* < 0: the model's recommended value */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { eval_usage(stdout); return 0; }
        else if (!strcmp(a, "--truth")) truth = 1;
        else if (!strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--data") && val) { dir = val; i++; }
        else if (!strcmp(a, "--model") && val) { model = val; i++; }
        else if (!strcmp(a, "--vae") && val) { vae = val; i++; }
        else if (!strcmp(a, "--grid") && val) { grid = val; i++; }
        else if (!strcmp(a, "--sampler") && val) { sampler = val; i++; }
        else if (!strcmp(a, "--clips-out") && val) { clips_out = val; i++; }
        else if (!strcmp(a, "--steps")) { if (kn_arg_int(a, val, 1, 1000, &steps)) return 2; i++; }
        else if (!strcmp(a, "--keyframes")) { if (kn_arg_int(a, val, 2, 64, &keyframes)) return 2; i++; }
        else if (!strcmp(a, "--seed")) { if (kn_arg_int(a, val, 0, 2147483647L, &seed)) return 2; i++; }
        else if (!strcmp(a, "--guidance")) { if (kn_arg_float(a, val, 0, 100, &guidance)) return 2; i++; }
        else if (!strcmp(a, "--motion-guidance")) { if (kn_arg_float(a, val, 0, 100, &motion_guidance)) return 2; i++; }
        else if (!strcmp(a, "--split") && val) { split = strcmp(val, "all") ? val : NULL; i++; }
        else if (!strcmp(a, "--skip")) { if (kn_arg_int(a, val, 0, 999999, &skip)) return 2; i++; }
        else if (!strcmp(a, "--clips")) { if (kn_arg_int(a, val, 0, 999999, &clips)) return 2; i++; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, val, 1, 256, &threads)) return 2; i++; }
        else { fprintf(stderr, "kinora eval: unexpected argument '%s'\n", a); eval_usage(stderr); return 2; }
    }
    if (!dir || truth == (model != NULL)) {
        if (dir) fprintf(stderr, "kinora eval: give exactly one of --truth and --model DIR\n");
        eval_usage(stderr);
        return 2;
    }
    if (vae && !truth) {
        fprintf(stderr, "kinora eval: --vae goes with --truth (a --model is scored through its own autoencoder)\n");
        return 2;
    }
    kn_eval_report r;
    kn_error err = {0};
    if (model) {
        kn_eval_gen_opts o = {model, dir, split, (int)clips, (int)steps, (int)keyframes, (int)threads, (float)guidance,
                              (uint64_t)seed, grid, isatty(2), (float)motion_guidance, clips_out, (int)skip, sampler};
        if (kn_eval_generated(&o, verbose ? stdout : NULL, &r, &err)) { fprintf(stderr, "kinora eval: %s\n", err.msg); return 1; }
        printf("model: %s\nsplit: %s\nguidance: %g, motion guidance: %g, %ld steps, sampler: %s\n", model,
               split ? split : "all", (double)r.guidance, (double)r.motion_guidance, steps, r.sampler[0] ? r.sampler : "the scheduler config's");
        kn_eval_print(&r, stdout);
        return 0;
    }
    if (kn_eval_truth(dir, split, (int)clips, (int)threads, vae, verbose ? stdout : NULL, &r, &err)) {
        fprintf(stderr, "kinora eval: %s\n", err.msg);
        return 1;
    }
    printf("split: %s\n", split ? split : "all");
    if (vae) printf("through the autoencoder: %s\n", vae);
    kn_eval_print(&r, stdout);
    return 0;
}
