/*
 * Op-library RoPE (src/kernels/params_rope.h, include/mlxc/ops_rope.h):
 * grid-stride over (token, head, group of pairs) with 16-byte accesses when
 * the head splits into whole frags (rope_vec), else one thread per rotated
 * pair (rope_scalar); the pass-through tail is copied when out is not x.  theta = pos *
 * inv_freq[i] (/ freq_factors[i]) in f32 with explicit round-to-nearest
 * operations (no contraction), so the angle is bit-identical to the CPU's;
 * sincosf is the accurate libdevice version; its results times mscale
 * rounded once, as the CPU does.  Also rope_qkv_cache, the decode step's
 * fused bias, q/k norm, rope and KV-cache write (below).
 */
#include "rope.cuh"

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
        float lo, hi;
        rope_rotate(conv<T>::load(xr[ia]), conv<T>::load(xr[ib]), cs, sn, &lo, &hi);
        o[ia] = conv<T>::store(lo);
        o[ib] = conv<T>::store(hi);
    }
    if (out != x && p.rope_dim < hd) {
        const uint32_t tail = hd - p.rope_dim;
        for (uint64_t e = global_index(); e < rows * tail; e += global_stride()) {
            const uint64_t row = e / tail, j = p.rope_dim + e % tail;
            out[row * hd + j] = x[row * hd + j];
        }
    }
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

/*
 * rope_qkv_cache (mlxc_p_rope_qkv): one block per (token, head) row of the
 * fused projection, grid-stride over rows.  A v row is converted straight
 * into its cache row.  A q or k row is staged in shared memory, rounded to
 * T after the bias (as add stores it), RMS-normed in rms_norm_rows' order
 * (norm.cu: eight lanes, lane k summing elements k, k+8, ... sequentially,
 * the tail into lane 0, the fixed tree; __fmul_rn/__fadd_rn throughout) and
 * rounded again, then rotated by rope_angle and rope_rotate, a thread per
 * pair, and stored: q as T, k rounded to T and converted to the cache's C,
 * as kv_cache_copy converts.  Every stage so matches the separate kernel
 * on this device bit for bit.  The row (head_dim <= 512) fits in 2 KB of
 * shared memory; any block size works (the lanes loop when it is below 8).
 */
