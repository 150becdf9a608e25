/*
 * mlxc/ops_qmatmul.h — matrix multiplication against a quantized weight
 * matrix W (n, k), one row per output feature, as MLX and GGUF files store
 * it:
 *
 *     y[i, j] = sum_k x[i, k] * W[j, k]        x (m, k)  W (n, k)  y (m, n)
 *
 * x and y are f32 or bf16 (every combination).  W is dequantized to f32,
 * products and sums are f32, a bf16 y is rounded once at the end.  m <= 8
 * runs the mat-vec kernels (decode: the weights streamed once), a larger m
 * the mat-mat kernels (prefill).
 *
 * Formats (mlxc_qmm_weight.format, the codes of mlxc/quant.h):
 *
 *   MLXC_QF_MLX_AFFINE  MLX affine: per group of `group_size` (32, 64 or 128)
 *                     values of a row, w = scale * q + bias, q of `bits`
 *                     (2, 3, 4, 5, 6 or 8) packed LSB-first as one bitstream
 *                     into little-endian uint32 words, k * bits / 32 words a
 *                     row.  scales and biases: f32, f16 or bf16 (the same),
 *                     n * k / group_size elements each, row-major.  The
 *                     dequantized value is computed in f32 (as MLX's
 *                     quantized matmul does; mx.dequantize would round it to
 *                     the scales' dtype).
 *   MLXC_QF_MLX_MXFP4 MLX mxfp4: e2m1 values (4 bits, packed as above) times
 *                     2^(s - 127), s one uint8 (e8m0) per group of 32.
 *   MLXC_QF_MLX_NVFP4 MLX nvfp4: e2m1 values times an fp8 e4m3 scale (one
 *                     uint8 per group of 16).
 *   MLXC_QF_MLX_MXFP8 MLX mxfp8: fp8 e4m3 values (one byte each) times
 *                     2^(s - 127), s one uint8 per group of 32.
 *   MLXC_QF_Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
 *   IQ4_NL, IQ4_XS, MXFP4, NVFP4, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
 *   IQ1_S, IQ1_M, TQ1_0, TQ2_0
 *                     GGML blocks as a GGUF file stores them
 *                     (src/quant/quant_blocks.h, scales inside the blocks):
 *                     k a multiple of 32, 64 for NVFP4, or 256 for the
 *                     K-quants, IQ4_XS, the IQ1/IQ2/IQ3 and the TQ formats;
 *                     `scales`, `biases`, `bits` and `group_size` are
 *                     ignored.  These read through the general kernels
 *                     (no tensor-core mat-vec, no fused form).
 *
 * For the MLX formats `bits` and `group_size` must be the mode's own (0
 * picks them) except for the affine mode where both are required.  `data`
 * holds exactly n rows of packed values, any dtype; its view must start at
 * a multiple of 4 bytes (MLX, uint32 words) or 2 bytes (GGML blocks
 * holding an f16; MXFP4 blocks any byte).  y
 * may not overlap x or any part of the weight.
 *
 *     mlxc_qmm_weight w = {MLXC_QF_MLX_AFFINE, 4, 64, wq, scales, biases};
 *     mlxc_qmatmul(enc, h, &w, out, 1, n, k);   // one token
 */
#ifndef MLXC_OPS_QMATMUL_H
#define MLXC_OPS_QMATMUL_H

#include "mlxc/encoder.h"
#include "mlxc/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A quantized weight matrix on a device: the format, its parameters and its
 * buffers (see above for which the format reads).  The loaders' host-side
 * descriptor is mlxc_qweight (mlxc/quant.h); this one holds device views. */
typedef struct mlxc_qmm_weight {
    mlxc_qformat       format;
    uint32_t           bits;       /* MLX affine: 2, 3, 4, 5, 6, 8        */
    uint32_t           group_size; /* MLX: values per scale               */
    const mlxc_buffer *data;       /* the packed values or GGML blocks    */
    const mlxc_buffer *scales;     /* MLX formats                         */
    const mlxc_buffer *biases;     /* MLX affine                          */
} mlxc_qmm_weight;

