/*
 * bench_load: weight loading throughput from the page cache into device
 * buffers, against reading the same file with `cat FILE > /dev/null`.
 *
 *   bench_load [--file PATH] [--mb SIZE] [--reps N] [--keep]
 *
 * Writes (once) a safetensors file of SIZE MiB (default 1536) made of F16
 * [4096, 4096] tensors (32 MiB each) plus a few small odd-sized ones, warms
 * the page cache, then times, best of N (default 3):
 *   cat      `cat FILE > /dev/null` (the reference)
 *   read     read(2) of the whole file into one 1 MiB buffer
 *   copy     mlxc_weights_open + load_all with MLXC_LOAD_COPY: a fresh
 *            buffer per tensor, written in 16 MiB chunks
 *   wrap     load_all zero copy (CPU backend), then one read per 4 KiB page
 *            of every buffer so the mapping is really faulted in
 * The device is MLXC_BACKEND's (auto: CUDA when present, else CPU).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mlxc/mlxc.h"
#include "mlxc/weights.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int write_file(const char *path, size_t mb) {
    size_t big = (size_t)4096 * 4096 * 2, nbig = mb * ((size_t)1 << 20) / big;
    if (nbig == 0) nbig = 1;
    /* header: nbig big tensors then 3 small ones with odd sizes */
    size_t cap = 256 * (nbig + 8), o = 0;
    char *h = malloc(cap);
    uint64_t off = 0;
    o += (size_t)snprintf(h + o, cap - o, "{\"__metadata__\":{\"format\":\"mlxc-bench\"}");
    for (size_t i = 0; i < nbig; i++) {
        o += (size_t)snprintf(h + o, cap - o,
                              ",\"layers.%zu.weight\":{\"dtype\":\"F16\",\"shape\":[4096,4096],\"data_offsets\":[%llu,%llu]}",
                              i, (unsigned long long)off, (unsigned long long)(off + big));
        off += big;
    }
    static const size_t small[3] = {3 * 2, 4096 * 4, 1000 * 2};
    static const char *const sdt[3] = {"F16", "F32", "BF16"};
    static const size_t sel[3] = {3, 4096, 1000};
    for (int i = 0; i < 3; i++) {
        o += (size_t)snprintf(h + o, cap - o, ",\"small.%d\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[%llu,%llu]}",
                              i, sdt[i], sel[i], (unsigned long long)off, (unsigned long long)(off + small[i]));
        off += small[i];
    }
    o += (size_t)snprintf(h + o, cap - o, "}");
    while ((8 + o) % 8) h[o++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); free(h); return 1; }
    uint64_t hl = o;
    fwrite(&hl, 8, 1, f);
    fwrite(h, 1, o, f);
    free(h);
    size_t chunk = (size_t)1 << 20;
    uint16_t *buf = malloc(chunk);
    uint32_t x = 12345;
    for (uint64_t done = 0; done < off; done += chunk) {
        for (size_t i = 0; i < chunk / 2; i++) { x = x * 1664525u + 1013904223u; buf[i] = (uint16_t)(0x3c00 ^ (x >> 22)); }
        size_t n = off - done < chunk ? (size_t)(off - done) : chunk;
        if (fwrite(buf, 1, n, f) != n) { perror("write"); fclose(f); free(buf); return 1; }
    }
    free(buf);
    fclose(f);
    return 0;
}

static double time_read(const char *path, uint64_t *bytes) {
    int fd = open(path, O_RDONLY);
    size_t chunk = (size_t)1 << 20;
    char *buf = malloc(chunk);
    double t = now_s();
    ssize_t r;
    *bytes = 0;
    while ((r = read(fd, buf, chunk)) > 0) *bytes += (uint64_t)r;
    t = now_s() - t;
    close(fd);
    free(buf);
    return t;
}

