/* Attention parity, CUDA against the double reference and against the CPU
 * kernels: every case of tests/test_ops_attention.c, then long contexts
 * (many splits, ring caches that wrapped, GQA 4 at head dim 128), a decode
 * whose device-side length changes between runs, and prefill tiles that
 * cross the causal diagonal and the window; the Hopper prefill kernel
 * (attn_prefill_sm90_*, chosen on sm_90 for head dims 64 and 128) over
 * several 128-query tiles with every option, and launched by hand with odd
 * grids (the fast path walking several items per block) and block sizes
 * (its plain path); then the decode scratch contract (repeated calls,
 * captured-graph replays, counters back at zero); head dim 512 and GQA
 * ratios up to 16, encoder prefill (batches, non-causal, masks, key
 * lengths) and chunked prefill into a ring (attn_prefill_x_*, the plain
 * f32 kernel, and the 512 kernels).  The CUDA tensor-core kernels round
 * Q to the K/V dtype and P to it for P.V (tensor cores), so the bound is
 * that of the K/V dtype.  Exits 77 after "SKIP: no CUDA device" without a
 * GPU. */
#define ATTN_NO_MAIN
#include "kernels/params_attention.h"
#include "test_ops_attention.c"

static mlxc_device *g_cpu, *g_gpu;

static double cuda_tol(const attn_case *c) {
    const double kv = c->kv_dt == MLXC_BF16 ? 1.2e-2 : 2.5e-3;
    return ac_tol(c->out_dt) > kv ? ac_tol(c->out_dt) : kv;
}

/* A prefill case: keys 0 .. q_off + q_len - len_cut - 1 valid, `spare`
 * more cache positions, a sharp logit scale (6 / sqrt(hd)); dtypes and
 * data are the caller's. */
static attn_case prefill_case(uint32_t H, uint32_t KVH, uint32_t hd, uint32_t q_len, uint32_t q_off, uint32_t len_cut,
                              uint32_t window, float softcap, uint32_t spare) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.prefill = true;
    c.H = H; c.KVH = KVH; c.hd = hd; c.q_len = q_len; c.q_offset = q_off;
    c.window = window; c.softcap = softcap;
    c.len = q_off + q_len - len_cut;
    c.cap = c.len + spare;
    c.scale = 6.0f / sqrtf((float)hd);
    return c;
}

static void parity_case(attn_case *c) {
    char s[256];
    ac_fill(c);
    double *ref = ac_reference(c), *co = ac_run(g_cpu, c), *go = ac_run(g_gpu, c);
    const size_t n = ac_qn(c);
    size_t w;
    double e = ot_nerr(go, ref, n, &w);
    CHECK_MSG(e <= cuda_tol(c), "cuda vs ref nerr %.3g at [%zu] %.9g vs %.9g: %s", e, w, go[w], ref[w],
              ac_str(c, s, sizeof s));
    e = ot_nerr(go, co, n, &w);
    CHECK_MSG(e <= cuda_tol(c), "cuda vs cpu nerr %.3g at [%zu] %.9g vs %.9g: %s", e, w, go[w], co[w],
              ac_str(c, s, sizeof s));
    free(ref);
    free(co);
    free(go);
    ac_free(c);
}

static void small_cases(void) {
    for (uint32_t i = 0; i < N_DECODE_CASES; i++) {
        attn_case c = ac_decode_case(i);
        parity_case(&c);
    }
    for (uint32_t i = 0; i < N_PREFILL_CASES; i++) {
        attn_case c = ac_prefill_case(i);
        parity_case(&c);
    }
}

/* Head dim 512 and GQA ratios up to 16; encoder prefill (batches,
 * non-causal, masks, key lengths); chunked prefill into a ring, and a
 * sequence chunked through a ring against one windowed prefill. */
static void wide_cases(void) {
    for (uint32_t i = 0; i < N_WIDE_CASES; i++) {
        attn_case c = ac_wide_case(i);
        parity_case(&c);
    }
}
static void encoder_cases(void) {
    for (uint32_t i = 0; i < N_ENC_CASES; i++) {
        attn_case c = ac_enc_case(i);
        parity_case(&c);
    }
}
static void ring_cases(void) {
    for (uint32_t i = 0; i < N_RING_CASES; i++) {
        attn_case c = ac_ring_case(i);
        parity_case(&c);
    }
    /* the full prefill may take a tensor-core kernel (P rounded to bf16), the chunks the f32 one */
    ring_chunks_on(g_gpu, 128, 2e-2);
    ring_chunks_on(g_gpu, 512, 1.2e-2);
}

