/* Attention on CUDA: decode (split-KV) bandwidth and prefill throughput.
 *
 *   bench_attention            decode at contexts 512..32768 (bf16 KV, head
 *                              dim 128, 32 query heads over 8 and over 32 KV
 *                              heads), and at head dim 512 (16 query heads
 *                              over 1 and 2 KV heads, contexts 1k..16k):
 *                              time, bytes (K and V once, q, out),
 *                              GB/s and the fraction of the measured copy
 *                              ceiling (bench/bench.h); prefill
 *                              (causal, 4096 tokens, head dim 128, 32 heads;
 *                              also head dims 64, 256 and 512):
 *                              TFLOP/s with causal flops 4*S^2*hd*H/2
 *   bench_attention --decode   the decode table only
 *   bench_attention --prefill  the prefill table only; each shape is timed
 *                              with the kernel the front-end picks and with
 *                              the mma.sync kernel (MLXC_ATTN_PREFILL=mma)
 *   bench_attention --torch    print a PyTorch script timing SDPA on the same
 *                              shapes (run it with python3 on the device; it
 *                              measures its own copy ceiling)
 *
 * Exits 77 without a CUDA device.  Every decode shape and the 1024-token
 * prefill are checked against the CPU device first (bench/bench.h).  The
 * decode table's PDL columns time the same calls without the caller's
 * barriers, auto-barrier on (bench_time_on_as tracked), as the decode step
 * runs them: each call is scheduled while the one before finishes and
 * waits inside (programmatic dependent launch where the GPU has it), so
 * they show the call's cost in a chain.  Each figure is the median of 5 command
 * buffers of 20 calls (after a warm-up), timed on the device clock.  Decode
 * rotates among sets of K/V caches (views of one pool) whose total is at
 * least 5x the L2 (from the device caps), at least 2 sets, so that no call
 * finds its K/V in the L2 left by the one before: the figures are HBM
 * bandwidth.  The PyTorch script rotates over 256 MB. */
#include "bench.h"
#include "mlxc/ops_attention.h"

#define ITERS 20
#define gpu (bench_g.dev)

static mlxc_buffer *alloc_rand(mlxc_dtype dt, size_t n) {
    mlxc_buffer *b = NULL;
    int64_t shape[1] = {(int64_t)n};
    const size_t es = mlxc_dtype_size(dt);
    if (mlxc_buffer_alloc(gpu, n * es, dt, 1, shape, &b) != MLXC_OK) {
        fprintf(stderr, "alloc: %s\n", mlxc_last_error());
        exit(1);
    }
    uint16_t *h = malloc(n * es);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n * es / 2; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        h[i] = mlxc_f32_to_bf16((float)((int)(s % 2001) - 1000) / 1000.0f);
    }
    mlxc_buffer_write(b, 0, h, n * es);
    free(h);
    return b;
}

/* Median time per call in ns (0 on failure); tracked: the calls in the
 * decode step's form (bench_time_on_as). */
static double time_calls_as(bench_iter_fn fn, void *ctx, int tracked) {
    const double t = bench_time_on_as(gpu, ITERS, fn, ctx, tracked);
    return isnan(t) ? 0 : t * 1e9;
}
static double time_calls(bench_iter_fn fn, void *ctx) { return time_calls_as(fn, ctx, 0); }

#define ROT_BYTES ((double)bench_g.rotate) /* decode K/V rotation: at least this much, at least 2 sets */
#define MAX_SETS  256

typedef struct dec_ctx {
    mlxc_buffer *q, *k, *v, *out, *scratch;
    mlxc_buffer *ks[MAX_SETS], *vs[MAX_SETS];
    int nsets, cur;
    mlxc_attention_desc d;
} dec_ctx;
static mlxc_status run_decode(mlxc_encoder *enc, int it, void *p) {
    dec_ctx *c = p;
    const int i = c->cur;
    c->cur = (c->cur + 1) % c->nsets;
    return mlxc_attention_decode(enc, c->q, c->ks[i], c->vs[i], c->out, c->scratch, NULL, &c->d);
}
static mlxc_status run_prefill(mlxc_encoder *enc, int it, void *p) {
    dec_ctx *c = p;
    return mlxc_attention_prefill(enc, c->q, c->k, c->v, c->out, &c->d);
}

