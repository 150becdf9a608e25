/*
 * Building blocks of the attention kernels (attention.cu): cp.async
 * tile loads, ldmatrix fragments and the m16n8k16 tensor-core MMA for f16
 * and bf16, and one warp step of flash attention: 16 query rows against
 * NKS keys of a shared-memory tile, with an online softmax in the log2
 * domain.
 *
 * Shared-memory tiles are row-major with rows padded by 8 elements
 * (16 bytes), so the 8 row addresses of an ldmatrix fall in distinct bank
 * groups for every head dim (64, 96, 128, 256).
 *
 * Fragment layout of mma.m16n8k16 (g = lane / 4, t = lane % 4):
 *   A (16x16): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
 *   B (16x8):  b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
 *   C (16x8):  c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1)
 * so the S accumulators of two adjacent 8-key tiles are, packed to 16 bits,
 * the A fragment of P for the P.V product.
 */
#ifndef MLXC_KERNELS_CUDA_OPS_ATTENTION_CUH
#define MLXC_KERNELS_CUDA_OPS_ATTENTION_CUH

#include "common.cuh"
#include "kernels/params_attention.h"

namespace mlxc_attn {

constexpr int NT = MLXC_ATTN_CUDA_THREADS; /* 4 warps */
constexpr int BK = 64;                     /* keys per tile */
constexpr int STAGES = 2; /* prefill */
/* Decode stages (the front-end's attn_smem mirrors this). */
__host__ __device__ constexpr int decode_stages(int hd) { return hd <= 128 ? 3 : 2; }
constexpr float LOG2E = 1.4426950408889634f;

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared; zero-filled when !valid (nothing is read). */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

template <typename T> struct mma_t;
template <> struct mma_t<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&v);
    }
};
template <> struct mma_t<__half> {
    static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __half2 v = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&v);
    }
};

/* A value of a run-time dtype (MLXC_ATTN_DT_*) as f32, and back. */
__device__ __forceinline__ float ld_dt(uint32_t dt, const void *p, uint64_t i) {
    if (dt == MLXC_ATTN_DT_F32) return static_cast<const float *>(p)[i];
    if (dt == MLXC_ATTN_DT_F16) return __half2float(static_cast<const __half *>(p)[i]);
    return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
}
/* Store a at element i. */
__device__ __forceinline__ void st_dt(uint32_t dt, void *p, uint64_t i, float a) {
    if (dt == MLXC_ATTN_DT_F32) static_cast<float *>(p)[i] = a;
    else if (dt == MLXC_ATTN_DT_F16) static_cast<__half *>(p)[i] = __float2half_rn(a);
    else static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(a);
}
/* Store the pair (a, b) at elements i, i+1 (i even). */
__device__ __forceinline__ void st2_dt(uint32_t dt, void *p, uint64_t i, float a, float b) {
    if (dt == MLXC_ATTN_DT_F32) *reinterpret_cast<float2 *>(static_cast<float *>(p) + i) = make_float2(a, b);
    else if (dt == MLXC_ATTN_DT_F16) *reinterpret_cast<__half2 *>(static_cast<__half *>(p) + i) = __floats2half2_rn(a, b);
    else *reinterpret_cast<__nv_bfloat162 *>(static_cast<__nv_bfloat16 *>(p) + i) = __floats2bfloat162_rn(a, b);
}

/* The per-warp state of 16 query rows: each thread holds rows g and g+8. */
template <int HD> struct warp_state {
    float o[HD / 8][4]; /* output accumulators, dims 8n + 2t + {0,1} */
    float m[2], l[2];   /* running max (log2 domain), partial sum of this thread's columns */
    __device__ __forceinline__ void init() {
#pragma unroll
        for (int n = 0; n < HD / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
        m[0] = m[1] = -INFINITY;
        l[0] = l[1] = 0.0f;
    }
    /* The row sums over the 4 lanes of a row (call once, at the end). */
    __device__ __forceinline__ void finish_l() {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
            l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        }
    }
};

/* One step: rows of sQ (16, the warp's, at q_row0) against keys
 * [kofs, kofs + NKS) of the tile sK/sV (row stride LD elements), whose
 * first key is position key0.  Row r (0/1 -> g, g+8) sees keys in
 * [lo[r], hi[r]); `masked` false says every key is visible to every row.
 * qf: the Q fragments when QREG. */
