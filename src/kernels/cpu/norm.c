/* Normalisation kernels: rms_norm with a fused residual add, l2_norm and
 * layer_norm, then rms_norm and rms_norm_mul.  Row sums use eight fixed
 * partial sums (the order of the rms_norm kernel below), so they vectorize
 * and are deterministic for any grid. */
#include "kernels/params_norm.h"
#include "kernels/cpu/ops_cpu.h"

/* acc = sum over j < dim of EXPR (an expression in j), as f32 in eight lanes. */
static inline float sq(float v) { return v * v; }

#define SUM8(acc, dim, EXPR)                                                    \
    float acc;                                                                 \
    {                                                                          \
        float l_[8] = {0};                                                     \
        uint32_t i_ = 0;                                                       \
        for (; i_ + 8 <= (dim); i_ += 8)                                       \
            for (uint32_t k_ = 0; k_ < 8; k_++) { const uint32_t j = i_ + k_; l_[k_] += (EXPR); } \
        for (uint32_t j = i_; j < (dim); j++) l_[0] += (EXPR);                 \
        acc = ((l_[0] + l_[1]) + (l_[2] + l_[3])) + ((l_[4] + l_[5]) + (l_[6] + l_[7])); \
    }
/* The same sum, lanes j % 8 as two four-lane vectors: EXPR4 is an
 * expression in the ops_v4f x4 of elements j..j+3, EXPR1 in the float x1. */
#define SUM8V(acc, dim, SFX, LD, row, EXPR4, EXPR1)                               \
    float acc;                                                                 \
    {                                                                          \
        ops_v4f a_ = ops_v4_splat(0.0f), b_ = a_;                              \
        uint32_t i_ = 0;                                                       \
        for (; i_ + 8 <= (dim); i_ += 8) {                                     \
            ops_v4f x4 = ops_ld4_##SFX((row) + i_);                            \
            a_ += (EXPR4);                                                     \
            x4 = ops_ld4_##SFX((row) + i_ + 4);                                \
            b_ += (EXPR4);                                                     \
        }                                                                      \
        float l0_ = a_[0];                                                     \
        for (uint32_t j = i_; j < (dim); j++) {                                \
            const float x1 = LD((row)[j]);                                     \
            l0_ += (EXPR1);                                                    \
        }                                                                      \
        acc = ((l0_ + a_[1]) + (a_[2] + a_[3])) + ((b_[0] + b_[1]) + (b_[2] + b_[3])); \
    }

/* rms_norm_residual(x, r, w, out, sum, p): s = round(x + r) (written to sum
 * when write_sum), out = s * inv_rms(s) * w: bit-identical to add followed by
 * rms_norm on this backend. */
