/* kinora serve --port 8080 --data DIR [--workers N] [--threads N] [--model DIR] [limits...]
 * kinora keys create|list|revoke --data DIR ...
 * The server runs until SIGTERM or SIGINT, which drain running jobs (--drain SECONDS) and exit 0. */
#include "cli/cli.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "serve/serve.h"

static void serve_usage(FILE *f) {
    fprintf(f, "usage: kinora serve --data DIR [--port 8080] [--bind 127.0.0.1] [--workers 1] [--threads N]\n"
               "                    [--model DIR] [--drain SECONDS] [--max-body BYTES] [--max-prompt N]\n"
               "                    [--max-frames N] [--max-steps N] [--max-pixels N] [--max-queue N]\n"
               "                    [--tenant-quota N] [--rate PER_S] [--burst N]\n"
               "  --port 0 picks a free port; the chosen one is printed as 'listening on http://ADDR:PORT'.\n"
               "  --workers 0 accepts jobs without running them (maintenance).\n");
}

int kn_cmd_serve(int argc, char **argv) {
    kn_serve_config cfg = {0};
    kn_serve_limits_default(&cfg.limits);
    cfg.port = 8080;
    cfg.workers = 1;
    cfg.threads = kn_default_threads();
    cfg.drain_seconds = 30;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double d;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) { serve_usage(stdout); return 0; }
        else if (!strcmp(o, "--data")) { if (!v) break; cfg.data_dir = v; i++; }
        else if (!strcmp(o, "--model")) { if (!v) break; cfg.model_dir = v; i++; }
        else if (!strcmp(o, "--bind")) { if (!v) break; cfg.bind = v; i++; }
        else if (!strcmp(o, "--port")) { if (kn_arg_int(o, v, 0, 65535, &n)) return 2; cfg.port = (int)n; i++; }
        else if (!strcmp(o, "--workers")) { if (kn_arg_int(o, v, 0, 256, &n)) return 2; cfg.workers = (int)n; i++; }
        else if (!strcmp(o, "--threads")) { if (kn_arg_int(o, v, 1, 256, &n)) return 2; cfg.threads = (int)n; i++; }
        else if (!strcmp(o, "--drain")) { if (kn_arg_float(o, v, 0, 86400, &d)) return 2; cfg.drain_seconds = d; i++; }
        else if (!strcmp(o, "--max-body")) { if (kn_arg_int(o, v, 1024, 1L << 31, &n)) return 2; cfg.limits.max_body = (size_t)n; i++; }
        else if (!strcmp(o, "--max-prompt")) { if (kn_arg_int(o, v, 1, 1 << 20, &n)) return 2; cfg.limits.max_prompt = (int)n; i++; }
        else if (!strcmp(o, "--max-frames")) { if (kn_arg_int(o, v, 1, 100000, &n)) return 2; cfg.limits.max_frames = (int)n; i++; }
        else if (!strcmp(o, "--max-steps")) { if (kn_arg_int(o, v, 1, 10000, &n)) return 2; cfg.limits.max_steps = (int)n; i++; }
        else if (!strcmp(o, "--max-pixels")) { if (kn_arg_int(o, v, 64, 1L << 28, &n)) return 2; cfg.limits.max_pixels = n; i++; }
        else if (!strcmp(o, "--max-queue")) { if (kn_arg_int(o, v, 1, 10000000, &n)) return 2; cfg.limits.max_queue = (int)n; i++; }
        else if (!strcmp(o, "--tenant-quota")) { if (kn_arg_int(o, v, 1, 10000000, &n)) return 2; cfg.limits.tenant_quota = (int)n; i++; }
        else if (!strcmp(o, "--rate")) { if (kn_arg_float(o, v, 0, 1e6, &d)) return 2; cfg.limits.rate = d; i++; }
        else if (!strcmp(o, "--burst")) { if (kn_arg_float(o, v, 1, 1e6, &d)) return 2; cfg.limits.burst = d; i++; }
        else { fprintf(stderr, "kinora serve: unknown option '%s'\n", o); serve_usage(stderr); return 2; }
    }
    if (!cfg.data_dir) { fprintf(stderr, "kinora serve: --data DIR is required\n"); serve_usage(stderr); return 2; }
    /* Signals are taken synchronously by this thread only, so workers never see them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    kn_server *srv;
    kn_error err = {0};
    if (kn_server_start(&cfg, &srv, &err)) { fprintf(stderr, "kinora serve: %s\n", err.msg); return 1; }
    printf("listening on http://%s:%d\n", cfg.bind ? cfg.bind : "127.0.0.1", kn_server_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "kinora serve: %s: draining (up to %g s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.drain_seconds);
    kn_server_stop(srv);
    fprintf(stderr, "kinora serve: stopped\n");
    return 0;
}

static void keys_usage(FILE *f) {
    fprintf(f, "usage: kinora keys create --data DIR --tenant NAME   (prints the new key as the last line)\n"
               "       kinora keys list   --data DIR\n"
               "       kinora keys revoke --data DIR ID|PREFIX|KEY\n");
}

int kn_cmd_keys(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) { keys_usage(argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    const char *sub = argv[1], *data = NULL, *tenant = NULL, *target = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--tenant") && i + 1 < argc) tenant = argv[++i];
        else if (argv[i][0] != '-' && !target) target = argv[i];
        else { fprintf(stderr, "kinora keys: unexpected '%s'\n", argv[i]); keys_usage(stderr); return 2; }
    }
    if (!data) { fprintf(stderr, "kinora keys: --data DIR is required\n"); return 2; }
    kn_store store;
    kn_error err = {0};
    if (kn_store_open(&store, data, 0, &err)) { fprintf(stderr, "kinora keys: %s\n", err.msg); return 1; }
    int rc = 0;
    if (!strcmp(sub, "create")) {
        char key[64];
        if (!tenant) { fprintf(stderr, "kinora keys create: --tenant NAME is required\n"); rc = 2; }
        else if (kn_keys_create(&store, tenant, key, &err)) { fprintf(stderr, "kinora keys: %s\n", err.msg); rc = 1; }
        else printf("created a key for tenant '%s' (shown once; store it now):\n%s\n", tenant, key);
    } else if (!strcmp(sub, "list")) {
        json_t *a;
        if (kn_keys_list(&store, &a, &err)) { fprintf(stderr, "kinora keys: %s\n", err.msg); rc = 1; }
        else {
            size_t i;
            json_t *k;
            printf("%-6s %-24s %-12s %s\n", "ID", "TENANT", "PREFIX", "STATUS");
            json_array_foreach(a, i, k)
                printf("%-6lld %-24s kn_%-9s %s\n", (long long)json_integer_value(json_object_get(k, "id")),
                       json_string_value(json_object_get(k, "tenant")), json_string_value(json_object_get(k, "prefix")),
                       json_is_true(json_object_get(k, "revoked")) ? "revoked" : "active");
            json_decref(a);
        }
    } else if (!strcmp(sub, "revoke")) {
        int found = 0;
        if (!target) { fprintf(stderr, "kinora keys revoke: give the key's id, prefix or the key\n"); rc = 2; }
        else if (kn_keys_revoke(&store, target, &found, &err)) { fprintf(stderr, "kinora keys: %s\n", err.msg); rc = 1; }
        else if (!found) { fprintf(stderr, "kinora keys: no key matches '%s'\n", target); rc = 1; }
        else printf("revoked %d key(s)\n", found);
    } else {
        fprintf(stderr, "kinora keys: unknown subcommand '%s'\n", sub);
        keys_usage(stderr);
        rc = 2;
    }
    kn_store_close(&store);
    return rc;
}
