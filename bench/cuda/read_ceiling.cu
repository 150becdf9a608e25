/*
 * read_ceiling: what a chain of weight-streaming kernels can reach on this
 * GPU, with nothing but the reads.  A decode step is a chain of mat-vecs
 * over weights of 9-66 MB each (a 7B layer: qkv 28 MB, o 9 MB, gate/up
 * 51 MB, down 25 MB as Q4_0), every one waiting for the one before; this
 * probe times the same chain of read-only kernels, so a mat-vec's
 * fraction of copy bandwidth can be set against what its size allows.
 *
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o read_ceiling bench/cuda/read_ceiling.cu
 *   ./read_ceiling           # a markdown table on stdout
 *
 * Rows: the chain captured in a CUDA graph with programmatic dependent
 * launch (each kernel waits for the one before in griddepcontrol.wait,
 * like mlxc's), without it (plain stream order), without any dependency
 * (the kernels may overlap: an upper bound), and with each kernel's
 * blocks prefetching the first bytes of the next kernel's weights into L2
 * as they finish (cp.async.bulk.prefetch.L2).  Buffers are distinct and
 * total more than 16x the L2, so every read is cold.  The ceiling is a
 * 256 MiB device-to-device copy in the same run.
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include "probe.cuh"

/* wait: 1 griddepcontrol.wait first (a dependent kernel); pf: bytes of
 * `next` this grid prefetches into L2 as its blocks finish. */
template <int U>
__global__ void __launch_bounds__(256) read_k(const uint4 *__restrict__ p, size_t n16, unsigned *out, int wait,
                                              const char *next, size_t pf) {
    if (wait) asm volatile("griddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;" ::: "memory");
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned acc = 0;
    for (; i + (U - 1) * stride < n16; i += U * stride) {
        uint4 v[U];
#pragma unroll
        for (int u = 0; u < U; u++) v[u] = __ldcs(p + i + u * stride);
#pragma unroll
        for (int u = 0; u < U; u++) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
    for (; i < n16; i += stride) {
        uint4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) out[0] = acc; /* keeps the loads */
    if (pf && threadIdx.x == 0) {
        /* this block's slice of the next weights' first pf bytes, in 64 KB pieces */
        size_t per = (pf / gridDim.x + 15) & ~(size_t)15, b0 = per * blockIdx.x;
        for (size_t o = b0; o < b0 + per && o < pf; o += 65536) {
            unsigned sz = (unsigned)((b0 + per < pf ? b0 + per : pf) - o);
            if (sz > 65536) sz = 65536;
            asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(next + o), "r"(sz) : "memory");
        }
    }
}

typedef void (*kfn)(const uint4 *, size_t, unsigned *, int, const char *, size_t);

struct cfg {
    const char *name;
    int blocks_per_sm, u, pdl, wait;
    double pf_frac; /* prefetch this fraction of the next buffer (capped at 24 MB) */
};

