/*
 * A design probe, not part of the library: how close to the copy bandwidth
 * a Q4_0 mat-vec (m = 1) gets on this GPU when the activations are int8
 * (one scale per 32 values, as llama.cpp's q8_1) and each thread takes
 * whole 32-value blocks with dp4a, instead of the library's exact path
 * (bf16 activations through mma, qmatmul.cu).
 *
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o matvec_int8 bench/cuda/matvec_int8.cu
 *   ./matvec_int8            # prints one table; exits 1 if a check fails
 *
 * Two weight layouts: the GGUF blocks as stored (18 bytes: f16 d, 16 code
 * bytes; the codes only 2-byte aligned), and the same codes repacked as
 * 16-byte rows with the scales beside them.  Each kernel variant is checked
 * against a CPU reference of the same int8 arithmetic (integer block sums
 * are exact; only the float order differs), then timed cold: the weights
 * rotate over sets of more than 4x the 60 MB L2.  The ceiling is a device
 * copy of 256 MiB in the same run.  The activation quantization itself is
 * not timed (it is k values once per token).
 */
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "probe.cuh"

/* Unsigned bytes of a times signed bytes of b, summed into c. */
__device__ __forceinline__ int dp4a_us(uint32_t a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
/* Values 4i..4i+3 (low nibbles) and 16+4i..19+4i (high) of a block against
 * the int8 x words xl[i] (values 4i..) and xh[i] (16+4i..).  The high
 * nibbles stay in place (16 times their value: one mask, no shift) and
 * their sum is divided by 16 once, exactly. */
__device__ __forceinline__ int dot_words(const uint32_t q[4], const int4 xl, const int4 xh) {
    int lo = 0, hi = 0;
    const int xlv[4] = {xl.x, xl.y, xl.z, xl.w}, xhv[4] = {xh.x, xh.y, xh.z, xh.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        lo = dp4a_us(q[i] & 0x0f0f0f0fu, xlv[i], lo);
        hi = dp4a_us(q[i] & 0xf0f0f0f0u, xhv[i], hi);
    }
    return lo + (hi >> 4);
}

/* Block b of a row: codes and scale.  REP: repacked (codes 16-byte rows,
 * scales apart); else GGUF blocks, the codes read as 2-byte halves (only
 * odd blocks are 4-aligned, and neighbouring lanes take neighbouring
 * blocks). */
template <bool REP>
__device__ __forceinline__ void load_block(const uint8_t *wr, const __half *sr, uint32_t b, uint32_t q[4], float &d) {
    if (REP) {
        const uint4 v = __ldg((const uint4 *)(wr + b * 16));
        q[0] = v.x, q[1] = v.y, q[2] = v.z, q[3] = v.w;
        d = __half2float(sr[b]);
    } else {
        const uint8_t *p = wr + b * 18;
        d = __half2float(*(const __half *)p);
        const uint16_t *h = (const uint16_t *)(p + 2);
#pragma unroll
        for (int i = 0; i < 4; i++) q[i] = (uint32_t)__ldg(h + 2 * i) | (uint32_t)__ldg(h + 2 * i + 1) << 16;
    }
}

/* A block of 256 threads owns R rows; thread (warp v, lane l) takes the
 * 32-value blocks 32 v + l + 256 j of each row (U of them per step), so a
 * warp's lanes read neighbouring blocks; x (int8, its scales and scaled
 * sums) is staged in shared memory once per block.  Sums meet in shared
 * memory.  y[r] = sum_b d_r,b (xd_b sum_j q_j x_j - 8 xs_b). */
template <int R, int U, bool REP>
__global__ void __launch_bounds__(256) q4_0_q8x(const uint8_t *__restrict__ w, const __half *__restrict__ sc,
                                                const int8_t *__restrict__ xq, const float2 *__restrict__ xds,
                                                float *__restrict__ y, uint32_t n, uint32_t k) {
    extern __shared__ __align__(16) uint8_t sm[];
    const uint32_t nb = k / 32;
    int8_t *sx = (int8_t *)sm;
    float2 *sd = (float2 *)(sm + k);
    for (uint32_t i = threadIdx.x; i < k / 16; i += blockDim.x) ((int4 *)sx)[i] = __ldg((const int4 *)xq + i);
    for (uint32_t i = threadIdx.x; i < nb; i += blockDim.x) sd[i] = __ldg(xds + i);
    __syncthreads();
    const uint32_t lane = threadIdx.x % 32, v = threadIdx.x / 32;
    const uint64_t r0 = (uint64_t)blockIdx.x * R;
    /* rows past n read row n - 1 and are not stored */
    const uint8_t *wr[R];
    const __half *sr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const uint64_t row = r0 + r < n ? r0 + r : n - 1;
        wr[r] = w + row * nb * (REP ? 16 : 18);
        sr[r] = sc + row * nb;
    }
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.0f;
    for (uint32_t b0 = 32 * v + lane; b0 < nb; b0 += 256 * U) {
        uint32_t q[U][R][4];
        float d[U][R];
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int r = 0; r < R; r++)
                if (b0 + 256 * u < nb) load_block<REP>(wr[r], sr[r], b0 + 256 * u, q[u][r], d[u][r]);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const uint32_t b = b0 + 256 * u;
            if (b >= nb) break;
            const int4 xl = ((const int4 *)sx)[2 * b], xh = ((const int4 *)sx)[2 * b + 1];
            const float2 xd = sd[b];
#pragma unroll
            for (int r = 0; r < R; r++)
                acc[r] = fmaf(d[u][r], fmaf(xd.x, (float)dot_words(q[u][r], xl, xh), -8.0f * xd.y), acc[r]);
        }
    }
    __shared__ float red[8][R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        float s = acc[r];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) red[v][r] = s;
    }
    __syncthreads();
    if (threadIdx.x < R && r0 + threadIdx.x < n) {
        float s = 0.0f;
        for (int i = 0; i < 8; i++) s += red[i][threadIdx.x];
        y[r0 + threadIdx.x] = s;
    }
}