template <typename T, typename C>
__device__ __forceinline__ void rope_qkv_cache(const T *qkv, const T *bias, const T *q_norm, const T *k_norm, T *q_out,
                                               C *k_cache, C *v_cache, const int32_t *pos, const float *ff,
                                               const mlxc_p_rope_qkv &q) {
    __shared__ float xs[MLXC_ROPE_QKV_MAX_HEAD_DIM]; /* (head_dim) values of T */
    __shared__ float lane_sum[8];
    __shared__ float inv_sh;
    const mlxc_p_rope &p = q.rope;
    const uint32_t t = thread_linear(), nt = thread_count();
    const uint32_t hd = p.head_dim, H = p.n_heads, KV = q.n_kv_heads, NH = H + 2 * KV, half = p.rope_dim / 2;
    const uint64_t ntok = p.n_tokens, cap = q.capacity, rows = ntok * NH;
    const bool adjacent = p.mode == MLXC_ROPE_MODE_NORM;
    for (uint64_t r = block_linear(); r < rows; r += block_count()) {
        const uint32_t tok = (uint32_t)(r / NH), h = (uint32_t)(r - (uint64_t)tok * NH);
        const bool is_q = h < H, is_v = h >= H + KV;
        /* The slot as kv_cache_copy picks it; a ring keeps only the last
         * cap tokens of the chunk. */
        uint64_t slot;
        const bool keep = rope_cache_slot(pos[tok], q.sliding, cap, &slot) && !(q.sliding && ntok > cap && tok < ntok - cap);
        if (!is_q && !keep) continue; /* the whole block skips the row */
        const uint64_t kvh = is_q ? 0 : is_v ? h - H - KV : h - H;
        const T *xr = qkv + r * hd;        /* (head_dim) */
        const T *br = bias + (uint64_t)h * hd; /* (head_dim), when has_bias */
        if (is_v) {
            C *d = v_cache + (kvh * cap + slot) * hd;
            for (uint32_t j = t; j < hd; j += nt) {
                float v = conv<T>::load(xr[j]);
                if (q.has_bias) v = mlxc::round_to<T>(v + conv<T>::load(br[j]));
                d[j] = conv<C>::store(v);
            }
            continue;
        }
        __syncthreads(); /* every reader of the previous row's xs is done */
        for (uint32_t j = t; j < hd; j += nt) {
            float v = conv<T>::load(xr[j]);
            if (q.has_bias) v = mlxc::round_to<T>(v + conv<T>::load(br[j]));
            xs[j] = v;
        }
        __syncthreads();
        if (q.has_norm) {
            for (uint32_t k = t; k < 8; k += nt) lane_sum[k] = rope_lane_sum(xs, k, hd);
            __syncthreads();
            if (t == 0) inv_sh = rope_row_inv(lane_sum, xs, hd, q.eps);
            __syncthreads();
            const float inv = inv_sh;
            const T *w = is_q ? q_norm : k_norm; /* (head_dim) */
            for (uint32_t j = t; j < hd; j += nt)
                xs[j] = mlxc::round_to<T>(__fmul_rn(__fmul_rn(xs[j], inv), conv<T>::load(w[j])));
            __syncthreads();
        }
        T *qo = q_out + ((uint64_t)tok * H + h) * hd;  /* (head_dim), a q row */
        C *kd = k_cache + (kvh * cap + slot) * hd;     /* (head_dim), a k row */
        const float ptok = (float)pos[tok];
        for (uint32_t i = t; i < half; i += nt) {
            float sn, cs, lo, hi;
            rope_angle(ptok, ff, p, i, &sn, &cs);
            const uint32_t ia = adjacent ? 2 * i : i, ib = adjacent ? 2 * i + 1 : i + half;
            rope_rotate(xs[ia], xs[ib], cs, sn, &lo, &hi);
            if (is_q) {
                qo[ia] = conv<T>::store(lo);
                qo[ib] = conv<T>::store(hi);
            } else {
                kd[ia] = conv<C>::store(mlxc::round_to<T>(lo));
                kd[ib] = conv<C>::store(mlxc::round_to<T>(hi));
            }
        }
        for (uint32_t j = p.rope_dim + t; j < hd; j += nt) {
            if (is_q) qo[j] = conv<T>::store(xs[j]);
            else kd[j] = conv<C>::store(xs[j]);
        }
    }
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

#define OPS_ROPE_QKV(T, S, C, CS)                                                                               \
    extern "C" __global__ void __launch_bounds__(1024, 1)                                                    \
        rope_qkv_cache_##S##_##CS(const T *qkv, const T *bias, const T *q_norm, const T *k_norm, T *q_out,    \
                                  C *k_cache, C *v_cache, const int32_t *pos, const float *ff, mlxc_p_rope_qkv p) { MLXC_PDL_WAIT(); \
        mlxc_ops::rope_qkv_cache<T, C>(qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache, pos, ff, p);       \
    }
#define OPS_ROPE_QKV_CACHES(T, S)                                                                              \
    OPS_ROPE_QKV(T, S, float, f32) OPS_ROPE_QKV(T, S, __half, f16) OPS_ROPE_QKV(T, S, __nv_bfloat16, bf16)
OPS_ROPE_QKV_CACHES(float, f32)
OPS_ROPE_QKV_CACHES(__half, f16)
OPS_ROPE_QKV_CACHES(__nv_bfloat16, bf16)
#undef OPS_ROPE_QKV_CACHES
#undef OPS_ROPE_QKV
