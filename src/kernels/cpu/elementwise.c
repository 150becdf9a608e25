/* Elementwise kernels: add, mul, scale, softcap, gelu (tanh), silu_mul,
 * swiglu, sigmoid_mul and casts between the float dtypes.  Each group takes one
 * contiguous slice; arithmetic is f32, rounded once to the storage type. */
#include "kernels/params_elementwise.h"
#include "kernels/cpu/ops_cpu.h"

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), in the equal
 * form x / (1 + e^(-2u)): no cancellation, one vectorized exp. */
static inline ops_v4f gelu4(ops_v4f x) {
    const ops_v4f u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + ops_exp4(-2.0f * u));
}
static inline ops_v4f sigmoid_mul4(ops_v4f a, ops_v4f b) { return a * ops_sigmoid4(b); }

/* The last m < 4 elements from i: loaded into lanes padded with zeros, and
 * only the m valid lanes stored. */
OPS_ALWAYS_INLINE ops_v4f ew_ld_part(ops_dtype t, const void *p, uint64_t i, uint32_t m) {
    float f[4] = {0};
    for (uint32_t k = 0; k < m; k++) f[k] = ops_ld(t, p, i + k);
    ops_v4f v;
    memcpy(&v, f, 16);
    return v;
}
OPS_ALWAYS_INLINE void ew_st_part(ops_dtype t, void *p, uint64_t i, uint32_t m, ops_v4f v) {
    float f[4];
    memcpy(f, &v, 16);
    for (uint32_t k = 0; k < m; k++) ops_st(t, p, i + k, f[k]);
}

/* The activations that run four lanes at a time (they call exp). */
typedef enum { EW_GELU, EW_SILU_MUL, EW_SIGMOID_MUL } ew_act_kind;
OPS_ALWAYS_INLINE ops_v4f ew_act4(ew_act_kind op, ops_v4f a, ops_v4f b) {
    switch (op) {
    case EW_GELU:     return gelu4(a);
    case EW_SILU_MUL: return ops_silu_mul4(a, b);
    default:          return sigmoid_mul4(a, b);
    }
}

/* out = op(a[, b]) over this group's slice, four lanes at a time; the last
 * partial chunk runs padded.  nin is 1 (gelu) or 2. */
OPS_ALWAYS_INLINE void ew_act(const mlxc_cpu_launch *l, ops_dtype t, ew_act_kind op, int nin) {
    const void *a = l->args[0];       /* (n) */
    const void *b = l->args[nin - 1]; /* (n); a again when nin is 1 */
    void *out = l->args[nin];         /* (n) */
    const mlxc_p_elementwise *p = l->args[nin + 1];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    uint64_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        const ops_v4f va = ops_ld4(t, a, i), vb = ops_ld4(t, b, i);
        ops_st4(t, out, i, ew_act4(op, va, vb));
    }
    if (i < hi) {
        const uint32_t m = (uint32_t)(hi - i);
        const ops_v4f va = ew_ld_part(t, a, i, m), vb = ew_ld_part(t, b, i, m);
        ew_st_part(t, out, i, m, ew_act4(op, va, vb));
    }
}

/* out = x * s over this group's slice (mlxc_p_scale). */
OPS_ALWAYS_INLINE void ew_scale(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (n) */
    void *out = l->args[1];     /* (n) */
    const mlxc_p_scale *p = l->args[2];
    const float s = p->s;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    for (uint64_t i = lo; i < hi; i++) ops_st(t, out, i, ops_ld(t, x, i) * s);
}

/* e^y - 1 per lane: its Taylor series to y^9 where |y| < 0.5 (truncation
 * < 1e-8 relative), e^y - 1 (no harmful cancellation) elsewhere. */