/* Bytes of one packed row of k values (0 when k does not fit the format,
 * or no kernel takes it); a dense format's row too (the expert forms take
 * dense experts). */
MLXC_API uint64_t mlxc_qmm_row_bytes(mlxc_qformat f, uint32_t bits, uint32_t group_size, uint32_t k);

/* y = x @ W^T.  x holds m*k elements and y m*n; m, n, k >= 1 and at most
 * 2^31 - 1. */
MLXC_API mlxc_status mlxc_qmatmul(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_qmm_weight *w, mlxc_buffer *y,
                                  uint32_t m, uint32_t n, uint32_t k);

/* One token's mat-vec with the decode step's neighbours folded in, so a
 * layer needs fewer kernels.  The prologue makes the vector multiplied:
 *   MLXC_QMM_PRO_NONE      x' = x
 *   MLXC_QMM_PRO_RMS_NORM  x' = mlxc_rms_norm(x, g) (g: (k), eps below)
 *   MLXC_QMM_PRO_SILU_MUL  x' = mlxc_silu_mul(x, aux) (aux: (k))
 * rounded to bf16 as those ops store it; the epilogue stores
 * y = round(x' @ W^T), or with MLXC_QMM_EPI_ADD adds it to y:
 * y = round(y + round(x' @ W^T)), the residual add of
 * mlxc_rms_norm_residual.  x, aux, g and y are bf16, x (k) and y (n); y
 * may not overlap the others.  y may be f32 instead (an output head's
 * logits: y = x' @ W^T unrounded, or y + x' @ W^T) with MLXC_QMM_ACT_Q8
 * and a weight mlxc_qmatmul_fused_q8_fast accepts, on either backend
 * (MLXC_ERR_UNSUPPORTED otherwise).  The formats: MLX affine 4 and 8 bits,
 * Q4_0, Q4_1, Q8_0, Q4_K (MLXC_ERR_UNSUPPORTED for the rest, checked by
 * mlxc_qmatmul_fused_supported before anything is encoded).  On CUDA it
 * is fast for the shapes mlxc_qmatmul_fused_fast names (with x, aux and g
 * 16-byte aligned); other shapes are correct but run a slow path, one
 * thread a row (50-200x slower).  On the CPU the result equals those ops
 * followed by mlxc_qmatmul bit for bit.
 *
 *     mlxc_qmm_fuse f = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = MLXC_QMM_EPI_STORE, .eps = 1e-5f};
 *     mlxc_qmatmul_fused(enc, resid, NULL, attn_norm, &wqkv, qkv, n, k, &f); */
typedef enum mlxc_qmm_prologue {
    MLXC_QMM_PRO_NONE = 0,
    MLXC_QMM_PRO_RMS_NORM = 1,
    MLXC_QMM_PRO_SILU_MUL = 2
} mlxc_qmm_prologue;
typedef enum mlxc_qmm_epilogue { MLXC_QMM_EPI_STORE = 0, MLXC_QMM_EPI_ADD = 1 } mlxc_qmm_epilogue;
/* The activations multiplied.  EXACT: x' as above.  Q8: x' quantized to
 * int8 in blocks of 32 values (scale max|x'| / 127, round to nearest even),
 * llama.cpp's q8_1 numerics: about 0.4% relative error per value, for a
 * mat-vec that reads x' once into registers and dots 4 weights an
 * instruction (dp4a).  On CUDA only for the weights
 * mlxc_qmatmul_fused_q8_fast accepts (MLXC_ERR_UNSUPPORTED otherwise); the
 * CPU runs it for every fused format, quantizing x' the same way. */
typedef enum mlxc_qmm_act { MLXC_QMM_ACT_EXACT = 0, MLXC_QMM_ACT_Q8 = 1 } mlxc_qmm_act;
typedef struct mlxc_qmm_fuse {
    mlxc_qmm_prologue pro;
    mlxc_qmm_epilogue epi;
    float             eps;   /* RMS_NORM: finite, >= 0 */
    mlxc_qmm_act      act;   /* EXACT (0, the default) or Q8 */
} mlxc_qmm_fuse;