#define RMS_RES(SFX, T, LD, ST)                                                 \
    /* round(x + r) for four elements, back in f32. */                         \
    static inline ops_v4f res4_##SFX(const T *x, const T *r) {                 \
        T t[4];                                                                \
        ops_st4_##SFX(t, ops_ld4_##SFX(x) + ops_ld4_##SFX(r));                 \
        return ops_ld4_##SFX(t);                                               \
    }                                                                          \
    static void rms_norm_residual_##SFX(const mlxc_cpu_launch *l) {            \
        const T *x = l->args[0], *res = l->args[1], *w = l->args[2];           \
        T *out = l->args[3], *sum = l->args[4];                                \
        const mlxc_p_norm *p = l->args[5];                                     \
        const uint32_t dim = p->dim;                                           \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * dim, *rr = res + r * dim;                    \
            T *o = out + r * dim;                                              \
            /* The SUM8 lanes j % 8 as two vectors, the tail into lane 0. */   \
            ops_v4f a_ = ops_v4_splat(0.0f), b_ = a_;                          \
            uint32_t i = 0;                                                    \
            for (; i + 8 <= dim; i += 8) {                                     \
                const ops_v4f s0 = res4_##SFX(xr + i, rr + i), s1 = res4_##SFX(xr + i + 4, rr + i + 4); \
                a_ += s0 * s0;                                                 \
                b_ += s1 * s1;                                                 \
            }                                                                  \
            float l0 = a_[0];                                                  \
            for (; i < dim; i++) l0 += sq(LD(ST(LD(xr[i]) + LD(rr[i]))));     \
            const float ss = ((l0 + a_[1]) + (a_[2] + a_[3])) + ((b_[0] + b_[1]) + (b_[2] + b_[3])); \
            const float inv = 1.0f / sqrtf(ss / (float)dim + p->eps);          \
            for (i = 0; i + 4 <= dim; i += 4) {                                \
                const ops_v4f v = res4_##SFX(xr + i, rr + i) * inv;            \
                ops_st4_##SFX(o + i, p->has_weight ? v * ops_ld4_##SFX(w + i) : v); \
            }                                                                  \
            for (; i < dim; i++) {                                             \
                const float v = LD(ST(LD(xr[i]) + LD(rr[i]))) * inv;          \
                o[i] = ST(p->has_weight ? v * LD(w[i]) : v);                   \
            }                                                                  \
            /* Last: sum may be x or r itself. */                              \
            if (p->write_sum) {                                                \
                T *sr = sum + r * dim;                                         \
                for (i = 0; i + 4 <= dim; i += 4)                              \
                    ops_st4_##SFX(sr + i, ops_ld4_##SFX(xr + i) + ops_ld4_##SFX(rr + i)); \
                for (; i < dim; i++) sr[i] = ST(LD(xr[i]) + LD(rr[i]));        \
            }                                                                  \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(RMS_RES)

/* l2_norm(x, out, p): out = x / sqrt(sum(x^2) + eps). */
#define L2(SFX, T, LD, ST)                                                      \
    static void l2_norm_##SFX(const mlxc_cpu_launch *l) {                      \
        const T *x = l->args[0];                                               \
        T *out = l->args[1];                                                   \
        const mlxc_p_norm *p = l->args[2];                                     \
        const uint32_t dim = p->dim;                                           \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * dim;                                         \
            T *o = out + r * dim;                                              \
            SUM8(ss, dim, sq(LD(xr[j])))                                               \
            const float inv = 1.0f / sqrtf(ss + p->eps);                       \
            for (uint32_t i = 0; i < dim; i++) o[i] = ST(LD(xr[i]) * inv);     \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(L2)

/* layer_norm(x, w, b, out, p): two passes (mean, then the variance of
 * x - mean), out = (x - mean) * inv_std * w + b; w/b optional. */
