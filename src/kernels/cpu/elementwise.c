/* Elementwise kernels: add, mul, scale, softcap, gelu (tanh), silu_mul,
 * sigmoid_mul and casts between the float dtypes.  Each group takes one
 * contiguous slice; arithmetic is f32, rounded once to the storage type. */
#include "kernels/params_elementwise.h"
#include "kernels/cpu/ops_cpu.h"

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), in the equal
 * form x / (1 + e^(-2u)): no cancellation, one vectorized exp. */
static inline ops_v4f gelu4(ops_v4f x) {
    const ops_v4f u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + ops_exp4(-2.0f * u));
}
static inline ops_v4f sigmoid4(ops_v4f x) { return 1.0f / (1.0f + ops_exp4(-x)); }
static inline ops_v4f silu_mul4(ops_v4f a, ops_v4f b) { return a * sigmoid4(a) * b; }
static inline ops_v4f sigmoid_mul4(ops_v4f a, ops_v4f b) { return a * sigmoid4(b); }

/* out = F4(a[, b]) four lanes at a time over this group's slice; the last
 * partial chunk runs padded with zeros and stores its valid lanes only. */
#define VEC_BODY(SFX, T, LD, ST, NIN, F4)                                          \
    const T *xa = l->args[0], *xb = l->args[NIN - 1];                          \
    T *out = l->args[NIN];                                                     \
    const mlxc_p_elementwise *p = l->args[NIN + 1];                            \
    uint64_t lo, hi;                                                           \
    mlxc_cpu_slice(l, p->n, &lo, &hi);                                         \
    uint64_t i = lo;                                                           \
    for (; i + 4 <= hi; i += 4) {                                              \
        const ops_v4f va = ops_ld4_##SFX(xa + i), vb = ops_ld4_##SFX(xb + i);  \
        ops_st4_##SFX(out + i, NIN == 1 ? F4##_1(va) : F4##_2(va, vb));        \
    }                                                                          \
    if (i < hi) {                                                              \
        const uint32_t m = (uint32_t)(hi - i);                                 \
        float fa[4] = {0}, fb[4] = {0}, fr[4];                                 \
        for (uint32_t k = 0; k < m; k++) fa[k] = LD(xa[i + k]), fb[k] = LD(xb[i + k]); \
        ops_v4f va, vb, vr;                                                    \
        memcpy(&va, fa, 16), memcpy(&vb, fb, 16);                              \
        vr = NIN == 1 ? F4##_1(va) : F4##_2(va, vb);                           \
        memcpy(fr, &vr, 16);                                                   \
        for (uint32_t k = 0; k < m; k++) out[i + k] = ST(fr[k]);               \
    }
#define VEC(OP, NIN)                                                            \
    static void OP##_f32(const mlxc_cpu_launch *l) { VEC_BODY(f32, float, OPS_F32_LD, OPS_F32_ST, NIN, OP) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { VEC_BODY(f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, NIN, OP) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { VEC_BODY(bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, NIN, OP) }
/* Each op as a one- and a two-input function, so VEC_BODY compiles for both. */
static inline ops_v4f gelu_1(ops_v4f a) { return gelu4(a); }
static inline ops_v4f gelu_2(ops_v4f a, ops_v4f b) { (void)b; return gelu4(a); }
static inline ops_v4f silu_mul_1(ops_v4f a) { return a; }
static inline ops_v4f silu_mul_2(ops_v4f a, ops_v4f b) { return silu_mul4(a, b); }
static inline ops_v4f sigmoid_mul_1(ops_v4f a) { return a; }
static inline ops_v4f sigmoid_mul_2(ops_v4f a, ops_v4f b) { return sigmoid_mul4(a, b); }

/* y = f(x, s) over p->n elements; s is the mlxc_p_scale factor. */
#define UNARY_S(OP, EXPR)                                                       \
    static void OP##_f32(const mlxc_cpu_launch *l) { UNARY_BODY(float, OPS_F32_LD, OPS_F32_ST, EXPR) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { UNARY_BODY(uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, EXPR) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { UNARY_BODY(uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, EXPR) }
#define UNARY_BODY(T, LD, ST, EXPR)                                             \
    const T *x = l->args[0];                                                   \
    T *out = l->args[1];                                                       \
    const mlxc_p_scale *p = l->args[2];                                        \
    const float s = p->s;                                                      \
    uint64_t lo, hi;                                                           \
    mlxc_cpu_slice(l, p->n, &lo, &hi);                                         \
    for (uint64_t i = lo; i < hi; i++) {                                       \
        const float v = LD(x[i]);                                              \
        out[i] = ST(EXPR);                                                     \
    }

UNARY_S(scale, v * s)

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

