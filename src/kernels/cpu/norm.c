/* Normalisation kernels: rms_norm with a fused residual add, l2_norm and
 * layer_norm, then rms_norm and rms_norm_mul.  Row sums use eight fixed
 * partial sums (lane j % 8, the tail into lane 0, the lanes combined in one
 * fixed tree: ops_sum8 and ops_sum_sq in ops_cpu.h), so they vectorize and
 * are deterministic for any grid. */
#include "kernels/params_norm.h"
#include "kernels/cpu/ops_cpu.h"

static inline float sq(float v) { return v * v; }

/* The same lanes as two four-lane vectors, of x[j] (centered == 0) or of
 * (x[j] - mean)^2 (centered == 1): layer_norm's two passes. */
OPS_ALWAYS_INLINE float sum_v(ops_dtype t, const void *x, /* (dim) */ uint32_t dim, int centered, float mean) {
    ops_v4f a = ops_v4_splat(0.0f), b = a;
    uint32_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        const ops_v4f x0 = ops_ld4(t, x, i), x1 = ops_ld4(t, x, i + 4);
        a += centered ? (x0 - mean) * (x0 - mean) : x0;
        b += centered ? (x1 - mean) * (x1 - mean) : x1;
    }
    float l0 = a[0];
    for (; i < dim; i++) {
        const float v = ops_ld(t, x, i);
        l0 += centered ? sq(v - mean) : v;
    }
    const float l[8] = {l0, a[1], a[2], a[3], b[0], b[1], b[2], b[3]};
    return ops_sum8(l);
}

/* rms_norm_residual(x, r, w, out, sum, p): s = round(x + r) (written to sum
 * when write_sum), out = s * inv_rms(s) * w: bit-identical to add followed by
 * rms_norm on this backend.  It stays one body per dtype, written out by
 * the macro below: when both operands of a sum are NaN, which payload comes
 * out depends on the operand order the compiler picks, and a shared
 * dtype-generic body compiled to a different order for f16 (changing the
 * NaN bits this backend has always produced). */
#define RMS_RES(SFX, T, LD, ST)                                                 \
    /* round(x + r) for four elements, back in f32. */                         \
    static inline ops_v4f res4_##SFX(const T *x, const T *r) {                 \
        T t[4];                                                                \
        ops_st4_##SFX(t, ops_ld4_##SFX(x) + ops_ld4_##SFX(r));                 \
        return ops_ld4_##SFX(t);                                               \
    }                                                                          \
    static void rms_norm_residual_##SFX(const mlxc_cpu_launch *l) {            \
        const T *x = l->args[0];   /* (rows, dim) */                           \
        const T *res = l->args[1]; /* (rows, dim) */                           \
        const T *w = l->args[2];   /* (dim), read when has_weight */           \
        T *out = l->args[3];       /* (rows, dim) */                           \
        T *sum = l->args[4];       /* (rows, dim), written when write_sum */   \
        const mlxc_p_norm *p = l->args[5];                                     \
        const uint32_t dim = p->dim;                                           \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * dim;   /* (dim) */                           \
            const T *rr = res + r * dim; /* (dim) */                           \
            T *o = out + r * dim;        /* (dim) */                           \
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
                T *sr = sum + r * dim; /* (dim) */                             \
                for (i = 0; i + 4 <= dim; i += 4)                              \
                    ops_st4_##SFX(sr + i, ops_ld4_##SFX(xr + i) + ops_ld4_##SFX(rr + i)); \
                for (; i < dim; i++) sr[i] = ST(LD(xr[i]) + LD(rr[i]));        \
            }                                                                  \
        }                                                                      \
    }
#define F32_LD(x) (x)
#define F32_ST(x) (x)
RMS_RES(f32, float, F32_LD, F32_ST)
RMS_RES(f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16)
RMS_RES(bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16)

/* l2_norm(x, out, p): out = x / sqrt(sum(x^2) + eps). */
OPS_ALWAYS_INLINE void l2_norm(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, dim) */
    void *out = l->args[1];     /* (rows, dim) */
    const mlxc_p_norm *p = l->args[2];
    const uint32_t dim = p->dim;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const void *xr = (const char *)x + r * dim * es; /* (dim) */
        void *o = (char *)out + r * dim * es;            /* (dim) */
        const float inv = 1.0f / sqrtf(ops_sum_sq(t, xr, dim) + p->eps);
        for (uint32_t i = 0; i < dim; i++) ops_st(t, o, i, ops_ld(t, xr, i) * inv);
    }
}

/* layer_norm(x, w, b, out, p): two passes (mean, then the variance of
 * x - mean), out = (x - mean) * inv_std * w + b; w/b optional. */
