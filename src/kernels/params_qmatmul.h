/*
 * By-value parameters of the quantized matmul kernels
 * (include/mlxc/ops_qmatmul.h), shared by the CPU kernels (C), the CUDA
 * kernels (.cu) and the front-end.
 *
 *   qmv_F_X_Y(x, w, scales, biases, y, mlxc_p_qmatmul)   m <= 8 (decode)
 *   qmm_F_X_Y(x, w, scales, biases, y, mlxc_p_qmatmul)   any m (prefill)
 *   qgather_F_Y(ids, w, scales, biases, out, mlxc_p_qgather)   rows of W
 *   qmoe_F_X_Y(x, w, scales, biases, ids, y, mlxc_p_qmoe)       experts
 *
 *       y[i, j] = sum_k x[i, k] * W[j, k]      x (m, k)  W (n, k)  y (m, n)
 *
 * F names the weight format (mlxc_qmm_format, "affine4", "q4_k", ...; the
 * table below), X and Y are f32 or bf16.  W is stored row by row, each row
 * `row_bytes` bytes of whole blocks; the MLX formats keep their per-group
 * scales (and affine biases) in separate buffers of n * k / group entries,
 * row-major; the GGML formats carry their scales inside the blocks and the
 * front-end passes w again as `scales` and `biases` (never read).  Every
 * kernel dequantizes into f32, multiplies and sums in f32, and rounds a
 * bf16 y once at the end.  Each kernel covers all of its work for any grid
 * and block size (params_elementwise.h).
 */
#ifndef MLXC_KERNELS_PARAMS_QMATMUL_H
#define MLXC_KERNELS_PARAMS_QMATMUL_H

#include <stdint.h>

#include "quant/quant_blocks.h"

/* The largest m the mat-vec kernels take. */
#define MLXC_QMV_MAX_M 8
/* CUDA mat-vec launch: threads per block (one warp per weight row). */
#define MLXC_QMV_THREADS 256
#define MLXC_QMV_ROWS    (MLXC_QMV_THREADS / 32)
/* Weight rows per mat-vec block in the launch the front-end makes: the
 * tensor-core path's block owns 16 rows (its warps split k); the
 * warp-per-row path walks them in two rounds. */
#define MLXC_QMV_BLOCK_ROWS 16
/* qmvt_F_X_Y: the tensor-core mat-vec (m <= 8) of the formats that have
 * one (mlxc_qmvt_has); at most this many threads a block.  A block owns
 * MLXC_QMVT_ROWS weight rows at a time; its shared-memory path (the
 * launch's dynamic shared memory, mlxc_qmvt_smem_bytes) takes blocks of
 * exactly MLXC_QMVT_WARPS warps. */
#define MLXC_QMVT_THREADS 256
#define MLXC_QMVT_ROWS    16
#define MLXC_QMVT_WARPS   8
/* Blocks of the fused mat-vec (qmvf) an SM holds at once: its register
 * budget (__launch_bounds__) and the grid the front-end launches where the
 * ring's shared memory fits that many.  (Three, at 80 registers, measured
 * slower: bench/results/decode-q8-h200-2026-12-04.md.) */
#define MLXC_QMVF_BLOCKS 2
/* CUDA mat-mat launch: an output tile of QMM_BM x rows by QMM_BN weight
 * rows, k walked in chunks of QMM_BK dequantized values. */
#define MLXC_QMM_THREADS 256
#define MLXC_QMM_BM      32
#define MLXC_QMM_BN      32
#define MLXC_QMM_BK      256

/* CPU tiles: a group owns tiles of MLXC_CPU_QMM_NT weight rows by
 * MLXC_CPU_QMM_MT x rows, k walked in chunks of MLXC_CPU_QMM_KB (a
 * multiple of every block and group size). */
#define MLXC_CPU_QMM_NT 32
#define MLXC_CPU_QMM_MT 32
#define MLXC_CPU_QMM_KB 256

/* Weight formats; values are the codes of include/mlxc/ops_qmatmul.h. */
enum {
    MLXC_QMMF_AFFINE = 1, /* MLX affine: w = scale * q + bias, bits 2..8         */
    MLXC_QMMF_MXFP4,      /* MLX mxfp4: e2m1 x 2^(e8m0 - 127), group 32           */
    MLXC_QMMF_NVFP4,      /* MLX nvfp4: e2m1 x e4m3 scale, group 16               */
    MLXC_QMMF_MXFP8,      /* MLX mxfp8: e4m3 x 2^(e8m0 - 127), group 32           */
    MLXC_QMMF_Q4_0,       /* GGML blocks, ggml-common.h layouts                   */
    MLXC_QMMF_Q4_1,
    MLXC_QMMF_Q5_0,
    MLXC_QMMF_Q5_1,
    MLXC_QMMF_Q8_0,
    MLXC_QMMF_Q2_K,
    MLXC_QMMF_Q3_K,
    MLXC_QMMF_Q4_K,
    MLXC_QMMF_Q5_K,
    MLXC_QMMF_Q6_K,
    MLXC_QMMF_IQ4_NL,
    MLXC_QMMF_IQ4_XS,
    MLXC_QMMF_GGML_MXFP4,
    MLXC_QMMF_Q4_0T,      /* Q4_0 in 16-row tiles (MLXC_Q4T_*, quant_blocks.h)    */
    MLXC_QMMF_IQ2_XXS,    /* the code-book, ternary and GGML NVFP4 blocks, read   */
    MLXC_QMMF_IQ2_XS,     /* through src/quant/quant_iq.h (mlxc_qf_qi_type)       */
    MLXC_QMMF_IQ2_S,
    MLXC_QMMF_IQ3_XXS,
    MLXC_QMMF_IQ3_S,
    MLXC_QMMF_IQ1_S,
    MLXC_QMMF_IQ1_M,
    MLXC_QMMF_TQ1_0,
    MLXC_QMMF_TQ2_0,
    MLXC_QMMF_GGML_NVFP4,
    MLXC_QMMF_F32,        /* dense rows of f32, f16, bf16: the expert forms only  */
    MLXC_QMMF_F16,        /* (qmoe, qmoeg), for models whose experts are dense    */
    MLXC_QMMF_BF16,
    MLXC_QMMF_COUNT
};

