/* Quantized weight layouts, shared by the C library and the CUDA kernels.
 *
 * One struct per GGML block type as it lies in a GGUF file (byte for byte:
 * the gguf Python package's GGML_QUANT_SIZES and ggml-common.h agree on each
 * size below), and the parameters of MLX's split-array formats (affine and the
 * microscaling modes), which keep data and scales in separate arrays and so
 * have no block struct.
 *
 * Rules that let this header compile everywhere (gcc/clang C11, nvcc C++):
 * fixed-width integers only, half-precision values as uint16_t bit patterns
 * (no __half, no _Float16), no packed attributes: every block is a naturally
 * aligned struct whose size the asserts pin, so the compiler cannot pad it.
 * Blocks holding a uint16_t are 2-byte aligned and GGUF packs them back to
 * back, so a kernel must not load them with wider than 2-byte accesses unless
 * it checks the address; the fp4 blocks with byte-only fields are 1-aligned.
 */
#ifndef MLXC_QUANT_BLOCKS_H
#define MLXC_QUANT_BLOCKS_H

#include <stdint.h>

#ifdef __cplusplus
#define MLXC_QB_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define MLXC_QB_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---- GGML block formats ---------------------------------------------------------- */

#define MLXC_QK4_0 32
#define MLXC_QK4_1 32
#define MLXC_QK5_0 32
#define MLXC_QK5_1 32
#define MLXC_QK8_0 32
#define MLXC_QK8_1 32
#define MLXC_QK_K 256       /* super-block of the K-quants and IQ4_XS */
#define MLXC_K_SCALE_SIZE 12 /* Q4_K / Q5_K: 8 six-bit scales + 8 six-bit mins */
#define MLXC_QK4_NL 32
#define MLXC_QK_MXFP4 32
#define MLXC_QK_NVFP4 64     /* four sub-blocks of 16, one e4m3 scale each */
#define MLXC_QK_NVFP4_SUB 16

/* Q4_0: w = d * (q - 8), q in 0..15. Element j in the low nibble of qs[j],
 * element j + 16 in the high nibble. */
typedef struct mlxc_block_q4_0 {
    uint16_t d;                    /* f16 scale                                   */
    uint8_t  qs[MLXC_QK4_0 / 2];   /* nibbles                                     */
} mlxc_block_q4_0;
MLXC_QB_ASSERT(sizeof(mlxc_block_q4_0) == 18, "Q4_0 block is 18 bytes");

/* Q4_0 in 16-row tiles (MLXC_QF_Q4_0_TILES, mlxc/quant.h): a record of
 * 1152 bytes holds 16 rows by 128 columns (4 blocks of each row).  Inside
 * record (tile t, chunk c), row 16t + h's block 4c + i keeps code bytes
 * 4j .. 4j + 3 (j = 0..3) at MLXC_Q4T_CODE(h, i, j) and its f16 d at
 * MLXC_Q4T_SCALE(h, i); the record sits at byte (t * cols / 128 + c) *
 * MLXC_Q4T_RECORD, which is also t * 16 * (row bytes of Q4_0) + c * 1152. */
#define MLXC_Q4T_ROWS 16
#define MLXC_Q4T_COLS 128
#define MLXC_Q4T_RECORD 1152
#define MLXC_Q4T_CODE(h, i, j) (512u * ((h) / 8u) + 16u * (4u * ((h) % 8u) + (j)) + 4u * (i))
#define MLXC_Q4T_SCALE(h, i) (1024u + 8u * (h) + 2u * (i))
/* The byte offset of the record holding row r's block b, in a weight of
 * Q4_0's row_bytes (cols / 32 * 18) a row. */
#define MLXC_Q4T_RECORD_AT(row_bytes, r, b)                                                                            \
    ((uint64_t)(r) / MLXC_Q4T_ROWS * MLXC_Q4T_ROWS * (uint64_t)(row_bytes) + (uint64_t)((b) / 4) * MLXC_Q4T_RECORD)
MLXC_QB_ASSERT(MLXC_Q4T_RECORD == MLXC_Q4T_ROWS * MLXC_Q4T_COLS / MLXC_QK4_0 * sizeof(mlxc_block_q4_0),
               "a Q4_0 tile record holds its blocks' bytes");

/* Q4_1: w = d * q + m. Nibble order as Q4_0. */
typedef struct mlxc_block_q4_1 {
    uint16_t d;                    /* f16 scale                                   */
    uint16_t m;                    /* f16 minimum                                 */
    uint8_t  qs[MLXC_QK4_1 / 2];
} mlxc_block_q4_1;
MLXC_QB_ASSERT(sizeof(mlxc_block_q4_1) == 20, "Q4_1 block is 20 bytes");

