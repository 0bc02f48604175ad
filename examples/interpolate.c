/* A program built against the installed library (pkg-config kinora), using only the public API:
 * doubles the frame rate of a video, as `kinora interpolate IN -o OUT --factor 2` does.
 *   cc interpolate.c $(pkg-config --cflags --libs kinora) -o interpolate
 *   ./interpolate IN OUT [FACTOR] */
#include <stdio.h>
#include <stdlib.h>
#include <kinora/kinora.h>

static int show(void *user, kn_stage stage, int step, int total) {
    (void)user; (void)stage;
    fprintf(stderr, "\rframe %d of %d", step, total);
    return 0;   /* nonzero would cancel */
}

static void tell(void *user, const char *text) {
    (void)user;
    fprintf(stderr, "note: %s\n", text);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s IN OUT [FACTOR]\n", argv[0]);
        return 2;
    }
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    if (argc == 4) p.factor = atoi(argv[3]);
    p.threads = 2;
    p.progress = show;
    p.note = tell;
    kn_interpolate_result r;
    kn_error err;
    if (kn_interpolate_file(argv[1], argv[2], &p, &r, &err)) {
        fprintf(stderr, "\n%s: %s\n", kn_status_name(err.code), err.msg);
        return 1;
    }
    fprintf(stderr, "\n%lld frames at %g fps -> %lld frames at %g fps\n", r.frames_in, r.fps_in, r.frames_out,
            r.fps_out);
    return 0;
}