/* Scale and bias storage of the affine format. */
enum { MLXC_QS_F32 = 0, MLXC_QS_F16 = 1, MLXC_QS_BF16 = 2 };

typedef struct mlxc_p_qmatmul {
    uint32_t m, n, k;
    uint32_t format;    /* MLXC_QMMF_*                                          */
    uint32_t bits;      /* affine: 2, 3, 4, 5, 6 or 8; else the element bits  */
    uint32_t group;     /* elements per block or scale group                  */
    uint32_t sdtype;    /* affine: MLXC_QS_* of scales and biases             */
    uint32_t row_bytes; /* bytes of one weight row                            */
} mlxc_p_qmatmul;

#ifdef __CUDACC__
#define MLXC_QF_HD __host__ __device__
#else
#define MLXC_QF_HD
#endif

/* qgather_F_Y(ids, w, scales, biases, out, mlxc_p_qgather): out[r, :] =
 * W[ids[r], :] * scale for r < q.m (ids u32; has_ids 0: W[r, :], the whole
 * matrix when q.m = q.n); an id >= q.n gives a zero row.  out f32 or bf16. */
typedef struct mlxc_p_qgather {
    mlxc_p_qmatmul q;
    uint32_t       has_ids;
    float          scale;
} mlxc_p_qgather;

/* qmvf_F_bf16_bf16(x, aux, g, w, scales, biases, y, mlxc_p_qmvf): one
 * token's mat-vec (q.m = 1, bf16 x and y) with the decode step's
 * neighbours folded in.  The prologue makes the vector it multiplies:
 *   MLXC_QMVF_NONE      x' = x
 *   MLXC_QMVF_RMS_NORM  x' = round(x * inv_rms(x) * g)    (as rms_norm)
 *   MLXC_QMVF_SILU_MUL  x' = round(silu(x) * aux)         (as silu_mul)
 * and the epilogue stores y = round(x' . W^T), or with MLXC_QMVF_ADD adds
 * it to what y holds: y = round(y + round(x' . W^T)) (the residual add).
 * act MLXC_QMVF_ACT_Q8 multiplies x' quantized to int8 instead: per 32
 * values (i .. i + 31, i a multiple of 32) a = max |x'|, d = a / 127,
 * q = round-to-even(x' * (127 / a)) (0 where a = 0), and x' . W^T is
 * taken with d q for x'.  On CUDA that form is the register walk
 * (qmvr, affine 4/8-bit, Q4_K, Q5_K, Q6_K: mlxc_qmvr_takes); the CPU twin quantizes x' so. */
enum { MLXC_QMVF_NONE = 0, MLXC_QMVF_RMS_NORM = 1, MLXC_QMVF_SILU_MUL = 2 };
enum { MLXC_QMVF_STORE = 0, MLXC_QMVF_ADD = 1 };
enum { MLXC_QMVF_ACT_EXACT = 0, MLXC_QMVF_ACT_Q8 = 1 };
typedef struct mlxc_p_qmvf {
    mlxc_p_qmatmul q;
    uint32_t       pro, epi;
    float          eps;       /* RMS_NORM */
    uint32_t       act;       /* MLXC_QMVF_ACT_* */
    uint32_t       slices;    /* qmvf_q4_0t: mlxc_q4t_slices (else unused) */
} mlxc_p_qmvf;

/* qmvr_F_bf16_f32_argmax (x, aux, g, w, scales, biases, y, token,
 * logprob, scratch, mlxc_p_qmva): the int8 walk into f32 y, then the
 * greedy pick of y (mlxc_qmatmul_fused_argmax, CUDA only): each block
 * reduces its rows to (max, first index, sum of exp(y - max)) in scratch
 * words 1 + 4 b ..; the last block to count itself in scratch[0] combines
 * them in block order, writes token (and logprob where write_lp) and sets
 * scratch[0] back to zero.  At most MLXC_QMVA_BLOCKS blocks. */
#define MLXC_QMVA_BLOCKS 1024
typedef struct mlxc_p_qmva {
    mlxc_p_qmvf v;
    uint32_t    write_lp, pad;
} mlxc_p_qmva;

/* qmvp_F1_F2_bf16_bf16 (x, g, w1, scales1, biases1, y1, w2, scales2,
 * biases2, y2, mlxc_p_qmvp): two fused mat-vecs of one x in one launch
 * (mlxc_qmatmul_fused_pair), a the int8 walk (qmvr, act Q8) of w1 into
 * y1 and b w2's into y2, the ring (qmvf) for b.act EXACT or the int8 walk
 * for Q8, the same prologue
 * (NONE or RMS_NORM with g) and the store epilogue: the q/k and v
 * projections of a model whose v weight has another format (Q4_K_M's
 * Q6_K).  Blocks of MLXC_QMVT_THREADS threads: the first blocks_b run
 * part b, striding over its tiles, the rest part a, so that both run side
 * by side; the dynamic shared memory is the larger of the two parts'. */