/* x in registers: warp (g, s) of a block of G x S warps keeps the int8 x
 * of its k slice (32 J blocks: lane l holds blocks s 32 J + 32 j + l) in
 * registers for the whole kernel and walks rows, R at a time, so each
 * weight load is a coalesced 16 bytes a lane (512 contiguous bytes a warp,
 * repacked layout) and x is read once per warp, not once per row.  The S
 * slices of a row meet in shared memory.  Blocks stride over tiles of
 * G R rows. */
template <int J, int R, int S, int G>
__global__ void __launch_bounds__(32 * S * G) q4_0_q8x_reg(const uint8_t *__restrict__ w, const __half *__restrict__ sc,
                                                           const int8_t *__restrict__ xq, const float2 *__restrict__ xds,
                                                           float *__restrict__ y, uint32_t n, uint32_t k) {
    const uint32_t nb = k / 32, lane = threadIdx.x % 32, wi = threadIdx.x / 32, s = wi % S, g = wi / S;
    __shared__ float red[G][S][R];
    int4 xl[J], xh[J];
    float xd[J], xs[J];
    bool on[J];
#pragma unroll
    for (int j = 0; j < J; j++) {
        const uint32_t b = s * 32 * J + 32 * j + lane;
        on[j] = b < nb;
        xl[j] = on[j] ? __ldg((const int4 *)(xq + 32 * b)) : make_int4(0, 0, 0, 0);
        xh[j] = on[j] ? __ldg((const int4 *)(xq + 32 * b + 16)) : make_int4(0, 0, 0, 0);
        const float2 t = on[j] ? __ldg(xds + b) : make_float2(0.0f, 0.0f);
        xd[j] = t.x, xs[j] = -8.0f * t.y;
    }
    for (uint64_t t0 = (uint64_t)blockIdx.x * G * R; t0 < n; t0 += (uint64_t)gridDim.x * G * R) {
        const uint64_t r0 = t0 + (uint64_t)g * R;
        uint4 q[R][J];
        __half d[R][J];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint64_t row = r0 + r < n ? r0 + r : n - 1;
#pragma unroll
            for (int j = 0; j < J; j++) {
                const uint32_t b = s * 32 * J + 32 * j + lane;
                if (on[j]) {
                    q[r][j] = __ldcs((const uint4 *)(w + (row * nb + b) * 16));
                    d[r][j] = sc[row * nb + b];
                } else {
                    q[r][j] = make_uint4(0, 0, 0, 0);
                    d[r][j] = __float2half(0.0f);
                }
            }
        }
        float acc[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            acc[r] = 0.0f;
#pragma unroll
            for (int j = 0; j < J; j++) {
                const uint32_t qq[4] = {q[r][j].x, q[r][j].y, q[r][j].z, q[r][j].w};
                acc[r] = fmaf(__half2float(d[r][j]), fmaf(xd[j], (float)dot_words(qq, xl[j], xh[j]), xs[j]), acc[r]);
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        }
        if (S == 1) {
            if (lane < R && r0 + lane < n) {
                float v = acc[0];
#pragma unroll
                for (int r = 1; r < R; r++) v = lane == r ? acc[r] : v;
                y[r0 + lane] = v;
            }
        } else {
            if (lane == 0)
#pragma unroll
                for (int r = 0; r < R; r++) red[g][s][r] = acc[r];
            __syncthreads();
            if (s == 0 && lane < R && r0 + lane < n) {
                float v = 0.0f;
#pragma unroll
                for (int i = 0; i < S; i++) v += red[g][i][lane];
                y[r0 + lane] = v;
            }
            __syncthreads();
        }
    }
}

