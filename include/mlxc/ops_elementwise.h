/*
 * mlxc/ops_elementwise.h — elementwise ops: scale, activations, casts.
 *
 * Every op takes caller-allocated buffers of f32, f16 or bf16 (casts: any
 * pair of those), computes in f32 and rounds once to the output dtype
 * (nearest even).  Inputs and the output have equal element counts (shapes
 * are not compared, only counts).  Each op validates its arguments, tags its
 * op kind and dispatches tracked, so auto-barrier sees its reads and writes.
 * The output may be the same buffer as an input (in place).
 *
 *     mlxc_silu_mul(enc, gate, up, act);        // act = silu(gate) * up
 *     mlxc_swiglu(enc, gate_up, act, rows, n);  // the same on rows of [gate | up]
 *     mlxc_cast(enc, act, act_bf16);            // f32 -> bf16
 */
#ifndef MLXC_OPS_ELEMENTWISE_H
#define MLXC_OPS_ELEMENTWISE_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out = x * s.                                    x, out: (n)  same dtype */
MLXC_API mlxc_status mlxc_scale(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, float s);

/* out = tanh(x / cap) * cap  (Gemma logit soft-capping; cap > 0).  (n)   */
MLXC_API mlxc_status mlxc_softcap(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, float cap);

/* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (the tanh form). */
MLXC_API mlxc_status mlxc_gelu(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out);

/* out = silu(gate) * up = gate * sigmoid(gate) * up  (SwiGLU).
 * gate, up, out: (n), one dtype. */
MLXC_API mlxc_status mlxc_silu_mul(mlxc_encoder *enc, const mlxc_buffer *gate, const mlxc_buffer *up,
                                   mlxc_buffer *out);

/* out[r, i] = silu(x[r, i]) * x[r, n + i] for r < rows, i < n: SwiGLU on
 * rows that hold the gate's n values followed by the up projection's n (a
 * stacked gate/up product, such as the experts' of a MoE layer).
 * x: (rows, 2n), out: (rows, n), one dtype; each value equals
 * mlxc_silu_mul's on the two halves.  out overlaps no part of x. */
MLXC_API mlxc_status mlxc_swiglu(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, uint32_t rows,
                                 uint32_t n);

/* out = x * sigmoid(g)  (the Qwen attention output gate).  (n), one dtype. */
MLXC_API mlxc_status mlxc_sigmoid_mul(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *g,
                                      mlxc_buffer *out);

/* dst = src converted to dst's dtype (f32, f16, bf16; round to nearest
 * even).  Equal dtypes copy the bytes.  src, dst: (n). */
MLXC_API mlxc_status mlxc_cast(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_ELEMENTWISE_H */