typedef struct mlxc_p_qmvp {
    mlxc_p_qmvf a, b;
    uint32_t    blocks_b;
} mlxc_p_qmvp;

/* The register walk (qmvr): a block of MLXC_QMVR_WARPS warps; warp w
 * takes slice w % S of a row's 32-value chunks (128 of them, 4 a lane,
 * held in registers as int8 for the whole kernel) and rows in groups of
 * MLXC_QMVR_R; S = ceil(k / 4096) slices, 8 / S row groups a block.  It
 * takes MLX affine 4- and 8-bit weights with 2-byte scales, a group of 32,
 * 64 or 128, and k a multiple of 32 up to 32768, and Q4_K and Q5_K with
 * k a multiple of 256 up to 32768; Q6_K with k a multiple of 256 up to
 * 16384 (its lanes hold MLXC_QMVR_J6 chunks).  Shared memory: x' as int8
 * (k bytes), then (d, d * sum q) per chunk (8 bytes). */
#define MLXC_QMVR_WARPS 8
#ifndef MLXC_QMVR_R
#define MLXC_QMVR_R 2
#endif
/* 32-value chunks a lane holds (a slice is 32 J chunks) */
#ifndef MLXC_QMVR_J
#define MLXC_QMVR_J 4
#endif
/* Q6_K's chunks a lane: a chunk's weights are 13 registers (its 2-byte
 * aligned super-block read as 4-byte words), so half the chunks of the
 * 4-bit walks and as many rows */
#ifndef MLXC_QMVR_J6
#define MLXC_QMVR_J6 2
#endif
MLXC_QF_HD static inline uint32_t mlxc_qmvr_j(uint32_t f) { return f == MLXC_QMMF_Q6_K ? MLXC_QMVR_J6 : MLXC_QMVR_J; }
/* blocks an SM (the kernel's launch bounds and the front-end's grid) */
#ifndef MLXC_QMVR_BLOCKS
#define MLXC_QMVR_BLOCKS 2
#endif
/* rows at a time of the 8-bit walk (twice the units a lane: the same
 * bytes in flight as MLXC_QMVR_R rows of 4-bit) and of Q5_K's (three
 * 16-byte loads a unit) */
#ifndef MLXC_QMVR_R8
#define MLXC_QMVR_R8 1
#endif
MLXC_QF_HD static inline int mlxc_qmvr_takes(uint32_t f, uint32_t bits, uint32_t k, uint32_t group, uint32_t es) {
    if (k % 32 != 0 || k / 32 > 32 * mlxc_qmvr_j(f) * MLXC_QMVR_WARPS) return 0;
    if (f == MLXC_QMMF_Q4_K || f == MLXC_QMMF_Q5_K || f == MLXC_QMMF_Q6_K) return k % 256 == 0;
    return f == MLXC_QMMF_AFFINE && (bits == 4 || bits == 8) && es == 2 &&
           (group == 32 || group == 64 || group == 128) && k % group == 0;
}
/* Slices of a row of k for j units (32 chunks of 32) a lane: ceil(k / 32 / (32 j)) */
MLXC_QF_HD static inline uint32_t mlxc_qmvr_slices_j(uint32_t k, uint32_t j) { return (k / 32 + 32 * j - 1) / (32 * j); }
MLXC_QF_HD static inline uint32_t mlxc_qmvr_slices(uint32_t f, uint32_t k) { return mlxc_qmvr_slices_j(k, mlxc_qmvr_j(f)); }
MLXC_QF_HD static inline uint32_t mlxc_qmvr_smem_bytes(uint32_t k) { return k + k / 32 * 8; }
/* The pipelined walk (MLXC_QMVR_PIPE, default 1): for MLX affine 4-bit,
 * Q4_K and Q6_K a warp takes one row at a time and issues the next tile's
 * loads before this tile's products, so that its loads stay in flight
 * while it computes, in the registers two rows took at a time.  Not for
 * the 8-bit and Q5_K walks (one row already: they would need twice
 * their registers), nor for Q6_K in the expert kernels and beside Q5_K
 * in a pair, which spill with it: MLXC_QMVR_PIPE_IN(f, bits, oth) with
 * oth the pair's other format, MLXC_QMVR_IN_EXPERTS for the expert
 * walk, 0 alone.  Macros: the kernels test them at compile time. */
#ifndef MLXC_QMVR_PIPE
#define MLXC_QMVR_PIPE 1
#endif
/* Q6_K's pipelined walk (MLXC_QMVR_PIPE6): built without spills, default
 * 0 until a device has measured it */
#ifndef MLXC_QMVR_PIPE6
#define MLXC_QMVR_PIPE6 0
#endif
#define MLXC_QMVR_IN_EXPERTS 0xffu
#define MLXC_QMVR_PIPE_IN(f, bits, oth)                                                                        \
    (MLXC_QMVR_PIPE && ((f) == MLXC_QMMF_Q4_K || ((f) == MLXC_QMMF_AFFINE && (bits) == 4) ||                   \
                        (MLXC_QMVR_PIPE6 && (f) == MLXC_QMMF_Q6_K && (oth) != MLXC_QMMF_Q5_K &&               \
                         (oth) != MLXC_QMVR_IN_EXPERTS)))
/* Rows of one tile (a block's rows at a time) where the walk runs beside
 * oth (MLXC_QMVR_PIPE_IN): 8 / S row groups. */
