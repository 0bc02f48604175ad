/* safetensors reader/writer, config getters, temporary folders and stream copies. */
#include "test.h"
#include "io/io.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(safetensors_roundtrip) {
    char path[] = "/tmp/kn_test_st_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[3] = {kn_f32_to_f16(1.5f), kn_f32_to_f16(-2.f), kn_f32_to_f16(0.25f)};
    kn_st_entry e[2] = {{"a", KN_F32, 2, {2, 3}, a}, {"b.half", KN_F16, 1, {3}, h}};
    kn_error err = {0};
    REQUIRE(kn_st_write(path, e, 2, NULL, &err) == KN_OK);
    kn_st_file f;
    REQUIRE(kn_st_open(path, &f, &err) == KN_OK);
    CHECK(f.ntensors == 2);
    const kn_st_tensor *t;
    int64_t want[2] = {2, 3};
    CHECK(kn_st_get(&f, "a", 2, want, &t, &err) == KN_OK);
    CHECK(t && !memcmp(t->data, a, sizeof a));
    int64_t bad[2] = {3, 2};
    CHECK(kn_st_get(&f, "a", 2, bad, &t, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "'a'") != NULL);
    float *conv;
    REQUIRE(kn_st_to_f32(kn_st_find(&f, "b.half"), &conv, &err) == KN_OK);
    CHECK(conv[0] == 1.5f && conv[1] == -2.f && conv[2] == 0.25f);
    kn_free(conv);
    kn_st_close(&f);
    unlink(path);
}

static kn_status parse_str(const char *hdr, size_t datalen, kn_error *err) {
    size_t hl = strlen(hdr);
    unsigned char *buf = calloc(1, 8 + hl + datalen);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    kn_st_file f;
    kn_status st = kn_st_parse(buf, 8 + hl + datalen, "mem", &f, err);
    if (!st) kn_st_close(&f);
    free(buf);
    return st;
}

TEST(safetensors_rejects_bad_headers) {
    kn_error err = {0};
    CHECK(parse_str("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &err) == KN_OK);
    CHECK(parse_str("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "'x'"));
    CHECK(parse_str("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, &err) == KN_EFORMAT);
    CHECK(parse_str("{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "unknown dtype"));
    CHECK(parse_str("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "overlaps"));
    CHECK(parse_str("{\"x\":", 0, &err) == KN_EFORMAT);
    unsigned char tiny[8] = {255, 255, 255, 255, 0, 0, 0, 0};
    kn_st_file f;
    CHECK(kn_st_parse(tiny, 8, "mem", &f, &err) == KN_EFORMAT);
    CHECK(strstr(err.msg, "header length"));
}

TEST(f16_bf16_conversions) {
    float vals[] = {0.f, 1.f, -1.f, 65504.f, 1e-7f, 3.14159f, -0.0001f, 1e6f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float r = kn_f16_to_f32(kn_f32_to_f16(vals[i]));
        double tol = fabs(vals[i]) * 1e-3 + 6e-8;
        if (vals[i] < 70000.f) CHECK_NEAR(r, vals[i], tol);
        float b = kn_bf16_to_f32(kn_f32_to_bf16(vals[i]));
        CHECK_NEAR(b, vals[i], fabs(vals[i]) * 8e-3 + 1e-30);
    }
    CHECK(isinf(kn_f16_to_f32(kn_f32_to_f16(1e6f))));
    CHECK(kn_f32_to_f16(1.0f) == 0x3c00);
    CHECK(kn_f32_to_bf16(1.0f) == 0x3f80);
    /* exhaustive round trip of every finite f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (kn_f32_to_f16(kn_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0);
}

TEST(config_getters) {
    json_error_t je;
    json_t *o = json_loads("{\"a\": 3, \"b\": 2.5, \"c\": \"x\", \"d\": [1,2], \"e\": null, \"f\": true}", 0, &je);
    REQUIRE(o);
    kn_error err = {0};
    long long i;
    double d;
    const char *s;
    int b;
    CHECK(kn_cfg_int(o, "t", "a", 0, &i, &err) == KN_OK && i == 3);
    CHECK(kn_cfg_int(o, "t", "e", 7, &i, &err) == KN_OK && i == 7);
    CHECK(kn_cfg_int(o, "t", "c", 0, &i, &err) == KN_EFORMAT && strstr(err.msg, "\"c\""));
    CHECK(kn_cfg_num(o, "t", "b", 0, &d, &err) == KN_OK && d == 2.5);
    CHECK(kn_cfg_str(o, "t", "c", NULL, &s, &err) == KN_OK && !strcmp(s, "x"));
    CHECK(kn_cfg_bool(o, "t", "f", 0, &b, &err) == KN_OK && b == 1);
    long long l[4];
    int n;
    CHECK(kn_cfg_int_list(o, "t", "d", l, 4, &n, &err) == KN_OK && n == 2 && l[1] == 2);
    CHECK(kn_cfg_int_list(o, "t", "a", l, 4, &n, &err) == KN_OK && n == -1 && l[0] == 3);
    json_decref(o);
}

/* A pipe's bytes copied into a file in a temporary folder and back out through another pipe; a copy
 * asked to stop, or onto an existing file, fails and leaves no file; the folder is removed whole. */
TEST(stream_copies) {
    kn_error err = {0};
    char dir[4096], path[4200], other[4200];
    REQUIRE(kn_tmp_dir(dir, sizeof dir, &err) == KN_OK);
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
    snprintf(path, sizeof path, "%s/copy", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    enum { N = 200000 };   /* more than a pipe holds: written in pieces by a child */
    unsigned char *src = malloc(N), *back = malloc(N);
    REQUIRE(src && back);
    for (int i = 0; i < N; i++) src[i] = (unsigned char)(i * 7 + i / 251);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { close(fds[0]); _exit(kn_write_all(fds[1], src, N) ? 1 : 0); }
    close(fds[1]);
    volatile int stop = 0;
    CHECK(kn_copy_fd_to_file(fds[0], "the test pipe", path, &stop, &err) == KN_OK);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    CHECK(stat(path, &sb) == 0 && sb.st_size == N);
    REQUIRE(pipe(fds) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { close(fds[0]); _exit(kn_copy_file_to_fd(path, fds[1], "the test pipe", &err) ? 1 : 0); }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got < N && (r = read(fds[0], back + got, N - got)) > 0) got += (size_t)r;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    CHECK(got == N && memcmp(src, back, N) == 0);
    /* onto an existing file: refused, and that file is left as it was */
    REQUIRE(pipe(fds) == 0);
    close(fds[1]);
    CHECK(kn_copy_fd_to_file(fds[0], "the test pipe", path, NULL, &err) == KN_EIO && strstr(err.msg, path));
    CHECK(stat(path, &sb) == 0 && sb.st_size == N);
    close(fds[0]);
    /* stop raised while the pipe is open and silent: cancelled, no file */
    REQUIRE(pipe(fds) == 0);
    stop = 1;
    CHECK(kn_copy_fd_to_file(fds[0], "the test pipe", other, &stop, &err) == KN_ECANCELLED &&
          strstr(err.msg, "the test pipe"));
    CHECK(stat(other, &sb) != 0);
    close(fds[0]);
    close(fds[1]);
    kn_remove_dir_flat(dir);
    CHECK(stat(dir, &sb) != 0);
    free(src);
    free(back);
}

TEST_MAIN_BEGIN
    RUN(safetensors_roundtrip);
    RUN(safetensors_rejects_bad_headers);
    RUN(f16_bf16_conversions);
    RUN(config_getters);
    RUN(stream_copies);
TEST_MAIN_END
