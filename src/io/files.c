/* Atomic file writes, whole-file reads, directories, temporary folders, streams to and from files. */
#include "io/io.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int kn_tmp_open(const char *path, char *tmp, size_t tmpcap) {
    if ((size_t)snprintf(tmp, tmpcap, "%s.tmp-XXXXXX", path) >= tmpcap) { errno = ENAMETOOLONG; return -1; }
    int fd = mkstemp(tmp);
    if (fd >= 0) fchmod(fd, 0644);
    return fd;
}

int kn_write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

kn_status kn_write_file_atomic(const char *path, const void *data, size_t n, kn_error *err) {
    char tmp[4096];
    int fd = kn_tmp_open(path, tmp, sizeof tmp);
    if (fd < 0) return kn_fail(err, KN_EIO, "%s: cannot create: %s", path, strerror(errno));
    int bad = kn_write_all(fd, data, n) != 0;
    if (!bad && fsync(fd) != 0) bad = 1;
    int saved = errno;
    if (close(fd) != 0 && !bad) { bad = 1; saved = errno; }
    if (!bad && rename(tmp, path) != 0) { bad = 1; saved = errno; }
    if (bad) {
        unlink(tmp);
        return kn_fail(err, KN_EIO, "%s: write failed: %s", path, strerror(saved));
    }
    return KN_OK;
}

kn_status kn_read_file(const char *path, size_t max_size, char **out, size_t *n, kn_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return kn_fail(err, KN_ENOMEM, "out of memory reading %s", path); }
    for (;;) {
        if (len == cap) {
            if (cap >= max_size) { free(buf); fclose(f); return kn_fail(err, KN_EFORMAT, "%s: larger than %zu bytes", path, max_size); }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); fclose(f); return kn_fail(err, KN_ENOMEM, "out of memory reading %s", path); }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return kn_fail(err, KN_EIO, "%s: read error", path); }
    if (len > max_size) { free(buf); return kn_fail(err, KN_EFORMAT, "%s: larger than %zu bytes", path, max_size); }
    buf[len] = 0;
    *out = buf;
    if (n) *n = len;
    return KN_OK;
}

int kn_path_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int kn_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

kn_status kn_mkdirs(const char *path, kn_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return kn_fail(err, KN_EINVAL, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return kn_fail(err, KN_EIO, "%s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return kn_fail(err, KN_EIO, "%s: %s", buf, strerror(errno));
    if (!kn_path_is_dir(buf)) return kn_fail(err, KN_EIO, "%s: exists and is not a folder", buf);
    return KN_OK;
}

kn_status kn_tmp_dir(char *dir, size_t cap, kn_error *err) {
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    if ((size_t)snprintf(dir, cap, "%s/kinora-XXXXXX", base) >= cap)
        return kn_fail(err, KN_EINVAL, "TMPDIR is too long: %s", base);
    if (!mkdtemp(dir)) return kn_fail(err, KN_EIO, "cannot make a temporary folder in %s: %s", base, strerror(errno));
    return KN_OK;
}

void kn_remove_dir_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[4096];
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p) unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* How long a wait for a stalled stream lasts before *stop is read again, in ms. */
#define STOP_POLL_MS 200

kn_status kn_copy_fd_to_file(int fd, const char *what, const char *path, const volatile int *stop, kn_error *err) {
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) return kn_fail(err, KN_EIO, "%s: cannot create: %s", path, strerror(errno));
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    kn_status st = buf ? KN_OK : kn_fail(err, KN_ENOMEM, "out of memory copying %s", what);
    while (!st) {
        if (stop && *stop) { st = kn_fail(err, KN_ECANCELLED, "interrupted while reading %s", what); break; }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int ready = poll(&pf, 1, STOP_POLL_MS);
        if (ready < 0 && errno != EINTR) { st = kn_fail(err, KN_EIO, "%s: %s", what, strerror(errno)); break; }
        if (ready <= 0) continue;
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) { st = kn_fail(err, KN_EIO, "cannot read %s: %s", what, strerror(errno)); break; }
        if (r == 0) break;
        if (kn_write_all(out, buf, (size_t)r) != 0)
            st = kn_fail(err, KN_EIO, "%s: cannot hold a copy of %s: %s", path, what, strerror(errno));
    }
    free(buf);
    if (close(out) != 0 && !st)
        st = kn_fail(err, KN_EIO, "%s: cannot hold a copy of %s: %s", path, what, strerror(errno));
    if (st) unlink(path);
    return st;
}

kn_status kn_copy_file_to_fd(const char *path, int fd, const char *what, kn_error *err) {
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    kn_status st = buf ? KN_OK : kn_fail(err, KN_ENOMEM, "out of memory copying %s", path);
    while (!st) {
        ssize_t r = read(in, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { st = kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno)); break; }
        if (r == 0) break;
        if (kn_write_all(fd, buf, (size_t)r) != 0)
            st = kn_fail(err, KN_EIO, "cannot write %s: %s", what, strerror(errno));
    }
    free(buf);
    close(in);
    return st;
}