static inline ops_v4f expm1_4(ops_v4f y) {
    ops_v4f q = ops_v4_splat(1.0f / 362880.0f);
    q = q * y + 1.0f / 40320.0f;
    q = q * y + 1.0f / 5040.0f;
    q = q * y + 1.0f / 720.0f;
    q = q * y + 1.0f / 120.0f;
    q = q * y + 1.0f / 24.0f;
    q = q * y + 1.0f / 6.0f;
    q = q * y + 0.5f;
    q = q * y + 1.0f;
    const ops_v4f ay = ops_v4_sel(y < 0.0f, -y, y);
    return ops_v4_sel(ay < 0.5f, q * y, ops_exp4(y) - 1.0f);
}
/* tanh t = m / (m + 2), m = e^(2t) - 1: accurate near 0, -1 and 1 at the
 * ends (e^(2t) clamps near 2^127 above t = 44). */
static inline ops_v4f tanh4(ops_v4f t) {
    const ops_v4f m = expm1_4(2.0f * t);
    return m / (m + 2.0f);
}

/* softcap: tanh(x / s) * s, four lanes at a time (the tail padded). */
OPS_ALWAYS_INLINE void ew_softcap(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (n) */
    void *out = l->args[1];     /* (n) */
    const mlxc_p_scale *p = l->args[2];
    const float s = p->s;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    uint64_t i = lo;
    for (; i + 4 <= hi; i += 4) ops_st4(t, out, i, tanh4(ops_ld4(t, x, i) / s) * s);
    if (i < hi) {
        const uint32_t m = (uint32_t)(hi - i);
        ew_st_part(t, out, i, m, tanh4(ew_ld_part(t, x, i, m) / s) * s);
    }
}

/* swiglu: out[i] = silu(x[r, c]) * x[r, half + c] over this group's slice
 * of outputs, four lanes at a time within a row (the same values as
 * silu_mul's lanes), a row's last partial chunk padded. */
OPS_ALWAYS_INLINE void ew_swiglu(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, 2 half) */
    void *out = l->args[1];     /* (rows, half)   */
    const mlxc_p_glu *p = l->args[2];
    const uint64_t h = p->half;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    for (uint64_t i = lo; i < hi;) {
        const uint64_t r = i / h, c = i % h, end = (r + 1) * h < hi ? (r + 1) * h : hi;
        const uint64_t g = r * 2 * h + c; /* x's gate value of out[i]; up is h on */
        uint64_t j = 0;
        for (; i + j + 4 <= end; j += 4)
            ops_st4(t, out, i + j, ops_silu_mul4(ops_ld4(t, x, g + j), ops_ld4(t, x, g + h + j)));
        if (i + j < end) {
            const uint32_t m = (uint32_t)(end - i - j);
            ew_st_part(t, out, i + j, m, ops_silu_mul4(ew_ld_part(t, x, g + j, m), ew_ld_part(t, x, g + h + j, m)));
        }
        i = end;
    }
}

/* add and mul: out = a OP b in f32, one rounding. */
OPS_ALWAYS_INLINE void ew_binary(const mlxc_cpu_launch *l, ops_dtype t, int is_mul) {
    const void *a = l->args[0]; /* (n) */
    const void *b = l->args[1]; /* (n) */
    void *out = l->args[2];     /* (n) */
    const mlxc_p_elementwise *p = l->args[3];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    for (uint64_t i = lo; i < hi; i++) {
        const float va = ops_ld(t, a, i), vb = ops_ld(t, b, i);
        ops_st(t, out, i, is_mul ? va * vb : va + vb);
    }
}

/* dst = src converted from dtype ts to td. */
OPS_ALWAYS_INLINE void ew_cast(const mlxc_cpu_launch *l, ops_dtype ts, ops_dtype td) {
    const void *src = l->args[0]; /* (n) */
    void *dst = l->args[1];       /* (n) */
    const mlxc_p_elementwise *p = l->args[2];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    for (uint64_t i = lo; i < hi; i++) ops_st(td, dst, i, ops_ld(ts, src, i));
}

