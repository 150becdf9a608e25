/*
 * mlxc/quant.h — quantized weight formats: the GGML type table, a format enum
 * covering every weight layout mlxc reads, a weight descriptor that loaders fill
 * from a GGUF tensor or an MLX (weight, scales, biases) triple, and CPU
 * reference quantize / dequantize.
 *
 * The reference routines are bit-exact with the formats' own reference code:
 *   MLX affine     mx.quantize / mx.dequantize on the CPU stream (mlx 0.32.4):
 *                  quantize rounds half to even and starts the group max at
 *                  -inf (MLX's GPU kernels round half away from zero and start
 *                  at 0: their output can differ in the last code); dequantize
 *                  rounds scale*q and then +bias to the scales' dtype, as the
 *                  CPU op graph does, and widens the result to f32.
 *   MLX mxfp4 / nvfp4 / mxfp8   mx.dequantize(..., dtype=float32), and
 *                  mx.quantize for f32, f16 and bf16 input.
 *   GGML blocks    gguf.quants.dequantize (gguf 0.19) for Q4_0 Q4_1 Q5_0 Q5_1
 *                  Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS MXFP4 NVFP4,
 *                  the code-book formats IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S
 *                  IQ1_S IQ1_M and the ternary TQ1_0 TQ2_0 (every weight type
 *                  a GGUF file holds but Q1_0); gguf.quants.quantize for Q4_0
 *                  Q4_1 Q5_0 Q5_1 Q8_0 MXFP4 TQ1_0 TQ2_0 (the package
 *                  implements no quantizer for the others).
 *
 *     uint32_t wq[4 * 256 * 4 / 32]; uint16_t s[4 * 4], b[4 * 4];
 *     mlxc_mlx_affine_quantize(w, MLXC_F16, 4, 256, 4, 64, wq, s, b);
 *
 * Input and output arrays need no alignment beyond a byte (tensors inside a
 * mapped file are only as aligned as its offsets).
 *
 * Every function validates its arguments and returns a status (never aborts):
 * bits or group sizes a format does not have, a column count that is not a
 * multiple of the group or block, byte counts that do not match, NULL pointers.
 */
#ifndef MLXC_QUANT_H
#define MLXC_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mlxc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ggml tensor types ----------------------------------------------------------------- */

/* ggml_type numbers as written in GGUF tensor infos (ggml.h).  Numbers that
 * were retired upstream (4, 5: Q4_2/Q4_3; 31-33: Q4_0_4_4 ...; 36-38: IQ4_NL_4_4
 * ...) are not accepted. */
typedef enum mlxc_ggml_type {
    MLXC_GGML_F32 = 0, MLXC_GGML_F16 = 1, MLXC_GGML_Q4_0 = 2, MLXC_GGML_Q4_1 = 3,
    MLXC_GGML_Q5_0 = 6, MLXC_GGML_Q5_1 = 7, MLXC_GGML_Q8_0 = 8, MLXC_GGML_Q8_1 = 9,
    MLXC_GGML_Q2_K = 10, MLXC_GGML_Q3_K = 11, MLXC_GGML_Q4_K = 12, MLXC_GGML_Q5_K = 13,
    MLXC_GGML_Q6_K = 14, MLXC_GGML_Q8_K = 15, MLXC_GGML_IQ2_XXS = 16, MLXC_GGML_IQ2_XS = 17,
    MLXC_GGML_IQ3_XXS = 18, MLXC_GGML_IQ1_S = 19, MLXC_GGML_IQ4_NL = 20, MLXC_GGML_IQ3_S = 21,
    MLXC_GGML_IQ2_S = 22, MLXC_GGML_IQ4_XS = 23, MLXC_GGML_I8 = 24, MLXC_GGML_I16 = 25,
    MLXC_GGML_I32 = 26, MLXC_GGML_I64 = 27, MLXC_GGML_F64 = 28, MLXC_GGML_IQ1_M = 29,
    MLXC_GGML_BF16 = 30, MLXC_GGML_TQ1_0 = 34, MLXC_GGML_TQ2_0 = 35, MLXC_GGML_MXFP4 = 39,
    MLXC_GGML_NVFP4 = 40, MLXC_GGML_Q1_0 = 41,
    MLXC_GGML_TYPE_LIMIT = 42
} mlxc_ggml_type;

/* Block size (elements per block) and type size (bytes per block) of a ggml
 * type, as the gguf package's GGML_QUANT_SIZES; false for an unknown number. */