/* MLXC_OK when mlxc_qmatmul_fused takes this weight's format, else
 * MLXC_ERR_UNSUPPORTED (with the error set). */
MLXC_API mlxc_status mlxc_qmatmul_fused_supported(const mlxc_qmm_weight *w);

/* MLXC_OK when a GPU runs mlxc_qmatmul_fused of this weight with k
 * columns on its fast path: rows of whole 16-byte units, k a multiple of
 * 8, and for MLX affine a power-of-two group of at least 32 (at 8 bits
 * with 2-byte scales, 32 or 64) and a row's scales a multiple of 4 bytes
 * (k / group even for f16/bf16 scales).  Else MLXC_ERR_UNSUPPORTED with
 * the reason set (a caller then runs the separate ops). */
MLXC_API mlxc_status mlxc_qmatmul_fused_fast(const mlxc_qmm_weight *w, uint32_t k);

/* MLXC_OK when a GPU runs mlxc_qmatmul_fused with MLXC_QMM_ACT_Q8 for
 * this weight and k: MLX affine 4- and 8-bit with f16 or bf16 scales,
 * group 32, 64 or 128, k a multiple of 32 up to 32768; Q4_K and Q5_K with
 * k a multiple of 256 up to 32768; Q6_K with k a multiple of 256 up to
 * 16384.  Else MLXC_ERR_UNSUPPORTED with the reason set. */
MLXC_API mlxc_status mlxc_qmatmul_fused_q8_fast(const mlxc_qmm_weight *w, uint32_t k);
MLXC_API mlxc_status mlxc_qmatmul_fused(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                        const mlxc_buffer *g, const mlxc_qmm_weight *w, mlxc_buffer *y, uint32_t n,
                                        uint32_t k, const mlxc_qmm_fuse *f);

/* A decode step's last pass, the output head and the greedy pick: y (n,
 * f32) = mlxc_qmatmul_fused(x, NULL, g, w, y, n, k, f) with f32 y (so f
 * has int8 activations, the store epilogue, and no prologue or the RMS
 * norm), then mlxc_sample_softmax(y, NULL, token, logprob, n, 0, 0):
 * token (u32, 1) the first index of y's largest non-NaN value (0 if there
 * is none), logprob (f32, 1, or NULL) y[token] - max - log(sum_i
 * exp(y_i - max)).  On the CPU it runs those two ops.  On CUDA one kernel:
 * each block of the mat-vec reduces its rows and the last one to finish
 * combines them in block order (y and token equal the two ops'; logprob
 * within float rounding of them, the sum's order differs); scratch is u32,
 * at least MLXC_QMM_ARGMAX_SCRATCH words, its first (the blocks' count)
 * zero on entry and left zero, the rest work space (the CPU touches none
 * of it), not shared by two of these running at once.  y, token, logprob and scratch overlap nothing else.
 * Errors as mlxc_qmatmul_fused's, MLXC_ERR_DTYPE / MLXC_ERR_SHAPE for the
 * outputs, MLXC_ERR_INVALID_ARGUMENT for another f or overlaps. */
#define MLXC_QMM_ARGMAX_SCRATCH 4100
MLXC_API mlxc_status mlxc_qmatmul_fused_argmax(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *g,
                                               const mlxc_qmm_weight *w, mlxc_buffer *y, mlxc_buffer *token,
                                               mlxc_buffer *logprob, mlxc_buffer *scratch, uint32_t n, uint32_t k,
                                               const mlxc_qmm_fuse *f);

/* Two fused mat-vecs of one x: y1 (n1) as mlxc_qmatmul_fused(x, NULL, g,
 * w1, y1, n1, k, f1) and y2 (n2) as with w2 and f2, the same bits.  f1
 * and f2 share the prologue (MLXC_QMM_PRO_NONE, or RMS_NORM with one eps)
 * and store (MLXC_QMM_EPI_STORE); each has its own activations.  y1 and
 * y2 may not overlap each other, x, g or the weights.  Where the pair has
 * one, one kernel runs both (Q4_K or Q5_K with MLXC_QMM_ACT_Q8 beside
 * Q6_K with either act: the q/k and v projections of a Q4_K_M or Q5_K_M
 * model, whose v is Q6_K in half the layers); else two dispatches.
 * Errors as mlxc_qmatmul_fused's, checked for both parts before anything
 * is encoded. */