/* softcap: tanh(v / s) * s, four lanes at a time (the tail padded). */
#define SOFTCAP(SFX, T, LD, ST)                                                 \
    static void softcap_##SFX(const mlxc_cpu_launch *l) {                      \
        const T *x = l->args[0];                                               \
        T *out = l->args[1];                                                   \
        const mlxc_p_scale *p = l->args[2];                                    \
        const float s = p->s;                                                  \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->n, &lo, &hi);                                     \
        uint64_t i = lo;                                                       \
        for (; i + 4 <= hi; i += 4) ops_st4_##SFX(out + i, tanh4(ops_ld4_##SFX(x + i) / s) * s); \
        if (i < hi) {                                                          \
            float f[4] = {0};                                                  \
            for (uint32_t k = 0; k < hi - i; k++) f[k] = LD(x[i + k]);         \
            ops_v4f v;                                                         \
            memcpy(&v, f, 16);                                                 \
            v = tanh4(v / s) * s;                                              \
            for (uint32_t k = 0; k < hi - i; k++) out[i + k] = ST(v[k]);       \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(SOFTCAP)

/* The same without a factor (mlxc_p_elementwise). */
#define UNARY(OP, EXPR)                                                         \
    static void OP##_f32(const mlxc_cpu_launch *l) { UNARY_NS(float, OPS_F32_LD, OPS_F32_ST, EXPR) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { UNARY_NS(uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, EXPR) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { UNARY_NS(uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, EXPR) }
#define UNARY_NS(T, LD, ST, EXPR)                                               \
    const T *x = l->args[0];                                                   \
    T *out = l->args[1];                                                       \
    const mlxc_p_elementwise *p = l->args[2];                                  \
    uint64_t lo, hi;                                                           \
    mlxc_cpu_slice(l, p->n, &lo, &hi);                                         \
    for (uint64_t i = lo; i < hi; i++) {                                       \
        const float v = LD(x[i]);                                              \
        out[i] = ST(EXPR);                                                     \
    }

VEC(gelu, 1)

/* out = f(a, b), elementwise. */
#define BINARY(OP, EXPR)                                                        \
    static void OP##_f32(const mlxc_cpu_launch *l) { BINARY_BODY(float, OPS_F32_LD, OPS_F32_ST, EXPR) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { BINARY_BODY(uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, EXPR) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { BINARY_BODY(uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, EXPR) }
#define BINARY_BODY(T, LD, ST, EXPR)                                            \
    const T *xa = l->args[0], *xb = l->args[1];                                \
    T *out = l->args[2];                                                       \
    const mlxc_p_elementwise *p = l->args[3];                                  \
    uint64_t lo, hi;                                                           \
    mlxc_cpu_slice(l, p->n, &lo, &hi);                                         \
    for (uint64_t i = lo; i < hi; i++) {                                       \
        const float a = LD(xa[i]), b = LD(xb[i]);                              \
        out[i] = ST(EXPR);                                                     \
    }

VEC(silu_mul, 2)
VEC(sigmoid_mul, 2)

/* cast_A_B(src, dst, {n}) */
#define CAST(NAME, TS, LD, TD, ST)                                              \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const TS *src = l->args[0];                                            \
        TD *dst = l->args[1];                                                  \
        const mlxc_p_elementwise *p = l->args[2];                              \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->n, &lo, &hi);                                     \
        for (uint64_t i = lo; i < hi; i++) dst[i] = ST(LD(src[i]));            \
    }

CAST(cast_f32_f16, float, OPS_F32_LD, uint16_t, mlxc_half_f32_to_f16)
CAST(cast_f32_bf16, float, OPS_F32_LD, uint16_t, mlxc_half_f32_to_bf16)
CAST(cast_f16_f32, uint16_t, mlxc_half_f16_to_f32, float, OPS_F32_ST)
CAST(cast_bf16_f32, uint16_t, mlxc_half_bf16_to_f32, float, OPS_F32_ST)
CAST(cast_f16_bf16, uint16_t, mlxc_half_f16_to_f32, uint16_t, mlxc_half_f32_to_bf16)
CAST(cast_bf16_f16, uint16_t, mlxc_half_bf16_to_f32, uint16_t, mlxc_half_f32_to_f16)

/* add and mul: out = a OP b in f32, one rounding. */
#define F32_ID(x) (x)
#define ELEMENTWISE(NAME, T, LOAD, STORE, OP)                                   \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *a = l->args[0], *b = l->args[1];                              \
        T *out = l->args[2];                                                   \
        const mlxc_p_elementwise *p = l->args[3];                              \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->n, &lo, &hi);                                     \
        for (uint64_t i = lo; i < hi; i++) out[i] = STORE(LOAD(a[i]) OP LOAD(b[i])); \
    }

ELEMENTWISE(add_f32, float, F32_ID, F32_ID, +)
ELEMENTWISE(mul_f32, float, F32_ID, F32_ID, *)
ELEMENTWISE(add_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, +)
ELEMENTWISE(mul_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, *)
ELEMENTWISE(add_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, +)
ELEMENTWISE(mul_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, *)
#undef ELEMENTWISE

#define MLXC_FAMILY_NAME elementwise
#define MLXC_FAMILY_DEF "kernels/elementwise.def"
#include "kernels/cpu/family_tables.h"