#define LAYER(SFX, T, LD, ST)                                                   \
    static void layer_norm_##SFX(const mlxc_cpu_launch *l) {                   \
        const T *x = l->args[0], *w = l->args[1], *b = l->args[2];             \
        T *out = l->args[3];                                                   \
        const mlxc_p_norm *p = l->args[4];                                     \
        const uint32_t dim = p->dim;                                           \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * dim;                                         \
            T *o = out + r * dim;                                              \
            SUM8V(s1, dim, SFX, LD, xr, x4, x1)                                \
            const float mean = s1 / (float)dim;                                \
            SUM8V(s2, dim, SFX, LD, xr, (x4 - mean) * (x4 - mean), sq(x1 - mean))\
            const float inv = 1.0f / sqrtf(s2 / (float)dim + p->eps);          \
            uint32_t i = 0;                                                    \
            for (; i + 4 <= dim; i += 4) {                                     \
                ops_v4f v = (ops_v4f)(ops_ld4_##SFX(xr + i) - mean) * inv;     \
                if (p->has_weight) v *= ops_ld4_##SFX(w + i);                  \
                if (p->has_bias) v += ops_ld4_##SFX(b + i);                    \
                ops_st4_##SFX(o + i, v);                                       \
            }                                                                  \
            for (; i < dim; i++) {                                             \
                float v = (LD(xr[i]) - mean) * inv;                            \
                if (p->has_weight) v *= LD(w[i]);                              \
                if (p->has_bias) v += LD(b[i]);                                \
                o[i] = ST(v);                                                  \
            }                                                                  \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(LAYER)

#define F32_ID(x) (x)

/* 1 / sqrt(mean(x^2) + eps) with eight fixed partial sums: vectorizable and
 * deterministic, and shared by rms_norm and rms_norm_mul so both agree. */
#define INV_RMS(NAME, T, LOAD)                                                  \
    static inline float NAME(const T *x, uint32_t dim, float eps) {            \
        float acc[8] = {0};                                                    \
        uint32_t i = 0;                                                        \
        for (; i + 8 <= dim; i += 8)                                           \
            for (int k = 0; k < 8; k++) { float v = LOAD(x[i + k]); acc[k] += v * v; } \
        for (; i < dim; i++) { float v = LOAD(x[i]); acc[0] += v * v; }        \
        float ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
        return 1.0f / sqrtf(ss / (float)dim + eps);                            \
    }

INV_RMS(inv_rms_f32, float, F32_ID)
INV_RMS(inv_rms_bf16, uint16_t, mlxc_half_bf16_to_f32)
INV_RMS(inv_rms_f16, uint16_t, mlxc_half_f16_to_f32)

/* rms_norm(x, w, out, p): row r = x[r] * inv_rms * w (w optional). */
#define RMS_NORM(NAME, T, LOAD, STORE, INV)                                     \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *x = l->args[0], *w = l->args[1];                              \
        T *out = l->args[2];                                                   \
        const mlxc_p_rms_norm *p = l->args[3];                                 \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * p->dim;                                      \
            T *o = out + r * p->dim;                                           \
            float inv = INV(xr, p->dim, p->eps);                               \
            if (p->has_weight)                                                 \
                for (uint32_t i = 0; i < p->dim; i++) o[i] = STORE(LOAD(xr[i]) * inv * LOAD(w[i])); \
            else                                                               \
                for (uint32_t i = 0; i < p->dim; i++) o[i] = STORE(LOAD(xr[i]) * inv); \
        }                                                                      \
    }

RMS_NORM(rms_norm_f32, float, F32_ID, F32_ID, inv_rms_f32)
RMS_NORM(rms_norm_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, inv_rms_bf16)
RMS_NORM(rms_norm_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, inv_rms_f16)

/* rms_norm_mul(x, w, s, out, p): the normalised value is rounded to T first,
 * exactly as rms_norm stores it, then multiplied by s and rounded again. */
#define RMS_NORM_MUL(NAME, T, LOAD, STORE, INV)                                 \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *x = l->args[0], *w = l->args[1], *s = l->args[2];             \
        T *out = l->args[3];                                                   \
        const mlxc_p_rms_norm *p = l->args[4];                                 \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * p->dim, *sr = s + r * p->dim;                \
            T *o = out + r * p->dim;                                           \
            float inv = INV(xr, p->dim, p->eps);                               \
            for (uint32_t i = 0; i < p->dim; i++) {                            \
                float v = LOAD(xr[i]) * inv;                                   \
                if (p->has_weight) v = v * LOAD(w[i]);                         \
                o[i] = STORE(LOAD(STORE(v)) * LOAD(sr[i]));                    \
            }                                                                  \
        }                                                                      \
    }

RMS_NORM_MUL(rms_norm_mul_f32, float, F32_ID, F32_ID, inv_rms_f32)
RMS_NORM_MUL(rms_norm_mul_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, inv_rms_bf16)
RMS_NORM_MUL(rms_norm_mul_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, inv_rms_f16)

#define MLXC_FAMILY_NAME norm
#define MLXC_FAMILY_DEF "kernels/norm.def"
#include "kernels/cpu/family_tables.h"