/* The generic form: GGUF blocks as stored (18 bytes, 2-byte aligned: five
 * aligned words cover one, and a funnel shift by 16 or 32 picks the codes
 * whatever the block's parity), 16 warps a block as S slices of 128 blocks
 * (4 a lane) times G = 16 / S row groups, R rows a warp at a time; the
 * slices of a row meet in shared memory, double-buffered (one barrier a
 * tile).  Any k with k / 32 <= 2048. */
__device__ __forceinline__ void q4_0_gguf_words(const uint8_t *p, bool last, uint32_t q[4], float &d) {
    const uint32_t *a = (const uint32_t *)((uintptr_t)p & ~(uintptr_t)3);
    const bool odd = ((uintptr_t)p & 2) != 0;
    uint32_t v[5];
#pragma unroll
    for (int i = 0; i < 4; i++) v[i] = __ldcs(a + i);
    /* an even block's last word reaches 2 bytes past it: the matrix's last block reads only its half */
    v[4] = last && !odd ? (uint32_t)__ldcs((const uint16_t *)(a + 4)) : __ldcs(a + 4);
    const uint32_t sh = odd ? 32u : 16u;
#pragma unroll
    for (int i = 0; i < 4; i++) q[i] = __funnelshift_rc(v[i], v[i + 1], sh);
    d = __half2float(__ushort_as_half((unsigned short)(odd ? v[0] >> 16 : v[0] & 0xffffu)));
}

template <int R, bool REP>
__global__ void __launch_bounds__(512, 1) q4_0_q8x_gen(const uint8_t *__restrict__ w, const __half *__restrict__ sc,
                                                       const int8_t *__restrict__ xq, const float2 *__restrict__ xds,
                                                       float *__restrict__ y, uint32_t n, uint32_t k) {
    const uint32_t nb = k / 32, lane = threadIdx.x % 32, wi = threadIdx.x / 32;
    const uint32_t S = (nb + 127) / 128, G = 16 / S, s = wi % S, g = wi / S;
    const bool active = g < G;
    const uint64_t row_bytes = (uint64_t)nb * 18;
    __shared__ float red[2][16][R];
    int4 xl[4], xh[4];
    float xd[4], xs[4];
    bool on[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const uint32_t b = s * 128 + 32 * j + lane;
        on[j] = active && b < nb;
        xl[j] = on[j] ? __ldg((const int4 *)(xq + 32 * b)) : make_int4(0, 0, 0, 0);
        xh[j] = on[j] ? __ldg((const int4 *)(xq + 32 * b + 16)) : make_int4(0, 0, 0, 0);
        const float2 t = on[j] ? __ldg(xds + b) : make_float2(0.0f, 0.0f);
        xd[j] = t.x, xs[j] = -8.0f * t.y;
    }
    uint32_t buf = 0;
    for (uint64_t t0 = (uint64_t)blockIdx.x * G * R; t0 < n; t0 += (uint64_t)gridDim.x * G * R, buf ^= 1) {
        const uint64_t r0 = t0 + (uint64_t)g * R;
        uint32_t q[R][4][4];
        float d[R][4];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint64_t row = r0 + r < n ? r0 + r : n - 1;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const uint32_t b = s * 128 + 32 * j + lane;
                if (on[j]) {
                    if (REP) {
                        const uint4 v = __ldcs((const uint4 *)(w + (row * nb + b) * 16));
                        q[r][j][0] = v.x, q[r][j][1] = v.y, q[r][j][2] = v.z, q[r][j][3] = v.w;
                        d[r][j] = __half2float(sc[row * nb + b]);
                    } else {
                        q4_0_gguf_words(w + row * row_bytes + 18ull * b, row == n - 1 && b == nb - 1, q[r][j], d[r][j]);
                    }
                } else {
                    q[r][j][0] = q[r][j][1] = q[r][j][2] = q[r][j][3] = 0;
                    d[r][j] = 0.0f;
                }
            }
        }
        float acc[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            acc[r] = 0.0f;
#pragma unroll
            for (int j = 0; j < 4; j++) acc[r] = fmaf(d[r][j], fmaf(xd[j], (float)dot_words(q[r][j], xl[j], xh[j]), xs[j]), acc[r]);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        }
        if (S == 1) {
            if (active && lane < R && r0 + lane < n) {
                float v = acc[0];
#pragma unroll
                for (int r = 1; r < R; r++) v = lane == r ? acc[r] : v;
                y[r0 + lane] = v;
            }
        } else {
            if (active && lane == 0)
#pragma unroll
                for (int r = 0; r < R; r++) red[buf][wi][r] = acc[r];
            __syncthreads();
            if (active && s == 0 && lane < R && r0 + lane < n) {
                float v = 0.0f;
                for (uint32_t i = 0; i < S; i++) v += red[buf][wi + i][lane];
                y[r0 + lane] = v;
            }
        }
    }
}

