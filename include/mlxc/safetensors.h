/*
 * mlxc/safetensors.h — reading safetensors files (Hugging Face / MLX weights).
 *
 * A safetensors file is: an 8-byte little-endian header length N, N bytes of
 * JSON ({"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]},
 * ..., "__metadata__": {"key": "value"}}), then the data section.
 *
 * mlxc_safetensors_open() maps the file read-only and validates the header
 * before it returns: the JSON (duplicate keys rejected, names valid UTF-8),
 * every dtype name, every shape (size overflow rejected), and every byte range
 * (inside the data section, equal to shape × dtype size, no overlap, no gap,
 * nothing after the last tensor — the rules of the reference implementation).
 * After a successful open no accessor can read outside the mapping.
 *
 *     mlxc_safetensors *st;
 *     if (mlxc_safetensors_open("model.safetensors", &st)) { puts(mlxc_last_error()); ... }
 *     size_t i;
 *     mlxc_safetensors_find(st, "model.embed_tokens.weight", &i);
 *     mlxc_buffer *w;
 *     mlxc_safetensors_tensor_buffer(st, i, dev, 0, &w);   // zero copy on the CPU
 *     mlxc_safetensors_close(st);                          // w keeps the pages alive
 *
 * Every dtype the format defines is recognised.  Those with an mlxc_dtype
 * (F32 F16 BF16 U8 U16 U32 I8 I16 I32 I64) load with it; the rest (F64, U64,
 * BOOL, C64, the F8/F6/F4 kinds) load as flat U8 bytes, and the info keeps
 * the true dtype name.
 */
#ifndef MLXC_SAFETENSORS_H
#define MLXC_SAFETENSORS_H

#include "mlxc/common.h"
#include "mlxc/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_safetensors mlxc_safetensors;

/* The dtypes of the format, in no particular order. */
typedef enum mlxc_st_dtype {
    MLXC_ST_BOOL = 0, MLXC_ST_U8, MLXC_ST_I8, MLXC_ST_U16, MLXC_ST_I16, MLXC_ST_F16,
    MLXC_ST_BF16, MLXC_ST_U32, MLXC_ST_I32, MLXC_ST_F32, MLXC_ST_U64, MLXC_ST_I64,
    MLXC_ST_F64, MLXC_ST_C64, MLXC_ST_F8_E5M2, MLXC_ST_F8_E4M3, MLXC_ST_F8_E4M3FNUZ,
    MLXC_ST_F8_E5M2FNUZ, MLXC_ST_F8_E8M0, MLXC_ST_F6_E2M3, MLXC_ST_F6_E3M2, MLXC_ST_F4,
    MLXC_ST_DTYPE_COUNT
} mlxc_st_dtype;

/* The name as written in headers ("BF16", "F8_E4M3"); NULL when invalid. */
MLXC_API const char *mlxc_st_dtype_name(mlxc_st_dtype dt);
/* Bits per element (1 byte for BOOL: 8; F4: 4; F6: 6); 0 when invalid. */
MLXC_API unsigned    mlxc_st_dtype_bits(mlxc_st_dtype dt);
/* Parse a header dtype name; false when unknown. */
MLXC_API bool        mlxc_st_dtype_parse(const char *name, mlxc_st_dtype *out);
/* The mlxc_dtype a tensor of this kind loads as: its own where one exists
 * (*exact = true), else MLXC_U8 (*exact = false). */
MLXC_API mlxc_dtype  mlxc_st_dtype_to_mlxc(mlxc_st_dtype dt, bool *exact);

/* Largest header the reader accepts (the reference implementation's limit). */
#define MLXC_SAFETENSORS_MAX_HEADER ((uint64_t)100000000)

/* Map and validate `path`.  MLXC_ERR_IO when it cannot be read, MLXC_ERR_FORMAT
 * (with a message naming the tensor and field) when malformed. */
MLXC_API mlxc_status mlxc_safetensors_open(const char *path, mlxc_safetensors **out);
/* Same over caller memory, which must stay alive and unchanged until close
 * (buffers made from it are copies). */
MLXC_API mlxc_status mlxc_safetensors_open_memory(const void *data, size_t size, mlxc_safetensors **out);
/* NULL is accepted.  Zero-copy buffers keep the mapping alive on their own. */
MLXC_API void        mlxc_safetensors_close(mlxc_safetensors *st);

/* Path given to open ("<memory>" for open_memory). */
MLXC_API const char *mlxc_safetensors_path(const mlxc_safetensors *st);
MLXC_API size_t      mlxc_safetensors_file_size(const mlxc_safetensors *st);
/* Offset of the data section from the start of the file (8 + header length). */
MLXC_API size_t      mlxc_safetensors_data_offset(const mlxc_safetensors *st);

typedef struct mlxc_st_tensor_info {
    const char   *name;                 /* NUL-terminated, owned by the handle    */
    mlxc_st_dtype dtype;
    mlxc_dtype    mlxc_dtype;           /* what a buffer of it will have         */
    bool          dtype_exact;          /* false: loads as raw U8 bytes          */
    int           ndim;                 /* 0..MLXC_MAX_DIMS                      */
    int64_t       shape[MLXC_MAX_DIMS]; /* row-major, as in the header           */
    uint64_t      elements;
    uint64_t      offset;               /* data_offsets[0], from the data start  */
    uint64_t      bytes;                /* data_offsets[1] - data_offsets[0]     */
    const void   *data;                 /* [bytes] inside the mapping            */
} mlxc_st_tensor_info;

/* Tensors are numbered in the order of their data in the file. */
MLXC_API size_t      mlxc_safetensors_count(const mlxc_safetensors *st);
MLXC_API mlxc_status mlxc_safetensors_tensor_at(const mlxc_safetensors *st, size_t i, mlxc_st_tensor_info *info);
/* MLXC_ERR_NOT_FOUND when no tensor has that name. */
MLXC_API mlxc_status mlxc_safetensors_find(const mlxc_safetensors *st, const char *name, size_t *index);

/* `__metadata__` (string → string): count, entry i, lookup by key.  The
 * strings are NUL-terminated and owned by the handle. */
MLXC_API size_t      mlxc_safetensors_metadata_count(const mlxc_safetensors *st);
MLXC_API mlxc_status mlxc_safetensors_metadata_at(const mlxc_safetensors *st, size_t i, const char **key,
                                                  const char **value);
MLXC_API mlxc_status mlxc_safetensors_metadata_get(const mlxc_safetensors *st, const char *key,
                                                   const char **value);

/* Flags for the tensor → buffer calls (here and in weights.h). */
#ifndef MLXC_LOAD_COPY
#define MLXC_LOAD_COPY 1u   /* always copy, never wrap the mapping             */
#endif

/* Make tensor i a buffer on `dev` (dtype and shape as in its info; raw U8
 * kinds get a flat shape of `bytes`).  On a host-visible device the buffer
 * wraps the mapped pages when the data is aligned to the element size (the
 * pages are mapped copy-on-write: writing to the buffer never changes the
 * file); otherwise the bytes are copied in chunks. */
MLXC_API mlxc_status mlxc_safetensors_tensor_buffer(mlxc_safetensors *st, size_t i, mlxc_device *dev,
                                                    unsigned flags, mlxc_buffer **out);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_SAFETENSORS_H */