int main(int argc, char **argv) {
    const char *path = "/tmp/mlxc_bench_load.safetensors";
    size_t mb = 1536;
    int reps = 3;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--file") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep")) keep = true;
        else { fprintf(stderr, "usage: bench_load [--file PATH] [--mb SIZE] [--reps N] [--keep]\n"); return 2; }
    }
    struct stat sb;
    bool made = false;
    if (stat(path, &sb) != 0) {
        printf("writing %s (%zu MiB)...\n", path, mb);
        if (write_file(path, mb)) return 1;
        made = true;
        stat(path, &sb);
    }
    uint64_t fbytes = (uint64_t)sb.st_size, rb;
    time_read(path, &rb);   /* warm the page cache */
    time_read(path, &rb);

    mlxc_device *dev;
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev) != MLXC_OK) { fprintf(stderr, "%s\n", mlxc_last_error()); return 1; }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cat '%s' > /dev/null", path);
    double best_cat = 1e9, best_read = 1e9, best_copy = 1e9, best_wrap = 1e9, best_open = 1e9;
    uint64_t tbytes = 0;
    size_t ntensors = 0;
    for (int r = 0; r < reps; r++) {
        double t = now_s();
        if (system(cmd) != 0) { fprintf(stderr, "cat failed\n"); return 1; }
        t = now_s() - t;
        if (t < best_cat) best_cat = t;
        t = time_read(path, &rb);
        if (t < best_read) best_read = t;

        for (int mode = 0; mode < 2; mode++) {
            mlxc_weights *w;
            double t0 = now_s();
            if (mlxc_weights_open(path, &w) != MLXC_OK) { fprintf(stderr, "%s\n", mlxc_last_error()); return 1; }
            double to = now_s() - t0;
            if (to < best_open) best_open = to;
            ntensors = mlxc_weights_count(w);
            tbytes = mlxc_weights_total_bytes(w);
            mlxc_buffer **bufs = calloc(ntensors, sizeof *bufs);
            mlxc_load_options opt = {.flags = mode == 0 ? MLXC_LOAD_COPY : 0};
            t0 = now_s();
            if (mlxc_weights_load_all(w, dev, &opt, bufs) != MLXC_OK) { fprintf(stderr, "%s\n", mlxc_last_error()); return 1; }
            mlxc_device_synchronize(dev);
            volatile uint64_t sink = 0;
            if (mode == 1)
                for (size_t i = 0; i < ntensors; i++) {
                    const uint8_t *p = mlxc_buffer_host_ptr(bufs[i]);
                    size_t n = mlxc_buffer_bytes(bufs[i]);
                    for (size_t k = 0; p && k < n; k += 4096) sink += p[k];
                }
            double tl = now_s() - t0;
            (void)sink;
            if (mode == 0 && tl < best_copy) best_copy = tl;
            if (mode == 1 && tl < best_wrap) best_wrap = tl;
            for (size_t i = 0; i < ntensors; i++) mlxc_buffer_release(bufs[i]);
            free(bufs);
            mlxc_weights_close(w);
        }
    }
    double gb = (double)fbytes / 1e9, tgb = (double)tbytes / 1e9;
    printf("file %s: %.3f GB, %zu tensors (%.3f GB of tensor data), device %s, best of %d\n", path, gb, ntensors,
           tgb, mlxc_device_name(dev), reps);
    printf("%-44s %8.3f s %8.2f GB/s\n", "cat FILE > /dev/null", best_cat, gb / best_cat);
    printf("%-44s %8.3f s %8.2f GB/s\n", "read(2) into a 1 MiB buffer", best_read, gb / best_read);
    printf("%-44s %8.3f s\n", "mlxc_weights_open (map + validate)", best_open);
    printf("%-44s %8.3f s %8.2f GB/s  (%.2fx cat)\n", "load_all, MLXC_LOAD_COPY", best_copy, tgb / best_copy,
           (tgb / best_copy) / (gb / best_cat));
    printf("%-44s %8.3f s %8.2f GB/s  (%.2fx cat)\n", "load_all zero copy + touch every page", best_wrap,
           tgb / best_wrap, (tgb / best_wrap) / (gb / best_cat));
    mlxc_device_close(dev);
    if (made && !keep) unlink(path);
    return 0;
}