/* Long contexts at head dim 512 and ratio 16 (many splits, many key tiles). */
static void wide_long_cases(void) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.H = 16; c.KVH = 1; c.hd = 512; c.cap = 8192; c.len = 6000; c.scale = 6.0f / sqrtf(512.0f);
    c.len_buf = 1; c.q_dt = MLXC_BF16; c.kv_dt = MLXC_BF16; c.out_dt = MLXC_BF16;
    parity_case(&c);
    c = prefill_case(8, 1, 512, 300, 0, 0, 0, 0, 5);
    c.q_dt = MLXC_BF16; c.kv_dt = MLXC_BF16; c.out_dt = MLXC_F32;
    parity_case(&c);
    c = prefill_case(32, 2, 128, 200, 50, 0, 0, 0, 5);
    c.q_dt = MLXC_BF16; c.kv_dt = MLXC_BF16; c.out_dt = MLXC_BF16;
    parity_case(&c);
    memset(&c, 0, sizeof c);
    c.prefill = true; c.non_causal = true; c.batch = 2; c.H = 12; c.KVH = 12; c.hd = 64; c.q_len = 577;
    c.len = 577; c.cap = 577; c.klens = 1; c.mask = 1; c.mask_dt = MLXC_BF16; c.scale = 0.125f;
    c.q_dt = MLXC_BF16; c.kv_dt = MLXC_BF16; c.out_dt = MLXC_BF16;
    parity_case(&c);
}

/* The decode scratch contract (test_ops_attention.c) on the GPU. */
/* mlxc_attention_decode_qkv: on CUDA the one kernel gives the bits of
 * rope_qkv_cache + attention_decode there (every step: keys written by
 * the step before, the new key patched into its tile), and the CPU's
 * results within the bounds of the two ops (q and k through sincosf, v
 * exactly, out as the decode). */
static void decode_qkv(void) {
    decode_qkv_on(g_gpu);
    DQ_FOR_EACH(c, ai, ci, v) {
        const mlxc_dtype act = DQ_ACT(ai), cdt = DQ_CACHE(ci);
        dq_inputs di = dq_make(&dq_cases[c]);
        dq_out oc = dq_run(g_cpu, &dq_cases[c], &di, act, cdt, v & 1, v & 2, true);
        dq_out og = dq_run(g_gpu, &dq_cases[c], &di, act, cdt, v & 1, v & 2, true);
        const double tq = ot_tol(act) * 2, tk = (ot_tol(act) > ot_tol(cdt) ? ot_tol(act) : ot_tol(cdt)) * 2;
        const double to = (cdt == MLXC_BF16 ? 1.2e-2 : 2.5e-3) > ot_tol(og.out[0].dt) ? (cdt == MLXC_BF16 ? 1.2e-2 : 2.5e-3)
                                                                                    : ot_tol(og.out[0].dt);
        OT_CLOSE(&og.q, oc.q.h, tq, "decode_qkv q case %zu %s/%s v %d", c, mlxc_dtype_name(act), mlxc_dtype_name(cdt), v);
        OT_CLOSE(&og.k, oc.k.h, tk, "decode_qkv k case %zu %s/%s v %d", c, mlxc_dtype_name(act), mlxc_dtype_name(cdt), v);
        OT_EXACT(&og.v, oc.v.h, "decode_qkv v case %zu %s/%s v %d", c, mlxc_dtype_name(act), mlxc_dtype_name(cdt), v);
        for (int st = 0; st < DQ_STEPS; st++)
            OT_CLOSE(&og.out[st], oc.out[st].h, to, "decode_qkv out case %zu %s/%s v %d step %d", c,
                     mlxc_dtype_name(act), mlxc_dtype_name(cdt), v, st);
        dq_free_out(&oc);
        dq_free_out(&og);
        dq_free_inputs(&di);
    }
}
static void decode_qkv_checks(void) { decode_qkv_checks_on(g_gpu); }

