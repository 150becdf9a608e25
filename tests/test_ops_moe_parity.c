/* MoE parity, CUDA against the double references and the PyTorch cases of
 * tests/test_ops_moe.c, and against the CPU kernels on the same inputs:
 * routing ids and grouping exactly, routing weights within 1e-5 and the
 * combine within the bound of its dtype; then each kernel launched by hand
 * with grids and blocks the front-ends never choose (one group, partial
 * warps, a block smaller than a warp, more groups than tokens; routing
 * with and without runs of experts), which it must handle
 * (src/kernels/params_elementwise.h).  Exits 77 after
 * "SKIP: no CUDA device" without a GPU.
 *
 *   MLXC_OPS_PARITY_SELF=1   the second device is a CPU device too */
#define MOE_NO_MAIN
#include "kernels/params_moe.h"
#include "test_ops_moe.c"

static mlxc_device *g_cpu, *g_gpu;

static void cuda_route_reference(void) { check_route_on(g_gpu); }
static void cuda_route_torch(void) { check_torch_on(g_gpu); }
static void cuda_combine_reference(void) { check_combine_on(g_gpu); }
static void cuda_group_reference(void) { check_group_on(g_gpu); }
static void cuda_router(void) { check_router_on(g_gpu); }

/* The fused router on both devices from the same inputs: normed bit for
 * bit (rms_norm's contract), logits within the dtype's rounding; the ids
 * may differ where two logits round apart across a tie, so each device's
 * ids are checked against its own logits (cuda_router). */
static void router_vs_cpu(void) {
    ot_buf ctr[2] = {ot_alloc(g_cpu, MLXC_U32, 1), ot_alloc(g_gpu, MLXC_U32, 1)};
    ot_upload(&ctr[0]);
    ot_upload(&ctr[1]);
    for (size_t ri = 0; ri < NROUTER; ri++) {
        const router_case *r = &k_router[ri];
        router_io io[2] = {router_inputs(g_cpu, r), router_inputs(g_gpu, r)};
        for (int side = 0; side < 2; side++) router_run(side ? g_gpu : g_cpu, r, &io[side], true, &ctr[side]);
        if (r->norm) OT_EXACT(&io[1].normed, io[0].normed.h, "router %zu normed vs cpu", ri);
        OT_CLOSE(&io[1].logits, io[0].logits.h, ot_tol(k_route[r->route].dt), "router %zu logits vs cpu", ri);
        router_free(&io[0]);
        router_free(&io[1]);
    }
    ot_free(&ctr[0]);
    ot_free(&ctr[1]);
}

/* The same logits on both devices: ids bit for bit, weights close. */
static void route_vs_cpu(void) {
    for (size_t ci = 0; ci < NROUTE; ci++) {
        const route_case *c = &k_route[ci];
        ot_buf ids[2], w[2], x[2], bias[2] = {{0}, {0}};
        for (int side = 0; side < 2; side++) {
            mlxc_device *d = side ? g_gpu : g_cpu;
            ot_rng = 1234 + ci;
            x[side] = route_logits(d, c);
            if (c->bias) {
                bias[side] = ot_alloc(d, MLXC_F32, c->experts);
                for (uint32_t e = 0; e < c->experts; e++) bias[side].h[e] = ot_uniform(-0.2, 0.2);
                ot_upload(&bias[side]);
            }
            route_run(d, c, &x[side], c->bias ? &bias[side] : NULL, &ids[side], &w[side]);
        }
        OT_EXACT(&ids[1], ids[0].h, "route ids vs cpu case %zu", ci);
        OT_CLOSE(&w[1], w[0].h, 1e-5, "route weights vs cpu case %zu", ci);
        for (int side = 0; side < 2; side++) {
            ot_free(&x[side]);
            ot_free(&ids[side]);
            ot_free(&w[side]);
            if (c->bias) ot_free(&bias[side]);
        }
    }
}

