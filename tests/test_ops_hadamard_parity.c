/* Hadamard-family parity, CUDA against the double references and against
 * the CPU kernels: every case of tests/test_ops_hadamard.c on the GPU (the
 * transform, the cache's codes, round trips and positions, decode attention
 * against double attention over the decoded cache), then long contexts
 * (many splits and tiles, rings that wrapped, GQA 4 and 8) against the
 * double reference and against the CPU decoding the same cache bytes.  Codes may differ from the CPU's only where
 * a rotated coordinate lies within 1e-4 of a cell boundary (the sums run
 * in another order).  Exits 77 after "SKIP: no CUDA device" without a GPU. */
#define HAD_NO_MAIN
#include "test_ops_hadamard.c"

static mlxc_device *g_cpu, *g_gpu;

static void gpu_hadamard(void) { hadamard_cases_on(g_gpu, 2e-6); }
static void gpu_roundtrip(void) { hadamard_roundtrip_on(g_gpu); }
static void gpu_tq_copy(void) { tq_copy_cases_on(g_gpu); }
static void gpu_tq_positions(void) { tq_positions_on(g_gpu); }
static void gpu_tq_decode(void) { tq_decode_cases_on(g_gpu); }
static void gpu_tq_errors(void) { tq_errors_on(g_gpu); }

/* Long contexts: the GPU decode and the CPU decode over the same data. */
static void long_cases(void) {
    static const struct { uint32_t H, KVH, hd, cap, len, window; bool ring; uint32_t bits; int lb; } t[] = {
        {32, 8, 128, 8192, 8100, 0, false, 4, 0}, {32, 8, 128, 4096, 4096, 0, false, 2, 1},
        {16, 2, 256, 2048, 5000, 0, true, 3, 2},  {32, 4, 64, 3000, 2999, 700, false, 8, 0},
        {8, 1, 128, 1024, 1700, 1000, true, 4, 1}, {32, 32, 128, 2048, 2000, 0, false, 3, 0}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        tq_case c = tqc_make(t[i].H, t[i].KVH, t[i].hd, t[i].cap, t[i].len, t[i].window, t[i].ring, 0, t[i].bits,
                             t[i].lb, (uint32_t)i);
        c.heavy = i % 2;
        tq_decode_case_on(g_gpu, &c);
        /* the CPU decodes the GPU's cache bytes: codes may differ where a
         * rotated coordinate sits on a cell boundary (the norms are summed
         * in another order), and one flipped code of a key that dominates
         * the softmax would show here */
        tq_case d = tqc_make(t[i].H, t[i].KVH, t[i].hd, t[i].cap, t[i].len, t[i].window, t[i].ring, 0, t[i].bits,
                             t[i].lb, (uint32_t)i);
        d.heavy = i % 2;
        tqc_fill(&d);
        tq_cache kc, vc;
        double *go = tqc_run(g_gpu, &d, &kc, &vc, NULL, NULL);
        double *co = tqc_run(g_cpu, &d, NULL, NULL, &kc, &vc);
        tq_cache_free(&kc);
        tq_cache_free(&vc);
        size_t w;
        const double e = ot_nerr(go, co, (size_t)d.H * d.hd, &w);
        const double tol = d.out_dt == MLXC_F32 ? 1e-4 : ot_tol(d.out_dt) + 1e-4;
        CHECK_MSG(e <= tol, "long case %zu: cuda vs cpu nerr %.3g at [%zu] %.9g vs %.9g", i, e, w, go[w], co[w]);
        free(go);
        free(co);
        tqc_free(&d);
    }
}

/* The error table on the GPU matches the CPU's within a few percent (the
 * caches are written on each device: a few codes on cell boundaries may
 * differ). */
static void gpu_error_table(void) {
    double eg[2][4], ec[2][4];
    tq_error_table_on(g_gpu, eg, true);
    tq_error_table_on(g_cpu, ec, false);
    for (int h = 0; h < 2; h++)
        for (int b = 0; b < 4; b++)
            CHECK_MSG(fabs(eg[h][b] - ec[h][b]) <= 0.05 * ec[h][b] + 1e-3, "data %d bits #%d: gpu %.4g cpu %.4g", h, b,
                      eg[h][b], ec[h][b]);
}

int main(void) {
    ot_parity_devices("hadamard parity", false, &g_cpu, &g_gpu);
    RUN(gpu_hadamard);
    RUN(gpu_roundtrip);
    RUN(gpu_tq_copy);
    RUN(gpu_tq_positions);
    RUN(gpu_tq_decode);
    RUN(long_cases);
    RUN(gpu_error_table);
    RUN(gpu_tq_errors);
    mlxc_device_close(g_gpu);
    mlxc_device_close(g_cpu);
    HARNESS_END();
}
