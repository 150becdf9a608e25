/* Every built-in CUDA kernel against the CPU backend, for every dtype: fresh
 * random inputs (never zeros), outputs poisoned with NaN before each run,
 * odd sizes (vector tails), unaligned views (the scalar paths) and several
 * launch shapes (kernels must cover their work for any grid and block).
 *
 * The contract is bit-identity: elementwise ops round once from f32 on both
 * backends, and rms_norm sums its squares in the CPU kernel's exact order
 * (see src/kernels/cuda/norm.cu).  A mismatch prints the normalized error
 * ||gpu - cpu|| / ||cpu|| and the worst element. */
#include <math.h>

#include "kernels/params_elementwise.h"
#include "kernels/params_norm.h"
#include "harness.h"
#include "mlxc/mlxc.h"

static mlxc_device *cpu, *gpu;
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
/* In [-2, 2), never zero. */
static float rndf(void) {
    float v = (float)(rnd() & 0xffffff) / 4194304.0f - 2.0f;
    return v == 0.0f ? 0.75f : v;
}

static size_t esize(mlxc_dtype dt) { return mlxc_dtype_size(dt); }

static void fill_random(mlxc_dtype dt, void *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = rndf();
        if (dt == MLXC_F32) ((float *)p)[i] = v;
        else if (dt == MLXC_F16) ((uint16_t *)p)[i] = mlxc_f32_to_f16(v);
        else ((uint16_t *)p)[i] = mlxc_f32_to_bf16(v);
    }
}

static double to_f64(mlxc_dtype dt, const void *p, size_t i) {
    if (dt == MLXC_F32) return ((const float *)p)[i];
    if (dt == MLXC_F16) return mlxc_f16_to_f32(((const uint16_t *)p)[i]);
    return mlxc_bf16_to_f32(((const uint16_t *)p)[i]);
}

/* A buffer on `dev` whose view starts `off` bytes into the allocation. */
static mlxc_buffer *make(mlxc_device *dev, mlxc_dtype dt, size_t n, size_t off, mlxc_buffer **parent) {
    mlxc_buffer *b = NULL, *v = NULL;
    int64_t shape[1] = {(int64_t)n};
    if (mlxc_buffer_alloc(dev, n * esize(dt) + off + 64, MLXC_U8, 0, NULL, &b) != MLXC_OK) return NULL;
    if (mlxc_buffer_view(b, off, dt, 1, shape, &v) != MLXC_OK) {
        mlxc_buffer_release(b);
        return NULL;
    }
    *parent = b;
    return v;
}

typedef struct run_spec {
    const char *kernel;
    mlxc_dtype  dt;
    int         nin;          /* input buffers, then one output           */
    size_t      n_in[4];      /* elements of each input                   */
    size_t      n_out;
    const void *params;
    uint32_t    psize;
    mlxc_dim3   grid, block;  /* the CUDA launch (CPU gets its own)       */
    size_t      off;          /* byte offset of every view                */
} run_spec;

/* Run the kernel on `dev` over host inputs `in`, output into `out`. */
static int run_on(mlxc_device *dev, const run_spec *s, void *const *in, void *out, mlxc_dim3 grid, mlxc_dim3 block) {
    const mlxc_kernel *k = NULL;
    if (mlxc_kernel_get(dev, s->kernel, &k) != MLXC_OK) return -1;
    mlxc_buffer *parents[5] = {0}, *views[5] = {0};
    mlxc_arg args[6];
    int rc = -1;
    size_t es = esize(s->dt);
    for (int i = 0; i <= s->nin; i++) {
        size_t n = i < s->nin ? s->n_in[i] : s->n_out;
        views[i] = make(dev, s->dt, n, s->off, &parents[i]);
        if (!views[i]) goto out;
        if (i < s->nin) {
            if (mlxc_buffer_write(views[i], 0, in[i], n * es) != MLXC_OK) goto out;
        } else {
            /* Poison: all-ones bytes are NaN in every float dtype. */
            void *poison = malloc(n * es);
            memset(poison, 0xff, n * es);
            mlxc_status st = mlxc_buffer_write(views[i], 0, poison, n * es);
            free(poison);
            if (st != MLXC_OK) goto out;
        }
        args[i] = mlxc_arg_buffer(views[i]);
    }
    args[s->nin + 1] = mlxc_arg_bytes(s->params, s->psize);
    mlxc_encoder *enc = NULL;
    if (mlxc_encoder_create(dev, &enc) != MLXC_OK) goto out;
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = (uint32_t)s->nin + 2, .grid = grid, .block = block};
    mlxc_status st = mlxc_encoder_dispatch(enc, &d);
    if (!st) st = mlxc_encoder_commit_and_wait(enc);
    mlxc_encoder_destroy(enc);
    if (st) {
        fprintf(stderr, "  %s on %s: %s\n", s->kernel, mlxc_device_name(dev), mlxc_last_error());
        goto out;
    }
    if (mlxc_buffer_read(views[s->nin], 0, out, s->n_out * es) != MLXC_OK) goto out;
    rc = 0;