/* One entry point per kernel name. */
static void add_f32(const mlxc_cpu_launch *l) { ew_binary(l, OPS_F32, 0); }
static void add_f16(const mlxc_cpu_launch *l) { ew_binary(l, OPS_F16, 0); }
static void add_bf16(const mlxc_cpu_launch *l) { ew_binary(l, OPS_BF16, 0); }
static void mul_f32(const mlxc_cpu_launch *l) { ew_binary(l, OPS_F32, 1); }
static void mul_f16(const mlxc_cpu_launch *l) { ew_binary(l, OPS_F16, 1); }
static void mul_bf16(const mlxc_cpu_launch *l) { ew_binary(l, OPS_BF16, 1); }
static void scale_f32(const mlxc_cpu_launch *l) { ew_scale(l, OPS_F32); }
static void scale_f16(const mlxc_cpu_launch *l) { ew_scale(l, OPS_F16); }
static void scale_bf16(const mlxc_cpu_launch *l) { ew_scale(l, OPS_BF16); }
static void softcap_f32(const mlxc_cpu_launch *l) { ew_softcap(l, OPS_F32); }
static void softcap_f16(const mlxc_cpu_launch *l) { ew_softcap(l, OPS_F16); }
static void softcap_bf16(const mlxc_cpu_launch *l) { ew_softcap(l, OPS_BF16); }
static void gelu_f32(const mlxc_cpu_launch *l) { ew_act(l, OPS_F32, EW_GELU, 1); }
static void gelu_f16(const mlxc_cpu_launch *l) { ew_act(l, OPS_F16, EW_GELU, 1); }
static void gelu_bf16(const mlxc_cpu_launch *l) { ew_act(l, OPS_BF16, EW_GELU, 1); }
static void silu_mul_f32(const mlxc_cpu_launch *l) { ew_act(l, OPS_F32, EW_SILU_MUL, 2); }
static void silu_mul_f16(const mlxc_cpu_launch *l) { ew_act(l, OPS_F16, EW_SILU_MUL, 2); }
static void silu_mul_bf16(const mlxc_cpu_launch *l) { ew_act(l, OPS_BF16, EW_SILU_MUL, 2); }
static void sigmoid_mul_f32(const mlxc_cpu_launch *l) { ew_act(l, OPS_F32, EW_SIGMOID_MUL, 2); }
static void sigmoid_mul_f16(const mlxc_cpu_launch *l) { ew_act(l, OPS_F16, EW_SIGMOID_MUL, 2); }
static void sigmoid_mul_bf16(const mlxc_cpu_launch *l) { ew_act(l, OPS_BF16, EW_SIGMOID_MUL, 2); }
static void swiglu_f32(const mlxc_cpu_launch *l) { ew_swiglu(l, OPS_F32); }
static void swiglu_f16(const mlxc_cpu_launch *l) { ew_swiglu(l, OPS_F16); }
static void swiglu_bf16(const mlxc_cpu_launch *l) { ew_swiglu(l, OPS_BF16); }
static void cast_f32_f16(const mlxc_cpu_launch *l) { ew_cast(l, OPS_F32, OPS_F16); }
static void cast_f32_bf16(const mlxc_cpu_launch *l) { ew_cast(l, OPS_F32, OPS_BF16); }
static void cast_f16_f32(const mlxc_cpu_launch *l) { ew_cast(l, OPS_F16, OPS_F32); }
static void cast_bf16_f32(const mlxc_cpu_launch *l) { ew_cast(l, OPS_BF16, OPS_F32); }
static void cast_f16_bf16(const mlxc_cpu_launch *l) { ew_cast(l, OPS_F16, OPS_BF16); }
static void cast_bf16_f16(const mlxc_cpu_launch *l) { ew_cast(l, OPS_BF16, OPS_F16); }

#define MLXC_FAMILY_NAME elementwise
#define MLXC_FAMILY_DEF "kernels/elementwise.def"
#include "kernels/cpu/family_tables.h"
