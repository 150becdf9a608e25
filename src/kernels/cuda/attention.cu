/*
 * Attention on CUDA (src/kernels/params_attention.h): tensor-core flash
 * attention (mma.sync m16n8k16, f32 accumulators) over K/V tiles streamed
 * into shared memory with cp.async (prefill 2 stages; decode 3 at head dim <= 128, else 2).
 *
 * Decode: one block per (kv head, split).  The 16 MMA rows are the query
 * heads of the KV head (1..16; the rest are zero), so K and V are read once
 * for the whole group; each of the 4 warps takes 16 keys of a 64-key tile,
 * and the warps' states are combined in shared memory before the split's
 * partial is written.  Decode streams decode_stages(HD) stages (3 at head
 * dim <= 128: two tiles in flight while one is consumed, one barrier per
 * tile; 2 at 256 to fit the sm_80 shared memory).  Each block then
 * counts its split in the KV head's counter in the scratch; the block that
 * arrives last merges the group's splits into out (decode_merge_group) and
 * sets the counter back to zero, so one kernel does the whole call.
 *
 * Prefill: one block per (64-query tile, head), heaviest causal tiles
 * first; each warp owns 16 query rows and walks every 64-key tile of the
 * block's key range, skipping tiles it cannot see and masking only tiles
 * that cross a row's limits.  A row that sees no key gets zeros.
 *
 * Head dim 512 (decode and prefill) and the general prefill
 * attn_prefill_x_* (every head dim) run the plain f32 kernel of
 * attention_simt.cuh instead.
 *
 * Q is converted to the K/V dtype for the MMA; P is rounded to it for P.V.
 * Blocks must have MLXC_ATTN_CUDA_THREADS threads and the dynamic shared
 * memory the front-end computes: Q rows (16 or 64) and the stages of K and V
 * tiles (decode: decode_stages(HD); prefill: STAGES), rows of HD + 8
 * elements.
 */
#include "attention.cuh"
#include "rope.cuh"

