/* The hadamard family: decode attention over the TurboQuant-style quantized
 * KV cache against decode attention over a bf16 cache.
 *
 *   bench_hadamard        contexts 8192, 16384, 32768; 32 query heads over
 *                         8 KV heads, head dim 128; the bf16-KV
 *                         mlxc_attention_decode, then mlxc_tq_attention_decode
 *                         at 2, 3, 4 and 8 bits (f16 norms): time, the
 *                         bytes of K and V read, GB/s, the fraction of the
 *                         measured copy ceiling, the speed-up over bf16;
 *                         then the attention error of each bit width
 *                         against an f16 cache (normalized, all heads) on
 *                         Gaussian and on heavy-tailed data (Student-t 3
 *                         dof, key channels x15 and x8, a value channel
 *                         x10) at 8192 keys
 *   bench_hadamard --cpu  the same on the CPU device (slow at 32k)
 *
 * Every quantized decode is first checked against the CPU device at 8192
 * keys (same cache bytes; normalized error <= 1e-3).  Each figure is the
 * median of 5 command buffers (bench/bench.h); the caches rotate among sets
 * spanning at least 5x the L2, so the figures are memory bandwidth, not
 * cache hits.  Exits 77 on no device at all (never: the CPU is one). */
#include "bench.h"
#include "kernels/params_hadamard.h"
#include "mlxc/ops_attention.h"
#include "mlxc/ops_hadamard.h"
#include "mlxc/ops_layout.h"

#define H   32u
#define KVH 8u
#define HD  128u
#define SEED 20261204u
#define MAX_SETS 64

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()); }
static double trand(void) {
    const double a = nrand(), b = nrand(), c = nrand();
    return nrand() / sqrt((a * a + b * b + c * c) / 3.0);
}

static mlxc_buffer *upload_f32(mlxc_device *dev, const float *h, size_t n) {
    mlxc_buffer *b = bench_alloc(dev, MLXC_F32, n);
    mlxc_buffer_write(b, 0, h, n * 4);
    return b;
}

static mlxc_status run1(mlxc_device *dev, mlxc_status st) {
    (void)dev;
    if (st) fprintf(stderr, "bench_hadamard: %s\n", mlxc_last_error());
    return st;
}

/* One set of caches on `dev` from the tokens src (ctx, KVH, HD) f32. */
typedef struct kv_set {
    mlxc_buffer *k, *v;              /* bf16 or f16 (KVH, ctx, HD), or NULL */
    mlxc_buffer *kc, *kn, *vc, *vn;  /* quantized, or NULL */
} kv_set;

static void fill_set(mlxc_device *dev, kv_set *s, mlxc_buffer *ksrc, mlxc_buffer *vsrc, uint32_t ctx, uint32_t bits,
                     mlxc_dtype dense) {
    mlxc_encoder *enc = NULL;
    mlxc_encoder_create(dev, &enc);
    memset(s, 0, sizeof *s);
    if (bits == 0) {
        s->k = bench_alloc(dev, dense, (size_t)KVH * ctx * HD);
        s->v = bench_alloc(dev, dense, (size_t)KVH * ctx * HD);
        mlxc_kv_cache_desc kd = {KVH, HD, ctx, false};
        run1(dev, mlxc_kv_cache_copy(enc, ksrc, s->k, &kd, 0, NULL));
        run1(dev, mlxc_kv_cache_copy(enc, vsrc, s->v, &kd, 0, NULL));
    } else {
        const size_t rows = (size_t)KVH * ctx, rb = MLXC_TQ_ROW_BYTES(HD, bits);
        s->kc = bench_alloc(dev, MLXC_U8, rows * rb);
        s->vc = bench_alloc(dev, MLXC_U8, rows * rb);
        s->kn = bench_alloc(dev, MLXC_F16, rows);
        s->vn = bench_alloc(dev, MLXC_F16, rows);
        mlxc_tq_cache_desc cd = {KVH, HD, ctx, bits, SEED, false};
        run1(dev, mlxc_tq_kv_cache_copy(enc, ksrc, s->kc, s->kn, &cd, 0, NULL));
        run1(dev, mlxc_tq_kv_cache_copy(enc, vsrc, s->vc, s->vn, &cd, 0, NULL));
    }
    mlxc_encoder_commit_and_wait(enc);
    mlxc_encoder_destroy(enc);
}
static void free_set(kv_set *s) {
    mlxc_buffer *b[6] = {s->k, s->v, s->kc, s->kn, s->vc, s->vn};
    for (int i = 0; i < 6; i++) mlxc_buffer_release(b[i]);
}

