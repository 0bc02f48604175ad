/* Measures what loading a model costs in memory: RssAnon (owned copies: converted vectors, structs)
 * and RssFile (mapped weight pages touched) from /proc/self/status after opening, and after one small
 * forward pass, next to the weight files' size. Build: make tools (build/tools/model_mem)
 * Usage: model_mem vae DIR | unet DIR [MOTION_DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include "models/blocks.h"

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') { v = atol(line + n + 1); break; }
    if (f) fclose(f);
    return v;
}

static double dir_weights_mb(const char *dir) {
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    double s = 0;
    char p[2048];
    struct stat st;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".safetensors")) { snprintf(p, sizeof p, "%s/%s", dir, e->d_name); if (!stat(p, &st)) s += st.st_size; }
    if (d) closedir(d);
    return s / 1048576.0;
}

static void report(const char *when) {
    printf("%-22s RssAnon %8.1f MB  RssFile %8.1f MB  VmHWM %8.1f MB\n", when, status_kb("RssAnon") / 1024.0,
           status_kb("RssFile") / 1024.0, status_kb("VmHWM") / 1024.0);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: model_mem vae DIR | unet DIR [MOTION_DIR]\n"); return 2; }
    kn_error err = {0};
    kn_ctx ctx = {NULL, kn_cpu_detect(), NULL};
    report("before open");
    double t0 = kn_now();
    if (!strcmp(argv[1], "vae")) {
        kn_vae *v;
        if (kn_vae_open(argv[2], &v, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        printf("weights %.1f MB, open %.3f s\n", dir_weights_mb(argv[2]), kn_now() - t0);
        report("after open");
        int h = 16, w = 16, f = kn_vae_downscale(v);
        float *z = calloc((size_t)4 * h * w, 4), *img = malloc((size_t)3 * h * f * w * f * 4);
        for (int i = 0; i < 4 * h * w; i++) z[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
        t0 = kn_now();
        if (kn_vae_decode(v, &ctx, z, 1, h, w, img, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        printf("decode 1x4x%dx%d: %.2f s (1 thread)\n", h, w, kn_now() - t0);
        report("after decode");
        printf("decode workspace: 1x4x64x64 -> 512x512: %.1f MiB; 16x4x64x64: %.1f MiB\n",
               kn_vae_decode_workspace_bytes(v, 1, 64, 64) / 1048576.0, kn_vae_decode_workspace_bytes(v, 16, 64, 64) / 1048576.0);
        free(z); free(img);
        kn_vae_close(v);
    } else {
        const char *m = argc > 3 ? argv[3] : NULL;
        kn_unet *u;
        if (kn_unet_open(argv[2], m, &u, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        printf("weights %.1f MB, open %.3f s\n", dir_weights_mb(argv[2]) + dir_weights_mb(m), kn_now() - t0);
        report("after open");
        int F = m ? 2 : 1, H = 16, W = 16, L = 77, D = kn_unet_cross_dim(u);
        size_t n = (size_t)4 * F * H * W;
        float *x = malloc(n * 4), *o = malloc(n * 4), *c = calloc((size_t)L * D, 4), t = 500;
        for (size_t i = 0; i < n; i++) x[i] = (float)((i * 13) % 7) / 7.0f - 0.5f;
        t0 = kn_now();
        if (kn_unet_forward(u, &ctx, x, 1, F, H, W, &t, c, L, o, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        printf("forward 1x4x%dx%dx%d: %.2f s (1 thread)\n", F, H, W, kn_now() - t0);
        report("after forward");
        printf("workspace: 1x4x64x64 (1 frame): %.1f MiB; 2x4x16x64x64 (CFG batch, 16 frames): %.1f MiB\n",
               kn_unet_workspace_bytes(u, 1, 1, 64, 64, 77) / 1048576.0, kn_unet_workspace_bytes(u, 2, m ? 16 : 1, 64, 64, 77) / 1048576.0);
        free(x); free(o); free(c);
        kn_unet_close(u);
    }
    return 0;
}