MLXC_API bool        mlxc_ggml_type_info(uint32_t type, uint32_t *block_size, uint32_t *type_size);
/* "F32", "Q4_K", "IQ2_XXS", ...; NULL for an unknown number. */
MLXC_API const char *mlxc_ggml_type_name(uint32_t type);

/* ---- formats -------------------------------------------------------------------------- */

/* Every weight layout.  A GGML block type t is MLXC_QF_GGML + t (so the
 * ggml number survives the round trip); dense GGML tensors map to the dense
 * formats. */
typedef enum mlxc_qformat {
    MLXC_QF_INVALID    = 0,
    MLXC_QF_F32        = 1,
    MLXC_QF_F16        = 2,
    MLXC_QF_BF16       = 3,
    MLXC_QF_MLX_AFFINE = 8,    /* uint32 codes + scales + biases              */
    MLXC_QF_MLX_MXFP4  = 9,    /* uint32 e2m1 codes + e8m0 scales, group 32   */
    MLXC_QF_MLX_NVFP4  = 10,   /* uint32 e2m1 codes + e4m3 scales, group 16   */
    MLXC_QF_MLX_MXFP8  = 11,   /* uint32 e4m3 codes + e8m0 scales, group 32   */
    MLXC_QF_Q4_0_TILES = 12,   /* GGML Q4_0 in 16-row tiles (mlxc_ggml_to_tiles) */
    MLXC_QF_GGML       = 64,   /* + mlxc_ggml_type                            */
    MLXC_QF_Q4_0   = MLXC_QF_GGML + MLXC_GGML_Q4_0,
    MLXC_QF_Q4_1   = MLXC_QF_GGML + MLXC_GGML_Q4_1,
    MLXC_QF_Q5_0   = MLXC_QF_GGML + MLXC_GGML_Q5_0,
    MLXC_QF_Q5_1   = MLXC_QF_GGML + MLXC_GGML_Q5_1,
    MLXC_QF_Q8_0   = MLXC_QF_GGML + MLXC_GGML_Q8_0,
    MLXC_QF_Q2_K   = MLXC_QF_GGML + MLXC_GGML_Q2_K,
    MLXC_QF_Q3_K   = MLXC_QF_GGML + MLXC_GGML_Q3_K,
    MLXC_QF_Q4_K   = MLXC_QF_GGML + MLXC_GGML_Q4_K,
    MLXC_QF_Q5_K   = MLXC_QF_GGML + MLXC_GGML_Q5_K,
    MLXC_QF_Q6_K   = MLXC_QF_GGML + MLXC_GGML_Q6_K,
    MLXC_QF_IQ4_NL = MLXC_QF_GGML + MLXC_GGML_IQ4_NL,
    MLXC_QF_IQ4_XS = MLXC_QF_GGML + MLXC_GGML_IQ4_XS,
    MLXC_QF_MXFP4  = MLXC_QF_GGML + MLXC_GGML_MXFP4,
    MLXC_QF_NVFP4  = MLXC_QF_GGML + MLXC_GGML_NVFP4,
    MLXC_QF_IQ2_XXS = MLXC_QF_GGML + MLXC_GGML_IQ2_XXS,
    MLXC_QF_IQ2_XS  = MLXC_QF_GGML + MLXC_GGML_IQ2_XS,
    MLXC_QF_IQ2_S   = MLXC_QF_GGML + MLXC_GGML_IQ2_S,
    MLXC_QF_IQ3_XXS = MLXC_QF_GGML + MLXC_GGML_IQ3_XXS,
    MLXC_QF_IQ3_S   = MLXC_QF_GGML + MLXC_GGML_IQ3_S,
    MLXC_QF_IQ1_S   = MLXC_QF_GGML + MLXC_GGML_IQ1_S,
    MLXC_QF_IQ1_M   = MLXC_QF_GGML + MLXC_GGML_IQ1_M,
    MLXC_QF_TQ1_0   = MLXC_QF_GGML + MLXC_GGML_TQ1_0,
    MLXC_QF_TQ2_0   = MLXC_QF_GGML + MLXC_GGML_TQ2_0,
    MLXC_QF_LIMIT  = MLXC_QF_GGML + MLXC_GGML_TYPE_LIMIT
} mlxc_qformat;

/* "f32", "mlx-affine", "mlx-mxfp4", "Q4_K", ...; NULL for no format. */
MLXC_API const char *mlxc_qformat_name(mlxc_qformat f);
/* The format of a GGUF tensor's ggml type (F32/F16/BF16 give the dense
 * formats); MLXC_ERR_UNSUPPORTED for I8..I64 and F64, which are not weights. */