MLXC_API mlxc_status mlxc_qmatmul_fused_pair(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *g,
                                             const mlxc_qmm_weight *w1, mlxc_buffer *y1, uint32_t n1,
                                             const mlxc_qmm_fuse *f1, const mlxc_qmm_weight *w2, mlxc_buffer *y2,
                                             uint32_t n2, const mlxc_qmm_fuse *f2, uint32_t k);

/* Expert-routed mat-vec (MoE decode).  w describes `experts` matrices
 * (n, k) stacked as one (experts * n, k) weight (scales and biases stacked
 * the same way); ids (tokens, topk) u32 are device data naming each token's
 * experts.  y (tokens, topk, n): y[t, j, :] = x[t, :] . W_{ids[t, j]}^T, an
 * id >= experts gives a zero row.  Each row equals mlxc_qmatmul on that
 * expert's matrix (on the CPU bit for bit).  Dense experts are taken too
 * (format MLXC_QF_F32, F16 or BF16: rows of values, aligned to a value;
 * bits and group_size ignored), for models whose experts are not
 * quantized; mlxc_qmatmul itself refuses them (mlxc_matmul multiplies a
 * dense weight). */
MLXC_API mlxc_status mlxc_qmatmul_experts(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_qmm_weight *w,
                                          const mlxc_buffer *ids, mlxc_buffer *y, uint32_t tokens, uint32_t topk,
                                          uint32_t experts, uint32_t n, uint32_t k);

/* The expert-routed mat-vec of a fused prologue's vector (MoE decode):
 * for each token t, x'_t is made from its rows of x and aux (k values
 * each, starting at t * x_stride) and g as mlxc_qmatmul_fused makes x',
 * then y[t, j, :] = round(x'_t . W_{ids[t, j]}^T) as mlxc_qmatmul_experts
 * multiplies (an id >= experts gives a zero row).  x_stride >= k lets x and
 * aux be the two halves of stacked [gate | up] rows: x the whole rows,
 * aux a view starting k values on, x_stride 2k, f->pro
 * MLXC_QMM_PRO_SILU_MUL (a MoE layer's down projection after its stacked
 * gate/up product, without mlxc_swiglu between).  x and aux hold at least
 * (tokens - 1) * x_stride + k values, g (k); all bf16, as y (tokens, topk,
 * n); y overlaps none of them.  f->epi must be MLXC_QMM_EPI_STORE;
 * tokens * topk at most 65535.  The formats of mlxc_qmatmul_fused but Q4_0
 * tiles, on CUDA fast where mlxc_qmatmul_fused_fast says so for (w, k).
 * With f->act MLXC_QMM_ACT_EXACT, on the CPU each row equals the
 * prologue's op (rms_norm, silu_mul) followed by mlxc_qmatmul_experts bit
 * for bit.  With MLXC_QMM_ACT_Q8, x' is quantized to int8 as
 * mlxc_qmatmul_fused quantizes it; on CUDA that takes the weights
 * mlxc_qmatmul_fused_q8_fast takes, 16-byte aligned views of x, aux, g and
 * the weight, x_stride a multiple of 8 and each expert's rows whole 16-byte
 * units (else MLXC_ERR_UNSUPPORTED). */
MLXC_API mlxc_status mlxc_qmatmul_experts_fused(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                                const mlxc_buffer *g, const mlxc_qmm_weight *w, const mlxc_buffer *ids,
                                                mlxc_buffer *y, uint32_t tokens, uint32_t topk, uint32_t experts,
                                                uint32_t n, uint32_t k, uint32_t x_stride, const mlxc_qmm_fuse *f);