static void combine_vs_cpu(void) {
    for (size_t ci = 0; ci < NCOMBINE; ci++) {
        ot_buf oc = combine_run(g_cpu, ci, 99 + ci, NULL), og = combine_run(g_gpu, ci, 99 + ci, NULL);
        const mlxc_dtype dt = k_combine[ci].dt;
        OT_CLOSE(&og, oc.h, dt == MLXC_F32 ? 1e-5 : 1.6e-2, "combine vs cpu case %zu", ci);
        ot_free(&oc);
        ot_free(&og);
    }
}

static void group_vs_cpu(void) {
    for (size_t ci = 0; ci < NGROUP; ci++) {
        ot_buf c[3], g[3];
        group_run(g_cpu, ci, 555 + ci, &c[0], &c[1], &c[2], NULL, NULL, NULL);
        group_run(g_gpu, ci, 555 + ci, &g[0], &g[1], &g[2], NULL, NULL, NULL);
        for (int i = 0; i < 3; i++) {
            OT_EXACT(&g[i], c[i].h, "group output %d vs cpu case %zu", i, ci);
            ot_free(&c[i]);
            ot_free(&g[i]);
        }
    }
}

static void raw_dispatch(mlxc_device *d, const char *kernel, mlxc_buffer *const *bufs, int nb, const void *p,
                         uint32_t psize, uint32_t grid, uint32_t block) {
    const mlxc_kernel *k = NULL;
    CHECK_OK(mlxc_kernel_get(d, kernel, &k));
    if (!k) return;
    mlxc_arg args[8];
    for (int i = 0; i < nb; i++) args[i] = mlxc_arg_buffer(bufs[i]);
    args[nb] = mlxc_arg_bytes(p, psize);
    mlxc_dispatch dd = {.kernel = k, .args = args, .nargs = (uint32_t)nb + 1, .grid = {grid, 1, 1},
                        .block = {block, 1, 1}};
    OT_RUN(d, mlxc_encoder_dispatch(enc, &dd));
}

/* Host data uploaded to a new buffer of d. */
static ot_buf upload(mlxc_device *d, mlxc_dtype dt, const double *h, size_t n) {
    ot_buf b = ot_alloc(d, dt, n);
    memcpy(b.h, h, n * sizeof *h);
    ot_upload(&b);
    return b;
}