static void scratch_sequence(void) { scratch_sequence_on(g_gpu); }
static void scratch_replay(void) { scratch_replay_on(g_gpu); }

static void long_cases(void) {
    static const struct { uint32_t H, KVH, hd, cap, len, window; bool ring; float softcap; } dc[] = {
        {32, 8, 128, 4100, 4099, 0, false, 0}, {32, 8, 128, 8192, 3000, 1024, false, 0},
        {16, 2, 256, 2048, 5000, 0, true, 30}, {8, 8, 64, 3000, 2999, 0, false, 0},
        {12, 4, 96, 1500, 1499, 700, false, 5}, {8, 1, 128, 1024, 1700, 1000, true, 0}};
    for (size_t i = 0; i < sizeof dc / sizeof *dc; i++) {
        attn_case c;
        memset(&c, 0, sizeof c);
        c.H = dc[i].H; c.KVH = dc[i].KVH; c.hd = dc[i].hd; c.cap = dc[i].cap; c.len = dc[i].len;
        c.window = dc[i].window; c.ring = dc[i].ring; c.softcap = dc[i].softcap;
        c.scale = 6.0f / sqrtf((float)c.hd);
        c.len_buf = (int)(i % 3);
        c.q_dt = i % 2 ? MLXC_BF16 : MLXC_F32;
        c.kv_dt = i % 3 == 1 ? MLXC_F16 : MLXC_BF16;
        c.out_dt = i % 2 ? MLXC_BF16 : MLXC_F32;
        parity_case(&c);
    }
    static const struct { uint32_t H, KVH, hd, q_len, q_off, window; float softcap; } pc[] = {
        {8, 2, 128, 300, 0, 0, 0}, {4, 4, 64, 257, 100, 0, 0}, {8, 1, 256, 130, 7, 50, 20},
        {6, 2, 96, 200, 0, 64, 0}, {16, 2, 128, 129, 1000, 0, 0}};
    for (size_t i = 0; i < sizeof pc / sizeof *pc; i++) {
        attn_case c = prefill_case(pc[i].H, pc[i].KVH, pc[i].hd, pc[i].q_len, pc[i].q_off, 0, pc[i].window,
                                   pc[i].softcap, 5);
        c.q_dt = i % 2 ? MLXC_F32 : MLXC_BF16;
        c.kv_dt = i % 2 ? MLXC_F16 : MLXC_BF16;
        c.out_dt = i % 3 ? MLXC_BF16 : MLXC_F32;
        parity_case(&c);
    }
}

/* Prefill shapes for the Hopper kernel: several tiles per head, tails where
 * the second warpgroup has no rows, windows narrower and wider than a key
 * tile, softcap, a query offset, queries past kv_len, every dtype of q/out
 * (16-bit q of the K/V dtype takes the vector load, 16-bit out the staged
 * store). */
static void sm90_cases(void) {
    static const struct {
        uint32_t H, KVH, hd, q_len, q_off, len_cut, window;
        float softcap;
        mlxc_dtype q, kv, out;
    } pc[] = {
        {8, 8, 128, 700, 0, 0, 0, 0, MLXC_BF16, MLXC_BF16, MLXC_BF16},
        {8, 2, 128, 300, 0, 0, 0, 0, MLXC_F16, MLXC_F16, MLXC_F16},
        {4, 1, 64, 513, 0, 0, 200, 0, MLXC_F16, MLXC_F16, MLXC_F32},
        {8, 2, 128, 384, 37, 0, 0, 15.0f, MLXC_BF16, MLXC_BF16, MLXC_BF16},
        {6, 2, 64, 450, 0, 200, 0, 0, MLXC_F32, MLXC_BF16, MLXC_BF16},
        {8, 1, 128, 260, 300, 0, 90, 0, MLXC_BF16, MLXC_BF16, MLXC_F32},
        {16, 2, 64, 1000, 0, 0, 0, 30.0f, MLXC_BF16, MLXC_BF16, MLXC_F16},
        {4, 4, 128, 1, 0, 0, 0, 0, MLXC_BF16, MLXC_BF16, MLXC_BF16},
        {4, 4, 128, 200, 5000, 0, 0, 0, MLXC_BF16, MLXC_F16, MLXC_BF16},
    };
    for (size_t i = 0; i < sizeof pc / sizeof *pc; i++) {
        attn_case c = prefill_case(pc[i].H, pc[i].KVH, pc[i].hd, pc[i].q_len, pc[i].q_off, pc[i].len_cut,
                                   pc[i].window, pc[i].softcap, 3);
        c.q_dt = pc[i].q; c.kv_dt = pc[i].kv; c.out_dt = pc[i].out;
        parity_case(&c);
    }
}