/* ---- the check against the CPU device: scratch is per device (its size
 * follows the device's split count), so the call picks the one of the
 * device its operands live on. */
typedef struct chk_arg {
    mlxc_attention_desc d;
    mlxc_buffer        *scratch_ref, *scratch_dev;
} chk_arg;
static mlxc_status chk_decode(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    const chk_arg *c = p;
    mlxc_buffer *sc = mlxc_buffer_device(S[0]) == bench_g.ref ? c->scratch_ref : c->scratch_dev;
    return mlxc_attention_decode(enc, S[0], S[1], S[2], S[3], sc, NULL, &c->d);
}
static mlxc_status chk_prefill(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    return mlxc_attention_prefill(enc, S[0], S[1], S[2], S[3], &((const chk_arg *)p)->d);
}
/* "ok 1.2e-03" / "FAIL ..." into out; q rows: 1 for decode, q_len for prefill. */
static void check_attn(const mlxc_attention_desc *d, bool prefill, char *out, size_t n) {
    chk_arg c = {*d, NULL, NULL};
    snprintf(out, n, "-");
    if (!bench_g.ref) return;
    if (!prefill) {
        size_t sr = 0, sd = 0;
        if (mlxc_attention_decode_scratch_bytes(bench_g.ref, d, &sr) || mlxc_attention_decode_scratch_bytes(gpu, d, &sd))
            return;
        c.scratch_ref = bench_alloc(bench_g.ref, MLXC_F32, sr / 4); /* zero-filled, as decode needs */
        c.scratch_dev = bench_alloc(gpu, MLXC_F32, sd / 4);
    }
    const size_t qn = (size_t)(prefill ? d->q_len : 1) * d->n_heads * d->head_dim;
    const size_t kvn = (size_t)d->n_kv_heads * d->kv_capacity * d->head_dim;
    bench_variant v = {"attention", 4,
                       {BIN(MLXC_BF16, qn), BIN(MLXC_BF16, kvn), BIN(MLXC_BF16, kvn),
                        BOUT(MLXC_BF16, qn, bench_tol(MLXC_BF16))},
                       0, prefill ? chk_prefill : chk_decode, &c};
    double e = 0;
    const char *why = "";
    const bool ok = bench_check(&v, &e, &why);
    bench_g.checked++;
    bench_g.failed += !ok;
    snprintf(out, n, "%s %.1e", ok ? "ok" : "FAIL", e);
    if (!ok) fprintf(stderr, "bench_attention: check failed: %s\n", why);
    mlxc_buffer_release(c.scratch_ref);
    mlxc_buffer_release(c.scratch_dev);
}

static const uint32_t dec_ctxs[] = {512, 1024, 2048, 4096, 8192, 16384, 32768};
static const uint32_t dec_kvhs[] = {8, 32};

/* K/V sets of a decode shape: elements of one K (or V) cache, and the count. */
static int dec_sets(uint32_t KVH, uint32_t T, uint32_t hd, size_t *elems) {
    *elems = (size_t)KVH * T * hd;
    const double set_bytes = 2.0 * (double)*elems * 2;
    int n = (int)((ROT_BYTES + set_bytes - 1) / set_bytes);
    if (n < 2) n = 2;
    if (n > MAX_SETS) n = MAX_SETS;
    return n;
}

/* One decode table: query heads H over each of the n_kvh KV head counts
 * kvhs, at head dim hd, over the n_ctx contexts ctxs, in caches of cap
 * slots (0: as many as the context; else the split count is the one a
 * cap-slot cache gets, as in a model's decode step at a short context). */
