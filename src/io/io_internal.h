/*
 * Shared pieces of the model-file readers (src/io): a reference-counted
 * read-only mapping of a file (or of caller memory), bounds-checked
 * little-endian reads, UTF-8 validation, and the one routine that turns a
 * byte range of a mapping into a device buffer.
 */
#ifndef MLXC_IO_INTERNAL_H
#define MLXC_IO_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "mlxc/gguf.h"
#include "mlxc/weights.h"
#include "mlxc/safetensors.h"

/* One mapped file.  Buffers that wrap its pages (zero copy) hold a reference,
 * so the pages outlive the reader that opened them. */
typedef struct mlxc_io_map {
    _Atomic int    refs;
    const uint8_t *data;       /* [size] the file contents                     */
    size_t         size;
    void          *map_base;   /* from mmap, or NULL (memory or empty file)    */
    size_t         map_len;
    bool           is_file;    /* zero copy only over private file mappings    */
    char          *path;       /* for messages; "<memory>" otherwise           */
} mlxc_io_map;

mlxc_status mlxc_io_map_file(const char *path, mlxc_io_map **out);
mlxc_status mlxc_io_map_memory(const void *data, size_t size, mlxc_io_map **out);
mlxc_io_map *mlxc_io_map_retain(mlxc_io_map *m);
void        mlxc_io_map_release(mlxc_io_map *m);

/* Progress of a multi-tensor load, shared across calls. */
typedef struct mlxc_io_progress {
    mlxc_load_progress_fn fn;
    void                 *user;
    uint64_t              done, total;
    bool                  cancelled;   /* fn returned false                    */
} mlxc_io_progress;

/* Bytes copied per mlxc_buffer_write call: small enough that a backend can
 * overlap reading the next chunk with uploading this one, large enough that
 * the per-call cost vanishes. */
#define MLXC_IO_CHUNK ((size_t)16 << 20)

/* Make a buffer of `bytes` bytes at `src` (inside m) with the given dtype and
 * row-major shape.  Zero copy on a host-visible device when the mapping is a
 * private file mapping, `src` is aligned to the dtype size and `flags` does
 * not ask for a copy; otherwise allocate and write in MLXC_IO_CHUNK pieces.
 * Zero bytes give a buffer of one dtype element (allocations cannot be empty)
 * whose shape still says zero elements. */
mlxc_status mlxc_io_make_buffer(mlxc_io_map *m, const void *src, size_t bytes, mlxc_dtype dtype,
                                int ndim, const int64_t *shape, mlxc_device *dev, unsigned flags,
                                mlxc_io_progress *prog, mlxc_buffer **out);

/* Report progress (bytes more done); returns false when the callback asked to stop. */
bool mlxc_io_progress_add(mlxc_io_progress *p, uint64_t bytes);

/* ---- small helpers ------------------------------------------------------------ */

static inline uint16_t mlxc_io_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t mlxc_io_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t mlxc_io_rd64(const uint8_t *p) {
    return (uint64_t)mlxc_io_rd32(p) | ((uint64_t)mlxc_io_rd32(p + 4) << 32);
}

/* a * b into *r; false on overflow. */
static inline bool mlxc_io_mul_u64(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool mlxc_io_add_u64(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}

/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF). */
bool mlxc_io_utf8_valid(const uint8_t *s, size_t n);

/* Print at most `max` bytes of a possibly non-text name into dst for an error
 * message (non-printable bytes become '?'). */
void mlxc_io_name_for_msg(char *dst, size_t cap, const char *s, size_t n);

/* FNV-1a, for the name tables. */
static inline uint64_t mlxc_io_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 1099511628211ull; }
    return h;
}

/* Open-addressing name → index table over names that live elsewhere. */
typedef struct mlxc_io_names {
    uint32_t *slots;     /* [cap] index + 1; 0 = empty                          */
    size_t    cap;       /* power of two                                        */
} mlxc_io_names;

typedef void (*mlxc_io_name_get)(const void *ctx, size_t i, const char **s, size_t *n);
/* Build the table for n names; *dup receives the index of a duplicate name
 * (or SIZE_MAX).  MLXC_ERR_OUT_OF_MEMORY or MLXC_OK. */
mlxc_status mlxc_io_names_build(mlxc_io_names *t, size_t n, mlxc_io_name_get get, const void *ctx,
                                size_t *dup);
bool mlxc_io_names_find(const mlxc_io_names *t, mlxc_io_name_get get, const void *ctx,
                        const char *s, size_t n, size_t *index);
void mlxc_io_names_free(mlxc_io_names *t);

/* Read a whole (small) file into a NUL-terminated heap string; MLXC_ERR_IO
 * (or MLXC_ERR_FORMAT when larger than `max`). */
mlxc_status mlxc_io_read_text(const char *path, size_t max, char **out, size_t *len);

/* Parse JSON text as jansson does with duplicate keys rejected; the message
 * names `what`. */
struct json_t;
mlxc_status mlxc_io_json_parse(const char *text, size_t len, const char *what, struct json_t **out);

/* ---- reader internals shared with the model layer -------------------------------- */

/* The dtype a ggml type keeps in a buffer; false: raw U8 bytes. */
bool mlxc_gguf_ggml_dtype(uint32_t type, mlxc_dtype *dt);
mlxc_status mlxc_gguf_tensor_buffer_ex(mlxc_gguf *g, size_t i, mlxc_device *dev, unsigned flags,
                                       mlxc_io_progress *prog, mlxc_buffer **out);
mlxc_status mlxc_safetensors_tensor_buffer_ex(mlxc_safetensors *st, size_t i, mlxc_device *dev, unsigned flags,
                                              mlxc_io_progress *prog, mlxc_buffer **out);

#endif /* MLXC_IO_INTERNAL_H */