MLXC_QF_HD static inline uint32_t mlxc_qmvr_rows_in(uint32_t f, uint32_t bits, uint32_t k, uint32_t oth) {
    const int r8 = (f == MLXC_QMMF_AFFINE && bits == 8) || f == MLXC_QMMF_Q5_K;
    return MLXC_QMVR_WARPS / mlxc_qmvr_slices(f, k) *
           (r8 ? MLXC_QMVR_R8 : MLXC_QMVR_PIPE_IN(f, bits, oth) ? 1 : MLXC_QMVR_R);
}
MLXC_QF_HD static inline uint32_t mlxc_qmvr_rows(uint32_t f, uint32_t bits, uint32_t k) {
    return mlxc_qmvr_rows_in(f, bits, k, 0);
}

/* The expert-routed int8 walk's shape (qmoer, qmoerc): an expert's rows
 * may be short (a MoE layer's down projection: k = 768 on Qwen3-30B-A3B),
 * so for the walks MLXC_QMVR_SHORT names, with k / 32 <= 32 chunks, a lane
 * holds one unit and a warp mlxc_qmvr_j(f) times the default walk's rows,
 * the same loads in flight (j = 1; else 0, the default walk).  On an
 * H100 this took the 30B's decode from 302.7-303.6 to 307.3-308.3
 * tokens/s (Q4_K); two units of 4 rows for k <= 2048 (the gate/up)
 * measured no better (bench/results/moe-int8-experts-2026-12-06.md).
 * A macro: the kernels test it at compile time. */
#define MLXC_QMVR_SHORT(f, bits) \
    ((f) == MLXC_QMMF_Q4_K || (f) == MLXC_QMMF_Q6_K || ((f) == MLXC_QMMF_AFFINE && (bits) == 4))
MLXC_QF_HD static inline uint32_t mlxc_qmoer_j(uint32_t f, uint32_t bits, uint32_t k) {
    return MLXC_QMVR_SHORT(f, bits) && k / 32 <= 32 ? 1 : 0;
}
/* Rows of a tile of the expert-routed walk */
MLXC_QF_HD static inline uint32_t mlxc_qmoer_rows(uint32_t f, uint32_t bits, uint32_t k) {
    const uint32_t j = mlxc_qmoer_j(f, bits, k);
    return j ? MLXC_QMVR_WARPS * (mlxc_qmvr_j(f) * MLXC_QMVR_R / j) : mlxc_qmvr_rows_in(f, bits, k, MLXC_QMVR_IN_EXPERTS);
}

/* qmoe_F_X_Y(x, w, scales, biases, ids, y, mlxc_p_qmoe): expert-routed
 * mat-vec.  W holds `experts` matrices (n, k) stacked as (experts * n, k);
 * for every pair p < q.m (token t = p / topk), y[p, :] = x[t, :] . W_e^T
 * with e = ids[p] (u32; e >= experts gives a zero row); y (q.m, n). */
typedef struct mlxc_p_qmoe {
    mlxc_p_qmatmul q;
    uint32_t       topk, experts;
} mlxc_p_qmoe;

/* qmoef_F_bf16_bf16(x, aux, g, w, scales, biases, ids, y, mlxc_p_qmoef):
 * the expert-routed form of qmvf.  Pair s = t * topk + j (v.q.m = 1; the
 * grid's y is the pair on CUDA) multiplies x'_t, made by v's prologue from
 * x + t * x_stride (and aux + t * x_stride, g), by expert ids[s]'s rows
 * (v.q.n of them, from row ids[s] * v.q.n of the stacked weight) into
 * y + s * v.q.n; an id >= experts gives a zero row.  v.epi is STORE;
 * v.act EXACT (qmoer below: Q8; the CPU function honours either).
 *
 * qmoec_F_bf16_bf16(x, aux, g, w, scales, biases, ids, rw, y, resid, ctr,
 * mlxc_p_qmoef): the same with topk 1 (pair s reads its own rows of x and
 * aux, s * x_stride on: a MoE down projection), then the experts' combine
 * of each token t's `group` pairs into its residual row (bf16, n values):
 *   resid[t, r] = round(round(sum_j rw[t, j] * y[t, j, r]) + resid[t, r])
 * rw (tokens, group) f32, j in order, as moe_combine.  On CUDA the last
 * of a token's blocks with one grid.x combines that block's tiles of
 * rows (MLXC_QMVT_ROWS each), counted in ctr[t * grid.x + block] (u32,
 * zero before, zero after); the CPU combines each tile of rows after
 * its pairs.
 *
 * qmoer_F_bf16_bf16 (qmoef's arguments) and qmoerc_F_bf16_bf16 (qmoec's):
 * the same with v.act MLXC_QMVF_ACT_Q8, on CUDA through the int8 walk
 * (qmvr: mlxc_qmvr_takes), whose tiles are mlxc_qmoer_rows rows; the CPU
 * runs qmoef's and qmoec's functions. */
typedef struct mlxc_p_qmoef {
    mlxc_p_qmvf v;
    uint32_t    topk, experts, x_stride;
    uint32_t    pairs;        /* tokens * topk */
    uint32_t    group;        /* qmoec: pairs a token (the combine's k); else 0 */
} mlxc_p_qmoef;