static void decode_table_of(uint32_t H, const uint32_t *kvhs, size_t n_kvh, uint32_t hd, const uint32_t *ctxs,
                            size_t n_ctx, uint32_t cap) {
    /* one pool of bf16 for every shape's sets: K_i, V_i at 2i, 2i+1 cache sizes */
    size_t pool_elems = 0;
    for (size_t hi = 0; hi < n_kvh; hi++)
        for (size_t ci = 0; ci < n_ctx; ci++) {
            size_t e;
            const int n = dec_sets(kvhs[hi], cap > ctxs[ci] ? cap : ctxs[ci], hd, &e);
            if ((size_t)n * 2 * e > pool_elems) pool_elems = (size_t)n * 2 * e;
        }
    mlxc_buffer *pool = alloc_rand(MLXC_BF16, pool_elems);
    printf("\n## decode (bf16 q/K/V/out, head dim %u, %u query heads; K/V rotated over >= %.0f MB", hd, H,
           ROT_BYTES / 1e6);
    if (cap) printf("; caches of %u slots, the context their first keys", cap);
    printf(")\n\n");
    printf("| KV heads | context | splits | K/V sets | time (us) | MB read+written | GB/s | of ceiling (%.0f GB/s) | PDL "
           "(us) | PDL of ceiling | check |\n",
           bench_g.ceiling / 1e9);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t hi = 0; hi < n_kvh; hi++)
        for (size_t ci = 0; ci < n_ctx; ci++) {
            const uint32_t KVH = kvhs[hi], T = ctxs[ci], C = cap > T ? cap : T;
            dec_ctx c;
            memset(&c, 0, sizeof c);
            c.d = (mlxc_attention_desc){.struct_size = sizeof(mlxc_attention_desc), .n_heads = H, .n_kv_heads = KVH,
                                        .head_dim = hd, .kv_capacity = C, .kv_len = T,
                                        .scale = 1.0f / sqrtf((float)hd)};
            size_t sb = 0, e = 0;
            mlxc_attention_decode_scratch_bytes(gpu, &c.d, &sb);
            c.nsets = dec_sets(KVH, C, hd, &e);
            int64_t shape[1] = {(int64_t)e};
            for (int i = 0; i < c.nsets; i++)
                if (mlxc_buffer_view(pool, (size_t)(2 * i) * e * 2, MLXC_BF16, 1, shape, &c.ks[i]) ||
                    mlxc_buffer_view(pool, (size_t)(2 * i + 1) * e * 2, MLXC_BF16, 1, shape, &c.vs[i])) {
                    fprintf(stderr, "view: %s\n", mlxc_last_error());
                    exit(1);
                }
            c.q = alloc_rand(MLXC_BF16, (size_t)H * hd);
            c.out = alloc_rand(MLXC_BF16, (size_t)H * hd);
            c.scratch = alloc_rand(MLXC_F32, sb / 4);
            char chk[32];
            check_attn(&c.d, false, chk, sizeof chk);
            const double ns = time_calls(run_decode, &c), nt = time_calls_as(run_decode, &c, 1);
            const double bytes = 2.0 * KVH * T * hd * 2 + 2.0 * H * hd * 2;
            if (ns > 0 && nt > 0)
                printf("| %u | %u | %zu | %d | %.2f | %.2f | %.0f | %.0f%% | %.2f | %.0f%% | %s |\n", KVH, T,
                       sb / 4 / (H * (hd + 2)), c.nsets, ns / 1e3, bytes / 1e6, bytes / ns,
                       bytes / ns / (bench_g.ceiling / 1e9) * 100.0, nt / 1e3,
                       bytes / nt / (bench_g.ceiling / 1e9) * 100.0, chk);
            fflush(stdout);
            mlxc_buffer_release(c.q);
            mlxc_buffer_release(c.out);
            for (int i = 0; i < c.nsets; i++) {
                mlxc_buffer_release(c.ks[i]);
                mlxc_buffer_release(c.vs[i]);
            }
            mlxc_buffer_release(c.scratch);
        }
    mlxc_buffer_release(pool);
}