MLXC_API mlxc_status mlxc_qformat_from_ggml(uint32_t ggml_type, mlxc_qformat *out);
/* The format an MLX config's "mode" names: "affine", "mxfp4", "nvfp4", "mxfp8". */
MLXC_API mlxc_status mlxc_qformat_from_mlx_mode(const char *mode, mlxc_qformat *out);
/* True for the formats this library can dequantize on the CPU. */
MLXC_API bool        mlxc_qformat_can_dequantize(mlxc_qformat f);

/* ---- the weight descriptor ------------------------------------------------------------ */

/* One weight matrix [rows, cols] (leading dims of a stacked tensor, e.g.
 * experts, folded into rows), whatever file it came from.  Pointers are host
 * pointers into the mapped file (valid while the weights handle is open); a
 * kernel front-end uploads or views them.
 *   dense:      data = [rows, cols] elements, scales = biases = NULL
 *   MLX affine: data = uint32 [rows, cols*bits/32], scales/biases =
 *               [rows, cols/group_size] in scale_dtype (biases may be NULL
 *               only for the microscaling modes)
 *   MLX mx*:    data = uint32 codes, scales = uint8 [rows, cols/group_size]
 *   GGML:       data = [rows, cols/group_size] blocks of block_bytes each */
typedef struct mlxc_qweight {
    mlxc_qformat format;
    uint32_t     bits;          /* bits per code (dense: 32/16; GGML: nominal)     */
    uint32_t     group_size;    /* elements per scale group or block (dense: 1)    */
    uint32_t     block_bytes;   /* GGML bytes per block; 0 otherwise               */
    mlxc_dtype   scale_dtype;   /* affine: F16/BF16/F32; mx*: U8; else the data's  */
    int64_t      rows, cols;
    const void  *data;          /* shape per format, above                         */
    const void  *scales;        /* [rows, cols/group_size] or NULL                 */
    const void  *biases;        /* [rows, cols/group_size] or NULL                 */
    uint64_t     data_bytes, scales_bytes, biases_bytes;
} mlxc_qweight;

/* Dequantize a whole described weight into out[rows*cols] (f32), dispatching
 * on the format.  MLXC_ERR_UNSUPPORTED for formats without a CPU reference. */
MLXC_API mlxc_status mlxc_qweight_dequantize(const mlxc_qweight *w, float *out, size_t out_count);

/* ---- MLX affine ----------------------------------------------------------------------- */

/* Quantize w [rows, cols] (dtype F32, F16 or BF16, row-major) as mlx's CPU
 * mx.quantize(w, group_size, bits): wq [rows, cols*bits/32] uint32, scales and
 * biases [rows, cols/group_size] in w's dtype.  bits 2,3,4,5,6,8; group_size
 * 32, 64, 128; cols a multiple of group_size (and of 32/gcd so that rows end
 * on a word: always true for these groups). */
MLXC_API mlxc_status mlxc_mlx_affine_quantize(const void *w, mlxc_dtype dtype, size_t rows, size_t cols,
                                              uint32_t bits, uint32_t group_size,
                                              uint32_t *wq, void *scales, void *biases);
/* out[rows*cols] = scale * q + bias, rounded as mlx does in the scales' dtype
 * (F32, F16 or BF16), widened to f32. */
MLXC_API mlxc_status mlxc_mlx_affine_dequantize(const uint32_t *wq, const void *scales, const void *biases,
                                                mlxc_dtype scale_dtype, size_t rows, size_t cols,
                                                uint32_t bits, uint32_t group_size, float *out);

/* ---- MLX microscaling (mxfp4, nvfp4, mxfp8) ------------------------------------------- */

/* Quantize w [rows, cols] (F32, F16 or BF16) as mx.quantize(w, mode=...) on
 * the CPU stream:
 * wq [rows, cols*bits/32] uint32 (bits 4 or 8), scales uint8 [rows,
 * cols/group].  format is MLXC_QF_MLX_MXFP4, _NVFP4 or _MXFP8. */
MLXC_API mlxc_status mlxc_mlx_fp_quantize(mlxc_qformat format, const void *w, mlxc_dtype dtype, size_t rows,
                                          size_t cols, uint32_t *wq, uint8_t *scales);
/* out[rows*cols] as mx.dequantize(wq, scales, mode=..., dtype=float32). */
MLXC_API mlxc_status mlxc_mlx_fp_dequantize(mlxc_qformat format, const uint32_t *wq, const uint8_t *scales,
                                            size_t rows, size_t cols, float *out);

/* ---- GGML blocks ---------------------------------------------------------------------- */

/* True where mlxc_ggml_quantize implements the type (those the gguf package
 * quantizes: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 MXFP4). */
