/* Loss-curve plot: lines drawn into an RGB buffer, written as PNG. */
#include "train/train.h"
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "io/io.h"
#include "io/media.h"

typedef struct { uint8_t *rgb; int w, h; } canvas;

/* The PNG bytes come from the media module's encoder; data-set frames skip the fsync because a
 * data set is rebuilt from its seed, and thousands of small files would otherwise dominate. */
kn_status kn_train_write_png(const char *path, const uint8_t *rgb, int width, int height, int sync, kn_error *err) {
    uint8_t *buf;
    size_t n;
    kn_status st = kn_png_encode(path, rgb, width, height, &buf, &n, err);
    if (st) return st;
    if (sync) {
        st = kn_write_file_atomic(path, buf, n, err);
        free(buf);
        return st;
    }
    char tmp[4096];
    int fd = kn_tmp_open(path, tmp, sizeof tmp);
    if (fd < 0) { free(buf); return kn_fail(err, KN_EIO, "%s: cannot create a temporary file", path); }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(buf);
    if (close(fd) != 0 || off != n || rename(tmp, path) != 0) {
        unlink(tmp);
        return kn_fail(err, KN_EIO, "%s: write failed", path);
    }
    return KN_OK;
}

static void put(canvas *c, int x, int y, const uint8_t col[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->rgb + ((size_t)y * c->w + x) * 3, col, 3);
}

static void line(canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3]) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        put(c, x0, y0, col);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) { e += dy; x0 += sx; }
        if (e2 <= dx) { e += dx; y0 += sy; }
    }
}

static kn_status read_csv(const char *path, double **xs, double **ys, int *n, kn_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return kn_fail(err, KN_EIO, "%s: cannot open", path);
    int cap = 1024, k = 0;
    double *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
    char buf[512];
    kn_status st = KN_OK;
    if (!x || !y) { st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path); goto done; }
    while (fgets(buf, sizeof buf, f)) {
        double s, l;
        if (sscanf(buf, "%lf,%lf", &s, &l) != 2 || !isfinite(l)) continue;   /* header, partial lines */
        if (k == cap) {
            cap *= 2;
            double *nx = realloc(x, cap * sizeof *x), *ny = nx ? realloc(y, cap * sizeof *y) : NULL;
            if (nx) x = nx;
            if (ny) y = ny;
            if (!nx || !ny) { st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path); goto done; }
        }
        x[k] = s;
        y[k++] = l;
    }
    if (!k) st = kn_fail(err, KN_EFORMAT, "%s: no step,loss rows", path);
done:
    fclose(f);
    if (st) { free(x); free(y); return st; }
    *xs = x; *ys = y; *n = k;
    return KN_OK;
}

kn_status kn_plot_loss_csv(const char *csv_path, const char *png_path, int width, int height, kn_error *err) {
    if (width < 64 || height < 48 || width > 8192 || height > 8192)
        return kn_fail(err, KN_EINVAL, "plot size %dx%d out of range", width, height);
    double *xs, *ys;
    int n;
    kn_status st = read_csv(csv_path, &xs, &ys, &n, err);
    if (st) return st;
    canvas c = {malloc((size_t)width * height * 3), width, height};
    if (!c.rgb) { free(xs); free(ys); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    memset(c.rgb, 255, (size_t)width * height * 3);
    double x0 = xs[0], x1 = xs[n - 1], lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) { if (ys[i] < lo) lo = ys[i]; if (ys[i] > hi) hi = ys[i]; }
    int logy = lo > 0 && hi / lo > 10;
    double ylo = logy ? log10(lo) : lo, yhi = logy ? log10(hi) : hi;
    if (yhi - ylo < 1e-12) { yhi += 0.5; ylo -= 0.5; }
    if (x1 <= x0) x1 = x0 + 1;
    const int ml = 8, mr = 8, mt = 8, mb = 8;
    int pw = width - ml - mr, ph = height - mt - mb;
    const uint8_t axis[3] = {0, 0, 0}, grid[3] = {225, 225, 225}, raw[3] = {160, 190, 240}, avg[3] = {20, 50, 170};
    for (int k = 1; k < 4; k++) line(&c, ml, mt + ph * k / 4, ml + pw, mt + ph * k / 4, grid);
    if (logy)   /* decade lines */
        for (double d = ceil(ylo); d <= yhi; d += 1) {
            int y = mt + ph - (int)lround((d - ylo) / (yhi - ylo) * ph);
            line(&c, ml, y, ml + pw, y, grid);
        }
    line(&c, ml, mt, ml, mt + ph, axis);
    line(&c, ml, mt + ph, ml + pw, mt + ph, axis);
    int win = n / 50 > 1 ? n / 50 : 1;
    int px = -1, py = -1, qx = -1, qy = -1;
    for (int i = 0; i < n; i++) {
        int x = ml + (int)lround((xs[i] - x0) / (x1 - x0) * pw);
        double vy = logy ? log10(ys[i]) : ys[i];
        int y = mt + ph - (int)lround((vy - ylo) / (yhi - ylo) * ph);
        if (px >= 0) line(&c, px, py, x, y, raw); else put(&c, x, y, raw);
        px = x; py = y;
    }
    /* the average on top so the raw noise does not hide it */
    double run = 0;
    for (int i = 0; i < n; i++) {
        run += ys[i];
        if (i >= win) run -= ys[i - win];
        double mean = run / (i + 1 < win ? i + 1 : win);
        int x = ml + (int)lround((xs[i] - x0) / (x1 - x0) * pw);
        double vm = logy ? log10(mean) : mean;
        int ym = mt + ph - (int)lround((vm - ylo) / (yhi - ylo) * ph);
        if (qx >= 0) line(&c, qx, qy, x, ym, avg); else put(&c, x, ym, avg);
        qx = x; qy = ym;
    }
    st = kn_train_write_png(png_path, c.rgb, width, height, 1, err);
    free(c.rgb);
    free(xs);
    free(ys);
    return st;
}