/* attn_prefill_sm90_hd128_bf16 launched by hand: grids 1 and 7 with its
 * block and shared memory (the fast path, items walked per block), blocks
 * of 32, 100, 128 and 384 without shared memory (the plain path). */
static void sm90_launch(void) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.prefill = true;
    c.H = 4; c.KVH = 2; c.hd = 128; c.q_len = 333; c.q_offset = 20; c.len = 353; c.cap = 360; c.window = 150;
    c.scale = 6.0f / sqrtf(128.0f);
    c.q_dt = MLXC_BF16; c.kv_dt = MLXC_BF16; c.out_dt = MLXC_F32;
    ac_fill(&c);
    double *ref = ac_reference(&c);
    const size_t qn = (size_t)c.q_len * c.H * c.hd, kn = (size_t)c.KVH * c.cap * c.hd;
    ot_buf q = ot_alloc(g_gpu, c.q_dt, qn), k = ot_alloc(g_gpu, c.kv_dt, kn), v = ot_alloc(g_gpu, c.kv_dt, kn);
    memcpy(q.h, c.q, qn * sizeof(double));
    memcpy(k.h, c.k, kn * sizeof(double));
    memcpy(v.h, c.v, kn * sizeof(double));
    ot_upload(&q);
    ot_upload(&k);
    ot_upload(&v);
    ot_buf out = ot_out(g_gpu, c.out_dt, qn);
    const mlxc_kernel *kern = NULL;
    CHECK_OK(mlxc_kernel_get(g_gpu, "attn_prefill_sm90_hd128_bf16", &kern));
    mlxc_p_attn_prefill p = {c.H, c.KVH, c.hd, c.cap, c.q_len, c.q_offset, c.len, c.window, MLXC_ATTN_DT_BF16,
                             MLXC_ATTN_DT_F32, c.scale, c.softcap};
    mlxc_arg args[5] = {mlxc_arg_buffer(q.b), mlxc_arg_buffer(k.b), mlxc_arg_buffer(v.b), mlxc_arg_buffer(out.b),
                        mlxc_arg_bytes(&p, sizeof p)};
    static const struct { uint32_t grid, block, shared; } ls[] = {
        {1, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(128)}, {7, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(128)},
        {1, 32, 0}, {7, 100, 0}, {3, 128, 0}, {2, MLXC_ATTN_SM90_THREADS, 0}};
    for (size_t i = 0; kern && i < sizeof ls / sizeof *ls; i++) {
        ot_poison(&out);
        mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 5, .grid = {ls[i].grid, 1, 1},
                           .block = {ls[i].block, 1, 1}, .shared_bytes = ls[i].shared};
        OT_RUN(g_gpu, mlxc_encoder_dispatch(enc, &d));
        ot_download(&out);
        size_t w;
        const double e = ot_nerr(out.h, ref, qn, &w);
        CHECK_MSG(e <= 1.2e-2, "sm90 launch grid %u block %u shared %u: nerr %.3g at [%zu] %.9g vs %.9g", ls[i].grid,
                  ls[i].block, ls[i].shared, e, w, out.h[w], ref[w]);
    }
    free(ref);
    ot_free(&q);
    ot_free(&k);
    ot_free(&v);
    ot_free(&out);
    ac_free(&c);
}

int main(void) {
    ot_parity_devices("attention parity", false, &g_cpu, &g_gpu);
    RUN(small_cases);
    RUN(long_cases);
    RUN(wide_cases);
    RUN(encoder_cases);
    RUN(ring_cases);
    RUN(wide_long_cases);
    RUN(sm90_cases);
    RUN(sm90_launch);
    RUN(scratch_sequence);
    RUN(scratch_replay);
    RUN(decode_qkv);
    RUN(decode_qkv_checks);
    mlxc_device_close(g_gpu);
    mlxc_device_close(g_cpu);
    HARNESS_END();
}
