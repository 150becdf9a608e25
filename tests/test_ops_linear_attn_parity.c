/* Linear-attention parity: every op of include/mlxc/ops_linear_attn.h runs
 * through the same front-end on the CPU device and on the CUDA device over
 * the same random inputs (outputs poisoned with NaN first) and the CUDA
 * outputs, and states, are compared with the CPU's by normalized error:
 * f32 1e-5, f16 2e-3, bf16 1.6e-2 (as test_ops_parity.c), the f32 states
 * 1e-5 whatever the dtype.  The CUDA chunked form is also compared with
 * the CUDA recurrent one (the same bounds).
 *
 *   test_ops_linear_attn_parity          exit 77 without a GPU
 *   MLXC_OPS_PARITY_SELF=1               the second device is a CPU too
 */
#include "mlxc/ops_linear_attn.h"
#include "ops_test.h"

static mlxc_device *cpu, *gpu;
static int g_cases;

typedef struct pbuf {
    ot_buf c, g;
} pbuf;

static pbuf p_rand(mlxc_dtype dt, size_t n, double lo, double hi) {
    pbuf p = {ot_alloc(cpu, dt, n), ot_alloc(gpu, dt, n)};
    for (size_t i = 0; i < n; i++) p.c.h[i] = p.g.h[i] = ot_uniform(lo, hi);
    ot_upload(&p.c);
    ot_upload(&p.g);
    return p;
}
static pbuf p_out(mlxc_dtype dt, size_t n) {
    pbuf p = {ot_out(cpu, dt, n), ot_out(gpu, dt, n)};
    return p;
}
static void p_free(pbuf *p) {
    ot_free(&p->c);
    ot_free(&p->g);
}
static double p_tol(mlxc_dtype dt) { return dt == MLXC_F32 ? 1e-5 : dt == MLXC_F16 ? 2e-3 : 1.6e-2; }

#define B(p) (side ? (p).g.b : (p).c.b)
#define P_RUN(call) for (int side = 0; side < 2; side++) OT_RUN(side ? gpu : cpu, call)
#define P_CHECK(pb, tol, ...)                                                                  \
    do {                                                                                       \
        ot_download(&(pb)->c);                                                                 \
        ot_download(&(pb)->g);                                                                 \
        g_cases++;                                                                             \
        OT_CLOSE(&(pb)->g, (pb)->c.h, (tol), __VA_ARGS__);                                     \
    } while (0)

static void par_short_conv(void) {
    static const struct { uint32_t ns, T, C; } shapes[] = {{1, 1, 7}, {3, 1, 4099}, {2, 17, 96}, {1, 200, 8192}};
    for (uint32_t W = 2; W <= 4; W++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int di = 0; di < 3; di++) {
                const mlxc_dtype dt = ot_float_dtypes[di];
                const uint32_t NS = shapes[si].ns, T = shapes[si].T, C = shapes[si].C;
                pbuf x = p_rand(dt, (size_t)NS * T * C, -1, 1), w = p_rand(dt, (size_t)C * W, -0.6, 0.6);
                pbuf st = p_rand(dt, (size_t)NS * (W - 1) * C, -1, 1), o = p_out(dt, x.c.n);
                mlxc_short_conv_desc d = {NS, T, C, W, si % 2 == 0};
                P_RUN(mlxc_short_conv(enc, B(x), B(w), B(st), B(o), &d));
                P_CHECK(&o, p_tol(dt), "short_conv W %u [%u, %u, %u] %s", W, NS, T, C, mlxc_dtype_name(dt));
                P_CHECK(&st, 0.0, "short_conv state W %u [%u, %u, %u] %s", W, NS, T, C, mlxc_dtype_name(dt));
                p_free(&x); p_free(&w); p_free(&st); p_free(&o);
            }
}

static void par_gating_norm(void) {
    for (int di = 0; di < 3; di++) {
        const mlxc_dtype dt = ot_float_dtypes[di];
        static const uint32_t rows[] = {1, 7, 4096};
        for (int ri = 0; ri < 3; ri++) {
            const uint32_t R = rows[ri], H = 32;
            pbuf a = p_rand(dt, (size_t)R * H, -30, 30), b = p_rand(dt, (size_t)R * H, -8, 8);
            pbuf al = p_rand(MLXC_F32, H, -2, 2), dtb = p_rand(MLXC_F32, H, -1, 1);
            pbuf g = p_out(MLXC_F32, (size_t)R * H), be = p_out(MLXC_F32, (size_t)R * H);
            P_RUN(mlxc_gdn_gating(enc, B(a), B(b), B(al), B(dtb), B(g), B(be), H));
            P_CHECK(&g, 1e-5, "gdn_gating g %u rows %s", R, mlxc_dtype_name(dt));
            P_CHECK(&be, 1e-5, "gdn_gating beta %u rows %s", R, mlxc_dtype_name(dt));
            p_free(&a); p_free(&b); p_free(&al); p_free(&dtb); p_free(&g); p_free(&be);
        }
        static const struct { uint32_t rows, dim; } nr[] = {{1, 128}, {33, 64}, {7, 4099}, {4096, 128}};
        for (size_t i = 0; i < sizeof nr / sizeof *nr; i++) {
            const size_t n = (size_t)nr[i].rows * nr[i].dim;
            pbuf x = p_rand(dt, n, -2, 2), z = p_rand(dt, n, -3, 3), w = p_rand(dt, nr[i].dim, 0.5, 1.5);
            pbuf o = p_out(dt, n);
            P_RUN(mlxc_rms_norm_gated(enc, B(x), B(z), B(w), B(o), nr[i].dim, 1e-6f));
            P_CHECK(&o, p_tol(dt), "rms_norm_gated [%u, %u] %s", nr[i].rows, nr[i].dim, mlxc_dtype_name(dt));
            p_free(&x); p_free(&z); p_free(&w); p_free(&o);
        }
    }
}