/* A MoE layer's down projection and its combine in one pass (decode):
 * pair s = t * topk + j of token t multiplies x'_s, made from its own rows
 * of x and aux (k values each from s * x_stride on) and g as
 * mlxc_qmatmul_experts_fused makes x', by expert ids[s]'s matrix into
 * y[t, j, :] (an id >= experts gives a zero row), then adds the experts'
 * weighted sum to the residual row as mlxc_moe_combine(y, weights, NULL,
 * NULL, resid, resid, tokens, topk, n) does:
 *   resid[t, i] = round(round(sum_j weights[t, j] * y[t, j, i]) + resid[t, i])
 * (f32 sum in j's order).  The bits equal mlxc_qmatmul_experts_fused(x,
 * aux, g, w, ids, y, tokens * topk, 1, experts, n, k, x_stride, f)
 * followed by that combine, on each backend.  weights (tokens, topk) f32;
 * resid (tokens, n) bf16, read and written; counters u32, at least tokens
 * * ceil(n / 16) of them, zero on entry and left zero (the CUDA kernel's
 * last block of each tile of rows combines it; the CPU does not touch
 * them).  y, resid and counters overlap each other, the inputs and the
 * weight nowhere.  The other arguments and errors as
 * mlxc_qmatmul_experts_fused's, x and aux holding at least (tokens * topk
 * - 1) * x_stride + k values. */
MLXC_API mlxc_status mlxc_qmatmul_experts_combine(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                                  const mlxc_buffer *g, const mlxc_qmm_weight *w,
                                                  const mlxc_buffer *ids, const mlxc_buffer *weights, mlxc_buffer *y,
                                                  mlxc_buffer *resid, mlxc_buffer *counters, uint32_t tokens,
                                                  uint32_t topk, uint32_t experts, uint32_t n, uint32_t k,
                                                  uint32_t x_stride, const mlxc_qmm_fuse *f);

/* Expert-grouped mat-mat (MoE prefill): the result of
 * mlxc_qmatmul_experts, computed expert by expert so that each weight row
 * is read once per tile of the expert's slots rather than once per slot.
 * offsets (experts + 1) u32 and perm (tokens * topk) u32 are mlxc_moe_group's
 * outputs for the same ids (ops_moe.h): slots perm[offsets[e] ..
 * offsets[e + 1]) use expert e, slot s is token s / topk's choice, and the
 * slots after offsets[experts] (ids >= experts) get zero rows.  y (tokens,
 * topk, n); w, x as for mlxc_qmatmul_experts.  On the CPU each row equals
 * mlxc_qmatmul_experts' bit for bit.  On a GPU, bf16 x and y (k a multiple
 * of 8, x 16-byte aligned) run on the tensor cores, the weights rounded to
 * bf16 as the dequantize-then-GEMM prefill path rounds them; other dtypes
 * keep f32 weights.  Device data cannot be checked here:
 * offsets past the slots are clamped and slots past the end skipped. */
MLXC_API mlxc_status mlxc_qmatmul_grouped(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_qmm_weight *w,
                                          const mlxc_buffer *offsets, const mlxc_buffer *perm, mlxc_buffer *y,
                                          uint32_t tokens, uint32_t topk, uint32_t experts, uint32_t n, uint32_t k);

/* Rows of a quantized table, dequantized: out[i, :] = W[ids[i], :] * scale
 * for a table W (n, k) described as above.  ids: u32 device data (an id >= n
 * gives a zero row, ids cannot be checked here), out (n_ids, k) f32 or bf16.
 * ids NULL dequantizes the whole matrix into out (n, k): with a bf16 out,
 * the scratch that lets prefill run the dense GEMM on the tensor cores
 * (cuBLASLt where present):
 *
 *     mlxc_qembedding_gather(enc, &w, NULL, scratch, n, k, 1.0f);
 *     mlxc_matmul(enc, x, scratch, y, m, n, k);
 */
MLXC_API mlxc_status mlxc_qembedding_gather(mlxc_encoder *enc, const mlxc_qmm_weight *table, const mlxc_buffer *ids,
                                            mlxc_buffer *out, uint32_t n, uint32_t k, float scale);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_QMATMUL_H */