out:
    for (int i = 0; i < 5; i++) {
        mlxc_buffer_release(views[i]);
        mlxc_buffer_release(parents[i]);
    }
    return rc;
}

static int g_cases;

/* Fresh inputs; CPU and CUDA outputs must be byte-identical. */
static void compare(const run_spec *s) {
    size_t es = esize(s->dt);
    void *in[4] = {0};
    for (int i = 0; i < s->nin; i++) {
        in[i] = malloc(s->n_in[i] * es);
        fill_random(s->dt, in[i], s->n_in[i]);
    }
    void *oc = malloc(s->n_out * es), *og = malloc(s->n_out * es);
    mlxc_dim3 cgrid = {8, 1, 1}, cblock = {1, 1, 1};
    int rc_c = run_on(cpu, s, in, oc, cgrid, cblock);
    int rc_g = run_on(gpu, s, in, og, s->grid, s->block);
    CHECK_MSG(rc_c == 0 && rc_g == 0, "%s %s: run failed", s->kernel, mlxc_dtype_name(s->dt));
    if (rc_c == 0 && rc_g == 0 && memcmp(oc, og, s->n_out * es) != 0) {
        double num = 0, den = 0, worst = 0;
        size_t wi = 0, ndiff = 0;
        for (size_t i = 0; i < s->n_out; i++) {
            double c = to_f64(s->dt, oc, i), g = to_f64(s->dt, og, i);
            double d = fabs(g - c);
            if (memcmp((char *)oc + i * es, (char *)og + i * es, es)) ndiff++;
            if (!(d <= worst)) { worst = d; wi = i; }
            num += (g - c) * (g - c);
            den += c * c;
        }
        CHECK_MSG(0, "%s %s n=%zu off=%zu grid=%u block=%u: %zu of %zu differ, normalized error %.3g, worst [%zu] cpu %.9g gpu %.9g",
                  s->kernel, mlxc_dtype_name(s->dt), s->n_out, s->off, s->grid.x, s->block.x, ndiff, s->n_out,
                  sqrt(num / (den > 0 ? den : 1)), wi, to_f64(s->dt, oc, wi), to_f64(s->dt, og, wi));
    }
    g_cases++;
    for (int i = 0; i < s->nin; i++) free(in[i]);
    free(oc);
    free(og);
}

static const mlxc_dtype dts[3] = {MLXC_F32, MLXC_F16, MLXC_BF16};

static void test_elementwise(void) {
    static const size_t sizes[] = {1, 7, 64, 1000, 4099, 65536 + 5, 1 << 20};
    static const size_t offs[] = {0, 4};
    static const struct { uint32_t g, b; } shapes[] = {{1, 32}, {7, 256}, {1024, 256}, {3, 1024}};
    for (int op = 0; op < 2; op++)
        for (int t = 0; t < 3; t++)
            for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
                for (size_t oi = 0; oi < 2; oi++) {
                    char name[32];
                    snprintf(name, sizeof name, "%s_%s", op ? "mul" : "add", mlxc_dtype_name(dts[t]));
                    mlxc_p_elementwise p = {sizes[si]};
                    size_t sh = (si + oi + (size_t)t) % 4;
                    run_spec s = {name, dts[t], 2, {sizes[si], sizes[si]}, sizes[si], &p, sizeof p,
                                  {shapes[sh].g, 1, 1}, {shapes[sh].b, 1, 1}, offs[oi]};
                    compare(&s);
                }
}

