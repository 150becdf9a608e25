/* Attention parity, CUDA against the double reference and against the CPU
 * kernels: every case of tests/test_ops_attention.c, then long contexts
 * (many splits, ring caches that wrapped, GQA 4 at head dim 128), a decode
 * whose device-side length changes between runs, and prefill tiles that
 * cross the causal diagonal and the window; then the decode scratch
 * contract (repeated calls, captured-graph replays, counters back at
 * zero).  The CUDA kernels round Q to the K/V dtype and P to it for P.V
 * (tensor cores), so the bound is that of the K/V dtype.  Exits 77 after "SKIP: no CUDA device" without a GPU. */
#define ATTN_NO_MAIN
#include "test_ops_attention.c"

static mlxc_device *g_cpu, *g_gpu;

static double cuda_tol(const attn_case *c) {
    const double kv = c->kv_dt == MLXC_BF16 ? 1.2e-2 : 2.5e-3;
    return ac_tol(c->out_dt) > kv ? ac_tol(c->out_dt) : kv;
}

static void parity_case(attn_case *c) {
    char s[256];
    ac_fill(c);
    double *ref = ac_reference(c), *co = ac_run(g_cpu, c), *go = ac_run(g_gpu, c);
    const size_t n = (size_t)(c->prefill ? c->q_len : 1) * c->H * c->hd;
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

/* The decode scratch contract (test_ops_attention.c) on the GPU. */
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
        attn_case c;
        memset(&c, 0, sizeof c);
        c.prefill = true;
        c.H = pc[i].H; c.KVH = pc[i].KVH; c.hd = pc[i].hd; c.q_len = pc[i].q_len; c.q_offset = pc[i].q_off;
        c.window = pc[i].window; c.softcap = pc[i].softcap;
        c.len = c.q_offset + c.q_len;
        c.cap = c.len + 5;
        c.scale = 6.0f / sqrtf((float)c.hd);
        c.q_dt = i % 2 ? MLXC_F32 : MLXC_BF16;
        c.kv_dt = i % 2 ? MLXC_F16 : MLXC_BF16;
        c.out_dt = i % 3 ? MLXC_BF16 : MLXC_F32;
        parity_case(&c);
    }
}

int main(void) {
    int n = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &n);
    if (n == 0) SKIP_ALL("no CUDA device");
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_cpu) != MLXC_OK ||
        mlxc_device_open(MLXC_BACKEND_CUDA, 0, &g_gpu) != MLXC_OK) {
        fprintf(stderr, "cannot open the devices: %s\n", mlxc_last_error());
        return 1;
    }
    printf("attention parity: %s vs %s\n", mlxc_device_name(g_gpu), mlxc_device_name(g_cpu));
    RUN(small_cases);
    RUN(long_cases);
    RUN(scratch_sequence);
    RUN(scratch_replay);
    mlxc_device_close(g_gpu);
    mlxc_device_close(g_cpu);
    HARNESS_END();
}
