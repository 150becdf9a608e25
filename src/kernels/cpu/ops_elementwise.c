/* Elementwise op-library kernels: scale, softcap, gelu (tanh), silu_mul,
 * sigmoid_mul and casts between the float dtypes.  Each group takes one
 * contiguous slice; arithmetic is f32, rounded once to the storage type. */
#include "kernels/cpu/ops_cpu.h"

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
static inline float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* y = f(x, s) over p->n elements; s is the mlxc_p_scale factor. */
#define UNARY_S(OP, EXPR)                                                       \
    static void OP##_f32(const mlxc_cpu_launch *l) { UNARY_BODY(float, OPS_F32_LD, OPS_F32_ST, EXPR) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { UNARY_BODY(uint16_t, mlxc_f16_to_f32, mlxc_f32_to_f16, EXPR) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { UNARY_BODY(uint16_t, mlxc_cpu_bf16_load, mlxc_cpu_bf16_store, EXPR) }
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
UNARY_S(softcap, tanhf(v / s) * s)

/* The same without a factor (mlxc_p_elementwise). */
#define UNARY(OP, EXPR)                                                         \
    static void OP##_f32(const mlxc_cpu_launch *l) { UNARY_NS(float, OPS_F32_LD, OPS_F32_ST, EXPR) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { UNARY_NS(uint16_t, mlxc_f16_to_f32, mlxc_f32_to_f16, EXPR) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { UNARY_NS(uint16_t, mlxc_cpu_bf16_load, mlxc_cpu_bf16_store, EXPR) }
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

UNARY(gelu, gelu_tanh(v))

/* out = f(a, b), elementwise. */
#define BINARY(OP, EXPR)                                                        \
    static void OP##_f32(const mlxc_cpu_launch *l) { BINARY_BODY(float, OPS_F32_LD, OPS_F32_ST, EXPR) } \
    static void OP##_f16(const mlxc_cpu_launch *l) { BINARY_BODY(uint16_t, mlxc_f16_to_f32, mlxc_f32_to_f16, EXPR) } \
    static void OP##_bf16(const mlxc_cpu_launch *l) { BINARY_BODY(uint16_t, mlxc_cpu_bf16_load, mlxc_cpu_bf16_store, EXPR) }
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

BINARY(silu_mul, a * sigmoid(a) * b)
BINARY(sigmoid_mul, a * sigmoid(b))

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

CAST(cast_f32_f16, float, OPS_F32_LD, uint16_t, mlxc_f32_to_f16)
CAST(cast_f32_bf16, float, OPS_F32_LD, uint16_t, mlxc_cpu_bf16_store)
CAST(cast_f16_f32, uint16_t, mlxc_f16_to_f32, float, OPS_F32_ST)
CAST(cast_bf16_f32, uint16_t, mlxc_cpu_bf16_load, float, OPS_F32_ST)
CAST(cast_f16_bf16, uint16_t, mlxc_f16_to_f32, uint16_t, mlxc_cpu_bf16_store)
CAST(cast_bf16_f16, uint16_t, mlxc_cpu_bf16_load, uint16_t, mlxc_f32_to_f16)

#define ENTRIES(OP, SIG)                                                        \
    {#OP "_f32", OP##_f32, SIG}, {#OP "_f16", OP##_f16, SIG}, {#OP "_bf16", OP##_bf16, SIG},
#define CAST_ENTRY(NAME) {#NAME, NAME, OPS_SIG2(sizeof(mlxc_p_elementwise))},

const mlxc_cpu_builtin mlxc_cpu_kernels_ops_elementwise[] = {
    ENTRIES(scale, OPS_SIG2(sizeof(mlxc_p_scale)))
    ENTRIES(softcap, OPS_SIG2(sizeof(mlxc_p_scale)))
    ENTRIES(gelu, OPS_SIG2(sizeof(mlxc_p_elementwise)))
    ENTRIES(silu_mul, OPS_SIG3(sizeof(mlxc_p_elementwise)))
    ENTRIES(sigmoid_mul, OPS_SIG3(sizeof(mlxc_p_elementwise)))
    CAST_ENTRY(cast_f32_f16) CAST_ENTRY(cast_f32_bf16) CAST_ENTRY(cast_f16_f32)
    CAST_ENTRY(cast_bf16_f32) CAST_ENTRY(cast_f16_bf16) CAST_ENTRY(cast_bf16_f16)
};
const size_t mlxc_cpu_kernels_ops_elementwise_count =
    sizeof mlxc_cpu_kernels_ops_elementwise / sizeof *mlxc_cpu_kernels_ops_elementwise;
