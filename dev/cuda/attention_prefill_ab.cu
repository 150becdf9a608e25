/*
 * A/B of the prefill attention kernels on Hopper (standalone; not part of
 * the library).  It builds the library's attention.cu into this program
 * and adds the variants the library does not ship:
 *
 *   version 0  mma      the mma.sync kernel (attn_prefill_hd128_bf16), the
 *                       non-Hopper path of the library
 *   version 1  sm90     the library's Hopper kernel (wgmma, warp-specialised,
 *                       Q in shared memory at hd 128; every OPT bit set)
 *   version 2  o0       the Hopper kernel with no OPT bits (the first
 *                       warp-specialised version)
 *   version 3  o7       OPT_PROD | OPT_EXP | OPT_DESC (no softmax changes)
 *   version 4  o15      as o7, plus OPT_TREE (no scale folding)
 *   version 5  qsmem64  hd 64 with Q read from shared memory (the library
 *                       keeps Q in registers at hd 64)
 *   version 6  sm90-64  the library's Hopper kernel at hd 64
 * (the OPT bits are described in src/kernels/cuda/attention_sm90.cuh).
 *
 * Build and run from the repository root, on an sm_90 GPU:
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Isrc -Isrc/kernels/cuda \
 *        dev/cuda/attention_prefill_ab.cu -o attention_prefill_ab
 *   ./attention_prefill_ab [version] [q_len]
 *
 * Each version is checked against a CPU reference (double accumulation,
 * causal, scale 1/sqrt(hd)) on the first heads, then timed.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "attention.cu"

#define ATTN_AB_OPT(OPT)                                                                                           \
    __global__ void __launch_bounds__(MLXC_ATTN_SM90_THREADS, 1)                                                  \
        ab_sm90o##OPT##_hd128(const void *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, void *out,            \
                              mlxc_p_attn_prefill p) {                                                             \
        mlxc_attn::sm90::prefill<__nv_bfloat16, 128, true, OPT>(q, k, v, out, p);                                  \
    }
ATTN_AB_OPT(0)
ATTN_AB_OPT(7)
ATTN_AB_OPT(15)
#undef ATTN_AB_OPT

__global__ void __launch_bounds__(MLXC_ATTN_SM90_THREADS, 1)
    ab_sm90qs_hd64(const void *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, void *out, mlxc_p_attn_prefill p) {
    mlxc_attn::sm90::prefill<__nv_bfloat16, 64, true>(q, k, v, out, p);
}

typedef void (*prefill_fn)(const void *, const __nv_bfloat16 *, const __nv_bfloat16 *, void *, mlxc_p_attn_prefill);

#define CK(x)                                                                                                      \
    do {                                                                                                           \
        cudaError_t e_ = (x);                                                                                      \
        if (e_ != cudaSuccess) {                                                                                   \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));                            \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

static float bf(__nv_bfloat16 x) { return __bfloat162float(x); }

/* out[t, h, :] for queries t < q_len, heads h < n_check. q (q_len, H, hd),
 * k and v (KVH, cap, hd), causal with the queries at the end of the keys. */