typedef struct run_ctx {
    kv_set *sets;
    int nsets;
    uint32_t ctx, bits;
    mlxc_buffer *q, *out, *scratch;
} run_ctx;

static mlxc_status call_decode(mlxc_encoder *enc, int i, void *p) {
    run_ctx *c = p;
    kv_set *s = &c->sets[i % c->nsets];
    if (c->bits == 0) {
        mlxc_attention_desc d = MLXC_ATTENTION_DESC_INIT;
        d.n_heads = H; d.n_kv_heads = KVH; d.head_dim = HD; d.kv_capacity = c->ctx; d.kv_len = c->ctx;
        d.scale = 1.0f / sqrtf((float)HD);
        return mlxc_attention_decode(enc, c->q, s->k, s->v, c->out, c->scratch, NULL, &d);
    }
    mlxc_tq_attention_desc d = {H, KVH, HD, c->ctx, c->ctx, 0, 1.0f / sqrtf((float)HD), 0, false, c->bits, SEED};
    return mlxc_tq_attention_decode(enc, c->q, s->kc, s->kn, s->vc, s->vn, c->out, c->scratch, NULL, &d);
}

static size_t scratch_bytes(mlxc_device *dev, uint32_t ctx, uint32_t bits) {
    size_t sb = 0;
    if (bits == 0) {
        mlxc_attention_desc d = MLXC_ATTENTION_DESC_INIT;
        d.n_heads = H; d.n_kv_heads = KVH; d.head_dim = HD; d.kv_capacity = ctx; d.kv_len = ctx;
        d.scale = 1.0f;
        mlxc_attention_decode_scratch_bytes(dev, &d, &sb);
    } else {
        mlxc_tq_attention_desc d = {H, KVH, HD, ctx, ctx, 0, 1.0f, 0, false, bits, SEED};
        mlxc_tq_attention_decode_scratch_bytes(dev, &d, &sb);
    }
    return sb;
}

/* One decode on `dev` over fresh caches of src; the output (H * HD). */
static double *decode_once(mlxc_device *dev, const float *k, const float *v, const float *q, uint32_t ctx,
                           uint32_t bits, mlxc_dtype dense) {
    mlxc_buffer *ks = upload_f32(dev, k, (size_t)ctx * KVH * HD), *vs = upload_f32(dev, v, (size_t)ctx * KVH * HD);
    kv_set s;
    fill_set(dev, &s, ks, vs, ctx, bits, dense);
    run_ctx c = {&s, 1, ctx, bits, upload_f32(dev, q, H * HD), bench_alloc(dev, MLXC_F32, H * HD),
                 bench_alloc(dev, MLXC_F32, scratch_bytes(dev, ctx, bits) / 4)};
    mlxc_encoder *enc = NULL;
    mlxc_encoder_create(dev, &enc);
    run1(dev, call_decode(enc, 0, &c));
    mlxc_encoder_commit_and_wait(enc);
    mlxc_encoder_destroy(enc);
    double *o = bench_download(c.out);
    free_set(&s);
    mlxc_buffer *b[5] = {ks, vs, c.q, c.out, c.scratch};
    for (int i = 0; i < 5; i++) mlxc_buffer_release(b[i]);
    return o;
}

static void make_data(float *k, float *v, float *q, uint32_t ctx, bool heavy) {
    for (size_t i = 0; i < (size_t)ctx * KVH * HD; i++) {
        const uint32_t ch = (uint32_t)(i % HD);
        if (heavy) {
            k[i] = (float)(trand() * (ch == 3 || ch == 17 ? 15.0 : ch == 40 ? 8.0 : 1.0));
            v[i] = (float)(trand() * (ch == 9 ? 10.0 : 1.0));
        } else {
            k[i] = (float)nrand();
            v[i] = (float)nrand();
        }
    }
    for (size_t i = 0; i < H * HD; i++) q[i] = (float)nrand();
}

