/* Profile tables (per label, per dispatch) and Chrome/Perfetto trace export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

typedef struct cb_event { char label[MLXC_PROFILE_LABEL_MAX]; uint64_t start, end; } cb_event;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static mlxc_profile_cb_entry *g_cb;
static size_t g_ncb, g_capcb;
static mlxc_profile_dispatch_entry *g_disp;
static size_t g_ndisp, g_capdisp;
static cb_event *g_events;
static size_t g_nev, g_capev;

#define MAX_EVENTS 1000000

bool mlxc_profile_cb_enabled(void) { return mlxc_env()->profile_cb; }
bool mlxc_profile_dispatch_enabled(void) { return mlxc_env()->profile_dispatch; }

static bool grow(void **v, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, nc * elem);
    if (!p) return false;
    *v = p;
    *cap = nc;
    return true;
}

void mlxc_profile_record_cb(const char *label, uint64_t start_ns, uint64_t end_ns) {
    uint64_t ns = end_ns > start_ns ? end_ns - start_ns : 0;
    pthread_mutex_lock(&g_lock);
    size_t i = 0;
    while (i < g_ncb && strncmp(g_cb[i].label, label, MLXC_PROFILE_LABEL_MAX - 1) != 0) i++;
    if (i == g_ncb) {
        if (!grow((void **)&g_cb, &g_capcb, g_ncb, sizeof *g_cb)) goto out;
        memset(&g_cb[i], 0, sizeof g_cb[i]);
        snprintf(g_cb[i].label, sizeof g_cb[i].label, "%s", label);
        g_cb[i].min_ns = UINT64_MAX;
        g_ncb++;
    }
    g_cb[i].count++;
    g_cb[i].total_ns += ns;
    if (ns < g_cb[i].min_ns) g_cb[i].min_ns = ns;
    if (ns > g_cb[i].max_ns) g_cb[i].max_ns = ns;
    if (g_nev < MAX_EVENTS && grow((void **)&g_events, &g_capev, g_nev, sizeof *g_events)) {
        snprintf(g_events[g_nev].label, sizeof g_events[g_nev].label, "%s", label);
        g_events[g_nev].start = start_ns;
        g_events[g_nev].end = end_ns;
        g_nev++;
    }
out:
    pthread_mutex_unlock(&g_lock);
}

void mlxc_profile_record_dispatch(const char *label, const char *kernel, mlxc_op_kind kind, uint32_t index,
                                  uint64_t start_ns, uint64_t end_ns, uint64_t bytes_read, uint64_t bytes_written) {
    pthread_mutex_lock(&g_lock);
    if (g_ndisp < MAX_EVENTS && grow((void **)&g_disp, &g_capdisp, g_ndisp, sizeof *g_disp)) {
        mlxc_profile_dispatch_entry *e = &g_disp[g_ndisp++];
        memset(e, 0, sizeof *e);
        snprintf(e->cb_label, sizeof e->cb_label, "%s", label);
        snprintf(e->kernel, sizeof e->kernel, "%s", kernel);
        e->op_kind = mlxc_op_kind_name(kind);
        e->dispatch_index = index;
        e->start_ns = start_ns;
        e->end_ns = end_ns >= start_ns ? end_ns : start_ns;
        e->gpu_ns = e->end_ns - e->start_ns;
        e->bytes_read = bytes_read;
        e->bytes_written = bytes_written;
    }
    pthread_mutex_unlock(&g_lock);
}

static int by_total_desc(const void *a, const void *b) {
    const mlxc_profile_cb_entry *x = a, *y = b;
    return (x->total_ns < y->total_ns) - (x->total_ns > y->total_ns);
}

size_t mlxc_profile_cb_entries(mlxc_profile_cb_entry *out, size_t cap) {
    pthread_mutex_lock(&g_lock);
    size_t n = g_ncb;
    if (out && cap) {
        mlxc_profile_cb_entry *tmp = malloc(n ? n * sizeof *tmp : 1);
        if (tmp) {
            memcpy(tmp, g_cb, n * sizeof *tmp);
            qsort(tmp, n, sizeof *tmp, by_total_desc);
            memcpy(out, tmp, (n < cap ? n : cap) * sizeof *tmp);
            free(tmp);
        }
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

size_t mlxc_profile_dispatch_entries(mlxc_profile_dispatch_entry *out, size_t cap) {
    pthread_mutex_lock(&g_lock);
    size_t n = g_ndisp;
    if (out && cap) {
        /* Group by label in first-seen order, keeping insertion order. */
        bool *done = calloc(n ? n : 1, 1);
        size_t k = 0;
        for (size_t i = 0; done && i < n && k < cap; i++) {
            if (done[i]) continue;
            for (size_t j = i; j < n && k < cap; j++) {
                if (done[j] || strcmp(g_disp[j].cb_label, g_disp[i].cb_label) != 0) continue;
                out[k++] = g_disp[j];
                done[j] = true;
            }
        }
        free(done);
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

void mlxc_profile_reset(void) {
    pthread_mutex_lock(&g_lock);
    g_ncb = g_ndisp = g_nev = 0;
    pthread_mutex_unlock(&g_lock);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

mlxc_status mlxc_profile_write_trace(const char *path) {
    MLXC_CHECK_ARG(path && path[0], "mlxc_profile_write_trace: empty path");
    FILE *f = fopen(path, "w");
    if (!f) return mlxc_set_error(MLXC_ERR_IO, "cannot open %s for writing", path);
    pthread_mutex_lock(&g_lock);
    uint64_t t0 = UINT64_MAX;
    for (size_t i = 0; i < g_nev; i++) if (g_events[i].start < t0) t0 = g_events[i].start;
    for (size_t i = 0; i < g_ndisp; i++) if (g_disp[i].start_ns < t0) t0 = g_disp[i].start_ns;
    if (t0 == UINT64_MAX) t0 = 0;
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"mlxc\"}},\n");
    fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"command buffers\"}},\n");
    fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":2,\"args\":{\"name\":\"dispatches\"}}");
    for (size_t i = 0; i < g_nev; i++) {
        fprintf(f, ",\n{\"name\":");
        json_str(f, g_events[i].label);
        fprintf(f, ",\"cat\":\"cmdbuf\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":%.3f,\"dur\":%.3f}",
                (double)(g_events[i].start - t0) / 1000.0,
                (double)(g_events[i].end > g_events[i].start ? g_events[i].end - g_events[i].start : 0) / 1000.0);
    }
    for (size_t i = 0; i < g_ndisp; i++) {
        const mlxc_profile_dispatch_entry *e = &g_disp[i];
        fprintf(f, ",\n{\"name\":");
        json_str(f, e->kernel);
        fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"cb\":",
                e->op_kind, (double)(e->start_ns - t0) / 1000.0, (double)e->gpu_ns / 1000.0);
        json_str(f, e->cb_label);
        fprintf(f, ",\"index\":%u,\"bytes_read\":%llu,\"bytes_written\":%llu}}", e->dispatch_index,
                (unsigned long long)e->bytes_read, (unsigned long long)e->bytes_written);
    }
    fprintf(f, "\n]}\n");
    pthread_mutex_unlock(&g_lock);
    if (fclose(f) != 0) return mlxc_set_error(MLXC_ERR_IO, "error writing %s", path);
    return MLXC_OK;
}