MLXC_API bool        mlxc_ggml_can_quantize(uint32_t ggml_type);
/* Quantize n f32 values (n a multiple of the block size) into dst, which
 * holds exactly n / block * type_size bytes (dst_bytes must say so). */
MLXC_API mlxc_status mlxc_ggml_quantize(uint32_t ggml_type, const float *x, size_t n, void *dst, size_t dst_bytes);
/* Dequantize n values from src (src_bytes = n / block * type_size) into y. */
MLXC_API mlxc_status mlxc_ggml_dequantize(uint32_t ggml_type, const void *src, size_t src_bytes, size_t n, float *y);

/* ---- GGML restated as MLX affine ------------------------------------------------------ */

/* A GGML Q4_0 or Q8_0 weight restated as MLX affine codes of group 32 with
 * f16 scales and biases, which the GPU's int8 decode walk reads in 16-byte
 * units (GGML blocks are 18 and 34 bytes, so their codes sit off 16-byte
 * boundaries):
 *   Q4_0 (w = d (q - 8)): 4-bit codes in MLX's order (value i of a row at
 *        word i / 8, bits 4 (i % 8); a block keeps value j in its low nibble
 *        j and value 16 + j in its high nibble j), scale d, bias -8 d;
 *   Q8_0 (w = d q, q signed): 8-bit codes q + 128, scale d, bias -128 d.
 * scale * q + bias then equals the block's value exactly in f32 (with or
 * without a fused multiply-add; a zero may differ in sign): d q and the
 * bias are exact, and so is their sum, d times an integer of 8 bits.  11% (Q4_0) and 6%
 * (Q8_0) more bytes than the blocks.
 *
 * src: the weight (format MLXC_QF_Q4_0 or MLXC_QF_Q8_0, data the blocks,
 * rows * cols / 32 of them); wq: rows * cols * bits / 32 words; scales and
 * biases: rows * cols / 32 f16 each.  MLXC_ERR_UNSUPPORTED for another
 * format, and where a block's d is not finite or its bias does not fit
 * f16 exactly (|d| above 8188 for Q4_0, 511.75 for Q8_0): the outputs are
 * then partly written. */
MLXC_API mlxc_status mlxc_ggml_to_affine(const mlxc_qweight *src, uint32_t *wq, uint16_t *scales, uint16_t *biases);

/* ---- GGML Q4_0 in 16-row tiles -------------------------------------------------------- */

/* MLXC_QF_Q4_0_TILES: a Q4_0 weight's bytes regrouped so that a GPU
 * mat-vec reads 16 rows by 128 columns as one 1152-byte record, each warp
 * load 512 contiguous bytes that feed its tensor-core fragments as loaded.
 * The values, and the byte count, are the blocks' own.
 *
 * Rows are taken 16 at a time (tile t: rows 16t .. 16t + 15) and columns
 * 128 at a time (chunk c: blocks 4c .. 4c + 3 of each row).  Record (t, c)
 * sits at byte (t * cols / 128 + c) * 1152:
 *   bytes    0 ..  511  rows 16t + 0..7: row 16t + g, slot j (0..3) at
 *                       16 (4g + j): its word i (0..3) is bytes 4j .. 4j + 3
 *                       of the codes (qs) of block 4c + i
 *   bytes  512 .. 1023  rows 16t + 8..15, the same way
 *   bytes 1024 .. 1151  the f16 scales d of blocks 4c .. 4c + 3 of row
 *                       16t + h at 1024 + 8h (4 of them, in block order)
 * A value keeps its block's meaning: d (q - 8), q its code as in Q4_0.
 * rows must be a multiple of 16 and cols of 128.  The descriptor: format
 * MLXC_QF_Q4_0_TILES, bits 4, group_size 32, data the records, data_bytes
 * rows * cols / 32 * 18 (as the blocks), no scales or biases. */

/* src (MLXC_QF_Q4_0, rows * cols / 32 blocks) into dst (dst_bytes = the
 * blocks' byte count).  MLXC_ERR_UNSUPPORTED for another format or a shape
 * the tiles do not take (rows % 16, cols % 128); MLXC_ERR_SHAPE for sizes
 * that do not match. */
MLXC_API mlxc_status mlxc_ggml_to_tiles(const mlxc_qweight *src, void *dst, size_t dst_bytes);
/* The inverse: src (MLXC_QF_Q4_0_TILES) back into Q4_0 blocks, bit for bit. */
MLXC_API mlxc_status mlxc_tiles_to_ggml(const mlxc_qweight *src, void *blocks, size_t blocks_bytes);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_QUANT_H */
