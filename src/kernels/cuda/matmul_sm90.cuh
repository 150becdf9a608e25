/*
 * Hopper path of the bf16 GEMM (included by matmul.cu inside namespace
 * mlxc_mm, after gemm_tc's helpers; compiled only for sm_90a).
 *
 * The launch is the front-end's (params_matmul.h): 256 threads, 128 x 128
 * output tiles, 3 stages of 128 x 64 A and B tiles in 96 KB of dynamic
 * shared memory.  The tiles are loaded exactly as in gemm_tc (cp.async, 16-
 * byte chunk c of row r at c ^ (r & 7) in 128-byte rows): that is the
 * layout wgmma calls the 128-byte swizzle, K-major, 8-row groups 1024 bytes
 * apart, so the tensor cores read the stages directly.  The two warpgroups
 * each own 64 rows of the tile: four wgmma m64n128k16 per k tile, issued
 * asynchronously while the threads issue the cp.async of the tile two steps
 * ahead.  A stage is rewritten only after every warpgroup has waited for
 * the wgmma that read it (wait_group 0 before the next barrier); the other
 * block on the SM (two fit: 96 KB and <= 128 registers each) covers those
 * gaps.  cp.async writes through the generic proxy and wgmma reads through
 * the async proxy: each thread fences (fence.proxy.async) after its copies
 * land, before the barrier.
 */

/* wgmma helpers (descriptors, fences, the MMA itself): wgmma_sm90.cuh. */
using mlxc_wg::desc_kmajor;
using mlxc_wg::fence_proxy_async;

template <typename Y>
__device__ __forceinline__ void gemm_wg(const bf16 *x, const bf16 *w, Y *y, const mlxc_p_matmul &p, unsigned char *smem) {
    static_assert(STAGES == 3, "a stage is refilled two k tiles ahead");
    const uint32_t m = p.m, n = p.n, k = p.k;
    const uint32_t t = thread_linear(), lane = t & 31u, warp = t >> 5, wg = t >> 7;
    const uint32_t tiles_m = (m + BM - 1) / BM, tiles_n = (n + BN - 1) / BN, nk = (k + BK - 1) / BK;
    const uint32_t sbase = (uint32_t)__cvta_generic_to_shared(smem);

    for (uint64_t tile = block_linear(); tile < (uint64_t)tiles_m * tiles_n; tile += block_count()) {
        uint32_t tm, tn;
        gemm_tile_coords(tile, tiles_m, tiles_n, tm, tn);
        auto load = [&](uint32_t s, uint32_t kt) { gemm_load_stage(x, w, m, n, k, sbase, t, tm, tn, s, kt); };

#pragma unroll
        for (int s = 0; s < STAGES - 1; s++) {
            if ((uint32_t)s < nk) load(s, s);
            cp_async_commit();
        }
        float acc[64];
#pragma unroll
        for (int i = 0; i < 64; i++) acc[i] = 0.0f;

        for (uint32_t kt = 0; kt < nk; kt++) {
            cp_async_wait<STAGES - 2>();
            fence_proxy_async();
            __syncthreads(); /* stage kt landed; every warpgroup is done reading stage kt - 1 */
            const uint32_t a_s = sbase + (kt % STAGES) * STAGE_BYTES + wg * (64 * BK * 2),
                           b_s = sbase + (kt % STAGES) * STAGE_BYTES + BM * BK * 2;
            mlxc_wg::keep(acc);
            mlxc_wg::fence();
#pragma unroll
            for (uint32_t kk = 0; kk < BK / 16; kk++) mlxc_wg::mma_ss<bf16, 128>(acc, desc_kmajor(a_s + kk * 32), desc_kmajor(b_s + kk * 32), 1);
            mlxc_wg::commit();
            const uint32_t nxt = kt + STAGES - 1;
            if (nxt < nk) load(nxt % STAGES, nxt);
            cp_async_commit();
            mlxc_wg::wait<0>();
            mlxc_wg::keep(acc);
        }
        cp_async_wait<0>();
        __syncthreads(); /* the next tile's prologue overwrites the stages */

        const uint32_t row0 = tm * BM + wg * 64 + (warp & 3u) * 16 + (lane >> 2);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const uint32_t col = tn * BN + j * 8 + (lane & 3u) * 2;
            if (col >= n) continue;
            if (row0 < m) store2(y, (uint64_t)row0 * n + col, col, n, acc[4 * j], acc[4 * j + 1]);
            if (row0 + 8 < m) store2(y, (uint64_t)(row0 + 8) * n + col, col, n, acc[4 * j + 2], acc[4 * j + 3]);
        }
    }
}