template <typename T, int HD, int NKS, bool QREG>
__device__ __forceinline__ void warp_step(warp_state<HD> &st, const uint32_t (&qf)[QREG ? HD / 16 : 1][4],
                                          const T *sQ, int q_row0, const T *sK, const T *sV, int kofs, int64_t key0,
                                          const int64_t (&lo)[2], const int64_t (&hi)[2], bool masked, float scale,
                                          float softcap) {
    constexpr int LD = HD + 8;
    const int lane = threadIdx.x & 31, t = lane & 3;
    float s[NKS / 8][4];
#pragma unroll
    for (int n = 0; n < NKS / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        uint32_t a[4];
        if constexpr (QREG) {
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = qf[kk][i];
        } else {
            ldsm_x4(a, smem_addr(sQ + (q_row0 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8));
        }
#pragma unroll
        for (int nn = 0; nn < NKS / 16; nn++) {
            uint32_t b[4];
            ldsm_x4(b, smem_addr(sK + (kofs + nn * 16 + (lane >> 4) * 8 + (lane & 7)) * LD + kk * 16 + ((lane >> 3) & 1) * 8));
            mma_t<T>::run(s[2 * nn], a, b[0], b[1]);
            mma_t<T>::run(s[2 * nn + 1], a, b[2], b[3]);
        }
    }
    /* logits (log2 domain), mask, row max */
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < NKS / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float x = s[n][e] * scale;
            if (softcap > 0.0f) x = softcap * tanhf(x / softcap);
            x *= LOG2E;
            if (masked) {
                const int64_t key = key0 + kofs + n * 8 + 2 * t + (e & 1);
                if (key < lo[e >> 1] || key >= hi[e >> 1]) x = -INFINITY;
            }
            s[n][e] = x;
            mx[e >> 1] = fmaxf(mx[e >> 1], x);
        }
    float corr[2], mu[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float mn = fmaxf(st.m[r], mx[r]);
        mu[r] = mn == -INFINITY ? 0.0f : mn; /* a row that saw nothing yet: p = 0 */
        corr[r] = exp2f(st.m[r] - mu[r]);
        st.m[r] = mn;
        st.l[r] *= corr[r];
    }
#pragma unroll
    for (int n = 0; n < HD / 8; n++) {
        st.o[n][0] *= corr[0];
        st.o[n][1] *= corr[0];
        st.o[n][2] *= corr[1];
        st.o[n][3] *= corr[1];
    }
#pragma unroll
    for (int n = 0; n < NKS / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float p = exp2f(s[n][e] - mu[e >> 1]);
            s[n][e] = p;
            st.l[e >> 1] += p;
        }
    /* O += P V */
#pragma unroll
    for (int ks = 0; ks < NKS / 16; ks++) {
        uint32_t a[4];
        a[0] = mma_t<T>::pack(s[2 * ks][0], s[2 * ks][1]);
        a[1] = mma_t<T>::pack(s[2 * ks][2], s[2 * ks][3]);
        a[2] = mma_t<T>::pack(s[2 * ks + 1][0], s[2 * ks + 1][1]);
        a[3] = mma_t<T>::pack(s[2 * ks + 1][2], s[2 * ks + 1][3]);
#pragma unroll
        for (int dn = 0; dn < HD / 16; dn++) {
            uint32_t b[4];
            ldsm_x4_t(b, smem_addr(sV + (kofs + ks * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + dn * 16 + (lane >> 4) * 8));
            mma_t<T>::run(st.o[2 * dn], a, b[0], b[1]);
            mma_t<T>::run(st.o[2 * dn + 1], a, b[2], b[3]);
        }
    }
}

/* Load the A fragments of the warp's 16 rows of sQ. */
template <typename T, int HD>
__device__ __forceinline__ void load_q_frags(uint32_t (&qf)[HD / 16][4], const T *sQ, int q_row0) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
        ldsm_x4(qf[kk], smem_addr(sQ + (q_row0 + (lane & 15)) * (HD + 8) + kk * 16 + (lane >> 4) * 8));
}

/* Rows of keys [pos0, pos0 + BK) of one KV head into a tile (positions
 * >= end are zero-filled; ring: slot = position % capacity). */
template <typename T, int HD>
__device__ __forceinline__ void load_kv_tile(T *sK, T *sV, const T *k, const T *v, int64_t pos0, int64_t end,
                                             uint32_t capacity, bool ring) {
    constexpr int CH = HD / 8; /* 16-byte chunks per row */
    for (int c = threadIdx.x; c < BK * CH; c += NT) {
        const int row = c / CH, col = (c % CH) * 8;
        const int64_t pos = pos0 + row;
        const bool valid = pos < end;
        const uint64_t slot = !valid ? 0 : ring ? (uint64_t)pos % capacity : (uint64_t)pos;
        cp_async16(smem_addr(sK + row * (HD + 8) + col), k + slot * HD + col, valid);
        cp_async16(smem_addr(sV + row * (HD + 8) + col), v + slot * HD + col, valid);
    }
}

/* Query rows into sQ as T: row r comes from q + src_row(r) * HD, or zeros
 * when src_row(r) < 0. */
template <typename T, int HD, typename F>
__device__ __forceinline__ void load_q_tile(T *sQ, int rows, const void *q, uint32_t q_dt, F src_row) {
    for (int c = threadIdx.x; c < rows * HD / 2; c += NT) {
        const int r = c / (HD / 2), col = (c % (HD / 2)) * 2;
        const int64_t sr = src_row(r);
        float a = 0.0f, b = 0.0f;
        if (sr >= 0) {
            a = ld_dt(q_dt, q, (uint64_t)sr * HD + col);
            b = ld_dt(q_dt, q, (uint64_t)sr * HD + col + 1);
        }
        *reinterpret_cast<uint32_t *>(sQ + r * (HD + 8) + col) = mma_t<T>::pack(a, b);
    }
}

} // namespace mlxc_attn

#endif