namespace mlxc_attn {

using mlxc::block_count;
using mlxc::block_linear;

/* The last-arriving block of KV head kvh merges the head group's partials
 * into out.  Thread e takes 4 dims (one float4) of one query head and reads
 * the (m, l) and acc of 16 splits per round, all loads issued together, so
 * a merge of up to 16 splits costs one L2 round trip; rounds of more
 * splits rescale the running sum online.  Loads go through L2 (ld.cg): the
 * partials were written by other SMs during this kernel.  The acc of a
 * split with m = -inf was never written: it is loaded but selected away. */
template <int HD>
__device__ __forceinline__ void decode_merge_group(const float *acc, const float *ml, void *out, uint32_t kvh,
                                                   uint32_t G, uint32_t S, uint32_t live, uint32_t out_dt) {
    constexpr int D4 = HD / 4, R = 16;
    for (uint32_t e = threadIdx.x; e < G * D4; e += NT) {
        const uint32_t r = e / D4, d4 = e % D4;
        const uint64_t row0 = ((uint64_t)kvh * G + r) * S; /* (head, split 0) */
        float M = -INFINITY, L = 0.0f;
        float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (uint32_t s0 = 0; s0 < live; s0 += R) {
            float2 w[R];
            float4 x[R];
#pragma unroll
            for (int j = 0; j < R; j++) {
                w[j] = make_float2(-INFINITY, 0.0f);
                x[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                if (s0 + j < live) {
                    w[j] = __ldcg(reinterpret_cast<const float2 *>(ml) + row0 + s0 + j);
                    x[j] = __ldcg(reinterpret_cast<const float4 *>(acc + (row0 + s0 + j) * HD) + d4);
                }
            }
            float mn = M;
#pragma unroll
            for (int j = 0; j < R; j++) mn = fmaxf(mn, w[j].x);
            if (mn == -INFINITY) continue; /* nothing seen yet */
            const float c = exp2f(M - mn); /* M = -inf: 0 */
            L *= c;
            o.x *= c;
            o.y *= c;
            o.z *= c;
            o.w *= c;
#pragma unroll
            for (int j = 0; j < R; j++) {
                const bool seen = w[j].x > -INFINITY;
                const float f = seen ? exp2f(w[j].x - mn) : 0.0f;
                const float4 xj = seen ? x[j] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                L += f * w[j].y;
                o.x += f * xj.x;
                o.y += f * xj.y;
                o.z += f * xj.z;
                o.w += f * xj.w;
            }
            M = mn;
        }
        const float inv = L > 0.0f ? 1.0f / L : 0.0f;
        const uint64_t oi = ((uint64_t)kvh * G + r) * HD + 4 * d4;
        st2_dt(out_dt, out, oi, o.x * inv, o.y * inv);
        st2_dt(out_dt, out, oi + 2, o.z * inv, o.w * inv);
    }
}

/* The operands of attn_decode_qkv beyond the decode's own. */
struct qkv_in {
    const void *qkv, *bias, *q_norm, *k_norm;
    void *q_out;
    const float *ff;
    const mlxc_p_rope_qkv *r;
};

/* A value rounded to the activations' dtype dt, as a buffer of it stores. */
__device__ __forceinline__ float round_dt(uint32_t dt, float v) {
    if (dt == MLXC_ATTN_DT_F16) return __half2float(__float2half_rn(v));
    if (dt == MLXC_ATTN_DT_BF16) return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}

/* attn_decode_qkv: KV head kvh's G query rows of the projection row qkv,
 * with rope_qkv_cache's bias, q/k norm and rope (the same operations in
 * the same order: rope.cuh), into sQ as T (rows G..15 zero), and into
 * q_out when write_q.  `own` (the block whose keys hold the new position):
 * also the new k and v rows, into the caches at `slot` and into knew /
 * vnew for the tile that holds the position.  Staged in xs (G + 2 rows of
 * HD floats); red holds 8 lane sums and an inverse norm per row.  Every
 * thread of the block calls it. */
template <typename T, int HD>
__device__ __forceinline__ void stage_qkv(const mlxc_p_attn_decode &p, const qkv_in &f, uint32_t kvh, bool own,
                                          bool write_q, uint64_t slot, float ptok, T *sQ, float *xs, float *red,
                                          T *knew, T *vnew, T *k_cache, T *v_cache) {
    constexpr int LD = HD + 8;
    const mlxc_p_rope_qkv &rq = *f.r;
    const uint32_t G = p.n_heads / p.n_kv_heads, H = p.n_heads, dt = p.q_dtype;
    const uint32_t nr = G + (own ? 2u : 0u), nn = G + (own ? 1u : 0u); /* rows staged, normed and turned */
    const uint32_t half = rq.rope.rope_dim / 2, rd = rq.rope.rope_dim;
    const bool adjacent = rq.rope.mode == MLXC_ROPE_MODE_NORM;
    /* row r: q head kvh * G + r, then k head kvh, then v head kvh */
    auto head = [&](uint32_t r) -> uint64_t {
        return r < G ? (uint64_t)kvh * G + r : r == G ? (uint64_t)H + kvh : (uint64_t)H + p.n_kv_heads + kvh;
    };
    for (uint32_t e = threadIdx.x; e < nr * HD; e += NT) {
        const uint32_t r = e / HD, j = e % HD;
        const uint64_t i = head(r) * HD + j;
        float x = ld_dt(dt, f.qkv, i);
        if (rq.has_bias) x = round_dt(dt, x + ld_dt(dt, f.bias, i));
        xs[e] = x;
    }
    for (uint32_t e = threadIdx.x; e < (16u - G) * HD; e += NT) sQ[(G + e / HD) * LD + e % HD] = mlxc::conv<T>::store(0.0f);
    __syncthreads();
    if (rq.has_norm) {
        for (uint32_t e = threadIdx.x; e < nn * 8; e += NT) red[e] = mlxc_ops::rope_lane_sum(xs + (e / 8) * HD, e % 8, HD);
        __syncthreads();
        for (uint32_t r = threadIdx.x; r < nn; r += NT) red[nr * 8 + r] = mlxc_ops::rope_row_inv(red + r * 8, xs + r * HD, HD, rq.eps);
        __syncthreads();
        for (uint32_t e = threadIdx.x; e < nn * HD; e += NT) {
            const uint32_t r = e / HD;
            const void *w = r < G ? f.q_norm : f.k_norm;
            xs[e] = round_dt(dt, __fmul_rn(__fmul_rn(xs[e], red[nr * 8 + r]), ld_dt(dt, w, e % HD)));
        }
        __syncthreads();
    }
    T *kd = k_cache + ((uint64_t)kvh * rq.capacity + slot) * HD, *vd = v_cache + ((uint64_t)kvh * rq.capacity + slot) * HD;
    /* one value of row r at dim j, rounded to dt: to its places */
    auto put = [&](uint32_t r, uint32_t j, float x) {
        const T c = mlxc::conv<T>::store(x);
        if (r < G) {
            sQ[r * LD + j] = c;
            if (write_q) st_dt(dt, f.q_out, ((uint64_t)kvh * G + r) * HD + j, x);
        } else {
            knew[j] = c;
            kd[j] = c;
        }
    };
    for (uint32_t e = threadIdx.x; e < nn * half; e += NT) {
        const uint32_t r = e / half, i = e % half;
        float sn, cs, lo, hi;
        mlxc_ops::rope_angle(ptok, f.ff, rq.rope, i, &sn, &cs);
        const uint32_t ia = adjacent ? 2 * i : i, ib = adjacent ? 2 * i + 1 : i + half;
        mlxc_ops::rope_rotate(xs[r * HD + ia], xs[r * HD + ib], cs, sn, &lo, &hi);
        put(r, ia, round_dt(dt, lo));
        put(r, ib, round_dt(dt, hi));
    }
    for (uint32_t e = threadIdx.x; e < nn * (HD - rd); e += NT) {
        const uint32_t r = e / (HD - rd), j = rd + e % (HD - rd);
        put(r, j, xs[r * HD + j]);
    }
    if (own)
        for (uint32_t j = threadIdx.x; j < HD; j += NT) {
            const T c = mlxc::conv<T>::store(xs[(G + 1) * HD + j]);
            vnew[j] = c;
            vd[j] = c;
        }
    __syncthreads();
}

/* QKV: attn_decode_qkv (f non-null; q is unused and len_buf is pos).  A
 * block requests its first item's first tiles before it waits for the
 * kernel before it: the keys before pos were written by earlier steps,
 * and the row at pos, which this kernel writes, is patched into its tile
 * from the staged values.  k and v are written then (the new row). */
template <typename T, int HD, bool QKV = false>
__device__ __forceinline__ void decode(const void *q, const T *k, const T *v, const void *len_buf, float *scratch,
                                       void *out, const mlxc_p_attn_decode &p, const qkv_in *f = nullptr) {
    constexpr int LD = HD + 8;
    constexpr bool QREG = HD <= 128;
    constexpr int DS = decode_stages(HD);
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ uint32_t s_last;
    T *sQ = reinterpret_cast<T *>(smem);
    T *sK = sQ + 16 * LD, *sV = sK + DS * BK * LD;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const uint32_t G = p.n_heads / p.n_kv_heads, S = p.n_splits;

    int64_t L = p.kv_len;
    if (p.len_mode == MLXC_ATTN_LEN_U32) L += *static_cast<const uint32_t *>(len_buf);
    else if (p.len_mode == MLXC_ATTN_LEN_I32) L += *static_cast<const int32_t *>(len_buf);
    if (L < 0) L = 0;
    if (!p.ring && L > p.capacity) L = p.capacity;
    int64_t lo = 0;
    if (p.window && L > p.window) lo = L - p.window;
    if (p.ring && L - lo > p.capacity) lo = L - p.capacity;
    int64_t chunk;
    const uint32_t live = mlxc_attn_live_splits(L - lo, S, p.split_keys, &chunk);

    unsigned int *ctr = reinterpret_cast<unsigned int *>(scratch);
    float *acc_out = scratch + MLXC_ATTN_COUNTER_WORDS(p.n_kv_heads);
    float *ml_out = acc_out + (uint64_t)p.n_heads * S * HD;
    /* attn_decode_qkv: the new key's position and cache slot (kept as
     * rope_qkv_cache keeps it), the staging space past the tiles */
    const int64_t npos = QKV ? (int64_t)*static_cast<const int32_t *>(len_buf) : 0;
    uint64_t nslot = 0;
    const bool nkeep = QKV ? mlxc_ops::rope_cache_slot((int32_t)npos, f->r->sliding, f->r->capacity, &nslot) : true;
    float *xs = reinterpret_cast<float *>(sV + DS * BK * LD);
    const uint32_t nrow = QKV ? G + 2 : 0;
    float *red = xs + nrow * HD;
    T *knew = reinterpret_cast<T *>(red + nrow * 9), *vnew = knew + HD;
    bool waited = !QKV;
    /* attn_decode_qkv: its dependents scheduled at p.trigger's point (the
     * first point reached at or past it; MLXC_ATTN_TRIGGER_EXIT: as the
     * block exits).  The plain decode triggered with its wait. */
    bool triggered = !QKV;
    auto trigger = [&](uint32_t at) {
        if (!triggered && p.trigger <= at) {
            MLXC_PDL_LAUNCH_DEPENDENTS();
            triggered = true;
        }
    };
    for (uint64_t item = block_linear(); item < (uint64_t)p.n_kv_heads * S; item += block_count()) {
        const uint32_t kvh = (uint32_t)(item / S), sp = (uint32_t)(item % S);
        if (sp >= live) continue; /* past the live splits: nothing to do */
        const int64_t s_lo = lo + (int64_t)sp * chunk;
        const int64_t s_hi = s_lo + chunk < L ? s_lo + chunk : L;
        const T *kh = k + (uint64_t)kvh * p.capacity * HD, *vh = v + (uint64_t)kvh * p.capacity * HD;
        const int ntiles = s_lo < s_hi ? (int)((s_hi - s_lo + BK - 1) / BK) : 0;
        /* Prologue: tiles 0 .. DS-2 in flight (one commit group each, empty
         * past the last tile, so the group count stays tile-aligned). */
#pragma unroll
        for (int st = 0; st < DS - 1; st++) {
            if (st < ntiles)
                load_kv_tile<T, HD>(sK + st * BK * LD, sV + st * BK * LD, kh, vh, s_lo + (int64_t)st * BK, s_hi,
                                    p.capacity, p.ring);
            cp_async_commit();
        }
        const bool own = QKV && nkeep && s_lo <= npos && npos < s_hi;
        if constexpr (QKV) {
            if (!waited) MLXC_PDL_WAIT_ONLY();
            waited = true;
            trigger(MLXC_ATTN_TRIGGER_WAIT);
            if (ntiles || sp == 0)
                stage_qkv<T, HD>(p, *f, kvh, own, sp == 0, nslot, (float)npos, sQ, xs, red, knew, vnew,
                                 const_cast<T *>(k), const_cast<T *>(v));
            trigger(MLXC_ATTN_TRIGGER_STAGE);
        }
        if (s_lo >= s_hi) {
            for (uint32_t e = threadIdx.x; e < (live == 1 ? G * HD / 2 : G); e += NT) {
                if (live == 1) { /* nothing attended: zeros */
                    st2_dt(p.out_dtype, out, (uint64_t)kvh * G * HD + 2 * e, 0.0f, 0.0f);
                    continue;
                }
                const uint64_t row = ((uint64_t)kvh * G + e) * S + sp;
                ml_out[row * 2] = -INFINITY;
                ml_out[row * 2 + 1] = 0.0f;
            }
        } else {
            if constexpr (!QKV)
                load_q_tile<T, HD>(sQ, 16, q, p.q_dtype,
                                   [&](int r) -> int64_t { return r < (int)G ? (int64_t)kvh * G + r : -1; });
            const int ptile = own ? (int)((npos - s_lo) / BK) : -1; /* the tile holding the new key */
            uint32_t qf[QREG ? HD / 16 : 1][4];
            warp_state<HD> st;
            st.init();
            const int64_t rlo[2] = {s_lo, s_lo}, rhi[2] = {s_hi, s_hi};
            for (int tile = 0; tile < ntiles; tile++) {
                const int64_t key0 = s_lo + (int64_t)tile * BK;
                /* tile's group is complete; after the barrier every warp is done
                 * with tile - 1, whose stage receives tile + DS - 1 */
                cp_async_wait<DS - 2>();
                __syncthreads();
                if constexpr (QKV)
                    if (tile == ptile) { /* the new key's row as staged, whatever the load found */
                        const int row = (int)(npos - key0);
                        T *dk = sK + (tile % DS) * BK * LD + row * LD, *dv = sV + (tile % DS) * BK * LD + row * LD;
                        for (int j = threadIdx.x; j < HD; j += NT) {
                            dk[j] = knew[j];
                            dv[j] = vnew[j];
                        }
                        __syncthreads();
                    }
                if constexpr (QREG)
                    if (tile == 0) load_q_frags<T, HD>(qf, sQ, 0);
                if (tile + DS - 1 < ntiles) {
                    const int nst = (tile + DS - 1) % DS;
                    load_kv_tile<T, HD>(sK + nst * BK * LD, sV + nst * BK * LD, kh, vh, key0 + (int64_t)(DS - 1) * BK,
                                        s_hi, p.capacity, p.ring);
                }
                cp_async_commit();
                const int kofs = warp * 16;
                if (key0 + kofs < s_hi)
                    warp_step<T, HD, 16, QREG>(st, qf, sQ, 0, sK + (tile % DS) * BK * LD, sV + (tile % DS) * BK * LD,
                                               kofs, key0, rlo, rhi, key0 + kofs + 16 > s_hi, p.scale, p.softcap);
            }
            cp_async_wait<0>();
            st.finish_l();
            if constexpr (QKV) trigger(MLXC_ATTN_TRIGGER_TILES);
            __syncthreads(); /* every warp is done with the tiles: their memory is reused below */
            /* Combine the 4 warps: each parks (m, l) of its 16 rows and o of
             * the G live rows in shared memory. */
            float *cm = reinterpret_cast<float *>(sK), *cl = cm + 4 * 16, *co = cl + 4 * 16;
            const int g = lane >> 2, t = lane & 3;
            if (t == 0) {
                cm[warp * 16 + g] = st.m[0];
                cm[warp * 16 + g + 8] = st.m[1];
                cl[warp * 16 + g] = st.l[0];
                cl[warp * 16 + g + 8] = st.l[1];
            }
#pragma unroll
            for (int n = 0; n < HD / 8; n++) {
                if (g < (int)G) {
                    co[(warp * 16 + g) * HD + n * 8 + 2 * t] = st.o[n][0];
                    co[(warp * 16 + g) * HD + n * 8 + 2 * t + 1] = st.o[n][1];
                }
                if (g + 8 < (int)G) {
                    co[(warp * 16 + g + 8) * HD + n * 8 + 2 * t] = st.o[n][2];
                    co[(warp * 16 + g + 8) * HD + n * 8 + 2 * t + 1] = st.o[n][3];
                }
            }
            __syncthreads();
            /* Two dims (d, d + 1) of query row r a step: the split's
             * partial, or out itself when it is the only live split. */
            for (uint32_t e = threadIdx.x; e < G * HD / 2; e += NT) {
                const uint32_t r = e / (HD / 2), d = 2 * (e % (HD / 2));
                float M = -INFINITY;
#pragma unroll
                for (int w = 0; w < 4; w++) M = fmaxf(M, cm[w * 16 + r]);
                float a0 = 0.0f, a1 = 0.0f, lsum = 0.0f;
                if (M > -INFINITY)
#pragma unroll
                    for (int w = 0; w < 4; w++) {
                        const float mw = cm[w * 16 + r];
                        if (mw > -INFINITY) {
                            const float f = exp2f(mw - M);
                            a0 += f * co[(w * 16 + r) * HD + d];
                            a1 += f * co[(w * 16 + r) * HD + d + 1];
                            lsum += f * cl[w * 16 + r];
                        }
                    }
                if (live == 1) {
                    const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
                    st2_dt(p.out_dtype, out, ((uint64_t)kvh * G + r) * HD + d, a0 * inv, a1 * inv);
                    continue;
                }
                const uint64_t row = ((uint64_t)kvh * G + r) * S + sp;
                acc_out[row * HD + d] = a0;
                acc_out[row * HD + d + 1] = a1;
                if (d == 0) {
                    ml_out[row * 2] = M;
                    ml_out[row * 2 + 1] = lsum;
                }
            }
        }
        if (live == 1) { /* out is written: no partial to count */
            __syncthreads(); /* shared memory is reused by the next item */
            continue;
        }
        /* Publish the partial, then count it: every thread's stores are
         * fenced before thread 0's increment, so the block that sees S - 1
         * finds every split's partial in L2.  That block sets the counter
         * back to 0 (no other block of this call touches it again) and
         * merges. */
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            const unsigned int prev = atomicAdd(ctr + kvh, 1u);
            s_last = prev == live - 1;
            if (prev == live - 1) {
                ctr[kvh] = 0u;
                __threadfence();
            }
        }
        __syncthreads();
        if (s_last) decode_merge_group<HD>(acc_out, ml_out, out, kvh, G, S, live, p.out_dtype);
        __syncthreads(); /* shared memory and s_last are reused by the next item */
    }
}

/* The key range [lo, hi) of the query at tile row `row` (empty past q_len). */
__device__ __forceinline__ void prefill_range(const mlxc_p_attn_prefill &p, int64_t row, int64_t &lo, int64_t &hi) {
    if (row >= p.q_len) {
        lo = hi = 0;
        return;
    }
    const int64_t P1 = (int64_t)p.q_offset + row + 1;
    hi = P1 < (int64_t)p.kv_len ? P1 : (int64_t)p.kv_len;
    lo = p.window && P1 > (int64_t)p.window ? P1 - p.window : 0;
    if (lo > hi) lo = hi;
}

template <typename T, int HD>
__device__ __forceinline__ void prefill(const void *q, const T *k, const T *v, void *out, const mlxc_p_attn_prefill &p) {
    constexpr int LD = HD + 8, BQ = 64;
    constexpr bool QREG = HD <= 128;
    constexpr int NKS = HD <= 128 ? BK : BK / 2; /* keys per warp step (registers at HD 256) */
    extern __shared__ __align__(16) unsigned char smem[];
    T *sQ = reinterpret_cast<T *>(smem);
    T *sK = sQ + BQ * LD, *sV = sK + STAGES * BK * LD;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const uint32_t G = p.n_heads / p.n_kv_heads, H = p.n_heads;
    const uint64_t ntq = (p.q_len + BQ - 1) / BQ;
    for (uint64_t item = block_linear(); item < ntq * H; item += block_count()) {
        const uint64_t qt = ntq - 1 - item / H; /* heaviest tiles first */
        const uint32_t h = (uint32_t)(item % H);
        const int64_t t0 = (int64_t)qt * BQ;
        const int64_t last = t0 + BQ - 1 < (int64_t)p.q_len - 1 ? t0 + BQ - 1 : (int64_t)p.q_len - 1;
        int64_t blo, bhi, x0, x1;
        prefill_range(p, t0, blo, x0);
        prefill_range(p, last, x1, bhi);
        /* this warp's rows: the first's lo is the smallest, the last's hi the largest */
        const int64_t wr0 = t0 + warp * 16, wr1 = wr0 + 15 < last ? wr0 + 15 : last;
        int64_t wlo_min, whi_first, wlo_last, whi_max;
        prefill_range(p, wr0, wlo_min, whi_first);
        prefill_range(p, wr1, wlo_last, whi_max);
        const bool warp_live = wr0 <= last && wlo_min < whi_max;
        int64_t rlo[2], rhi[2];
        prefill_range(p, t0 + warp * 16 + g, rlo[0], rhi[0]);
        prefill_range(p, t0 + warp * 16 + g + 8, rlo[1], rhi[1]);

        const T *kh = k + (uint64_t)(h / G) * p.capacity * HD, *vh = v + (uint64_t)(h / G) * p.capacity * HD;
        const int ntiles = blo < bhi ? (int)((bhi - blo + BK - 1) / BK) : 0;
        if (ntiles > 0) load_kv_tile<T, HD>(sK, sV, kh, vh, blo, bhi, p.capacity, false);
        cp_async_commit();
        load_q_tile<T, HD>(sQ, BQ, q, p.q_dtype, [&](int r) -> int64_t {
            return t0 + r < (int64_t)p.q_len ? (t0 + r) * (int64_t)H + h : -1;
        });
        __syncthreads();
        uint32_t qf[QREG ? HD / 16 : 1][4];
        if constexpr (QREG) load_q_frags<T, HD>(qf, sQ, warp * 16);
        warp_state<HD> st;
        st.init();
        for (int tile = 0; tile < ntiles; tile++) {
            const int64_t key0 = blo + (int64_t)tile * BK;
            if (tile + 1 < ntiles)
                load_kv_tile<T, HD>(sK + ((tile + 1) % STAGES) * BK * LD, sV + ((tile + 1) % STAGES) * BK * LD, kh, vh,
                                    key0 + BK, bhi, p.capacity, false);
            cp_async_commit();
            cp_async_wait<1>();
            __syncthreads();
            if (warp_live && key0 < whi_max && key0 + BK > wlo_min) {
                const bool full = key0 >= wlo_last && key0 + BK <= whi_first;
#pragma unroll
                for (int kofs = 0; kofs < BK; kofs += NKS)
                    warp_step<T, HD, NKS, QREG>(st, qf, sQ, warp * 16, sK + (tile % STAGES) * BK * LD,
                                                sV + (tile % STAGES) * BK * LD, kofs, key0, rlo, rhi, !full, p.scale,
                                                p.softcap);
            }
            __syncthreads();
        }
        cp_async_wait<0>();
        st.finish_l();
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int64_t row = t0 + warp * 16 + g + 8 * r;
            if (row >= (int64_t)p.q_len) continue;
            const float inv = st.l[r] > 0.0f ? 1.0f / st.l[r] : 0.0f;
            const uint64_t base = ((uint64_t)row * H + h) * HD;
#pragma unroll
            for (int n = 0; n < HD / 8; n++)
                st2_dt(p.out_dtype, out, base + n * 8 + 2 * t, st.o[n][2 * r] * inv, st.o[n][2 * r + 1] * inv);
        }
        __syncthreads(); /* sQ is reloaded by the next item */
    }
}

} // namespace mlxc_attn