typedef struct gdn_shape {
    uint32_t ns, T, HK, HV, DK, DV;
    bool     l2norm;
} gdn_shape;

static const gdn_shape k_gdn[] = {
    {1, 1, 16, 32, 128, 128, true}, /* Qwen3-Next decode */
    {3, 1, 2, 4, 128, 128, true},   {2, 5, 1, 3, 24, 40, false},   {1, 1, 1, 1, 256, 256, true},
    {1, 63, 2, 2, 64, 64, true},    {1, 65, 2, 4, 128, 128, true}, {2, 130, 2, 4, 128, 128, true},
    {1, 129, 1, 2, 256, 256, true}, {1, 300, 1, 1, 32, 16, false}, {1, 7, 1, 1, 1, 1, true},
};

static pbuf p_from_host(mlxc_dtype dt, size_t n, const double *h) {
    pbuf p = {ot_alloc(cpu, dt, n), ot_alloc(gpu, dt, n)};
    memcpy(p.c.h, h, n * sizeof *h);
    memcpy(p.g.h, h, n * sizeof *h);
    ot_upload(&p.c);
    ot_upload(&p.g);
    return p;
}

static void par_gdn(void) {
    for (size_t ci = 0; ci < sizeof k_gdn / sizeof *k_gdn; ci++)
        for (int di = 0; di < 3; di++) {
            const gdn_shape *c = &k_gdn[ci];
            const mlxc_dtype dt = ot_float_dtypes[di];
            const double amp = c->l2norm ? 1.0 : 1.0 / sqrt((double)c->DK); /* keeps the rule contractive */
            const size_t rows = (size_t)c->ns * c->T;
            pbuf q = p_rand(dt, rows * c->HK * c->DK, -amp, amp), k = p_rand(dt, rows * c->HK * c->DK, -amp, amp);
            pbuf v = p_rand(dt, rows * c->HV * c->DV, -1, 1), g = p_rand(MLXC_F32, rows * c->HV, -1.2, -0.01);
            pbuf be = p_rand(MLXC_F32, rows * c->HV, 0.05, 0.95);
            const size_t ns = (size_t)c->ns * c->HV * c->DK * c->DV;
            double *s0 = malloc(ns * sizeof *s0);
            for (size_t i = 0; i < ns; i++) s0[i] = ot_uniform(-0.5, 0.5);
            mlxc_gdn_desc d = {c->ns, c->T, c->HK, c->HV, c->DK, c->DV, c->l2norm, 0};
            pbuf st[2], o[2];
            for (int chunked = 0; chunked < 2; chunked++) {
                st[chunked] = p_from_host(MLXC_F32, ns, s0);
                o[chunked] = p_out(dt, rows * c->HV * c->DV);
                pbuf *S = &st[chunked], *O = &o[chunked];
                if (chunked) P_RUN(mlxc_gdn_chunked(enc, B(q), B(k), B(v), B(g), B(be), B(*S), B(*O), &d));
                else P_RUN(mlxc_gdn_recurrent(enc, B(q), B(k), B(v), B(g), B(be), B(*S), B(*O), &d));
                const char *form = chunked ? "chunked" : "recurrent";
                P_CHECK(O, p_tol(dt), "gdn_%s out [%u, %u] heads %u/%u dims %u/%u %s", form, c->ns, c->T, c->HK,
                        c->HV, c->DK, c->DV, mlxc_dtype_name(dt));
                P_CHECK(S, 1e-5, "gdn_%s state [%u, %u] heads %u/%u dims %u/%u %s", form, c->ns, c->T, c->HK, c->HV,
                        c->DK, c->DV, mlxc_dtype_name(dt));
            }
            /* On the second device, the chunked form against the recurrent one. */
            g_cases++;
            OT_CLOSE(&o[1].g, o[0].g.h, p_tol(dt), "chunked vs recurrent out [%u, %u] dims %u/%u %s", c->ns, c->T, c->DK,
                     c->DV, mlxc_dtype_name(dt));
            OT_CLOSE(&st[1].g, st[0].g.h, 1e-5, "chunked vs recurrent state [%u, %u] dims %u/%u %s", c->ns, c->T,
                     c->DK, c->DV, mlxc_dtype_name(dt));
            for (int f = 0; f < 2; f++) {
                p_free(&st[f]);
                p_free(&o[f]);
            }
            free(s0);
            p_free(&q); p_free(&k); p_free(&v); p_free(&g); p_free(&be);
        }
}

int main(void) {
    ot_parity_devices("linear_attn parity", true, &cpu, &gpu);
    RUN(par_short_conv);
    RUN(par_gating_norm);
    RUN(par_gdn);
    printf("%d comparisons\n", g_cases);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    HARNESS_END();
}
