/*
 * File mappings shared by the readers, the tensor → buffer routine, and the
 * small helpers (UTF-8, name tables, JSON) every reader needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

static mlxc_status map_new(const char *path, mlxc_io_map **out) {
    mlxc_io_map *m = calloc(1, sizeof *m);
    char *p = strdup(path);
    if (!m || !p) { free(m); free(p); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
    atomic_init(&m->refs, 1);
    m->path = p;
    *out = m;
    return MLXC_OK;
}

mlxc_status mlxc_io_map_file(const char *path, mlxc_io_map **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_io_map_file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mlxc_set_error(errno == ENOENT ? MLXC_ERR_NOT_FOUND : MLXC_ERR_IO, "%s: cannot open: %s",
                              path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return mlxc_set_error(MLXC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return mlxc_set_error(MLXC_ERR_IO, "%s: not a regular file", path);
    }
    mlxc_io_map *m;
    mlxc_status st = map_new(path, &m);
    if (st) { close(fd); return st; }
    m->size = (size_t)sb.st_size;
    m->is_file = true;
    if (m->size == 0) {
        static const uint8_t empty[1];
        m->data = empty;
    } else {
        /* Private and writable: a zero-copy buffer over these pages may be
         * written by a careless caller; copy-on-write keeps the file (and
         * other mappings of it) unchanged and never faults. */
        void *p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            mlxc_io_map_release(m);
            return mlxc_set_error(MLXC_ERR_IO, "%s: cannot map %zu bytes: %s", path, (size_t)sb.st_size,
                                  strerror(e));
        }
        m->map_base = p;
        m->map_len = m->size;
        m->data = p;
    }
    close(fd);
    *out = m;
    return MLXC_OK;
}

mlxc_status mlxc_io_map_memory(const void *data, size_t size, mlxc_io_map **out) {
    MLXC_CHECK_ARG(out && (data || size == 0), "open_memory: NULL data");
    *out = NULL;
    mlxc_io_map *m;
    mlxc_status st = map_new("<memory>", &m);
    if (st) return st;
    static const uint8_t empty[1];
    m->data = data ? data : empty;
    m->size = size;
    *out = m;
    return MLXC_OK;
}

mlxc_io_map *mlxc_io_map_retain(mlxc_io_map *m) {
    if (m) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void mlxc_io_map_release(mlxc_io_map *m) {
    if (!m) return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    if (m->map_base) munmap(m->map_base, m->map_len);
    free(m->path);
    free(m);
}

static void map_release_cb(void *user) { mlxc_io_map_release(user); }

bool mlxc_io_progress_add(mlxc_io_progress *p, uint64_t bytes) {
    if (!p) return true;
    p->done += bytes;
    if (p->fn && !p->fn(p->done, p->total, p->user)) p->cancelled = true;
    return !p->cancelled;
}

mlxc_status mlxc_io_make_buffer(mlxc_io_map *m, const void *src, size_t bytes, mlxc_dtype dtype,
                                int ndim, const int64_t *shape, mlxc_device *dev, unsigned flags,
                                mlxc_io_progress *prog, mlxc_buffer **out) {
    MLXC_CHECK_ARG(m && dev && out, "load: NULL argument");
    *out = NULL;
    size_t esz = mlxc_dtype_size(dtype);
    if (esz == 0) return mlxc_set_error(MLXC_ERR_DTYPE, "load: invalid dtype %d", (int)dtype);
    const uint8_t *s = src;
    if (s < m->data || bytes > m->size || (size_t)(s - m->data) > m->size - bytes)
        return mlxc_set_error(MLXC_ERR_INTERNAL, "load: range outside the mapping of %s", m->path);

    mlxc_device_caps caps;
    mlxc_status st = mlxc_device_caps_get(dev, &caps);
    if (st) return st;
    if (bytes > 0 && m->is_file && caps.host_visible && !(flags & MLXC_LOAD_COPY) &&
        (uintptr_t)s % esz == 0) {
        mlxc_io_map_retain(m);
        st = mlxc_buffer_wrap_host(dev, (void *)s, bytes, dtype, ndim, shape, map_release_cb, m, out);
        if (st == MLXC_OK) {
            if (!mlxc_io_progress_add(prog, bytes)) {
                mlxc_buffer_release(*out);
                *out = NULL;
                return mlxc_set_error(MLXC_ERR_STATE, "load cancelled by the progress callback");
            }
            return MLXC_OK;
        }
        /* wrap_host runs on_release only once it has made its storage, and
         * after that it can fail only for lack of memory: then the reference
         * is already gone (leaking one is the safe side of the doubt). */
        if (st != MLXC_ERR_OUT_OF_MEMORY) mlxc_io_map_release(m);
        if (st != MLXC_ERR_UNSUPPORTED) return st;
        mlxc_clear_error();   /* fall back to a copy */
    }

    mlxc_buffer *b;
    st = mlxc_buffer_alloc(dev, bytes ? bytes : esz, dtype, ndim, shape, &b);
    if (st) return st;
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off < MLXC_IO_CHUNK ? bytes - off : MLXC_IO_CHUNK;
        st = mlxc_buffer_write(b, off, s + off, n);
        if (st) { mlxc_buffer_release(b); return st; }
        off += n;
        if (!mlxc_io_progress_add(prog, n)) {
            mlxc_buffer_release(b);
            return mlxc_set_error(MLXC_ERR_STATE, "load cancelled by the progress callback");
        }
    }
    *out = b;
    return MLXC_OK;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

bool mlxc_io_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += k + 1;
    }
    return true;
}

