/*
 * mlxc/gguf.h — reading GGUF files (llama.cpp's model format), versions 2 and 3.
 *
 * A GGUF file is: a header (magic "GGUF", version, tensor count, key/value
 * count), the metadata key/value pairs, the tensor table (name, dims, ggml
 * type, offset relative to the data section), padding up to the alignment
 * (`general.alignment`, default 32), then the tensor data.
 *
 * mlxc_gguf_open() maps the file read-only and validates everything before it
 * returns: every length, count and offset is checked against the file size
 * (overflow-safe), every tensor's byte range lies inside the data section and
 * is consistent with its dims and ggml type.  After a successful open, no
 * accessor can read outside the mapping, whatever the file says.
 *
 *     mlxc_gguf *g;
 *     if (mlxc_gguf_open("model.gguf", &g) != MLXC_OK) { puts(mlxc_last_error()); ... }
 *     int64_t layers;
 *     mlxc_gguf_get_int(g, "llama.block_count", &layers);
 *     mlxc_gguf_type elem; size_t n;
 *     mlxc_gguf_get_array_info(g, "tokenizer.ggml.tokens", &elem, &n);
 *     const char *tok; size_t len;
 *     mlxc_gguf_get_array_string(g, "tokenizer.ggml.tokens", 42, &tok, &len);  // O(1)
 *     mlxc_gguf_close(g);
 *
 * Strings point into the mapped file and are NOT NUL-terminated: use the
 * length.  They stay valid until mlxc_gguf_close() (and, for tensor buffers
 * made on the CPU backend, while such a buffer is alive the mapping is too).
 * A handle is immutable after open: concurrent reads from several threads are
 * safe.
 */
#ifndef MLXC_GGUF_H
#define MLXC_GGUF_H

#include "mlxc/common.h"
#include "mlxc/device.h"
#include "mlxc/quant.h"   /* the ggml type numbers and table */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_gguf mlxc_gguf;

/* Metadata value kinds, numbered as in the file format. */
typedef enum mlxc_gguf_type {
    MLXC_GGUF_UINT8 = 0, MLXC_GGUF_INT8 = 1, MLXC_GGUF_UINT16 = 2, MLXC_GGUF_INT16 = 3,
    MLXC_GGUF_UINT32 = 4, MLXC_GGUF_INT32 = 5, MLXC_GGUF_FLOAT32 = 6, MLXC_GGUF_BOOL = 7,
    MLXC_GGUF_STRING = 8, MLXC_GGUF_ARRAY = 9, MLXC_GGUF_UINT64 = 10, MLXC_GGUF_INT64 = 11,
    MLXC_GGUF_FLOAT64 = 12
} mlxc_gguf_type;

/* "uint8", "string", "array", ...; "invalid" otherwise. */
MLXC_API const char *mlxc_gguf_type_name(mlxc_gguf_type t);

/* ---- open / close ----------------------------------------------------------- */

/* Map `path` read-only and validate it.  MLXC_ERR_NOT_FOUND when it does not
 * exist, MLXC_ERR_IO when it cannot be read or mapped, MLXC_ERR_FORMAT (with a
 * message naming the offending field and byte offset) when its contents are
 * malformed. */
MLXC_API mlxc_status mlxc_gguf_open(const char *path, mlxc_gguf **out);
/* Same, over caller memory; the caller keeps `data` alive (and unchanged)
 * until mlxc_gguf_close().  Buffers made from it are copies. */
MLXC_API mlxc_status mlxc_gguf_open_memory(const void *data, size_t size, mlxc_gguf **out);
/* NULL is accepted and ignored.  Buffers made with mlxc_gguf_tensor_buffer()
 * keep the mapping alive on their own. */
MLXC_API void        mlxc_gguf_close(mlxc_gguf *g);