int main(int argc, char **argv) {
    bench_init(argc, argv, "bench_hadamard: decode attention over a quantized KV cache");
    mlxc_device *dev = bench_g.dev;
    static const uint32_t ctxs[3] = {8192, 16384, 32768}, bitsv[5] = {0, 2, 3, 4, 8};
    const uint32_t maxctx = 32768;
    float *k = malloc((size_t)maxctx * KVH * HD * 4), *v = malloc((size_t)maxctx * KVH * HD * 4), *q = malloc(H * HD * 4);

    /* the check against the CPU device, 8192 keys */
    if (bench_g.ref) {
        make_data(k, v, q, 8192, false);
        for (int b = 1; b < 5; b++) {
            double *go = decode_once(dev, k, v, q, 8192, bitsv[b], MLXC_BF16);
            double *co = decode_once(bench_g.ref, k, v, q, 8192, bitsv[b], MLXC_BF16);
            const double e = bench_nerr(go, co, H * HD);
            bench_g.checked++;
            if (!(e <= 1e-3)) bench_g.failed++;
            printf("check tq %u-bit vs CPU: nerr %.3g %s\n", bitsv[b], e, e <= 1e-3 ? "ok" : "FAIL");
            free(go);
            free(co);
        }
        printf("\n");
    }

    printf("decode, %u query / %u KV heads, head dim %u (K and V bytes read; f16 norms)\n", H, KVH, HD);
    printf("%-8s %-10s %10s %12s %9s %8s %9s\n", "context", "cache", "time us", "KV bytes", "GB/s", "ceiling", "vs bf16");
    make_data(k, v, q, maxctx, false);
    for (int ci = 0; ci < 3; ci++) {
        const uint32_t ctx = ctxs[ci];
        mlxc_buffer *ks = upload_f32(dev, k, (size_t)ctx * KVH * HD), *vs = upload_f32(dev, v, (size_t)ctx * KVH * HD);
        double t_bf16 = 0;
        for (int b = 0; b < 5; b++) {
            const uint32_t bits = bitsv[b];
            const double row = bits ? MLXC_TQ_ROW_BYTES(HD, bits) + 2.0 : HD * 2.0;
            const double kvbytes = 2.0 * KVH * ctx * row;
            int nsets = (int)ceil((double)bench_g.rotate / kvbytes);
            if (nsets < 2) nsets = 2;
            if (nsets > MAX_SETS) nsets = MAX_SETS;
            kv_set sets[MAX_SETS];
            for (int i = 0; i < nsets; i++) fill_set(dev, &sets[i], ks, vs, ctx, bits, MLXC_BF16);
            run_ctx c = {sets, nsets, ctx, bits, upload_f32(dev, q, H * HD), bench_alloc(dev, MLXC_F32, H * HD),
                         bench_alloc(dev, MLXC_F32, scratch_bytes(dev, ctx, bits) / 4)};
            const double t = bench_time(call_decode, &c);
            if (bits == 0) t_bf16 = t;
            char label[16];
            snprintf(label, sizeof label, bits ? "tq %u-bit" : "bf16", bits);
            printf("%-8u %-10s %10.2f %12.0f %9.1f %7.1f%% %8.2fx\n", ctx, label, t * 1e6, kvbytes, kvbytes / t / 1e9,
                   100.0 * kvbytes / t / bench_g.ceiling, t_bf16 / t);
            for (int i = 0; i < nsets; i++) free_set(&sets[i]);
            mlxc_buffer_release(c.q);
            mlxc_buffer_release(c.out);
            mlxc_buffer_release(c.scratch);
        }
        mlxc_buffer_release(ks);
        mlxc_buffer_release(vs);
    }

    printf("\nattention error against an f16 cache, 8192 keys (normalized, all heads); bytes per cached row\n");
    for (int heavy = 0; heavy < 2; heavy++) {
        rng = 0x2545f4914f6cdd1dull + (uint64_t)heavy;
        make_data(k, v, q, 8192, heavy);
        double *ref = decode_once(dev, k, v, q, 8192, 0, MLXC_F16);
        for (int b = 1; b < 5; b++) {
            double *o = decode_once(dev, k, v, q, 8192, bitsv[b], MLXC_F16);
            const double tqb = MLXC_TQ_ROW_BYTES(HD, bitsv[b]) + 2.0;
            printf("tq-kv %u-bit %-22s nerr %.4f   %3.0f B/row vs 256 f16 (%.2fx smaller, %.1f%% saved)\n", bitsv[b],
                   heavy ? "t3 + outlier channels:" : "gaussian:", bench_nerr(o, ref, H * HD), tqb, 256.0 / tqb,
                   100.0 * (1.0 - tqb / 256.0));
            free(o);
        }
        free(ref);
    }
    free(k);
    free(v);
    free(q);
    return bench_end();
}