/* qmoeg_F_X_Y(x, w, scales, biases, offsets, perm, y, mlxc_p_qmoe): the
 * expert-grouped mat-mat (MoE prefill).  offsets (experts + 1) and perm
 * (q.m = tokens * topk slots) as mlxc_moe_group makes them: slots
 * perm[offsets[e] .. offsets[e + 1]) use expert e, the slots after
 * offsets[experts] none (zero rows); y[s, :] = x[s / topk, :] . W_e^T.
 * Work units are (expert or the unrouted tail, tile of output rows); each
 * walks its expert's slots in tiles, so a weight row is read once per tile
 * of slots.  Offsets and slots out of range are clamped or skipped.
 *
 * qmoegt_F_bf16_bf16 (the same arguments; CUDA, bf16 x and y): the same
 * product on the tensor cores.  A unit is (tile of MLXC_QMOEGT_BM slots of
 * one expert or of the unrouted tail, tile of MLXC_QMOEGT_BN output rows);
 * its weight rows are dequantized to bf16 in shared memory and multiplied
 * by mma.sync with f32 sums, so the weights are rounded to bf16 as the
 * dequantize-then-GEMM prefill path rounds them.  Launch: blocks of
 * MLXC_QMOEGT_THREADS threads, MLXC_QMOEGT_SMEM bytes of dynamic shared
 * memory, k a multiple of 8 and x 16-byte aligned (mlxc_qmoegt_units gives
 * the grid); other launches run a plain per-output dot product. */
#define MLXC_QMOEGT_BM      64
#define MLXC_QMOEGT_BN      64
#define MLXC_QMOEGT_BK      64
#define MLXC_QMOEGT_THREADS 128
#define MLXC_QMOEGT_SMEM    (2 * (MLXC_QMOEGT_BM + MLXC_QMOEGT_BN) * MLXC_QMOEGT_BK * 2)
/* Units that cover any grouping of `slots` slots over `experts` experts
 * and n output rows: each expert and the tail may end in a partial tile. */
MLXC_QF_HD static inline uint64_t mlxc_qmoegt_units(uint32_t slots, uint32_t experts, uint32_t n) {
    return ((uint64_t)slots / MLXC_QMOEGT_BM + experts + 1) * ((n + MLXC_QMOEGT_BN - 1) / MLXC_QMOEGT_BN);
}
/* The raw-tile path of qmoegt (Q4_0, Q4_K, Q6_K and MLX affine 4-bit of
 * group 32, 64 or 128, with k a multiple of MLXC_QMOEG2_BK, so that a
 * row's bytes of a k step are whole 16-byte units; Q6_K's 210 bytes are
 * copied as the 14 units around them and read from their offset there):
 * stages of the raw weight bytes of MLXC_QMOEG2_BN rows (and of their affine scales and biases:
 * the buffers 4-byte aligned) and the bf16 x rows of MLXC_QMOEG2_BM
 * slots, copied by cp.async; the codes are decoded from shared memory as
 * exact bf16 integers and each 32-value block's scale (and min, or bias)
 * is applied to its partial sums.  Launch: MLXC_QMOEG2_THREADS threads,
 * dynamic shared memory of 2 to 4 stages (mlxc_qmoeg2_stage each),
 * mlxc_qmoeg2_units blocks or fewer.  The kernel falls back to the tiles
 * above when the weight, scales or biases are not so aligned. */
#define MLXC_QMOEG2_BM      32
#define MLXC_QMOEG2_BN      128
#define MLXC_QMOEG2_BK      256
#define MLXC_QMOEG2_THREADS 256
MLXC_QF_HD static inline uint32_t mlxc_qmoeg2_row_step(uint32_t format, uint32_t bits) { /* a row's code bytes a k step */
    return format == MLXC_QMMF_Q4_0 ? MLXC_QMOEG2_BK / 32 * 18
           : format == MLXC_QMMF_Q4_K ? 144
           : format == MLXC_QMMF_Q6_K ? 224 /* 210 bytes, in the 14 16-byte units around them */
           : format == MLXC_QMMF_AFFINE && bits == 4 ? MLXC_QMOEG2_BK / 2 : 0;
}
MLXC_QF_HD static inline uint32_t mlxc_qmoeg2_side_step(uint32_t format, uint32_t group, uint32_t sdtype) {
    /* a row's bytes of scales (and as many of biases) a k step */
    return format == MLXC_QMMF_AFFINE && group ? MLXC_QMOEG2_BK / group * (sdtype == MLXC_QS_F32 ? 4 : 2) : 0;
}
MLXC_QF_HD static inline int mlxc_qmoeg2_takes(uint32_t format, uint32_t bits, uint32_t group, uint32_t k) {
    return mlxc_qmoeg2_row_step(format, bits) != 0 && k % MLXC_QMOEG2_BK == 0 &&
           (format != MLXC_QMMF_AFFINE || group == 32 || group == 64 || group == 128);
}
MLXC_QF_HD static inline uint32_t mlxc_qmoeg2_stage(uint32_t format, uint32_t bits, uint32_t group, uint32_t sdtype) {
    return MLXC_QMOEG2_BN * (mlxc_qmoeg2_row_step(format, bits) + 2 * mlxc_qmoeg2_side_step(format, group, sdtype)) +
           MLXC_QMOEG2_BM * MLXC_QMOEG2_BK * 2;
}
MLXC_QF_HD static inline uint64_t mlxc_qmoeg2_units(uint32_t slots, uint32_t experts, uint32_t n) {
    return ((uint64_t)slots / MLXC_QMOEG2_BM + experts + 1) * ((n + MLXC_QMOEG2_BN - 1) / MLXC_QMOEG2_BN);
}

/* Elements and bytes of one GGML block (src/quant/quant_blocks.h); 0 for
 * the MLX formats. */