MLXC_API uint32_t    mlxc_gguf_version(const mlxc_gguf *g);     /* 2 or 3            */
MLXC_API size_t      mlxc_gguf_alignment(const mlxc_gguf *g);   /* power of two      */
/* The data section: start (inside the mapping) and size in bytes. */
MLXC_API const void *mlxc_gguf_data(const mlxc_gguf *g);
MLXC_API size_t      mlxc_gguf_data_offset(const mlxc_gguf *g); /* from file start   */
MLXC_API size_t      mlxc_gguf_data_size(const mlxc_gguf *g);
MLXC_API size_t      mlxc_gguf_file_size(const mlxc_gguf *g);

/* ---- metadata: scalars ----------------------------------------------------------- */
/* MLXC_ERR_NOT_FOUND when the key is absent, MLXC_ERR_DTYPE when its kind does
 * not convert.  get_int accepts every integer kind (and bool); a uint64 above
 * INT64_MAX is MLXC_ERR_OUT_OF_RANGE.  get_float accepts f32, f64 and integers.
 * get_bool accepts bool only.  Strings are NOT NUL-terminated: they point into
 * the file; use len. */
MLXC_API mlxc_status mlxc_gguf_get_string(const mlxc_gguf *g, const char *key, const char **s, size_t *len);
MLXC_API mlxc_status mlxc_gguf_get_int(const mlxc_gguf *g, const char *key, int64_t *v);
MLXC_API mlxc_status mlxc_gguf_get_float(const mlxc_gguf *g, const char *key, double *v);
MLXC_API mlxc_status mlxc_gguf_get_bool(const mlxc_gguf *g, const char *key, bool *v);
/* Unsigned view of an integer value (uint64 keeps its full range; a negative
 * signed value is MLXC_ERR_OUT_OF_RANGE). */
MLXC_API mlxc_status mlxc_gguf_get_uint(const mlxc_gguf *g, const char *key, uint64_t *v);

/* ---- metadata: arrays (of scalars or strings) -------------------------------------- */
/* Element kind and count, then element i (O(1): string offsets are indexed
 * at open).  An index >= count is MLXC_ERR_OUT_OF_RANGE; a key that is not an
 * array, or an element kind that does not convert, MLXC_ERR_DTYPE. */
MLXC_API mlxc_status mlxc_gguf_get_array_info(const mlxc_gguf *g, const char *key, mlxc_gguf_type *elem, size_t *count);
MLXC_API mlxc_status mlxc_gguf_get_array_string(const mlxc_gguf *g, const char *key, size_t i, const char **s, size_t *len);
MLXC_API mlxc_status mlxc_gguf_get_array_int(const mlxc_gguf *g, const char *key, size_t i, int64_t *v);
MLXC_API mlxc_status mlxc_gguf_get_array_float(const mlxc_gguf *g, const char *key, size_t i, double *v);
/* Raw little-endian element bytes of a numeric array (elem size × count), for
 * bulk reads such as token scores; MLXC_ERR_DTYPE for string/array arrays. */
MLXC_API mlxc_status mlxc_gguf_get_array_data(const mlxc_gguf *g, const char *key, const void **data, size_t *count);

/* ---- generic enumeration (including arrays of arrays) -------------------------------- */

/* A metadata value, as found by mlxc_gguf_kv_at / mlxc_gguf_find or reached
 * through mlxc_gguf_value_elem.  Plain data pointing into the handle; valid
 * until mlxc_gguf_close().  Do not fill one in by hand. */
typedef struct mlxc_gguf_value {
    mlxc_gguf_type type;        /* the value's kind                               */
    mlxc_gguf_type elem;        /* for ARRAY: the element kind                    */
    uint64_t       count;       /* for ARRAY: number of elements; else 1          */
    const uint8_t *data;        /* scalar: its bytes; STRING: its bytes; ARRAY:
                                   the first element's encoding                   */
    uint64_t       len;         /* STRING: byte length                            */
    const void    *priv;        /* internal index (string offsets, sub-arrays)    */
} mlxc_gguf_value;

