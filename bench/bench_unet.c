/* One UNet call at real size: a UNet2DConditionModel folder plus a MotionAdapter folder (the Stable
 * Diffusion 1.5 UNet and AnimateDiff motion modules, tools/torch_unet_ref.py big), latents
 * [1, 4, F, H/8, W/8], timestep 500, a [1, 77, 768] context. Writes the inputs and the output to
 * IO_FILE (safetensors) so tools/bench_unet_torch.py can run the same call and compare; prints the
 * median of REPS timed calls after one warm-up, the peak resident memory and the weight files' size.
 * Usage: bench_unet UNET_DIR MOTION_DIR IO_FILE [threads=2] [reps=3] [frames=16] [latent=32] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "io/io.h"
#include "models/blocks.h"
#include "models/models.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double dir_bytes(const char *dir) {
    DIR *d = opendir(dir);
    double s = 0;
    if (!d) return 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".safetensors") && !stat(p, &sb)) s += (double)sb.st_size;
    }
    closedir(d);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: bench_unet UNET_DIR MOTION_DIR IO_FILE [threads] [reps] [frames] [latent]\n"); return 2; }
    int threads = argc > 4 ? atoi(argv[4]) : 2, reps = argc > 5 ? atoi(argv[5]) : 3;
    int F = argc > 6 ? atoi(argv[6]) : 16, S = argc > 7 ? atoi(argv[7]) : 32, L = 77;
    if (threads < 1 || reps < 1 || reps > 50 || F < 1 || S < 8) { fprintf(stderr, "bench_unet: bad arguments\n"); return 2; }
    kn_error err = {0};
    double t0 = kn_now();
    kn_unet *u;
    if (kn_unet_open(argv[1], argv[2], &u, &err)) { fprintf(stderr, "bench_unet: %s\n", err.msg); return 1; }
    double t_open = kn_now() - t0;
    int D = kn_unet_cross_dim(u), C = kn_unet_in_channels(u);
    size_t n = (size_t)C * F * S * S;
    float *x = kn_malloc(n * sizeof(float)), *ctxt = kn_malloc((size_t)L * D * sizeof(float));
    float *out = kn_malloc(n * sizeof(float)), t = 500.0f;
    if (!x || !ctxt || !out) { fprintf(stderr, "bench_unet: out of memory\n"); return 1; }
    kn_randn(x, n, 11, 0);
    kn_randn(ctxt, (size_t)L * D, 11, 1);
    kn_pool *pool;
    if (kn_pool_create(threads, &pool, &err)) { fprintf(stderr, "bench_unet: %s\n", err.msg); return 1; }
    kn_arena arena;
    if (kn_arena_init(&arena, kn_unet_workspace_bytes(u, 1, F, S, S, L) + ((size_t)256 << 20), &err)) {
        fprintf(stderr, "bench_unet: %s\n", err.msg);
        return 1;
    }
    kn_ctx ctx = {pool, kn_cpu_detect(), &arena};
    double times[64];
    for (int r = 0; r <= reps; r++) {
        double a = kn_now();
        if (kn_unet_forward(u, &ctx, x, 1, F, S, S, &t, ctxt, L, out, &err)) { fprintf(stderr, "bench_unet: %s\n", err.msg); return 1; }
        double dt = kn_now() - a;
        if (r > 0) times[r - 1] = dt;
        fprintf(stderr, "kinora call %d: %.2f s%s\n", r, dt, r == 0 ? " (warm-up)" : "");
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_d);
    double med = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t sx[5] = {1, C, F, S, S}, sc[3] = {1, L, D}, st1[1] = {1};
    kn_st_entry e[4] = {{"sample", KN_F32, 5, {0}, x}, {"context", KN_F32, 3, {0}, ctxt}, {"timestep", KN_F32, 1, {0}, &t},
                        {"out", KN_F32, 5, {0}, out}};
    memcpy(e[0].shape, sx, sizeof sx);
    memcpy(e[1].shape, sc, sizeof sc);
    memcpy(e[2].shape, st1, sizeof st1);
    memcpy(e[3].shape, sx, sizeof sx);
    if (kn_st_write(argv[3], e, 4, NULL, &err)) { fprintf(stderr, "bench_unet: %s\n", err.msg); return 1; }
    double wb = dir_bytes(argv[1]) + dir_bytes(argv[2]);
    printf("kinora_unet_call_s %.3f\n", med);
    printf("kinora_peak_rss_mib %.0f\n", ru.ru_maxrss / 1024.0);
    printf("weights_mib %.0f\n", wb / (1024.0 * 1024.0));
    printf("kinora_open_s %.2f\n", t_open);
    printf("threads %d reps %d shape 1x%dx%dx%dx%d\n", threads, reps, C, F, S, S);
    kn_unet_close(u);
    kn_pool_destroy(pool);
    kn_arena_free(&arena);
    kn_free(x); kn_free(ctxt); kn_free(out);
    return 0;
}