/* Q5_0: w = d * (q - 16); bit 4 of element j is bit j of the little-endian
 * 32-bit word qh (kept as bytes: the block is only 2-byte aligned). */
typedef struct mlxc_block_q5_0 {
    uint16_t d;
    uint8_t  qh[4];
    uint8_t  qs[MLXC_QK5_0 / 2];
} mlxc_block_q5_0;
MLXC_QB_ASSERT(sizeof(mlxc_block_q5_0) == 22, "Q5_0 block is 22 bytes");

/* Q5_1: w = d * q + m, bits as Q5_0. */
typedef struct mlxc_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t  qh[4];
    uint8_t  qs[MLXC_QK5_1 / 2];
} mlxc_block_q5_1;
MLXC_QB_ASSERT(sizeof(mlxc_block_q5_1) == 24, "Q5_1 block is 24 bytes");

/* Q8_0: w = d * q. */
typedef struct mlxc_block_q8_0 {
    uint16_t d;
    int8_t   qs[MLXC_QK8_0];
} mlxc_block_q8_0;
MLXC_QB_ASSERT(sizeof(mlxc_block_q8_0) == 34, "Q8_0 block is 34 bytes");

/* Q8_1: an activation format for integer dot products (never in a file):
 * s = d * sum(qs). ggml-common.h's layout (36 bytes); the gguf Python table
 * still lists an older 40-byte float layout, which no file uses. */
typedef struct mlxc_block_q8_1 {
    uint16_t d;
    uint16_t s;
    int8_t   qs[MLXC_QK8_1];
} mlxc_block_q8_1;
MLXC_QB_ASSERT(sizeof(mlxc_block_q8_1) == 36, "Q8_1 block is 36 bytes");

/* Q2_K: 16 sub-blocks of 16; scales[i] low nibble = scale, high = min;
 * w = d * sc * q - dmin * m, q in 0..3. */
typedef struct mlxc_block_q2_k {
    uint8_t  scales[MLXC_QK_K / 16];
    uint8_t  qs[MLXC_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} mlxc_block_q2_k;
MLXC_QB_ASSERT(sizeof(mlxc_block_q2_k) == 84, "Q2_K block is 84 bytes");

/* Q3_K: 16 sub-blocks of 16, 6-bit signed scales (offset 32) packed in 12
 * bytes; q = low 2 bits - (high bit clear ? 4 : 0). */
typedef struct mlxc_block_q3_k {
    uint8_t  hmask[MLXC_QK_K / 8];
    uint8_t  qs[MLXC_QK_K / 4];
    uint8_t  scales[12];
    uint16_t d;
} mlxc_block_q3_k;
MLXC_QB_ASSERT(sizeof(mlxc_block_q3_k) == 110, "Q3_K block is 110 bytes");

/* Q4_K: 8 sub-blocks of 32; w = d * sc * q - dmin * m. */
typedef struct mlxc_block_q4_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[MLXC_K_SCALE_SIZE];
    uint8_t  qs[MLXC_QK_K / 2];
} mlxc_block_q4_k;
MLXC_QB_ASSERT(sizeof(mlxc_block_q4_k) == 144, "Q4_K block is 144 bytes");

/* Q5_K: Q4_K plus one high bit per element. */
typedef struct mlxc_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[MLXC_K_SCALE_SIZE];
    uint8_t  qh[MLXC_QK_K / 8];
    uint8_t  qs[MLXC_QK_K / 2];
} mlxc_block_q5_k;
MLXC_QB_ASSERT(sizeof(mlxc_block_q5_k) == 176, "Q5_K block is 176 bytes");

/* Q6_K: 16 sub-blocks of 16, int8 scales; w = d * sc * (q - 32). */
typedef struct mlxc_block_q6_k {
    uint8_t  ql[MLXC_QK_K / 2];    /* low 4 bits                                  */
    uint8_t  qh[MLXC_QK_K / 4];    /* high 2 bits                                 */
    int8_t   scales[MLXC_QK_K / 16];
    uint16_t d;
} mlxc_block_q6_k;
MLXC_QB_ASSERT(sizeof(mlxc_block_q6_k) == 210, "Q6_K block is 210 bytes");