/* Number of key/value pairs, in file order. */
MLXC_API size_t      mlxc_gguf_kv_count(const mlxc_gguf *g);
/* Key i (not NUL-terminated) and its value. */
MLXC_API mlxc_status mlxc_gguf_kv_at(const mlxc_gguf *g, size_t i, const char **key, size_t *key_len,
                                     mlxc_gguf_value *value);
/* Value of `key` (NUL-terminated); MLXC_ERR_NOT_FOUND when absent. */
MLXC_API mlxc_status mlxc_gguf_find(const mlxc_gguf *g, const char *key, mlxc_gguf_value *value);
/* Element i of an array value; works for nested arrays (the result is itself
 * an ARRAY value) and is O(1) for every element kind. */
MLXC_API mlxc_status mlxc_gguf_value_elem(const mlxc_gguf_value *arr, uint64_t i, mlxc_gguf_value *out);
/* Scalar conversions of a value (same rules as the get_* functions). */
MLXC_API mlxc_status mlxc_gguf_value_int(const mlxc_gguf_value *v, int64_t *out);
MLXC_API mlxc_status mlxc_gguf_value_uint(const mlxc_gguf_value *v, uint64_t *out);
MLXC_API mlxc_status mlxc_gguf_value_float(const mlxc_gguf_value *v, double *out);

/* ---- ggml tensor types: mlxc_ggml_type and its table are in mlxc/quant.h ---------- */

/* ---- tensor table ---------------------------------------------------------------------- */

#define MLXC_GGUF_MAX_DIMS 4

/* One tensor.  dims are in GGUF (ggml) order: dims[0] is the fastest-varying
 * (innermost) axis, i.e. the reverse of a numpy/safetensors shape. */
typedef struct mlxc_gguf_tensor_info {
    const char *name;           /* not NUL-terminated                            */
    size_t      name_len;
    uint32_t    type;           /* mlxc_ggml_type                                */
    uint32_t    ndim;           /* 1..MLXC_GGUF_MAX_DIMS                         */
    uint64_t    dims[MLXC_GGUF_MAX_DIMS];  /* unused entries are 1               */
    uint64_t    elements;       /* product of dims                               */
    uint64_t    offset;         /* from the start of the data section            */
    uint64_t    bytes;          /* elements / block_size * type_size             */
    const void *data;           /* mlxc_gguf_data(g) + offset                    */
} mlxc_gguf_tensor_info;

MLXC_API size_t      mlxc_gguf_tensor_count(const mlxc_gguf *g);
MLXC_API mlxc_status mlxc_gguf_tensor_at(const mlxc_gguf *g, size_t i, mlxc_gguf_tensor_info *info);
/* Index of the tensor called `name` (NUL-terminated); MLXC_ERR_NOT_FOUND. */
MLXC_API mlxc_status mlxc_gguf_tensor_find(const mlxc_gguf *g, const char *name, size_t *index);

/* Make tensor i a device buffer.  F32/F16/BF16/I8/I16/I32/I64 keep their dtype
 * with the shape in row-major order (reversed GGUF dims); F64 and every
 * quantized type become flat U8 buffers of the tensor's bytes (ask
 * mlxc_gguf_tensor_at for the ggml type).  On a host-visible device the
 * buffer wraps the mapping without a copy when the data is suitably aligned
 * (it keeps the mapping alive; pages are copy-on-write, so writing to the
 * buffer never changes the file); otherwise the bytes are copied in chunks. */
#ifndef MLXC_LOAD_COPY
#define MLXC_LOAD_COPY 1u   /* flags: always copy, never wrap the mapping       */
#endif
MLXC_API mlxc_status mlxc_gguf_tensor_buffer(mlxc_gguf *g, size_t i, mlxc_device *dev, unsigned flags,
                                             mlxc_buffer **out);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_GGUF_H */