static void test_copy(void) {
    static const size_t sizes[] = {1, 15, 16, 4097, 1 << 20};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (size_t off = 0; off < 3; off++) {
            mlxc_p_elementwise p = {sizes[si]};
            run_spec s = {"copy_bytes", MLXC_U8, 1, {sizes[si]}, sizes[si], &p, sizeof p,
                          {(uint32_t)(1 + si * 5), 1, 1}, {128, 1, 1}, off};
            /* Bytes: random bytes, compared exactly. */
            size_t n = sizes[si];
            unsigned char *in = malloc(n), *oc = malloc(n), *og = malloc(n);
            for (size_t i = 0; i < n; i++) in[i] = (unsigned char)(rnd() | 1);
            void *ins[1] = {in};
            int a = run_on(cpu, &s, ins, oc, (mlxc_dim3){4, 1, 1}, (mlxc_dim3){1, 1, 1});
            int b = run_on(gpu, &s, ins, og, s.grid, s.block);
            CHECK(a == 0 && b == 0);
            CHECK_MSG(a || b || (memcmp(oc, in, n) == 0 && memcmp(og, in, n) == 0), "copy_bytes n=%zu off=%zu", n, off);
            g_cases++;
            free(in);
            free(oc);
            free(og);
        }
}

static void test_rms_norm(void) {
    static const struct { uint32_t rows, dim; } shapes[] = {
        {1, 4096}, {1, 7}, {3, 1003}, {17, 5000}, {64, 128}, {5, 2048 + 8 + 3}, {2, 12288}};
    static const struct { uint32_t g, b; } launch[] = {{1, 256}, {64, 128}, {3, 1024}, {1000, 32}};
    for (int fused = 0; fused < 2; fused++)
        for (int t = 0; t < 3; t++)
            for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
                for (uint32_t hw = 0; hw < 2; hw++) {
                    char name[40];
                    snprintf(name, sizeof name, "%s_%s", fused ? "rms_norm_mul" : "rms_norm", mlxc_dtype_name(dts[t]));
                    size_t n = (size_t)shapes[si].rows * shapes[si].dim;
                    mlxc_p_rms_norm p = {shapes[si].rows, shapes[si].dim, si % 2 ? 1e-6f : 1e-5f, hw};
                    size_t l = (si + (size_t)t + hw) % 4;
                    run_spec s = {name, dts[t], fused ? 3 : 2, {n, shapes[si].dim, n}, n, &p, sizeof p,
                                  {launch[l].g, 1, 1}, {launch[l].b, 1, 1}, 0};
                    compare(&s);
                }
}

/* The fused kernel equals rms_norm then mul on the GPU itself, whatever
 * launch shapes each uses (the reduction order does not depend on them). */
static void test_fused_equals_sequence(void) {
    for (int t = 0; t < 3; t++) {
        mlxc_dtype dt = dts[t];
        size_t es = esize(dt);
        uint32_t rows = 9, dim = 3001;
        size_t n = (size_t)rows * dim;
        void *x = malloc(n * es), *w = malloc(dim * es), *sc = malloc(n * es);
        fill_random(dt, x, n);
        fill_random(dt, w, dim);
        fill_random(dt, sc, n);
        mlxc_p_rms_norm p = {rows, dim, 1e-5f, 1};
        char nn[32], nm[32], nf[40];
        snprintf(nn, sizeof nn, "rms_norm_%s", mlxc_dtype_name(dt));
        snprintf(nm, sizeof nm, "mul_%s", mlxc_dtype_name(dt));
        snprintf(nf, sizeof nf, "rms_norm_mul_%s", mlxc_dtype_name(dt));
        void *norm = malloc(n * es), *seq = malloc(n * es), *fused = malloc(n * es);
        run_spec s1 = {nn, dt, 2, {n, dim}, n, &p, sizeof p, {rows, 1, 1}, {64, 1, 1}, 0};
        void *in1[2] = {x, w};
        CHECK(run_on(gpu, &s1, in1, norm, s1.grid, s1.block) == 0);
        mlxc_p_elementwise pe = {n};
        run_spec s2 = {nm, dt, 2, {n, n}, n, &pe, sizeof pe, {13, 1, 1}, {256, 1, 1}, 0};
        void *in2[2] = {norm, sc};
        CHECK(run_on(gpu, &s2, in2, seq, s2.grid, s2.block) == 0);
        run_spec s3 = {nf, dt, 3, {n, dim, n}, n, &p, sizeof p, {2, 1, 1}, {512, 1, 1}, 0};
        void *in3[3] = {x, w, sc};
        CHECK(run_on(gpu, &s3, in3, fused, s3.grid, s3.block) == 0);
        CHECK_MSG(memcmp(seq, fused, n * es) == 0, "%s differs from rms_norm + mul", nf);
        free(x); free(w); free(sc); free(norm); free(seq); free(fused);
    }
}