MLXC_QF_HD static inline uint32_t mlxc_qf_block_elems(uint32_t f) {
    switch (f) {
    case MLXC_QMMF_Q4_0: case MLXC_QMMF_Q4_1: case MLXC_QMMF_Q5_0: case MLXC_QMMF_Q5_1: case MLXC_QMMF_Q8_0:
    case MLXC_QMMF_IQ4_NL: case MLXC_QMMF_GGML_MXFP4: case MLXC_QMMF_Q4_0T: return 32;
    case MLXC_QMMF_GGML_NVFP4: return MLXC_QK_NVFP4;
    case MLXC_QMMF_Q2_K: case MLXC_QMMF_Q3_K: case MLXC_QMMF_Q4_K: case MLXC_QMMF_Q5_K: case MLXC_QMMF_Q6_K:
    case MLXC_QMMF_IQ4_XS: case MLXC_QMMF_IQ2_XXS: case MLXC_QMMF_IQ2_XS: case MLXC_QMMF_IQ2_S:
    case MLXC_QMMF_IQ3_XXS: case MLXC_QMMF_IQ3_S: case MLXC_QMMF_IQ1_S: case MLXC_QMMF_IQ1_M:
    case MLXC_QMMF_TQ1_0: case MLXC_QMMF_TQ2_0: return MLXC_QK_K;
    default: return 0;
    }
}
MLXC_QF_HD static inline uint32_t mlxc_qf_block_bytes(uint32_t f) {
    switch (f) {
    case MLXC_QMMF_Q4_0: case MLXC_QMMF_Q4_0T: return sizeof(mlxc_block_q4_0);
    case MLXC_QMMF_Q4_1: return sizeof(mlxc_block_q4_1);
    case MLXC_QMMF_Q5_0: return sizeof(mlxc_block_q5_0);
    case MLXC_QMMF_Q5_1: return sizeof(mlxc_block_q5_1);
    case MLXC_QMMF_Q8_0: return sizeof(mlxc_block_q8_0);
    case MLXC_QMMF_Q2_K: return sizeof(mlxc_block_q2_k);
    case MLXC_QMMF_Q3_K: return sizeof(mlxc_block_q3_k);
    case MLXC_QMMF_Q4_K: return sizeof(mlxc_block_q4_k);
    case MLXC_QMMF_Q5_K: return sizeof(mlxc_block_q5_k);
    case MLXC_QMMF_Q6_K: return sizeof(mlxc_block_q6_k);
    case MLXC_QMMF_IQ4_NL: return sizeof(mlxc_block_iq4_nl);
    case MLXC_QMMF_IQ4_XS: return sizeof(mlxc_block_iq4_xs);
    case MLXC_QMMF_GGML_MXFP4: return sizeof(mlxc_block_mxfp4);
    case MLXC_QMMF_IQ2_XXS: return sizeof(mlxc_block_iq2_xxs);
    case MLXC_QMMF_IQ2_XS: return sizeof(mlxc_block_iq2_xs);
    case MLXC_QMMF_IQ2_S: return sizeof(mlxc_block_iq2_s);
    case MLXC_QMMF_IQ3_XXS: return sizeof(mlxc_block_iq3_xxs);
    case MLXC_QMMF_IQ3_S: return sizeof(mlxc_block_iq3_s);
    case MLXC_QMMF_IQ1_S: return sizeof(mlxc_block_iq1_s);
    case MLXC_QMMF_IQ1_M: return sizeof(mlxc_block_iq1_m);
    case MLXC_QMMF_TQ1_0: return sizeof(mlxc_block_tq1_0);
    case MLXC_QMMF_TQ2_0: return sizeof(mlxc_block_tq2_0);
    case MLXC_QMMF_GGML_NVFP4: return sizeof(mlxc_block_nvfp4);
    default: return 0;
    }
}
/* Bytes of a value of a dense format, 0 for the others. */
MLXC_QF_HD static inline uint32_t mlxc_qf_dense_size(uint32_t f) {
    return f == MLXC_QMMF_F32 ? 4 : f == MLXC_QMMF_F16 || f == MLXC_QMMF_BF16 ? 2 : 0;
}
/* The ggml type number that src/quant/quant_iq.h decodes format f as; 0
 * for the formats the kernels decode themselves. */
MLXC_QF_HD static inline uint32_t mlxc_qf_qi_type(uint32_t f) {
    switch (f) {
    case MLXC_QMMF_IQ2_XXS: return MLXC_QI_IQ2_XXS;
    case MLXC_QMMF_IQ2_XS: return MLXC_QI_IQ2_XS;
    case MLXC_QMMF_IQ3_XXS: return MLXC_QI_IQ3_XXS;
    case MLXC_QMMF_IQ1_S: return MLXC_QI_IQ1_S;
    case MLXC_QMMF_IQ3_S: return MLXC_QI_IQ3_S;
    case MLXC_QMMF_IQ2_S: return MLXC_QI_IQ2_S;
    case MLXC_QMMF_IQ1_M: return MLXC_QI_IQ1_M;
    case MLXC_QMMF_TQ1_0: return MLXC_QI_TQ1_0;
    case MLXC_QMMF_TQ2_0: return MLXC_QI_TQ2_0;
    case MLXC_QMMF_GGML_NVFP4: return MLXC_QI_NVFP4;
    default: return 0;
    }
}
/* Q4_0 tiles: the byte offset of the record holding row r's block b
 * (MLXC_Q4T_RECORD_AT); the row's place in it is r % 16.  Every kernel
 * that reads a row through its row bytes reads these rows through this
 * instead. */