static void reference(const std::vector<__nv_bfloat16> &q, const std::vector<__nv_bfloat16> &k,
                      const std::vector<__nv_bfloat16> &v, const mlxc_p_attn_prefill &p, uint32_t n_check,
                      std::vector<float> &out) {
    const uint32_t H = p.n_heads, hd = p.head_dim, G = p.n_heads / p.n_kv_heads;
    out.assign((size_t)p.q_len * H * hd, 0.0f);
    std::vector<double> s(p.kv_len);
    for (uint32_t t = 0; t < p.q_len; t++)
        for (uint32_t h = 0; h < n_check; h++) {
            const __nv_bfloat16 *qr = &q[((size_t)t * H + h) * hd];
            const size_t kvh = (size_t)(h / G) * p.capacity * hd;
            const uint32_t last = p.q_offset + t; /* causal: keys 0..last */
            double mx = -INFINITY, sum = 0.0;
            for (uint32_t j = 0; j <= last && j < p.kv_len; j++) {
                double d = 0.0;
                for (uint32_t i = 0; i < hd; i++) d += (double)bf(qr[i]) * bf(k[kvh + (size_t)j * hd + i]);
                s[j] = d * p.scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (uint32_t j = 0; j <= last && j < p.kv_len; j++) sum += (s[j] = exp(s[j] - mx));
            for (uint32_t i = 0; i < hd; i++) {
                double o = 0.0;
                for (uint32_t j = 0; j <= last && j < p.kv_len; j++) o += s[j] * bf(v[kvh + (size_t)j * hd + i]);
                out[((size_t)t * H + h) * hd + i] = (float)(o / sum);
            }
        }
}

int main(int argc, char **argv) {
    const int only = argc > 1 ? atoi(argv[1]) : -1;
    const uint32_t q_len = argc > 2 ? (uint32_t)atoi(argv[2]) : 4096;
    const uint32_t H = 32, KVH = 8, n_check = 2;
    struct version {
        const char *name;
        prefill_fn  fn;
        uint32_t    hd, threads, smem, bq;
    } versions[] = {
        {"mma", attn_prefill_hd128_bf16, 128, MLXC_ATTN_CUDA_THREADS, 64 * 136 * 2 + 2 * 2 * 64 * 136 * 2, 64},
        {"sm90", attn_prefill_sm90_hd128_bf16, 128, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(128), MLXC_ATTN_SM90_BQ},
        {"o0", ab_sm90o0_hd128, 128, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(128), MLXC_ATTN_SM90_BQ},
        {"o7", ab_sm90o7_hd128, 128, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(128), MLXC_ATTN_SM90_BQ},
        {"o15", ab_sm90o15_hd128, 128, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(128), MLXC_ATTN_SM90_BQ},
        {"qsmem64", ab_sm90qs_hd64, 64, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(64), MLXC_ATTN_SM90_BQ},
        {"sm90-64", attn_prefill_sm90_hd64_bf16, 64, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(64), MLXC_ATTN_SM90_BQ},
    };
    for (int vi = 0; vi < (int)(sizeof versions / sizeof *versions); vi++) {
        if (only >= 0 && vi != only) continue;
        const version &ver = versions[vi];
        const uint32_t hd = ver.hd;
        mlxc_p_attn_prefill p = {H, KVH, hd, q_len, q_len, 0, q_len, 0, MLXC_ATTN_DT_BF16, MLXC_ATTN_DT_BF16,
                                 1.0f / sqrtf((float)hd), 0.0f};
        std::vector<__nv_bfloat16> q((size_t)q_len * H * hd), k((size_t)KVH * q_len * hd), v(k.size());
        srand(1);
        for (auto &x : q) x = __float2bfloat16(rand() / (float)RAND_MAX * 2.0f - 1.0f);
        for (auto &x : k) x = __float2bfloat16(rand() / (float)RAND_MAX * 2.0f - 1.0f);
        for (auto &x : v) x = __float2bfloat16(rand() / (float)RAND_MAX * 2.0f - 1.0f);
        __nv_bfloat16 *dq, *dk, *dv, *dout;
        CK(cudaMalloc(&dq, q.size() * 2));
        CK(cudaMalloc(&dk, k.size() * 2));
        CK(cudaMalloc(&dv, v.size() * 2));
        CK(cudaMalloc(&dout, q.size() * 2));
        CK(cudaMemcpy(dq, q.data(), q.size() * 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dk, k.data(), k.size() * 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dv, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
        CK(cudaFuncSetAttribute(ver.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)ver.smem));
        const uint32_t grid = (q_len + ver.bq - 1) / ver.bq * H;
        ver.fn<<<grid, ver.threads, ver.smem>>>(dq, dk, dv, dout, p);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());

        std::vector<__nv_bfloat16> got(q.size());
        CK(cudaMemcpy(got.data(), dout, got.size() * 2, cudaMemcpyDeviceToHost));
        std::vector<float> ref;
        reference(q, k, v, p, n_check, ref);
        double max_err = 0.0;
        for (uint32_t t = 0; t < q_len; t++)
            for (uint32_t h = 0; h < n_check; h++)
                for (uint32_t i = 0; i < hd; i++) {
                    const size_t at = ((size_t)t * H + h) * hd + i;
                    const double e = fabs((double)bf(got[at]) - ref[at]);
                    max_err = e > max_err ? e : max_err;
                }

        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        const int reps = 20;
        CK(cudaEventRecord(e0));
        for (int r = 0; r < reps; r++) ver.fn<<<grid, ver.threads, ver.smem>>>(dq, dk, dv, dout, p);
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float ms = 0.0f;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        ms /= reps;
        /* causal: half of the 4 q_len^2 hd flops per head */
        const double flops = 2.0 * (double)q_len * q_len * hd * H;
        printf("%-8s hd %3u q_len %u: max err %.3g %s  %.3f ms  %.1f TFLOP/s\n", ver.name, hd, q_len, max_err,
               max_err < 2e-2 ? "ok" : "FAIL", ms, flops / (ms * 1e-3) / 1e12);
        CK(cudaFree(dq));
        CK(cudaFree(dk));
        CK(cudaFree(dv));
        CK(cudaFree(dout));
    }
    return 0;
}