/* The op front-ends pick their own grids per backend; results still agree. */
static void test_ops(void) {
    for (int t = 0; t < 3; t++) {
        mlxc_dtype dt = dts[t];
        size_t es = esize(dt), n = 3 * 4096 + 11;
        void *a = malloc(n * es), *b = malloc(n * es), *w = malloc(4096 * es);
        fill_random(dt, a, n);
        fill_random(dt, b, n);
        fill_random(dt, w, 4096);
        void *res[2][3];
        mlxc_device *devs[2] = {cpu, gpu};
        for (int di = 0; di < 2; di++) {
            mlxc_device *dev = devs[di];
            int64_t sh[1] = {(int64_t)n}, shw[1] = {4096}, shn[1] = {3 * 4096};
            mlxc_buffer *A, *B, *O1, *O2, *O3, *W, *Av, *O3v;
            CHECK_OK(mlxc_buffer_alloc(dev, n * es, dt, 1, sh, &A));
            CHECK_OK(mlxc_buffer_alloc(dev, n * es, dt, 1, sh, &B));
            CHECK_OK(mlxc_buffer_alloc(dev, n * es, dt, 1, sh, &O1));
            CHECK_OK(mlxc_buffer_alloc(dev, n * es, dt, 1, sh, &O2));
            CHECK_OK(mlxc_buffer_alloc(dev, n * es, dt, 1, sh, &O3));
            CHECK_OK(mlxc_buffer_alloc(dev, 4096 * es, dt, 1, shw, &W));
            CHECK_OK(mlxc_buffer_view(A, 0, dt, 1, shn, &Av));
            CHECK_OK(mlxc_buffer_view(O3, 0, dt, 1, shn, &O3v));
            CHECK_OK(mlxc_buffer_write(A, 0, a, n * es));
            CHECK_OK(mlxc_buffer_write(B, 0, b, n * es));
            CHECK_OK(mlxc_buffer_write(W, 0, w, 4096 * es));
            mlxc_encoder *enc;
            CHECK_OK(mlxc_encoder_create(dev, &enc));
            CHECK_OK(mlxc_add(enc, A, B, O1));
            CHECK_OK(mlxc_encoder_barrier(enc)); /* mul reads what add wrote */
            CHECK_OK(mlxc_mul(enc, A, O1, O2));
            CHECK_OK(mlxc_rms_norm(enc, Av, W, O3v, 4096, 1e-5f));
            CHECK_OK(mlxc_encoder_commit_and_wait(enc));
            mlxc_encoder_destroy(enc);
            for (int r = 0; r < 3; r++) res[di][r] = malloc(n * es);
            CHECK_OK(mlxc_buffer_read(O1, 0, res[di][0], n * es));
            CHECK_OK(mlxc_buffer_read(O2, 0, res[di][1], n * es));
            CHECK_OK(mlxc_buffer_read(O3, 0, res[di][2], 3 * 4096 * es));
            mlxc_buffer *all[] = {A, B, O1, O2, O3, W, Av, O3v};
            for (size_t i = 0; i < 8; i++) mlxc_buffer_release(all[i]);
        }
        CHECK_MSG(memcmp(res[0][0], res[1][0], n * es) == 0, "mlxc_add %s", mlxc_dtype_name(dt));
        CHECK_MSG(memcmp(res[0][1], res[1][1], n * es) == 0, "mlxc_mul %s", mlxc_dtype_name(dt));
        CHECK_MSG(memcmp(res[0][2], res[1][2], 3 * 4096 * es) == 0, "mlxc_rms_norm %s", mlxc_dtype_name(dt));
        for (int di = 0; di < 2; di++)
            for (int r = 0; r < 3; r++) free(res[di][r]);
        free(a); free(b); free(w);
    }
}

int main(void) {
    int n = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &n);
    if (n == 0) SKIP_ALL("no CUDA device");
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &cpu) != MLXC_OK || mlxc_device_open(MLXC_BACKEND_CUDA, 0, &gpu) != MLXC_OK) {
        fprintf(stderr, "cannot open devices: %s\n", mlxc_last_error());
        return 1;
    }
    printf("CPU: %s, CUDA: %s\n", mlxc_device_name(cpu), mlxc_device_name(gpu));
    RUN(test_elementwise);
    RUN(test_copy);
    RUN(test_rms_norm);
    RUN(test_fused_equals_sequence);
    RUN(test_ops);
    printf("%d parity cases\n", g_cases);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    HARNESS_END();
}