/* Head dim 512 and the general prefill: the plain f32 kernel. */
#include "attention_simt.cuh"

#define ATTN_KERNELS(HD, T, SFX)                                                                                    \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_CUDA_THREADS, 1)                                         \
        attn_decode_hd##HD##_##SFX(const void *q, const T *k, const T *v, const void *len_buf, float *scratch,      \
                                   void *out, mlxc_p_attn_decode p) { MLXC_PDL_WAIT();                                               \
        mlxc_attn::decode<T, HD>(q, k, v, len_buf, scratch, out, p);                                                \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_CUDA_THREADS, 1)                                         \
        attn_prefill_hd##HD##_##SFX(const void *q, const T *k, const T *v, void *out, mlxc_p_attn_prefill p) { MLXC_PDL_WAIT();      \
        mlxc_attn::prefill<T, HD>(q, k, v, out, p);                                                                 \
    }
#define ATTN_KERNELS_SIMT(HD, T, SFX)                                                                               \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_CUDA_THREADS, 1)                                         \
        attn_decode_hd##HD##_##SFX(const void *q, const T *k, const T *v, const void *len_buf, float *scratch,      \
                                   void *out, mlxc_p_attn_decode p) { MLXC_PDL_WAIT();                                               \
        mlxc_attn::simt_decode<T, HD>(q, k, v, len_buf, scratch, out, p);                                           \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_CUDA_THREADS, 1)                                         \
        attn_prefill_hd##HD##_##SFX(const void *q, const T *k, const T *v, void *out, mlxc_p_attn_prefill p) { MLXC_PDL_WAIT();      \
        mlxc_attn::simt_prefill_causal<T, HD>(q, k, v, out, p);                                                     \
    }
