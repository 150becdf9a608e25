/*
 * Op-library RoPE (src/kernels/params_rope.h, include/mlxc/ops_rope.h):
 * grid-stride over (token, head, group of pairs) with 16-byte accesses when
 * the head splits into whole frags (rope_vec), else one thread per rotated
 * pair (rope_scalar); the pass-through tail is copied when out is not x.  theta = pos *
 * inv_freq[i] (/ freq_factors[i]) in f32 with explicit round-to-nearest
 * operations (no contraction), so the angle is bit-identical to the CPU's;
 * sincosf is the accurate libdevice version; its results times mscale
 * rounded once, as the CPU does.
 */
#include "kernels/params_rope.h"
#include "common.cuh"

namespace mlxc_ops {

__device__ __forceinline__ float rope_position(const int32_t *pos, const mlxc_p_rope &p, uint32_t t, uint32_t i) {
    if (p.mode != MLXC_ROPE_MODE_MROPE && p.mode != MLXC_ROPE_MODE_IMROPE) return (float)pos[t];
    const uint32_t s0 = p.sections[0], s1 = p.sections[1], s2 = p.sections[2];
    const uint32_t sector = i % (s0 + s1 + s2 + p.sections[3]);
    uint32_t sec;
    if (p.mode == MLXC_ROPE_MODE_IMROPE) {
        if (sector % 3 == 1 && sector < 3 * s1) sec = 1;
        else if (sector % 3 == 2 && sector < 3 * s2) sec = 2;
        else if (sector % 3 == 0 && sector < 3 * s0) sec = 0;
        else sec = 3;
    } else {
        sec = sector < s0 ? 0 : sector < s0 + s1 ? 1 : sector < s0 + s1 + s2 ? 2 : 3;
    }
    return (float)pos[(uint64_t)sec * p.n_tokens + t];
}

template <typename T>
__device__ __forceinline__ void rope_scalar(const T *x, T *out, const int32_t *pos, const float *ff, const mlxc_p_rope &p) {
    const uint32_t half = p.rope_dim / 2, hd = p.head_dim;
    const bool adjacent = p.mode == MLXC_ROPE_MODE_NORM;
    const uint64_t rows = (uint64_t)p.n_tokens * p.n_heads, pairs = rows * half;
    for (uint64_t e = global_index(); e < pairs; e += global_stride()) {
        const uint32_t i = (uint32_t)(e % half);
        const uint64_t row = e / half;
        const uint32_t t = (uint32_t)(row / p.n_heads);
        float theta = __fmul_rn(rope_position(pos, p, t, i), p.inv_freq[i]);
        if (p.has_freq_factors) theta = __fdiv_rn(theta, ff[i]);
        float sn, cs;
        sincosf(theta, &sn, &cs);
        sn = __fmul_rn(sn, p.mscale);
        cs = __fmul_rn(cs, p.mscale);
        const uint32_t ia = adjacent ? 2 * i : i, ib = adjacent ? 2 * i + 1 : i + half;
        const T *xr = x + row * hd;
        T *o = out + row * hd;
        const float a = conv<T>::load(xr[ia]), b = conv<T>::load(xr[ib]);
        o[ia] = conv<T>::store(a * cs - b * sn);
        o[ib] = conv<T>::store(a * sn + b * cs);
    }
    if (out != x && p.rope_dim < hd) {
        const uint32_t tail = hd - p.rope_dim;
        for (uint64_t e = global_index(); e < rows * tail; e += global_stride()) {
            const uint64_t row = e / tail, j = p.rope_dim + e % tail;
            out[row * hd + j] = x[row * hd + j];
        }
    }
}

/* The angle of pair i of token t, and its sine and cosine times mscale. */
__device__ __forceinline__ void rope_angle(float position, const float *ff, const mlxc_p_rope &p, uint32_t i, float *sn,
                                           float *cs) {
    float theta = __fmul_rn(position, p.inv_freq[i]);
    if (p.has_freq_factors) theta = __fdiv_rn(theta, ff[i]);
    sincosf(theta, sn, cs);
    *sn = __fmul_rn(*sn, p.mscale);
    *cs = __fmul_rn(*cs, p.mscale);
}

/* Vector path: one unit is N consecutive pairs (NeoX-style: a frag at i and
 * one at i + rope_dim/2) or one frag of N/2 adjacent pairs (NORM), so every
 * access is 16 bytes, for rope_heads<T>::HB heads of one token at once: the angle
 * depends on the token and the pair only, so each sincosf serves every head
 * of the group (sincosf, not the bytes, bounded the 16-bit rope before).
 * Every frag of a unit is read before any is written (in place); the
 * pass-through tail goes as frags too. */
template <typename T> struct rope_heads { static constexpr uint32_t HB = sizeof(T) == 4 ? 2 : 4; }; /* f32: 4 spills */

template <typename T>
__device__ __forceinline__ void rope_vec(const T *x, T *out, const int32_t *pos, const float *ff, const mlxc_p_rope &p) {
    constexpr uint32_t N = vec_n<T>::N, HB = rope_heads<T>::HB;
    typedef frag<T, N> F;
    const uint32_t half = p.rope_dim / 2, hd = p.head_dim, H = p.n_heads;
    const bool adjacent = p.mode == MLXC_ROPE_MODE_NORM;
    const bool multi = p.mode == MLXC_ROPE_MODE_MROPE || p.mode == MLXC_ROPE_MODE_IMROPE;
    const uint32_t per_row = adjacent ? p.rope_dim / N : half / N, groups = (H + HB - 1) / HB;
    const uint64_t units = (uint64_t)p.n_tokens * groups * per_row;
    const bool narrow = units + global_stride() < 0xffffffffull; /* 32-bit divisions */
    for (uint64_t u = global_index(); u < units; u += global_stride()) {
        const uint64_t r = narrow ? (uint32_t)u / per_row : u / per_row;
        const uint32_t c = (uint32_t)(u - r * per_row);
        const uint32_t t = (uint32_t)(narrow ? (uint32_t)r / groups : r / groups);
        const uint32_t h0 = (uint32_t)(r - (uint64_t)t * groups) * HB;
        const uint32_t nh = H - h0 < HB ? H - h0 : HB;
        const float ptok = multi ? 0.0f : (float)pos[t];
        const uint64_t row0 = (uint64_t)t * H + h0;
        F a[HB], b[HB];
#pragma unroll
        for (uint32_t k = 0; k < HB; k++)
            if (k < nh) {
                a[k].load(x + (row0 + k) * hd + c * N);
                if (!adjacent) b[k].load(x + (row0 + k) * hd + half + c * N);
            }
        if (adjacent) {
#pragma unroll
            for (uint32_t j = 0; j < N / 2; j++) {
                float sn, cs;
                rope_angle(ptok, ff, p, c * (N / 2) + j, &sn, &cs);
#pragma unroll
                for (uint32_t k = 0; k < HB; k++) {
                    const float x0 = a[k].get(2 * j), x1 = a[k].get(2 * j + 1);
                    a[k].set2(2 * j, x0 * cs - x1 * sn, x0 * sn + x1 * cs);
                }
            }
        } else {
#pragma unroll
            for (uint32_t j = 0; j < N; j += 2) {
                const uint32_t i = c * N + j;
                float s0, c0, s1, c1;
                rope_angle(multi ? rope_position(pos, p, t, i) : ptok, ff, p, i, &s0, &c0);
                rope_angle(multi ? rope_position(pos, p, t, i + 1) : ptok, ff, p, i + 1, &s1, &c1);
#pragma unroll
                for (uint32_t k = 0; k < HB; k++) {
                    const float x00 = a[k].get(j), x01 = a[k].get(j + 1), x10 = b[k].get(j), x11 = b[k].get(j + 1);
                    a[k].set2(j, x00 * c0 - x10 * s0, x01 * c1 - x11 * s1);
                    b[k].set2(j, x00 * s0 + x10 * c0, x01 * s1 + x11 * c1);
                }
            }
        }
#pragma unroll
        for (uint32_t k = 0; k < HB; k++)
            if (k < nh) {
                a[k].store(out + (row0 + k) * hd + c * N);
                if (!adjacent) b[k].store(out + (row0 + k) * hd + half + c * N);
            }
    }
    if (out != x && p.rope_dim < hd) {
        const uint64_t rows = (uint64_t)p.n_tokens * H;
        const uint32_t tail = (hd - p.rope_dim) / N;
        for (uint64_t e = global_index(); e < rows * tail; e += global_stride()) {
            const uint64_t row = e / tail, j = p.rope_dim + (e - row * tail) * N;
            F v;
            v.load(x + row * hd + j);
            v.store(out + row * hd + j);
        }
    }
}

template <typename T>
__device__ __forceinline__ void rope(const T *x, T *out, const int32_t *pos, const float *ff, const mlxc_p_rope &p) {
    constexpr uint32_t N = vec_n<T>::N;
    const bool adjacent = p.mode == MLXC_ROPE_MODE_NORM;
    /* A launch with a thread per pair (decode) is latency-bound: one
     * sincosf per thread beats N in a row. */
    const uint64_t pairs = (uint64_t)p.n_tokens * p.n_heads * (p.rope_dim / 2);
    if (pairs > global_stride() && p.head_dim % N == 0 && (adjacent ? p.rope_dim % N : (p.rope_dim / 2) % N) == 0 &&
        aligned16(x) && aligned16(out))
        rope_vec<T>(x, out, pos, ff, p);
    else
        rope_scalar<T>(x, out, pos, ff, p);
}

} // namespace mlxc_ops

#define OPS_ROPE(T, sfx)                                                                        \
    extern "C" __global__ void __launch_bounds__(1024, 1) rope_##sfx(const T *x, T *out, const int32_t *pos, const float *ff, mlxc_p_rope p) { MLXC_PDL_WAIT(); \
        mlxc_ops::rope<T>(x, out, pos, ff, p);                                                  \
    }
OPS_ROPE(float, f32)
OPS_ROPE(__half, f16)
OPS_ROPE(__nv_bfloat16, bf16)
#undef OPS_ROPE