void mlxc_io_name_for_msg(char *dst, size_t cap, const char *s, size_t n) {
    if (cap == 0) return;
    size_t lim = cap - 1, o = 0;
    bool cut = n > lim;
    if (cut && lim > 3) lim -= 3;
    for (size_t i = 0; i < n && o < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    if (cut && cap > 4) { memcpy(dst + o, "...", 3); o += 3; }
    dst[o] = 0;
}

/* ---- name tables ------------------------------------------------------------------ */

mlxc_status mlxc_io_names_build(mlxc_io_names *t, size_t n, mlxc_io_name_get get, const void *ctx,
                                size_t *dup) {
    t->slots = NULL;
    t->cap = 0;
    *dup = SIZE_MAX;
    if (n >= UINT32_MAX / 2) return mlxc_set_error(MLXC_ERR_FORMAT, "too many names (%zu)", n);
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory (name table of %zu)", n);
    t->cap = cap;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        get(ctx, i, &s, &len);
        size_t h = (size_t)mlxc_io_hash(s, len) & (cap - 1);
        for (;;) {
            uint32_t v = t->slots[h];
            if (v == 0) { t->slots[h] = (uint32_t)(i + 1); break; }
            const char *o;
            size_t olen;
            get(ctx, v - 1, &o, &olen);
            if (olen == len && memcmp(o, s, len) == 0) { *dup = i; return MLXC_OK; }
            h = (h + 1) & (cap - 1);
        }
    }
    return MLXC_OK;
}

bool mlxc_io_names_find(const mlxc_io_names *t, mlxc_io_name_get get, const void *ctx, const char *s,
                        size_t n, size_t *index) {
    if (!t->slots) return false;
    size_t h = (size_t)mlxc_io_hash(s, n) & (t->cap - 1);
    for (;;) {
        uint32_t v = t->slots[h];
        if (v == 0) return false;
        const char *o;
        size_t olen;
        get(ctx, v - 1, &o, &olen);
        if (olen == n && memcmp(o, s, n) == 0) { *index = v - 1; return true; }
        h = (h + 1) & (t->cap - 1);
    }
}

void mlxc_io_names_free(mlxc_io_names *t) {
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
}

/* ---- text files and JSON ----------------------------------------------------------- */

mlxc_status mlxc_io_read_text(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mlxc_set_error(errno == ENOENT ? MLXC_ERR_NOT_FOUND : MLXC_ERR_IO, "%s: cannot open: %s", path,
                              strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                fclose(f);
                return mlxc_set_error(MLXC_ERR_FORMAT, "%s: larger than %zu bytes", path, max);
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); fclose(f); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) { free(buf); return mlxc_set_error(MLXC_ERR_IO, "%s: read error", path); }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return MLXC_OK;
}

mlxc_status mlxc_io_json_parse(const char *text, size_t len, const char *what, json_t **out) {
    json_error_t e;
    /* Duplicate keys are rejected: which of two values a reader picks differs
     * between libraries, a classic way to make two tools disagree on a file. */
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return mlxc_set_error(MLXC_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", what, e.line,
                              e.column, e.text);
    *out = j;
    return MLXC_OK;
}
