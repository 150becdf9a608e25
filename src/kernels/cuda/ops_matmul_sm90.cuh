/*
 * Hopper path of the bf16 GEMM (included by ops_matmul.cu inside namespace
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

__device__ __forceinline__ uint64_t wg_desc(uint32_t saddr) {
    /* start >> 4 | LBO (unused for swizzled K-major) 16 B | SBO 1024 B | 128-byte swizzle */
    return (uint64_t)((saddr & 0x3ffffu) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
           ((uint64_t)1 << 62);
}

__device__ __forceinline__ void wg_mma(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void wg_keep(float (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+f"(d[i])::"memory");
}

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
            wg_keep(acc);
            wg_fence();
#pragma unroll
            for (uint32_t kk = 0; kk < BK / 16; kk++) wg_mma(acc, wg_desc(a_s + kk * 32), wg_desc(b_s + kk * 32));
            wg_commit();
            const uint32_t nxt = kt + STAGES - 1;
            if (nxt < nk) load(nxt % STAGES, nxt);
            cp_async_commit();
            wg_wait0();
            wg_keep(acc);
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