int main() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    const int sms = prop.multiProcessorCount;
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

    double cus;
    const double ceiling = probe_copy_ceiling(s, &cus);
    printf("%s, %d SMs, L2 %d MB; copy 256 MiB: %.1f us, %.0f GB/s (read + write): the ceiling below\n\n", prop.name,
           sms, prop.l2CacheSize >> 20, cus, ceiling / 1e9);

    /* chains: a 7B Q4_0 layer's four weights, 8 layers; the same bytes as
     * 32 equal 28 MB kernels; 16 x 66 MB; one 1 GB read */
    struct chain {
        const char *name;
        std::vector<size_t> mb100; /* sizes in units of 0.01 MB */
    };
    std::vector<chain> chains(4);
    chains[0].name = "7B layer (28.3, 9.4, 50.7, 25.4 MB) x 8";
    for (int l = 0; l < 8; l++) chains[0].mb100.insert(chains[0].mb100.end(), {2830, 940, 5070, 2540});
    chains[1].name = "9.4 MB x 32";
    for (int l = 0; l < 32; l++) chains[1].mb100.push_back(940);
    chains[2].name = "28.3 MB x 32";
    for (int l = 0; l < 32; l++) chains[2].mb100.push_back(2830);
    chains[3].name = "1 GB x 1";
    chains[3].mb100.push_back(100000);
    size_t maxb = 0;
    for (auto &c : chains) {
        size_t t = 0;
        for (size_t v : c.mb100) t += ((v * 10000 + 4095) & ~(size_t)4095);
        if (t > maxb) maxb = t;
    }
    char *pool;
    CK(cudaMalloc(&pool, maxb + ((size_t)64 << 20)));
    CK(cudaMemset(pool, 3, maxb + ((size_t)64 << 20)));
    unsigned *out;
    CK(cudaMalloc(&out, 4));

    const cfg cfgs[] = {
        {"4 blocks/SM x 256, 4 loads in flight, PDL", 4, 4, 1, 1, 0},
        {"8 blocks/SM x 256, 4 loads in flight, PDL", 8, 4, 1, 1, 0},
        {"8 blocks/SM x 256, 8 loads in flight, PDL", 8, 8, 1, 1, 0},
        {"8 blocks/SM x 256, 4 loads, stream order (no PDL)", 8, 4, 0, 0, 0},
        {"8 blocks/SM x 256, 4 loads, no dependency (overlap)", 8, 4, 1, 0, 0},
        {"8 blocks/SM x 256, 4 loads, PDL + L2 prefetch 10% of next", 8, 4, 1, 1, 0.10},
        {"8 blocks/SM x 256, 4 loads, PDL + L2 prefetch 25% of next", 8, 4, 1, 1, 0.25},
        {"8 blocks/SM x 256, 4 loads, PDL + L2 prefetch 50% of next", 8, 4, 1, 1, 0.50},
    };
    printf("| chain | kernels | launch | us / chain | us / kernel | GB/s | of copy |\n|---|---:|---|---:|---:|---:|---:|\n");
    for (auto &ch : chains) {
        std::vector<char *> ptr;
        std::vector<size_t> bytes;
        size_t off = 0, total = 0;
        for (size_t v : ch.mb100) {
            size_t b = (v * 10000) & ~(size_t)15;
            ptr.push_back(pool + off);
            bytes.push_back(b);
            off += (b + 4095) & ~(size_t)4095;
            total += b;
        }
        ptr.push_back(pool + off); /* the "next" of the last kernel */
        for (const cfg &c : cfgs) {
            if (ch.mb100.size() == 1 && (c.pdl == 0 || c.pf_frac > 0 || c.wait == 0)) continue;
            kfn f = c.u == 8 ? read_k<8> : read_k<4>;
            CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
            for (size_t i = 0; i < bytes.size(); i++) {
                cudaLaunchConfig_t lc = {};
                lc.gridDim = dim3(sms * c.blocks_per_sm);
                lc.blockDim = dim3(256);
                lc.stream = s;
                cudaLaunchAttribute at[1];
                at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
                at[0].val.programmaticStreamSerializationAllowed = 1;
                lc.attrs = at;
                lc.numAttrs = c.pdl ? 1 : 0;
                size_t nb = i + 1 < bytes.size() ? bytes[i + 1] : (size_t)16 << 20;
                size_t pf = (size_t)(c.pf_frac * (double)nb) & ~(size_t)15;
                if (pf > ((size_t)24 << 20)) pf = (size_t)24 << 20;
                CK(cudaLaunchKernelEx(&lc, f, (const uint4 *)ptr[i], bytes[i] / 16, out, c.wait, (const char *)ptr[i + 1], pf));
            }
            const double t = probe_graph_seconds(s);
            printf("| %s | %zu | %s | %.1f | %.2f | %.0f | %.1f%% |\n", ch.name, bytes.size(), c.name, t * 1e6,
                   t * 1e6 / bytes.size(), total / t / 1e9, 100.0 * total / t / ceiling);
            fflush(stdout);
        }
    }
    printf("\n(read bytes only; the ceiling counts a copy's read and write)\n");
    return 0;
}