static void launch_shapes(void) {
    static const uint32_t blocks[] = {1, 7, 32, 40, 96, 1024};
    static const uint32_t grids[] = {1, 3, 50};
    /* H 72: whole 16-byte vectors in both dtypes; the residual is the shared
     * buffer (a plain input here) */
    const uint32_t T = 9, E = 200, K = 12, H = 72;
    double *lg = malloc((size_t)T * E * sizeof *lg), *bias = malloc(E * sizeof *bias);
    double *y = malloc((size_t)T * K * H * sizeof *y), *w = malloc((size_t)T * K * sizeof *w);
    double *sh = malloc((size_t)T * H * sizeof *sh), *g = malloc(T * sizeof *g), *ids = malloc((size_t)T * K * sizeof *ids);
    ot_rng = 4242;
    /* tied logits, none negative: sigmoid(x) + sigmoid(-x) = 1 would let two
     * different pairs of a run tie in exact arithmetic, and rounding decide */
    for (size_t i = 0; i < (size_t)T * E; i++) lg[i] = 0.5 * (double)(ot_u32() % 5);
    for (uint32_t e = 0; e < E; e++) bias[e] = 0.125 * (ot_u32() % 3);
    for (size_t i = 0; i < (size_t)T * K * H; i++) y[i] = ot_uniform(-2, 2);
    for (size_t i = 0; i < (size_t)T * K; i++) w[i] = ot_uniform(0, 1), ids[i] = ot_u32() % (E + 2);
    for (size_t i = 0; i < (size_t)T * H; i++) sh[i] = ot_uniform(-2, 2);
    for (uint32_t t = 0; t < T; t++) g[t] = ot_uniform(-3, 3);
    for (int di = 0; di < 2; di++) {
        const mlxc_dtype dt = di ? MLXC_BF16 : MLXC_F32;
        const char *sfx = di ? "bf16" : "f32";
        for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++)
            for (size_t gi = 0; gi < sizeof grids / sizeof *grids; gi++) {
                const uint32_t bl = blocks[bi], gr = grids[gi];
                char name[32];
                ot_buf out[2][6];
                for (int side = 0; side < 2; side++) {
                    mlxc_device *d = side ? g_gpu : g_cpu;
                    ot_buf x = upload(d, dt, lg, (size_t)T * E), b = upload(d, MLXC_F32, bias, E);
                    ot_buf yy = upload(d, dt, y, (size_t)T * K * H), ww = upload(d, MLXC_F32, w, (size_t)T * K);
                    ot_buf ss = upload(d, dt, sh, (size_t)T * H), gg = upload(d, MLXC_F32, g, T);
                    ot_buf ii = upload(d, MLXC_U32, ids, (size_t)T * K);
                    out[side][0] = ot_out(d, MLXC_U32, (size_t)T * K);
                    out[side][1] = ot_out(d, MLXC_F32, (size_t)T * K);
                    out[side][2] = ot_out(d, dt, (size_t)T * H);
                    out[side][3] = ot_out(d, MLXC_U32, E);
                    out[side][4] = ot_out(d, MLXC_U32, E + 1);
                    out[side][5] = ot_out(d, MLXC_U32, (size_t)T * K);
                    /* odd blocks: 8 runs of 25 experts, 3 kept */
                    const uint32_t ng = bi % 2 ? 8 : 1, tg = bi % 2 ? 3 : 1;
                    mlxc_p_moe_route pr = {T, E, K, MLXC_P_MOE_SIGMOID_BIAS, 1, 1, 2.5f, ng, tg, 0};
                    mlxc_buffer *rb[4] = {x.b, b.b, out[side][0].b, out[side][1].b};
                    snprintf(name, sizeof name, "moe_route_%s", sfx);
                    raw_dispatch(d, name, rb, 4, &pr, sizeof pr, gr, bl);
                    mlxc_p_moe_combine pc = {T, K, H, 1, 1, 1, 1, 0};
                    mlxc_buffer *cb[6] = {yy.b, ww.b, ss.b, gg.b, ss.b, out[side][2].b};
                    snprintf(name, sizeof name, "moe_combine_%s", sfx);
                    raw_dispatch(d, name, cb, 6, &pc, sizeof pc, gr, bl);
                    mlxc_p_moe_group pg = {T * K, E};
                    mlxc_buffer *gb[4] = {ii.b, out[side][3].b, out[side][4].b, out[side][5].b};
                    raw_dispatch(d, "moe_group", gb, 4, &pg, sizeof pg, gr, bl);
                    for (int i = 0; i < 6; i++) ot_download(&out[side][i]);
                    ot_free(&x); ot_free(&b); ot_free(&yy); ot_free(&ww); ot_free(&ss); ot_free(&gg); ot_free(&ii);
                }
                OT_EXACT(&out[1][0], out[0][0].h, "route ids grid %u block %u %s", gr, bl, sfx);
                OT_CLOSE(&out[1][1], out[0][1].h, 1e-5, "route weights grid %u block %u %s", gr, bl, sfx);
                OT_CLOSE(&out[1][2], out[0][2].h, di ? 1.6e-2 : 1e-5, "combine grid %u block %u %s", gr, bl, sfx);
                for (int i = 3; i < 6; i++) OT_EXACT(&out[1][i], out[0][i].h, "group %d grid %u block %u", i, gr, bl);
                for (int side = 0; side < 2; side++)
                    for (int i = 0; i < 6; i++) ot_free(&out[side][i]);
            }
    }
    free(lg); free(bias); free(y); free(w); free(sh); free(g); free(ids);
}

int main(void) {
    ot_parity_devices("moe parity", true, &g_cpu, &g_gpu);
    dev = g_cpu;
    RUN(cuda_route_reference);
    RUN(cuda_route_torch);
    RUN(cuda_combine_reference);
    RUN(cuda_group_reference);
    RUN(cuda_router);
    RUN(router_vs_cpu);
    RUN(route_vs_cpu);
    RUN(combine_vs_cpu);
    RUN(group_vs_cpu);
    RUN(launch_shapes);
    mlxc_device_close(g_gpu);
    mlxc_device_close(g_cpu);
    HARNESS_END();
}