MLXC_QF_HD static inline uint64_t mlxc_q4t_record(uint32_t row_bytes, uint64_t r, uint32_t b) {
    return MLXC_Q4T_RECORD_AT(row_bytes, r, b);
}
/* The fused mat-vec of Q4_0 tiles (qmvf_q4_0t): blocks of MLXC_Q4T_WARPS
 * warps; S = slices warps split k for one 16-row tile, so a block walks
 * MLXC_Q4T_WARPS / S tiles at a time; each warp streams its slice through
 * MLXC_Q4T_STAGES shared-memory stages of MLXC_Q4T_UNITS records, copied by
 * the copy engine (bench/results/matvec-tiles-2026-12-05.md). */
#define MLXC_Q4T_WARPS  8
#define MLXC_Q4T_UNITS  2
#define MLXC_Q4T_STAGES 3
/* Dynamic shared memory of qmvf_q4_0t: x' (bf16, k values), the sums of
 * its 32-value blocks, then the warps' stages. */
MLXC_QF_HD static inline uint32_t mlxc_q4t_smem_bytes(uint32_t k) {
    return 2 * k + (k / 32 * 4 + 15) / 16 * 16 + MLXC_Q4T_WARPS * MLXC_Q4T_STAGES * MLXC_Q4T_UNITS * MLXC_Q4T_RECORD;
}
/* Slices for n rows of k values when `slots` blocks run at once: the
 * fewest that give the slots a tile group each, keeping two records a
 * slice.  The front-end counts MLXC_Q4T_SLICE_BLOCKS blocks an SM (7B
 * Q4_0 tg128 on an H100: 452 with 2, 446 with 3 or more, 372 with 1). */
#define MLXC_Q4T_SLICE_BLOCKS 2
MLXC_QF_HD static inline uint32_t mlxc_q4t_slices(uint32_t n, uint32_t k, uint64_t slots) {
    const uint32_t nc = k / MLXC_Q4T_COLS, tiles = n / MLXC_Q4T_ROWS;
    uint32_t s = 1;
    while (s < MLXC_Q4T_WARPS && nc / (2 * s) >= 2 && (uint64_t)tiles * s / MLXC_Q4T_WARPS < slots) s *= 2;
    return s;
}

/* The ring of qmvt's shared-memory path: each stage holds `sv` values of
 * every row of the block's MLXC_QMVT_ROWS (in units of `unit` values
 * stored in `ub` bytes: a GGML block, or 32 affine values), the affine
 * scales and biases of those values, and the x rows for them; `stages`
 * stages are in flight.  A row's piece of a stage takes its bytes plus
 * `pad` (spreading the rows over the banks).  `shift`: the rows need not
 * start on 16 bytes (Q6_K's 210-byte blocks, Q4_1's 20; the shift keeps
 * Q4_1's 4-byte alignment); each row's piece is copied
 * from the 16-byte boundary below it, so it sits that many bytes into its
 * slot (the pad holds them).  0 when the format streams no ring. */
typedef struct mlxc_qmvt_ring {
    uint32_t sv, unit, ub, stages, pad, shift;
} mlxc_qmvt_ring;
/* MLX affine 4-bit in the fused mat-vec (qmvf, m = 1): values a stage and
 * stages.  qmvt keeps 1024 x 4, which its m = 8 rows of x on each stage
 * need (2048 cost m = 8 15% at 14336 x 4096); one row gains from fewer,
 * longer stages (bench/results/decode-q8-h200-2026-12-04.md section 12). */
#ifndef MLXC_QMVF_A4_SV
#define MLXC_QMVF_A4_SV 2048
#endif
#ifndef MLXC_QMVF_A4_STAGES
#define MLXC_QMVF_A4_STAGES 3
#endif
/* Ring stages of Q4_0 and Q4_1 (a build-time knob for comparisons): two
 * of 2048 values; three cost m = 8 13-23% and one row 1-4% (results file
 * decode-q8-h200-2026-12-04.md section 13). */
#ifndef MLXC_QMVT_Q4_STAGES
#define MLXC_QMVT_Q4_STAGES 2
#endif
/* Q6_K stages: 2048 values (8 blocks, 1680 bytes a row: the fewest whole
 * blocks that are whole 16-byte units), two in flight so that two blocks
 * of the fused mat-vec fit an SM beside a 14336-value x' (and qmvt's m = 8
 * f32 rows fit one). */
#ifndef MLXC_QMVT_Q6K_STAGES
#define MLXC_QMVT_Q6K_STAGES 2
#endif
/* The ring of format f in qmvt (fused 0) or in the fused mat-vec qmvf
 * (fused 1; they differ for MLX affine 4-bit only). */