/* Q8_K: the K-quants' activation format (never in a file). */
typedef struct mlxc_block_q8_k {
    float   d;
    int8_t  qs[MLXC_QK_K];
    int16_t bsums[MLXC_QK_K / 16];
} mlxc_block_q8_k;
MLXC_QB_ASSERT(sizeof(mlxc_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* IQ4_NL: w = d * kvalues[q] with a fixed non-linear 16-entry table. */
typedef struct mlxc_block_iq4_nl {
    uint16_t d;
    uint8_t  qs[MLXC_QK4_NL / 2];
} mlxc_block_iq4_nl;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq4_nl) == 18, "IQ4_NL block is 18 bytes");

/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (offset 32): low 4 bits in
 * scales_l (two per byte), high 2 bits in scales_h (two per sub-block). */
typedef struct mlxc_block_iq4_xs {
    uint16_t d;
    uint16_t scales_h;
    uint8_t  scales_l[MLXC_QK_K / 64];
    uint8_t  qs[MLXC_QK_K / 2];
} mlxc_block_iq4_xs;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq4_xs) == 136, "IQ4_XS block is 136 bytes");

/* The code-book formats, 256 values a block: their values are points of
 * fixed code books (quant_grids.h) with per-group scales and sign patterns;
 * src/quant/quant_iq.h decodes them. */

/* The ggml type numbers (mlxc_ggml_type) of the formats quant_iq.h decodes. */
enum {
    MLXC_QI_IQ2_XXS = 16, MLXC_QI_IQ2_XS = 17, MLXC_QI_IQ3_XXS = 18, MLXC_QI_IQ1_S = 19, MLXC_QI_IQ3_S = 21,
    MLXC_QI_IQ2_S = 22, MLXC_QI_IQ1_M = 29, MLXC_QI_TQ1_0 = 34, MLXC_QI_TQ2_0 = 35, MLXC_QI_NVFP4 = 40
};

/* IQ2_XXS: per 32 values two words: 4 point bytes (8 values each), then 4
 * 7-bit sign groups and a 4-bit scale in the top bits. */
typedef struct mlxc_block_iq2_xxs {
    uint16_t d;
    uint16_t qs[MLXC_QK_K / 8];
} mlxc_block_iq2_xxs;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq2_xxs) == 66, "IQ2_XXS block is 66 bytes");

/* IQ2_XS: per 8 values a 9-bit point and 7-bit sign group; a 4-bit scale
 * per 16 values. */
typedef struct mlxc_block_iq2_xs {
    uint16_t d;
    uint16_t qs[MLXC_QK_K / 8];
    uint8_t  scales[MLXC_QK_K / 32];
} mlxc_block_iq2_xs;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq2_xs) == 74, "IQ2_XS block is 74 bytes");

/* IQ2_S: qs holds 32 point bytes then 32 sign bytes; qh 2 high point bits
 * per 8 values; a 4-bit scale per 16 values. */
typedef struct mlxc_block_iq2_s {
    uint16_t d;
    uint8_t  qs[MLXC_QK_K / 4];
    uint8_t  qh[MLXC_QK_K / 32];
    uint8_t  scales[MLXC_QK_K / 32];
} mlxc_block_iq2_s;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq2_s) == 82, "IQ2_S block is 82 bytes");

/* IQ3_XXS: 64 point bytes (4 values each), then per 32 values a word of 4
 * 7-bit sign groups and a 4-bit scale. */
typedef struct mlxc_block_iq3_xxs {
    uint16_t d;
    uint8_t  qs[3 * MLXC_QK_K / 8];
} mlxc_block_iq3_xxs;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq3_xxs) == 98, "IQ3_XXS block is 98 bytes");

/* IQ3_S: 64 point bytes, their ninth bits, a sign byte per 8 values, a 4-bit
 * scale per 32. */
typedef struct mlxc_block_iq3_s {
    uint16_t d;
    uint8_t  qs[MLXC_QK_K / 4];
    uint8_t  qh[MLXC_QK_K / 32];
    uint8_t  signs[MLXC_QK_K / 8];
    uint8_t  scales[MLXC_QK_K / 64];
} mlxc_block_iq3_s;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq3_s) == 110, "IQ3_S block is 110 bytes");

/* IQ1_S: 32 point bytes; per 32 values a word of 4 x 3 high point bits, a
 * 3-bit scale and the delta's sign. */
typedef struct mlxc_block_iq1_s {
    uint16_t d;
    uint8_t  qs[MLXC_QK_K / 8];
    uint16_t qh[MLXC_QK_K / 32];
} mlxc_block_iq1_s;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq1_s) == 50, "IQ1_S block is 50 bytes");

/* IQ1_M: no d field: its 16 bits are the top nibbles of the 4 scale words
 * (each also holding four 3-bit scales, one per 16 values); qh holds a
 * nibble per 8 values (3 high point bits, the delta's sign). */