/* Head dim 128 (32 query heads over 8 and 32 KV heads), then head dim 512
 * (Gemma 4's global layers: 16 query heads over 1 and 2 KV heads, GQA 16
 * and 8; the plain f32 kernel). */
static const uint32_t dec512_ctxs[] = {1024, 4096, 16384};
static const uint32_t dec512_kvhs[] = {1, 2};
/* Short contexts in a 4096-slot cache: a model's first decode steps. */
static const uint32_t dec_short_ctxs[] = {16, 64, 128, 256, 1024};
static void decode_table(void) {
    decode_table_of(32, dec_kvhs, 2, 128, dec_ctxs, sizeof dec_ctxs / sizeof *dec_ctxs, 0);
    decode_table_of(32, dec_kvhs, 1, 128, dec_short_ctxs, sizeof dec_short_ctxs / sizeof *dec_short_ctxs, 4096);
    decode_table_of(16, dec512_kvhs, 2, 512, dec512_ctxs, sizeof dec512_ctxs / sizeof *dec512_ctxs, 0);
}

static void prefill_table(void) {
    static const struct { uint32_t S, H, KVH, hd; } pc[] = {
        {4096, 32, 32, 128}, {4096, 32, 8, 128}, {1024, 32, 8, 128}, {4096, 32, 32, 64}, {4096, 16, 16, 256},
        {1024, 16, 2, 512}, {4096, 16, 2, 512}};
    printf("\n## prefill (causal, bf16 q/K/V/out)\n\n");
    printf("| tokens | heads | KV heads | head dim | time (ms) | TFLOP/s (causal) | mma.sync kernel (ms) | mma.sync TFLOP/s | check |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < sizeof pc / sizeof *pc; i++) {
        const uint32_t S = pc[i].S, H = pc[i].H, KVH = pc[i].KVH, hd = pc[i].hd;
        dec_ctx c;
        memset(&c, 0, sizeof c);
        c.d = (mlxc_attention_desc){.struct_size = sizeof(mlxc_attention_desc), .n_heads = H, .n_kv_heads = KVH,
                                    .head_dim = hd, .kv_capacity = S, .kv_len = S, .scale = 1.0f / sqrtf((float)hd),
                                    .q_len = S};
        c.q = alloc_rand(MLXC_BF16, (size_t)S * H * hd);
        c.out = alloc_rand(MLXC_BF16, (size_t)S * H * hd);
        c.k = alloc_rand(MLXC_BF16, (size_t)KVH * S * hd);
        c.v = alloc_rand(MLXC_BF16, (size_t)KVH * S * hd);
        /* the CPU reference takes seconds per 10 GFLOP: check the short prefill */
        char chk[32] = "-";
        if (S <= 1024) check_attn(&c.d, true, chk, sizeof chk);
        const double ns = time_calls(run_prefill, &c);
        const char *was = getenv("MLXC_ATTN_PREFILL");
        char saved[32] = "";
        if (was) snprintf(saved, sizeof saved, "%s", was);
        setenv("MLXC_ATTN_PREFILL", "mma", 1);
        const double ns_mma = time_calls(run_prefill, &c);
        if (was) setenv("MLXC_ATTN_PREFILL", saved, 1);
        else unsetenv("MLXC_ATTN_PREFILL");
        const double flops = 4.0 * S * S * hd * H / 2.0;
        if (ns > 0 && ns_mma > 0)
            printf("| %u | %u | %u | %u | %.3f | %.1f | %.3f | %.1f | %s |\n", S, H, KVH, hd, ns / 1e6, flops / ns / 1e3,
                   ns_mma / 1e6, flops / ns_mma / 1e3, chk);
        fflush(stdout);
        mlxc_buffer_release(c.q);
        mlxc_buffer_release(c.out);
        mlxc_buffer_release(c.k);
        mlxc_buffer_release(c.v);
    }
}