#define ATTN_KERNELS_X(HD, T, SFX)                                                                                  \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_CUDA_THREADS, 1)                                         \
        attn_prefill_x_hd##HD##_##SFX(const void *q, const T *k, const T *v, void *out, const void *mask,           \
                                      const void *key_lens, const T *k_chunk, const T *v_chunk,                     \
                                      mlxc_p_attn_prefill_x p) { MLXC_PDL_WAIT();                                                    \
        mlxc_attn::simt_prefill<T, HD>(q, k, v, out, mask, key_lens, k_chunk, v_chunk, p);                          \
    }
/* The decode over a fused q/k/v row: it waits inside, after its first
 * tiles are requested (the front-end tracks pos, k and v as read early). */
#define ATTN_KERNELS_QKV(HD, T, SFX)                                                                                \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_CUDA_THREADS, 1)                                         \
        attn_decode_qkv_hd##HD##_##SFX(const void *qkv, const void *bias, const void *q_norm, const void *k_norm,  \
                                       void *q_out, T *k, T *v, const int32_t *pos, const float *ff, float *scratch, \
                                       void *out, mlxc_p_attn_decode_qkv p) { MLXC_PDL_INSIDE();                    \
        const mlxc_attn::qkv_in f = {qkv, bias, q_norm, k_norm, q_out, ff, &p.r};                                   \
        mlxc_attn::decode<T, HD, true>(qkv, k, v, pos, scratch, out, p.a, &f);                                      \
    }
#define ATTN_HD(HD)                                                                                                 \
    ATTN_KERNELS(HD, __half, f16) ATTN_KERNELS(HD, __nv_bfloat16, bf16) ATTN_KERNELS_X(HD, __half, f16)             \
    ATTN_KERNELS_X(HD, __nv_bfloat16, bf16) ATTN_KERNELS_QKV(HD, __half, f16) ATTN_KERNELS_QKV(HD, __nv_bfloat16, bf16)
ATTN_HD(64)
ATTN_HD(96)
ATTN_HD(128)
ATTN_HD(256)
ATTN_KERNELS_SIMT(512, __half, f16)
ATTN_KERNELS_SIMT(512, __nv_bfloat16, bf16)
ATTN_KERNELS_X(512, __half, f16)
ATTN_KERNELS_X(512, __nv_bfloat16, bf16)
#undef ATTN_HD
#undef ATTN_KERNELS
#undef ATTN_KERNELS_SIMT
#undef ATTN_KERNELS_X
#undef ATTN_KERNELS_QKV

/* The Hopper prefill (wgmma; the fast path on sm_90a only). */
#include "attention_sm90.cuh"