typedef struct mlxc_block_iq1_m {
    uint8_t qs[MLXC_QK_K / 8];
    uint8_t qh[MLXC_QK_K / 16];
    uint8_t scales[MLXC_QK_K / 32];
} mlxc_block_iq1_m;
MLXC_QB_ASSERT(sizeof(mlxc_block_iq1_m) == 56, "IQ1_M block is 56 bytes");

/* TQ1_0 (ternary): 5 base-3 digits a byte (stored as ceil(v * 256 / 243)),
 * 4 in each qh byte; w = d * (digit - 1). */
typedef struct mlxc_block_tq1_0 {
    uint8_t  qs[(MLXC_QK_K - 4 * MLXC_QK_K / 64) / 5];
    uint8_t  qh[MLXC_QK_K / 64];
    uint16_t d;
} mlxc_block_tq1_0;
MLXC_QB_ASSERT(sizeof(mlxc_block_tq1_0) == 54, "TQ1_0 block is 54 bytes");

/* TQ2_0 (ternary): 2-bit digits; w = d * (digit - 1). */
typedef struct mlxc_block_tq2_0 {
    uint8_t  qs[MLXC_QK_K / 4];
    uint16_t d;
} mlxc_block_tq2_0;
MLXC_QB_ASSERT(sizeof(mlxc_block_tq2_0) == 66, "TQ2_0 block is 66 bytes");

/* MXFP4 (GGML): e8m0 shared exponent, 32 e2m1 codes; element j in the low
 * nibble of qs[j], element j + 16 in the high nibble. */
typedef struct mlxc_block_mxfp4 {
    uint8_t e;
    uint8_t qs[MLXC_QK_MXFP4 / 2];
} mlxc_block_mxfp4;
MLXC_QB_ASSERT(sizeof(mlxc_block_mxfp4) == 17, "MXFP4 block is 17 bytes");

/* NVFP4 (GGML): four unsigned-e4m3 scales, then four sub-blocks of 8 bytes;
 * in sub-block s, element j (0..7) is the low nibble of qs[8s + j], element
 * j + 8 the high nibble. */
typedef struct mlxc_block_nvfp4 {
    uint8_t d[MLXC_QK_NVFP4 / MLXC_QK_NVFP4_SUB];
    uint8_t qs[MLXC_QK_NVFP4 / 2];
} mlxc_block_nvfp4;
MLXC_QB_ASSERT(sizeof(mlxc_block_nvfp4) == 36, "NVFP4 block is 36 bytes");

/* ---- MLX split-array formats ------------------------------------------------------ */

/* Scale/bias storage type of MLX affine weights: the dtype of the original
 * weights. */
typedef enum mlxc_mlx_scale_type {
    MLXC_MLX_SCALE_F16  = 0,
    MLXC_MLX_SCALE_BF16 = 1,
    MLXC_MLX_SCALE_F32  = 2
} mlxc_mlx_scale_type;

/* MLX affine: w = scale * q + bias per group of group_size consecutive row
 * elements; each row of q is one LSB-first bitstream of bits-wide codes in
 * uint32 words (row stride cols * bits / 32 words); scales and biases are
 * [rows, cols / group_size] in scale_type. bits in {2,3,4,5,6,8}, group_size
 * in {32,64,128}. */
typedef struct mlxc_mlx_affine_params {
    uint32_t bits;
    uint32_t group_size;
    uint32_t scale_type;           /* mlxc_mlx_scale_type                         */
} mlxc_mlx_affine_params;

/* MLX microscaling modes (mx.quantize(..., mode=...)): no biases, one uint8
 * scale per group of a row ([rows, cols / group] bytes), codes packed
 * LSB-first into uint32 words like affine.
 *   mxfp4: group 32, e8m0 scale (2^(e-127)), e2m1 codes, 4 bits
 *   nvfp4: group 16, e4m3 scale,            e2m1 codes, 4 bits
 *   mxfp8: group 32, e8m0 scale,            e4m3 codes, 8 bits */
#define MLXC_MLX_MXFP4_GROUP 32
#define MLXC_MLX_NVFP4_GROUP 16
#define MLXC_MLX_MXFP8_GROUP 32

/* e2m1 magnitudes, doubled so that they are integers: {0,.5,1,1.5,2,3,4,6}*2;
 * bit 3 of a code is the sign. */
#define MLXC_E2M1_X2_INIT {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

/* IQ4_NL / IQ4_XS code book. */
#define MLXC_IQ4NL_INIT {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

#endif /* MLXC_QUANT_BLOCKS_H */