static const char *const k_torch =
    "import torch, torch.nn.functional as F\n"
    "def t(f, n=50):\n"
    "    for _ in range(3): f()\n"
    "    a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)\n"
    "    best = 1e9\n"
    "    for _ in range(3):\n"
    "        a.record()\n"
    "        for _ in range(n): f()\n"
    "        b.record(); torch.cuda.synchronize(); best = min(best, a.elapsed_time(b) / n)\n"
    "    return best * 1e3\n"
    "print('torch', torch.__version__, torch.cuda.get_device_name())\n"
    "src = torch.rand(64 << 20, device='cuda'); dst = torch.empty_like(src); srcs = [src, torch.rand_like(src)]\n"
    "ci = [0]\n"
    "def cp():\n"
    "    dst.copy_(srcs[ci[0] % 2]); ci[0] += 1\n"
    "ceil = 2 * src.numel() * 4 / t(cp) / 1e3  # GB/s, read + write of 256 MiB\n"
    "del src, dst, srcs\n"
    "print(f'copy ceiling: {ceil:.0f} GB/s')\n"
    "print('| SDPA decode KV heads | context | K/V sets | time (us) | GB/s | of ceiling |')\n"
    "for kvh in (8, 32):\n"
    "    for T in (512, 1024, 2048, 4096, 8192, 16384, 32768):\n"
    "        q = torch.randn(1, 32, 1, 128, device='cuda', dtype=torch.bfloat16)\n"
    "        by = 2 * kvh * T * 128 * 2 + 2 * 32 * 128 * 2\n"
    "        n = min(256, max(2, -(-256_000_000 // (2 * kvh * T * 128 * 2))))  # K/V sets over >= 256 MB\n"
    "        kv = [(torch.randn(1, kvh, T, 128, device='cuda', dtype=torch.bfloat16),\n"
    "               torch.randn(1, kvh, T, 128, device='cuda', dtype=torch.bfloat16)) for _ in range(n)]\n"
    "        it = [0]\n"
    "        def f():\n"
    "            k, v = kv[it[0] % n]; it[0] += 1\n"
    "            return F.scaled_dot_product_attention(q, k, v, enable_gqa=kvh != 32)\n"
    "        us = t(f)\n"
    "        print(f'| {kvh} | {T} | {n} | {us:.2f} | {by / us / 1e3:.0f} | {by / us / 1e3 / ceil * 100:.0f}% |')\n"
    "        del kv\n"
    "print('| SDPA prefill tokens | heads | KV heads | hd | ms | TFLOP/s causal |')\n"
    "for S, H, KVH, hd in ((4096, 32, 32, 128), (4096, 32, 8, 128), (1024, 32, 8, 128), (4096, 32, 32, 64), (4096, 16, 16, 256)):\n"
    "    q = torch.randn(1, H, S, hd, device='cuda', dtype=torch.bfloat16)\n"
    "    k = torch.randn(1, KVH, S, hd, device='cuda', dtype=torch.bfloat16); v = torch.randn_like(k)\n"
    "    us = t(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=KVH != H), 10)\n"
    "    print(f'| {S} | {H} | {KVH} | {hd} | {us / 1e3:.3f} | {4 * S * S * hd * H / 2 / us / 1e6:.1f} |')\n";

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--torch") == 0) {
        fputs(k_torch, stdout);
        return 0;
    }
    int n = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &n);
    if (n == 0 && !(argc > 1 && strcmp(argv[1], "--cpu") == 0)) { /* --cpu: the CPU device, slowly */
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    const int a = bench_init(argc, argv, "bench_attention");
    const bool decode_only = a < argc && strcmp(argv[a], "--decode") == 0;
    const bool prefill_only = a < argc && strcmp(argv[a], "--prefill") == 0;
    if (a < argc && !decode_only && !prefill_only) {
        fprintf(stderr, "usage: bench_attention [--iters N] [--decode | --prefill | --torch]\n");
        return 2;
    }
    if (!prefill_only) decode_table();
    if (!decode_only) prefill_table();
    return bench_end();
}