/* Reads the repacked codes and scales as q4_0_q8x_reg does and nothing
 * else: the ceiling of that access pattern (its check fails by design). */
__global__ void __launch_bounds__(256) read_only(const uint8_t *__restrict__ w, const __half *__restrict__ sc, float *y,
                                                 uint64_t n16, uint64_t nh) {
    uint32_t acc = 0;
    const uint64_t st = (uint64_t)gridDim.x * 256;
    uint64_t i = (uint64_t)blockIdx.x * 256 + threadIdx.x;
    for (; i + 3 * st < n16; i += 4 * st) {
        uint4 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = __ldcs((const uint4 *)w + i + u * st);
#pragma unroll
        for (int u = 0; u < 4; u++) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
    for (; i < n16; i += st) acc ^= __ldcs((const uint4 *)w + i).x;
    for (i = (uint64_t)blockIdx.x * 256 + threadIdx.x; i < nh / 8; i += st) acc ^= __ldcs((const uint4 *)sc + i).y;
    if (acc == 0x9e3779b9u) y[0] = 1.0f;
}

static float h2f(uint16_t h) {
    __half x;
    memcpy(&x, &h, 2);
    return __half2float(x);
}

struct Variant {
    const char *name;
    void (*launch)(const uint8_t *, const __half *, const int8_t *, const float2 *, float *, uint32_t, uint32_t);
    bool rep;
    uint32_t only_k; /* 0: every shape */
};
template <int R, int U, bool REP>
static void launch(const uint8_t *w, const __half *sc, const int8_t *xq, const float2 *xds, float *y, uint32_t n,
                   uint32_t k) {
    const size_t smem = k + (size_t)(k / 32) * sizeof(float2);
    static bool attr = false;
    if (!attr) {
        CK(cudaFuncSetAttribute(q4_0_q8x<R, U, REP>, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
        attr = true;
    }
    q4_0_q8x<R, U, REP><<<(n + R - 1) / R, 256, smem>>>(w, sc, xq, xds, y, n, k);
}

static int g_sms = 132;
template <int J, int R, int S, int G, int BPS>
static void launch_reg(const uint8_t *w, const __half *sc, const int8_t *xq, const float2 *xds, float *y, uint32_t n,
                       uint32_t k) {
    if (k / 32 > 32u * J * S) {
        fprintf(stderr, "launch_reg: k %u exceeds the slices\n", k);
        exit(2);
    }
    const uint32_t tiles = (n + G * R - 1) / (G * R), cap = (uint32_t)(g_sms * BPS);
    q4_0_q8x_reg<J, R, S, G><<<tiles < cap ? tiles : cap, 32 * S * G>>>(w, sc, xq, xds, y, n, k);
}
template <int R, bool REP, int BPS>
static void launch_gen(const uint8_t *w, const __half *sc, const int8_t *xq, const float2 *xds, float *y, uint32_t n,
                       uint32_t k) {
    const uint32_t nb = k / 32, S = (nb + 127) / 128, G = 16 / S;
    const uint32_t tiles = (n + G * R - 1) / (G * R), cap = (uint32_t)(g_sms * BPS);
    q4_0_q8x_gen<R, REP><<<tiles < cap ? tiles : cap, 512>>>(w, sc, xq, xds, y, n, k);
}
static void launch_read(const uint8_t *w, const __half *sc, const int8_t *, const float2 *, float *y, uint32_t n,
                        uint32_t k) {
    read_only<<<g_sms * 8, 256>>>(w, sc, y, (uint64_t)n * (k / 32), (uint64_t)n * (k / 32));
}

int main(void) {
    {
        cudaDeviceProp pr;
        CK(cudaGetDeviceProperties(&pr, 0));
        g_sms = pr.multiProcessorCount;
    }
    const Variant vs[] = {
        {"gguf blocks, 4 rows, 1 block a step", launch<4, 1, false>, false},
        {"gguf blocks, 4 rows, 2 blocks a step", launch<4, 2, false>, false},
        {"gguf blocks, 8 rows, 1 block a step", launch<8, 1, false>, false},
        {"repacked, 4 rows, 1 block a step", launch<4, 1, true>, true},
        {"repacked, 4 rows, 2 blocks a step", launch<4, 2, true>, true},
        {"repacked, 8 rows, 1 block a step", launch<8, 1, true>, true},
        {"repacked, 2 rows, 4 blocks a step", launch<2, 4, true>, true},
        {"x in registers: 4 blocks a lane, 2 rows, 1 slice x 8 warps", launch_reg<4, 2, 1, 8, 4>, true, 4096},
        {"x in registers: 4 blocks a lane, 4 rows, 1 slice x 8 warps", launch_reg<4, 4, 1, 8, 2>, true, 4096},
        {"x in registers: 2 blocks a lane, 4 rows, 2 slices x 4 warps", launch_reg<2, 4, 2, 4, 4>, true, 4096},
        {"x in registers: 7 blocks a lane, 2 rows, 2 slices x 4 warps", launch_reg<7, 2, 2, 4, 2>, true, 14336},
        {"x in registers: 4 blocks a lane, 2 rows, 4 slices x 2 warps", launch_reg<4, 2, 4, 2, 4>, true, 14336},
        {"x in registers: 4 blocks a lane, 4 rows, 4 slices x 2 warps", launch_reg<4, 4, 4, 2, 2>, true, 14336},
        {"x in registers: 2 blocks a lane, 4 rows, 7 slices x 1 warp", launch_reg<2, 4, 7, 1, 4>, true, 14336},
        {"generic, gguf blocks, 2 rows a warp", launch_gen<2, false, 1>, false},
        {"generic, gguf blocks, 4 rows a warp", launch_gen<4, false, 1>, false},
        {"generic, repacked, 4 rows a warp", launch_gen<4, true, 1>, true},
        {"read only (the ceiling of this access)", launch_read, true},
    };
    const uint32_t shapes[4][2] = {{4096, 14336}, {14336, 4096}, {4096, 12288}, {11008, 4096}}; /* k, n */
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));

    /* the ceiling: a 256 MiB device copy, best of 5 */
    double cus;
    const double ceiling = probe_copy_ceiling(0, &cus);
    printf("copy 256 MiB: %.1f us, %.0f GB/s (read + write): the ceiling below\n\n", cus, ceiling / 1e9);
    printf("| layout and tiling | k x n | us | GB/s | of copy | check |\n|---|---|---:|---:|---:|---|\n");

    int bad = 0;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    auto rnd = [&]() {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return (uint32_t)(seed >> 33);
    };
    for (const auto &sh : shapes) {
        const uint32_t k = sh[0], n = sh[1], nb = k / 32;
        const size_t bytes = (size_t)n * nb * 18;
        const int sets = (int)((4 * 60e6) / bytes) + 2;
        /* weights: GGUF blocks, and the repacked twin */
        std::vector<uint8_t> hw(bytes), hrep((size_t)n * nb * 16);
        std::vector<uint16_t> hsc((size_t)n * nb);
        for (size_t b = 0; b < (size_t)n * nb; b++) {
            const float d = 0.001f + (float)(rnd() % 1000) * 1e-5f;
            const __half hd = __float2half(d);
            memcpy(&hsc[b], &hd, 2);
            memcpy(&hw[b * 18], &hd, 2);
            for (int j = 0; j < 16; j++) hw[b * 18 + 2 + j] = hrep[b * 16 + j] = (uint8_t)rnd();
        }
        /* x: random floats, quantized per 32 as int8 with (d, d * sum q) */
        std::vector<int8_t> hxq(k);
        std::vector<float> hxd(2 * nb);
        for (uint32_t b = 0; b < nb; b++) {
            float xv[32], amax = 0;
            for (int j = 0; j < 32; j++) xv[j] = ((float)(rnd() % 20001) - 10000.0f) * 1e-4f, amax = fmaxf(amax, fabsf(xv[j]));
            const float d = amax / 127.0f;
            int s = 0;
            for (int j = 0; j < 32; j++) {
                const int q = d > 0 ? (int)roundf(xv[j] / d) : 0;
                hxq[b * 32 + j] = (int8_t)q;
                s += q;
            }
            hxd[2 * b] = d, hxd[2 * b + 1] = d * (float)s;
        }
        /* CPU reference: exact integer block sums, double accumulation */
        std::vector<double> ref(n);
        for (uint32_t r = 0; r < n; r++) {
            double acc = 0;
            for (uint32_t b = 0; b < nb; b++) {
                const uint8_t *p = &hw[((size_t)r * nb + b) * 18];
                int si = 0;
                for (int j = 0; j < 16; j++) si += (p[2 + j] & 15) * hxq[b * 32 + j] + (p[2 + j] >> 4) * hxq[b * 32 + 16 + j];
                acc += (double)h2f(hsc[(size_t)r * nb + b]) * ((double)hxd[2 * b] * si - 8.0 * hxd[2 * b + 1]);
            }
            ref[r] = acc;
        }
        uint8_t *dw, *drep;
        __half *dsc;
        int8_t *dxq;
        float2 *dxd;
        float *dy;
        CK(cudaMalloc(&dw, bytes * sets));
        CK(cudaMalloc(&drep, (size_t)n * nb * 16 * sets));
        CK(cudaMalloc(&dsc, (size_t)n * nb * 2 * sets));
        for (int s = 0; s < sets; s++) {
            CK(cudaMemcpy(dw + bytes * s, hw.data(), bytes, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(drep + (size_t)n * nb * 16 * s, hrep.data(), (size_t)n * nb * 16, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(dsc + (size_t)n * nb * s, hsc.data(), (size_t)n * nb * 2, cudaMemcpyHostToDevice));
        }
        CK(cudaMalloc(&dxq, k));
        CK(cudaMalloc(&dxd, nb * sizeof(float2)));
        CK(cudaMalloc(&dy, n * sizeof(float)));
        CK(cudaMemcpy(dxq, hxq.data(), k, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dxd, hxd.data(), nb * sizeof(float2), cudaMemcpyHostToDevice));
        for (const auto &v : vs) {
            if (v.only_k && v.only_k != k) continue;
            const bool ceil_row = v.launch == launch_read;
            auto wset = [&](int s) { return v.rep ? drep + (size_t)n * nb * 16 * s : dw + bytes * s; };
            CK(cudaMemset(dy, 0xff, n * sizeof(float))); /* poisoned: NaN */
            v.launch(wset(0), dsc, dxq, dxd, dy, n, k);
            CK(cudaGetLastError());
            std::vector<float> hy(n);
            CK(cudaMemcpy(hy.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
            double num = 0, den = 0;
            for (uint32_t r = 0; r < n; r++) num += fabs(hy[r] - ref[r]), den += fabs(ref[r]);
            const double nerr = den > 0 ? num / den : num;
            const bool ok = ceil_row || (nerr <= 1e-5 && nerr == nerr);
            bad |= !ok;
            for (int s = 0; s < sets; s++) v.launch(wset(s), dsc + (size_t)n * nb * s, dxq, dxd, dy, n, k); /* warm */
            const int iters = 20 * sets;
            CK(cudaEventRecord(e0));
            for (int i = 0; i < iters; i++) v.launch(wset(i % sets), dsc + (size_t)n * nb * (i % sets), dxq, dxd, dy, n, k);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            const double t = ms * 1e-3 / iters, moved = (double)bytes + k + nb * 8.0 + n * 4.0;
            printf("| %s | %u x %u | %.2f | %.0f | %.1f%% | nerr %.1e %s |\n", v.name, k, n, t * 1e6, moved / t / 1e9,
                   100.0 * moved / t / ceiling, nerr, ceil_row ? "(no result)" : ok ? "ok" : "MISMATCH");
        }
        CK(cudaFree(dw));
        CK(cudaFree(drep));
        CK(cudaFree(dsc));
        CK(cudaFree(dxq));
        CK(cudaFree(dxd));
        CK(cudaFree(dy));
    }
    printf("\n(bytes: the GGUF weights and scales, x and y; the repacked rows move the same bytes)\n");
    return bad;
}