MLXC_QF_HD static inline int mlxc_qmvt_ring_of(uint32_t f, uint32_t bits, int fused, mlxc_qmvt_ring *r) {
    r->pad = 16, r->shift = 0;
    switch (f) {
    case MLXC_QMMF_AFFINE:
        if (bits != 4 && bits != 8) return 0;
        r->sv = bits == 8 ? 512 : fused ? MLXC_QMVF_A4_SV : 1024, r->unit = 32, r->ub = 4 * bits;
        r->stages = bits == 4 && fused ? MLXC_QMVF_A4_STAGES : 4;
        return 1;
    /* stages of twice the values: more work for each stage's fixed cost */
    case MLXC_QMMF_Q4_0: r->sv = 2048, r->unit = 32, r->ub = 18, r->stages = MLXC_QMVT_Q4_STAGES; return 1;
    case MLXC_QMMF_Q4_1: r->sv = 2048, r->unit = 32, r->ub = 20, r->stages = MLXC_QMVT_Q4_STAGES, r->shift = 1; return 1;
    case MLXC_QMMF_Q8_0: r->sv = 1024, r->unit = 32, r->ub = 34, r->stages = 3; return 1;
    case MLXC_QMMF_Q4_K: r->sv = 2048, r->unit = 256, r->ub = 144, r->stages = 3; return 1;
    case MLXC_QMMF_Q5_K: r->sv = 2048, r->unit = 256, r->ub = 176, r->stages = 3; return 1;
    /* pad 32: 16 for the shift, and rows 1712 bytes apart put the 8 rows
     * a warp reads on distinct banks */
    case MLXC_QMMF_Q6_K:
        r->sv = 2048, r->unit = 256, r->ub = 210, r->stages = MLXC_QMVT_Q6K_STAGES, r->pad = 32, r->shift = 1;
        return 1;
    default: return 0;
    }
}
/* Bytes of one ring stage: rows padded by `pad` bytes, then the affine scales and biases (`ss` bytes a
 * row), then min(m, 8) x rows of `sv` values of `xsize` bytes. */
MLXC_QF_HD static inline uint32_t mlxc_qmvt_stage_bytes(const mlxc_qmvt_ring *r, uint32_t m, uint32_t xsize,
                                                        uint32_t ss) {
    const uint32_t mx = m < 8 ? m : 8;
    return MLXC_QMVT_ROWS * (r->sv / r->unit * r->ub + r->pad) + 2 * MLXC_QMVT_ROWS * ss + mx * r->sv * xsize;
}
/* The dynamic shared memory that puts qmvt on its ring for this format,
 * m, x element size and affine group and scale size (0 when the format
 * has no ring: the kernel then reads global memory directly). */
MLXC_QF_HD static inline uint32_t mlxc_qmvt_smem_bytes(uint32_t f, uint32_t bits, uint32_t m, uint32_t xsize,
                                                       uint32_t group, uint32_t scale_size) {
    mlxc_qmvt_ring r;
    if (!mlxc_qmvt_ring_of(f, bits, 0, &r)) return 0;
    const uint32_t ss = f == MLXC_QMMF_AFFINE && group ? r.sv / group * scale_size : 0;
    return r.stages * mlxc_qmvt_stage_bytes(&r, m, xsize, ss);
}
/* The dynamic shared memory of qmvf: the ring without x, then the whole
 * x' of k bf16 values, then the f32 sum of each 32 of them. */
MLXC_QF_HD static inline uint32_t mlxc_qmvf_smem_bytes(uint32_t f, uint32_t bits, uint32_t k, uint32_t group,
                                                       uint32_t scale_size) {
    mlxc_qmvt_ring r;
    if (!mlxc_qmvt_ring_of(f, bits, 1, &r)) return 0;
    const uint32_t ss = f == MLXC_QMMF_AFFINE && group ? r.sv / group * scale_size : 0;
    return r.stages * mlxc_qmvt_stage_bytes(&r, 0, 2, ss) + ((k * 2 + 15) / 16) * 16 + ((k + 31) / 32 * 4 + 15) / 16 * 16;
}
/* The copy size (16, 8 or 4 bytes; 0: none) of the MLX affine scales and
 * biases on the ring: it divides a scale row (k / group scales of es
 * bytes), a stage's share of it and the last, partial stage's. */
MLXC_QF_HD static inline uint32_t mlxc_qmv_scale_granule(uint32_t k, uint32_t group, uint32_t es, uint32_t sv) {
    const uint32_t row = k / group * es, stage = sv / group * es, last = k % sv / group * es;
    uint32_t g = 16;
    while (g >= 4 && (row % g || stage % g || last % g)) g /= 2;
    return g >= 4 ? g : 0;
}
/* Whether the ring of qmvt (fused 0) or qmvf (fused 1) takes a weight of
 * this shape (the rest goes through their slower paths): rows of whole
 * 16-byte units (any whole blocks where the ring shifts), and for MLX
 * affine a group a power of two of at least 32, a stage's scales whole
 * 16-byte units and a scale row copied in pieces of 4 bytes or more.  es:
 * bytes of one scale. */
MLXC_QF_HD static inline int mlxc_qmv_ring_takes(uint32_t f, uint32_t bits, int fused, uint32_t k,
                                                 uint64_t row_bytes, uint32_t group, uint32_t es) {
    mlxc_qmvt_ring r;
    if (!mlxc_qmvt_ring_of(f, bits, fused, &r) || k % 8) return 0;
    if (r.shift) return k % r.unit == 0 && row_bytes == (uint64_t)k / r.unit * r.ub;
    if (row_bytes % 16) return 0;
    if (f != MLXC_QMMF_AFFINE) return 1;
    return group >= 32 && (group & (group - 1)) == 0 && k % group == 0 && (r.sv / group * es) % 16 == 0 &&
           mlxc_qmv_scale_granule(k, group, es, r.sv) != 0;
}
/* Whether qmvt_F_X_Y exists for the format (affine: its bits). */
MLXC_QF_HD static inline int mlxc_qmvt_has(uint32_t f, uint32_t bits) {
    return (f == MLXC_QMMF_AFFINE && (bits == 4 || bits == 8)) || f == MLXC_QMMF_Q4_0 || f == MLXC_QMMF_Q4_1 ||
           f == MLXC_QMMF_Q8_0 || f == MLXC_QMMF_Q4_K || f == MLXC_QMMF_Q5_K || f == MLXC_QMMF_Q6_K;
}

#endif /* MLXC_KERNELS_PARAMS_QMATMUL_H */