OPS_ALWAYS_INLINE void layer_norm(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, dim) */
    const void *w = l->args[1]; /* (dim), read when has_weight */
    const void *b = l->args[2]; /* (dim), read when has_bias */
    void *out = l->args[3];     /* (rows, dim) */
    const mlxc_p_norm *p = l->args[4];
    const uint32_t dim = p->dim;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const void *xr = (const char *)x + r * dim * es; /* (dim) */
        void *o = (char *)out + r * dim * es;            /* (dim) */
        const float mean = sum_v(t, xr, dim, 0, 0.0f) / (float)dim;
        const float inv = 1.0f / sqrtf(sum_v(t, xr, dim, 1, mean) / (float)dim + p->eps);
        uint32_t i = 0;
        for (; i + 4 <= dim; i += 4) {
            ops_v4f v = (ops_v4f)(ops_ld4(t, xr, i) - mean) * inv;
            if (p->has_weight) v *= ops_ld4(t, w, i);
            if (p->has_bias) v += ops_ld4(t, b, i);
            ops_st4(t, o, i, v);
        }
        for (; i < dim; i++) {
            float v = (ops_ld(t, xr, i) - mean) * inv;
            if (p->has_weight) v *= ops_ld(t, w, i);
            if (p->has_bias) v += ops_ld(t, b, i);
            ops_st(t, o, i, v);
        }
    }
}

/* rms_norm(x, w, out, p): row r = x[r] * inv_rms * w (w optional). */
OPS_ALWAYS_INLINE void rms_norm(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, dim) */
    const void *w = l->args[1]; /* (dim), read when has_weight */
    void *out = l->args[2];     /* (rows, dim) */
    const mlxc_p_rms_norm *p = l->args[3];
    const uint32_t dim = p->dim;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const void *xr = (const char *)x + r * dim * es; /* (dim) */
        void *o = (char *)out + r * dim * es;            /* (dim) */
        const float inv = 1.0f / sqrtf(ops_sum_sq(t, xr, dim) / (float)dim + p->eps);
        if (p->has_weight)
            for (uint32_t i = 0; i < dim; i++) ops_st(t, o, i, ops_ld(t, xr, i) * inv * ops_ld(t, w, i));
        else
            for (uint32_t i = 0; i < dim; i++) ops_st(t, o, i, ops_ld(t, xr, i) * inv);
    }
}

/* rms_norm_mul(x, w, s, out, p): the normalised value is rounded to the
 * dtype first, exactly as rms_norm stores it, then multiplied by s and
 * rounded again. */
OPS_ALWAYS_INLINE void rms_norm_mul(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, dim) */
    const void *w = l->args[1]; /* (dim), read when has_weight */
    const void *s = l->args[2]; /* (rows, dim) */
    void *out = l->args[3];     /* (rows, dim) */
    const mlxc_p_rms_norm *p = l->args[4];
    const uint32_t dim = p->dim;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const void *xr = (const char *)x + r * dim * es; /* (dim) */
        const void *sr = (const char *)s + r * dim * es; /* (dim) */
        void *o = (char *)out + r * dim * es;            /* (dim) */
        const float inv = 1.0f / sqrtf(ops_sum_sq(t, xr, dim) / (float)dim + p->eps);
        for (uint32_t i = 0; i < dim; i++) {
            float v = ops_ld(t, xr, i) * inv;
            if (p->has_weight) v = v * ops_ld(t, w, i);
            ops_st(t, o, i, ops_round(t, v) * ops_ld(t, sr, i));
        }
    }
}

/* One entry point per kernel name. */
static void l2_norm_f32(const mlxc_cpu_launch *l) { l2_norm(l, OPS_F32); }
static void l2_norm_f16(const mlxc_cpu_launch *l) { l2_norm(l, OPS_F16); }
static void l2_norm_bf16(const mlxc_cpu_launch *l) { l2_norm(l, OPS_BF16); }
static void layer_norm_f32(const mlxc_cpu_launch *l) { layer_norm(l, OPS_F32); }
static void layer_norm_f16(const mlxc_cpu_launch *l) { layer_norm(l, OPS_F16); }
static void layer_norm_bf16(const mlxc_cpu_launch *l) { layer_norm(l, OPS_BF16); }
static void rms_norm_f32(const mlxc_cpu_launch *l) { rms_norm(l, OPS_F32); }
static void rms_norm_f16(const mlxc_cpu_launch *l) { rms_norm(l, OPS_F16); }
static void rms_norm_bf16(const mlxc_cpu_launch *l) { rms_norm(l, OPS_BF16); }
static void rms_norm_mul_f32(const mlxc_cpu_launch *l) { rms_norm_mul(l, OPS_F32); }
static void rms_norm_mul_f16(const mlxc_cpu_launch *l) { rms_norm_mul(l, OPS_F16); }
static void rms_norm_mul_bf16(const mlxc_cpu_launch *l) { rms_norm_mul(l, OPS_BF16); }

#define MLXC_FAMILY_NAME norm
#define MLXC_FAMILY_DEF "kernels/norm.def"
#include "kernels/cpu/family_tables.h"
