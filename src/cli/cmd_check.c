/* kinora check DIR... */
#include "cli/cli.h"
#include <stdlib.h>
#include <string.h>
#include "check/check.h"

int kn_cmd_check(int argc, char **argv) {
    long threads = kn_default_threads();
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    int np = 0;
    if (!paths) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads")) {
            if (kn_arg_int("--threads", i + 1 < argc ? argv[i + 1] : NULL, 1, 256, &threads)) { free(paths); return 2; }
            i++;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: kinora check [--threads N] DIR...\n"
                   "Runs every case folder (case.json + io.safetensors) under each DIR and prints one line per\n"
                   "case: name, kind, max error, tolerance, PASS/FAIL/UNSUPPORTED. Exit 0 only if all pass.\n");
            free(paths);
            return 0;
        } else paths[np++] = argv[i];
    }
    if (!np) { fprintf(stderr, "usage: kinora check [--threads N] DIR...\n"); free(paths); return 2; }
    int total = 0;
    int bad = kn_check_run(paths, np, (int)threads, stdout, &total);
    free(paths);
    if (bad < 0) return 1;
    printf("%d cases: %d passed, %d not passed\n", total, total - bad, bad);
    if (total == 0) { fprintf(stderr, "kinora check: no case folders (case.json) found\n"); return 1; }
    return bad ? 1 : 0;
}
