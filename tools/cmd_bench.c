/*
 * `mlxc bench -m MODEL [-p N[,N...]] [-n N[,N...]] [-r N] [-o md|json|jsonl]`
 *
 * Prompt processing and text generation speed, measured as llama-bench
 * measures them, and printed in its table (same columns, with the device in
 * place of the GPU-layer count: mlxc runs a whole model on one device):
 *
 *   pp N  prefill of N token ids (fixed pseudo-random ids, BOS first when
 *         the model adds one) into an empty KV cache, in chunks of -b;
 *   tg N  N decode steps of one token each, starting from an empty cache;
 *   tg N xS  with --seqs: S sequences (mlxc_batch) each decoding N tokens,
 *         one token of every sequence a step (one forward pass of S rows);
 *         t/s counts the tokens of all S sequences.
 *
 * Each test runs once untimed (warm-up: first-touch of the weights, the
 * decode graph's capture), then -r times, each from an empty cache; t/s is
 * the mean ± the sample standard deviation of the repetitions' tokens per
 * second.  Below the table: dispatches, command buffers and host waits per
 * decode token, from the library's counters (mlxc_counters).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "opt.h"

static const char k_usage[] =
    "usage: mlxc bench -m MODEL [-p N[,N...]] [-n N[,N...]] [-d N[,N...]] [-r N] [--seqs S[,S...]]\n"
    "                  [-o md|json|jsonl] [--profile FILE]\n"
    "  -m, --model PATH       a .gguf file or a model directory\n"
    "  -p, --n-prompt N       prompt processing test(s): prefill N tokens (default 512; 0: none)\n"
    "  -n, --n-gen N          text generation test(s): decode N tokens one by one (default 128; 0: none)\n"
    "  -d, --n-depth N        run each test after N tokens already in the context,\n"
    "                         prefilled untimed (default 0; llama-bench's \"@ dN\" rows)\n"
    "  -r, --repetitions N    timed runs of each test (default 5)\n"
    "  -b, --batch-size N     tokens per prefill chunk (default 512)\n"
    "  --kv f16|bf16|f32      KV cache dtype (default f16)\n"
    "  --act auto|f32|bf16    activation dtype (default auto: bf16 on a GPU, f32\n"
    "                         on the CPU; bf16 halves the activation traffic and\n"
    "                         lets GPU prefill use the tensor-core GEMMs)\n"
    MLXC_TOOL_Q8_USAGE
    "  --seqs S[,S...]        also run each -n test as S sequences decoding together\n"
    "                         (1..8, mlxc_batch: one forward pass of S rows a step,\n"
    "                         replayed as one graph); t/s counts all S sequences' tokens\n"
    "  --no-warmup            skip the untimed first run of each test\n"
    "  -o, --output FORMAT    md (llama-bench's table, default), json (one array), jsonl (one object a line)\n"
    "  --json                 the same as -o json\n"
    "  --profile FILE         instead of the tests: one decode token after a prompt\n"
    "                         of the first -p length (with -n 0: that prompt's\n"
    "                         prefill), every dispatch timed; writes\n"
    "                         its Perfetto trace to FILE and prints the time, the\n"
    "                         bytes each kernel names and the fraction of the copy\n"
    "                         bandwidth measured in the same run\n"
    "environment: MLXC_BACKEND=auto|cpu|cuda chooses the device\n";

#define MAX_TESTS 16

/* "512" or "128,256": at most MAX_TESTS values in [0, 1 << 20]. */
static bool parse_list(const char *s, long *v, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end == s || errno || x < 0 || x > (1 << 20) || *n == MAX_TESTS || (*end && *end != ',')) return false;
        v[(*n)++] = x;
        s = *end ? end + 1 : end;
        if (*end && !*s) return false;   /* a trailing comma */
    }
    return *n > 0;
}

typedef struct bench_result {
    char     test[32];          /* "pp512", "tg128", "tg128 x4", "tg128 @ d4096" */
    long     n_prompt, n_gen;
    long     n_depth;           /* tokens in the context before the test */
    long     n_seq;             /* tg with --seqs: sequences (0: none)  */
    double  *ts;                /* (reps) tokens per second of each run */
    double  *ns;                /* (reps) nanoseconds of each run       */
    double   avg_ts, sd_ts, avg_ns, sd_ns;
    /* per decode token (tg only; -1: not measured) */
    double   dispatch, cmd_buf, sync;
    bool     replayed;          /* the decode step ran as a graph launch */
} bench_result;

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

/* What the table calls the model: llama-bench's "<arch> <size> <type>". */
static void describe(const mlxc_weights *w, const mlxc_model *m, char *out, size_t cap) {
    const mlxc_model_config *cfg = mlxc_model_get_config(m);
    const char *arch = mlxc_arch_name(mlxc_model_arch(m));
    char size[32] = "", type[32] = "";
    uint64_t params = mlxc_weights_param_count(w);
    const mlxc_gguf *g = mlxc_weights_gguf(w);
    const char *label;
    size_t ll;
    if (g && !mlxc_gguf_get_string(g, "general.size_label", &label, &ll) && ll < sizeof size)
        snprintf(size, sizeof size, "%.*s", (int)ll, label);
    else if (params >= 1000000000ull) snprintf(size, sizeof size, "%.0fB", (double)params / 1e9);
    else if (params >= 1000000ull) snprintf(size, sizeof size, "%.0fM", (double)params / 1e6);
    else snprintf(size, sizeof size, "%.0fK", (double)params / 1e3);
    /* GGUF's file type, the quantization (MLX) or the largest weight's type */
    int64_t ft;
    if (g && !mlxc_gguf_get_int(g, "general.file_type", &ft)) {
        snprintf(type, sizeof type, "%s", mlxc_tool_file_type_name(ft));
    } else if (cfg && cfg->has_quantization) {
        snprintf(type, sizeof type, "%s %d-bit", mlxc_qformat_name(cfg->quant.mode), cfg->quant.bits);
    } else {
        uint64_t best = 0;
        for (size_t i = 0; i < mlxc_weights_count(w); i++) {
            mlxc_tensor_info t;
            if (mlxc_weights_info(w, i, &t) == MLXC_OK && t.bytes > best && t.ndim >= 2) {
                best = t.bytes;
                snprintf(type, sizeof type, "%s", t.dtype_name);
            }
        }
    }
    mlxc_clear_error();
    snprintf(out, cap, "%s %s %s", arch, size, type);
}

/* Pseudo-random ids in [0, vocab): the same for every run and every machine. */
static void fill_ids(int32_t *ids, size_t n, int64_t vocab, int32_t bos) {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)vocab);
    }
    if (n && bos >= 0) ids[0] = bos;
}

/* One run of a test after n_depth tokens (ids[0 ..]) prefilled untimed
 * into an emptied cache; its wall time in *secs, and the counters around
 * the test itself in *c0 and *c1 (either may be NULL). */
static mlxc_status run_once(mlxc_context *ctx, const int32_t *ids, long n_depth, long n_prompt, long n_gen,
                            double *secs, mlxc_counters *c0, mlxc_counters *c1) {
    mlxc_status st = mlxc_context_reset(ctx);
    if (!st && n_depth) st = mlxc_context_eval(ctx, ids, (size_t)n_depth);
    if (!st && n_depth) st = mlxc_context_sync(ctx);
    if (st) return st;
    ids += n_depth;
    if (c0) mlxc_counters_get(c0);
    double t0 = mlxc_tool_now_s();
    if (n_prompt) {
        st = mlxc_context_eval(ctx, ids, (size_t)n_prompt);
    } else {
        for (long i = 0; i < n_gen && !st; i++) st = mlxc_context_eval(ctx, ids + i, 1);
    }
    if (!st) st = mlxc_context_sync(ctx); /* the last decode step may still run */
    *secs = mlxc_tool_now_s() - t0;
    if (c1) mlxc_counters_get(c1);
    return st;
}

/* One run of a --seqs test: every sequence emptied, then n_gen steps of
 * one token for each of the batch's sequences together. */
static mlxc_status run_batch_once(mlxc_batch *b, const int32_t *ids, long n_ids, long n_gen, double *secs) {
    const uint32_t ns = mlxc_batch_n_seq(b);
    uint32_t seqs[MLXC_BATCH_MAX_SEQ];
    int32_t tok[MLXC_BATCH_MAX_SEQ];
    mlxc_status st = MLXC_OK;
    for (uint32_t j = 0; j < ns && !st; j++) st = mlxc_batch_reset_seq(b, j), seqs[j] = j;
    double t0 = mlxc_tool_now_s();
    for (long i = 0; i < n_gen && !st; i++) {
        for (uint32_t j = 0; j < ns; j++) tok[j] = ids[(i + (long)j) % n_ids];
        st = mlxc_batch_decode(b, tok, seqs, ns, NULL);
    }
    *secs = mlxc_tool_now_s() - t0;
    return st;
}

/* A tg test's weight bandwidth: the bytes a decode step reads times steps
 * per second (with --seqs a step decodes a token of each sequence). */
static double weight_bw(const bench_result *r, const mlxc_model *m) {
    return r->n_gen && !r->n_prompt ? (double)mlxc_model_decode_weight_bytes(m) * r->avg_ts / (r->n_seq ? r->n_seq : 1)
                                    : 0;
}

static void print_md(const bench_result *r, int nr, const char *model, double size_b, uint64_t params,
                     const char *backend, const char *device, bool q8, const mlxc_model *m, double ceiling) {
    char size[32], par[32];
    if (size_b < 1024.0 * 1024 * 1024) snprintf(size, sizeof size, "%.2f MiB", size_b / (1024.0 * 1024));
    else snprintf(size, sizeof size, "%.2f GiB", size_b / (1024.0 * 1024 * 1024));
    if (params < 1000000000ull) snprintf(par, sizeof par, "%.2f M", (double)params / 1e6);
    else snprintf(par, sizeof par, "%.2f B", (double)params / 1e9);
    printf("| %-30s | %10s | %10s | %-10s | %-20s | %13s | %20s |\n", "model", "size", "params", "backend", "device",
           "test", "t/s");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | -------------------- | "
           "------------: | -------------------: |\n");
    for (int i = 0; i < nr; i++) {
        char ts[48];
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r[i].avg_ts, r[i].sd_ts);
        /* "±" is two bytes and one column: pad by one more */
        printf("| %-30.30s | %10s | %10s | %-10s | %-20.20s | %13s | %21s |\n", model, size, par, backend, device,
               r[i].test, ts);
    }
    printf("\n");
    for (int i = 0; i < nr; i++)
        if (r[i].n_gen && r[i].dispatch >= 0) {
            if (r[i].n_seq)
                printf("%s: per step (%ld tokens) %.1f dispatches, %.1f command buffers, %.1f host waits\n",
                       r[i].test, r[i].n_seq, r[i].dispatch, r[i].cmd_buf, r[i].sync);
            else if (r[i].replayed)
                printf("%s: per decode token %.1f dispatches in %.1f graph launch, %.1f command buffer, %.1f host wait\n",
                       r[i].test, r[i].dispatch, r[i].cmd_buf, r[i].cmd_buf, r[i].sync);
            else
                printf("%s: per decode token %.1f dispatches, %.1f command buffers, %.1f host waits (no graph replay)\n",
                       r[i].test, r[i].dispatch, r[i].cmd_buf, r[i].sync);
        }
    if (mlxc_model_decode_weight_bytes(m) < mlxc_model_weight_bytes(m))
        printf("weights a decode token reads: %.3f GB of %.3f GB (one row of the token embeddings%s)\n",
               (double)mlxc_model_decode_weight_bytes(m) * 1e-9, (double)mlxc_model_weight_bytes(m) * 1e-9,
               mlxc_model_get_config(m)->num_experts ? "; of the experts, the chosen ones" : "");
    else
        printf("weights a decode token reads: %.3f GB, all of them\n", (double)mlxc_model_weight_bytes(m) * 1e-9);
    if (ceiling > 0) {
        printf("copy bandwidth now: %.0f GB/s (device to device, read + write)\n", ceiling * 1e-9);
        const double limit = ceiling / (double)mlxc_model_decode_weight_bytes(m); /* steps per second */
        for (int i = 0; i < nr; i++) {
            const double bw = weight_bw(&r[i], m);
            if (bw > 0)
                printf("%s: weights at %.0f GB/s, %.1f%% of the copy bandwidth (the bandwidth limit: %.1f t/s)\n",
                       r[i].test, bw * 1e-9, 100.0 * bw / ceiling, limit * (double)(r[i].n_seq ? r[i].n_seq : 1));
        }
    }
    printf("decode activations: %s\n", q8 ? "int8 where the int8 mat-vec takes the weight, else bf16 (--decode q8)"
                                           : "bf16 (--decode exact)");
    printf("build: mlxc %s\n", mlxc_version());
}

static json_t *result_json(const bench_result *r, int reps, const char *path, const char *model, uint64_t size_b,
                           uint64_t params, const char *backend, const char *device, long n_batch, const char *kv,
                           bool q8) {
    json_t *o = json_object();
    json_object_set_new(o, "build", json_string(mlxc_version()));
    json_object_set_new(o, "model_filename", json_string(path));
    json_object_set_new(o, "model_type", json_string(model));
    json_object_set_new(o, "model_size", json_integer((json_int_t)size_b));
    json_object_set_new(o, "model_n_params", json_integer((json_int_t)params));
    json_object_set_new(o, "backends", json_string(backend));
    json_object_set_new(o, "device", json_string(device));
    json_object_set_new(o, "n_batch", json_integer(n_batch));
    json_object_set_new(o, "type_k", json_string(kv));
    json_object_set_new(o, "type_v", json_string(kv));
    json_object_set_new(o, "decode_act", json_string(q8 ? "q8" : "exact"));
    json_object_set_new(o, "n_prompt", json_integer(r->n_prompt));
    json_object_set_new(o, "n_gen", json_integer(r->n_gen));
    json_object_set_new(o, "n_depth", json_integer(r->n_depth));
    json_object_set_new(o, "test", json_string(r->test));
    json_object_set_new(o, "avg_ns", json_integer((json_int_t)llround(r->avg_ns)));
    json_object_set_new(o, "stddev_ns", json_integer((json_int_t)llround(r->sd_ns)));
    json_object_set_new(o, "avg_ts", json_real(r->avg_ts));
    json_object_set_new(o, "stddev_ts", json_real(r->sd_ts));
    json_t *sn = json_array(), *st = json_array();
    for (int i = 0; i < reps; i++) {
        json_array_append_new(sn, json_integer((json_int_t)llround(r->ns[i])));
        json_array_append_new(st, json_real(r->ts[i]));
    }
    json_object_set_new(o, "samples_ns", sn);
    json_object_set_new(o, "samples_ts", st);
    if (r->n_gen && r->dispatch >= 0) {
        json_object_set_new(o, "dispatches_per_token", json_real(r->dispatch));
        json_object_set_new(o, "command_buffers_per_token", json_real(r->cmd_buf));
        json_object_set_new(o, "graph_launches_per_token", json_real(r->replayed ? r->cmd_buf : 0));
        json_object_set_new(o, "host_waits_per_token", json_real(r->sync));
    }
    if (r->n_seq) json_object_set_new(o, "n_seq", json_integer(r->n_seq));
    return o;
}

/* Dispatches of one decode step when it is encoded op by op (a replayed
 * graph records none when it runs): one step in a small context without
 * the decode graph. */
static double eager_dispatches(mlxc_model *m, int32_t id, mlxc_dtype kv) {
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = 2;
    cp.kv_dtype = kv;
    cp.decode_graph = false;
    mlxc_context *c;
    if (mlxc_context_create_ex(m, &cp, &c)) { mlxc_clear_error(); return -1; }
    mlxc_counters a, b;
    mlxc_counters_get(&a);
    mlxc_status st = mlxc_context_eval(c, &id, 1);
    mlxc_counters_get(&b);
    mlxc_context_free(c);
    if (st) { mlxc_clear_error(); return -1; }
    return (double)(b.dispatch - a.dispatch);
}

/* ---- --profile ------------------------------------------------------------------------ */

/* The device's copy bandwidth now (read + write bytes per second): after
 * a warm-up, the best of three command buffers of eight copies of 256 MiB
 * (64 MiB on the CPU) with a barrier between them, each timed by the
 * device's clock (the host's where the device gives none); where dispatch
 * profiling is on, the fastest copy as the device timed it alone. */
static double copy_ceiling(mlxc_device *dev) {
    const size_t bytes = (size_t)(mlxc_device_backend(dev) == MLXC_BACKEND_CUDA ? 256 : 64) << 20;
    const int64_t shape[1] = {(int64_t)(bytes / 4)};
    const int n_copy = 8;
    mlxc_buffer *a = NULL, *b = NULL;
    mlxc_encoder *enc = NULL;
    double best = 0;
    if (mlxc_buffer_alloc(dev, bytes, MLXC_F32, 1, shape, &a) || mlxc_buffer_alloc(dev, bytes, MLXC_F32, 1, shape, &b))
        goto out;
    mlxc_profile_reset();
    for (int t = 0; t < 4; t++) {
        if (mlxc_encoder_create(dev, &enc)) goto out;
        for (int i = 0; i < n_copy; i++)
            if (mlxc_copy(enc, i % 2 ? b : a, i % 2 ? a : b) || mlxc_encoder_barrier(enc)) goto out;
        const double t0 = mlxc_tool_now_s();
        if (mlxc_encoder_commit_and_wait_labeled(enc, "bench.copy")) goto out;
        double s = mlxc_tool_now_s() - t0;
        uint64_t g0 = 0, g1 = 0;
        if (mlxc_encoder_gpu_time(enc, &g0, &g1) == MLXC_OK && g1 > g0) s = (double)(g1 - g0) * 1e-9;
        mlxc_encoder_destroy(enc);
        enc = NULL;
        if (t > 0 && s > 0 && 2.0 * n_copy * (double)bytes / s > best) best = 2.0 * n_copy * (double)bytes / s;
    }
    mlxc_profile_dispatch_entry e[64];
    const size_t n = mlxc_profile_dispatch_entries(e, 64);
    double dev_best = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (e[i].gpu_ns > 0 && 2.0 * (double)bytes / ((double)e[i].gpu_ns * 1e-9) > dev_best)
            dev_best = 2.0 * (double)bytes / ((double)e[i].gpu_ns * 1e-9);
    if (dev_best > 0) best = dev_best;
out:
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_clear_error();
    return best;
}

typedef struct kern_sum {
    const char *name, *kind;
    uint64_t    count, ns, bytes;
} kern_sum;

static int by_ns_desc(const void *a, const void *b) {
    const kern_sum *x = a, *y = b;
    return (x->ns < y->ns) - (x->ns > y->ns);
}

/* The decode token's dispatches by kernel, then by op kind. */
static void print_profile(const mlxc_profile_dispatch_entry *e, size_t n, double ceiling, long n_prompt,
                          bool prefill, const char *backend, const char *path) {
    kern_sum *k = calloc(n ? n : 1, sizeof *k), *kinds = calloc(n ? n : 1, sizeof *kinds);
    size_t nk = 0, nkind = 0;
    uint64_t total = 0, bytes = 0;
    if (!k || !kinds) {
        free(k), free(kinds);
        fprintf(stderr, "mlxc bench: out of memory\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint64_t b = e[i].bytes_read + e[i].bytes_written;
        size_t j = 0;
        while (j < nk && strcmp(k[j].name, e[i].kernel) != 0) j++;
        if (j == nk) k[nk++] = (kern_sum){.name = e[i].kernel, .kind = e[i].op_kind};
        k[j].count++, k[j].ns += e[i].gpu_ns, k[j].bytes += b;
        for (j = 0; j < nkind && strcmp(kinds[j].name, e[i].op_kind) != 0; j++) {}
        if (j == nkind) kinds[nkind++] = (kern_sum){.name = e[i].op_kind};
        kinds[j].count++, kinds[j].ns += e[i].gpu_ns, kinds[j].bytes += b;
        total += e[i].gpu_ns, bytes += b;
    }
    qsort(k, nk, sizeof *k, by_ns_desc);
    qsort(kinds, nkind, sizeof *kinds, by_ns_desc);
    if (prefill)
        printf("the prefill of a %ld-token prompt on %s: %zu dispatches, %.1f us summed\n", n_prompt, backend, n,
               (double)total * 1e-3);
    else
        printf("one decode token after a %ld-token prompt on %s: %zu dispatches, %.1f us summed\n", n_prompt, backend,
               n, (double)total * 1e-3);
    printf("(each dispatch timed alone: profiling runs them one at a time, without the decode graph)\n");
    if (ceiling > 0) printf("copy bandwidth now: %.0f GB/s (256 MiB device copy, read + write)\n", ceiling * 1e-9);
    printf("MB: the bytes of the views a kernel names (reads + writes), an upper bound of what it moves\n\n");
    printf("%-36s %5s %10s %6s %9s %9s %8s\n", "kernel", "n", "total us", "share", "MB", "GB/s", "of copy");
    for (size_t i = 0; i < nk; i++) {
        const double gbs = k[i].ns ? (double)k[i].bytes / (double)k[i].ns : 0;
        printf("%-36s %5llu %10.1f %5.1f%% %9.2f %9.1f", k[i].name, (unsigned long long)k[i].count,
               (double)k[i].ns * 1e-3, total ? 100.0 * (double)k[i].ns / (double)total : 0, (double)k[i].bytes * 1e-6,
               gbs);
        if (ceiling > 0) printf(" %7.1f%%", 100.0 * gbs * 1e9 / ceiling);
        printf("\n");
    }
    printf("\n%-36s %5s %10s %6s %9s %9s\n", "op kind", "n", "total us", "share", "MB", "GB/s");
    for (size_t i = 0; i < nkind; i++)
        printf("%-36s %5llu %10.1f %5.1f%% %9.2f %9.1f\n", kinds[i].name, (unsigned long long)kinds[i].count,
               (double)kinds[i].ns * 1e-3, total ? 100.0 * (double)kinds[i].ns / (double)total : 0,
               (double)kinds[i].bytes * 1e-6, kinds[i].ns ? (double)kinds[i].bytes / (double)kinds[i].ns : 0);
    printf("\ntrace: %s (open at ui.perfetto.dev)\n", path);
    free(k);
    free(kinds);
}

/* Warm up (the prompt and one token), then the profiled token, or with
 * `prefill` the profiled prompt. */
static int bench_profile(mlxc_device *dev, mlxc_context *ctx, const int32_t *ids, long n_prompt, bool prefill,
                         const char *path) {
    double s;
    if (run_once(ctx, ids, 0, n_prompt, 0, &s, NULL, NULL) || mlxc_context_eval(ctx, ids + n_prompt, 1)) return 1;
    const double ceiling = copy_ceiling(dev);
    if (prefill) mlxc_profile_reset();
    if (run_once(ctx, ids, 0, n_prompt, 0, &s, NULL, NULL)) return 1;
    if (!prefill) {
        mlxc_profile_reset();
        if (mlxc_context_eval(ctx, ids + n_prompt, 1)) return 1;
    }
    const char *label = prefill ? "model.prefill" : "model.decode";
    size_t n = mlxc_profile_dispatch_entries(NULL, 0);
    mlxc_profile_dispatch_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e) {
        fprintf(stderr, "mlxc bench: out of memory\n");
        return 1;
    }
    n = mlxc_profile_dispatch_entries(e, n);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].cb_label, label) == 0) e[nd++] = e[i];
    if (mlxc_profile_write_trace(path)) {
        free(e);
        return 1;
    }
    print_profile(e, nd, ceiling, n_prompt, prefill, mlxc_device_backend(dev) == MLXC_BACKEND_CUDA ? "CUDA" : "CPU",
                  path);
    free(e);
    return 0;
}

int mlxc_cmd_bench(int argc, char **argv) {
    const char *model = NULL, *p_list = "512", *n_list = "128", *d_list = "0", *profile = NULL, *s_list = NULL;
    long reps = 5, n_batch = 512;
    int kv_i = 0, out_i = 0, act_i = 0;
    bool q8 = false;
    int dec_i = 0;
    bool json = false, no_warmup = false;
    const cli_opt opts[] = {
        CLI_OPT_STRING("-m|--model", &model),
        CLI_OPT_STRING("-p|--n-prompt", &p_list),
        CLI_OPT_STRING("-n|--n-gen", &n_list),
        CLI_OPT_STRING("-d|--n-depth", &d_list),
        CLI_OPT_INT("-r|--repetitions", &reps, 1, 1000),
        CLI_OPT_INT("-b|--batch-size", &n_batch, 1, 1 << 16),
        CLI_OPT_CHOICE("--kv", &kv_i, MLXC_TOOL_KV_CHOICES),
        CLI_OPT_CHOICE("--act", &act_i, MLXC_TOOL_ACT_CHOICES),
        CLI_OPT_CHOICE("--decode", &dec_i, MLXC_TOOL_DECODE_CHOICES),
        CLI_OPT_FLAG("--q8", &q8),
        CLI_OPT_STRING("--seqs", &s_list),
        CLI_OPT_FLAG("--no-warmup", &no_warmup),
        CLI_OPT_CHOICE("-o|--output", &out_i, "md|json|jsonl"),
        CLI_OPT_FLAG("--json", &json),
        CLI_OPT_STRING("--profile", &profile),
        CLI_OPT_END,
    };
    cli_cmd c = {"bench", k_usage, opts, NULL, 0, 0};
    int prc = cli_parse(&c, argc, argv);
    if (prc >= 0) return prc;
    const int dec_act = mlxc_tool_decode_act(dec_i, q8);
    if (dec_act < 0) return cli_usage_error(&c, "--q8 and --decode exact disagree");
    long pv[MAX_TESTS], nv[MAX_TESTS], sv[MAX_TESTS], dv[MAX_TESTS];
    int np, nn, ns = 0, nd;
    if (!parse_list(p_list, pv, &np)) return cli_usage_error(&c, "bad value '%s' for -p (N or N,N,...)", p_list);
    if (!parse_list(n_list, nv, &nn)) return cli_usage_error(&c, "bad value '%s' for -n (N or N,N,...)", n_list);
    if (!parse_list(d_list, dv, &nd)) return cli_usage_error(&c, "bad value '%s' for -d (N or N,N,...)", d_list);
    long max_d = 0;
    for (int i = 0; i < nd; i++) max_d = dv[i] > max_d ? dv[i] : max_d;
    if (max_d && (s_list || profile))
        return cli_usage_error(&c, "-d goes with neither --seqs nor --profile (whose prompt is the first -p)");
    if (s_list) {
        bool ok = parse_list(s_list, sv, &ns);
        for (int i = 0; ok && i < ns; i++) ok = sv[i] >= 1 && sv[i] <= MLXC_BATCH_MAX_SEQ;
        if (!ok) return cli_usage_error(&c, "bad value '%s' for --seqs (S or S,S,... each 1..%d)", s_list,
                                        MLXC_BATCH_MAX_SEQ);
        if (profile) return cli_usage_error(&c, "--seqs and --profile do not go together");
    }
    if (!model) return cli_usage_error(&c, "-m MODEL is required");
    if (json) out_i = 1;
    static const char *const kv_names[] = {"f16", "bf16", "f32"};
    mlxc_dtype kv = mlxc_tool_kv_dtype(kv_i);

    /* the tests, in llama-bench's order: every pp, then every tg, each at
     * every depth ("@ dN" past 0) */
    bench_result res[2 * MAX_TESTS * MAX_TESTS + MAX_TESTS * MAX_TESTS];
    int nr = 0;
    long max_p = 0, max_n = 0;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < nd && pv[i]; j++) {
            res[nr] = (bench_result){.n_prompt = pv[i], .n_depth = dv[j], .dispatch = -1};
            if (dv[j]) snprintf(res[nr].test, sizeof res[nr].test, "pp%ld @ d%ld", pv[i], dv[j]);
            else snprintf(res[nr].test, sizeof res[nr].test, "pp%ld", pv[i]);
            if (pv[i] > max_p) max_p = pv[i];
            nr++;
        }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < nd && nv[i]; j++) {
            res[nr] = (bench_result){.n_gen = nv[i], .n_depth = dv[j], .dispatch = -1};
            if (dv[j]) snprintf(res[nr].test, sizeof res[nr].test, "tg%ld @ d%ld", nv[i], dv[j]);
            else snprintf(res[nr].test, sizeof res[nr].test, "tg%ld", nv[i]);
            if (nv[i] > max_n) max_n = nv[i];
            nr++;
        }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < ns && nv[i]; j++) {
            res[nr] = (bench_result){.n_gen = nv[i], .n_seq = sv[j], .dispatch = -1};
            snprintf(res[nr].test, sizeof res[nr].test, "tg%ld x%ld", nv[i], sv[j]);
            nr++;
        }
    if (nr == 0) return cli_usage_error(&c, "nothing to run: -p and -n are both 0");

    int rc = 1;
    mlxc_device *dev = NULL;
    mlxc_weights *w = NULL;
    mlxc_model *m = NULL;
    mlxc_context *ctx = NULL;
    mlxc_batch *bt = NULL;
    int32_t *ids = NULL;
    json_t *arr = NULL;
    for (int i = 0; i < nr; i++) {
        res[i].ts = calloc((size_t)reps, sizeof(double));
        res[i].ns = calloc((size_t)reps, sizeof(double));
        if (!res[i].ts || !res[i].ns) goto fail_oom;
    }
    /* dispatch profiling is read from the environment once, on first use */
    if (profile && setenv("MLXC_PROFILE_DISPATCH", "1", 1) != 0) goto fail_oom;
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev) || mlxc_weights_open(model, &w)) goto fail;
    mlxc_model_options mo = {.act_dtype = mlxc_tool_act_dtype(act_i, dev)};
    if (mlxc_model_open_ex(dev, model, &mo, &m)) goto fail;
    const mlxc_tokenizer *tok = mlxc_model_tokenizer(m);
    int32_t bos = -1;
    if (tok) {
        /* BOS first, as llama-bench does for a model that adds one */
        int32_t *t;
        size_t n;
        if (mlxc_tokenizer_encode(tok, "", 0, MLXC_TOKENIZE_ADD_SPECIAL, &t, &n) == MLXC_OK) {
            if (n > 0) bos = t[0];
            free(t);
        }
        mlxc_clear_error();
    }
    int64_t vocab = mlxc_model_vocab_size(m);
    long n_ids = max_d + (max_p > max_n ? max_p : max_n) + 1;
    ids = malloc((size_t)(n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids) goto fail_oom;
    fill_ids(ids, (size_t)n_ids, vocab, bos);
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = (uint32_t)(max_d + (max_p > max_n ? max_p : max_n));
    if (cp.n_ctx < 16) cp.n_ctx = 16;
    cp.n_batch = (uint32_t)n_batch;
    cp.kv_dtype = kv;
    cp.decode_act = (mlxc_decode_act)dec_act;
    /* profiling times each dispatch: the decode step runs them directly */
    if (profile) cp.decode_graph = false, cp.n_ctx += 1;
    if (mlxc_context_create_ex(m, &cp, &ctx)) goto fail;
    if (profile) {
        rc = bench_profile(dev, ctx, ids, max_p, max_n == 0, profile);
        if (rc) goto fail;
        goto out;
    }

    for (int i = 0; i < nr; i++) {
        bench_result *r = &res[i];
        double s;
        mlxc_batch_free(bt);
        bt = NULL;
        if (r->n_seq) {
            mlxc_context_params bp = cp;
            bp.n_ctx = (uint32_t)(r->n_gen + 1 > 16 ? r->n_gen + 1 : 16);
            if (mlxc_batch_create(m, (uint32_t)r->n_seq, &bp, &bt)) goto fail;
        }
        if (!no_warmup) {
            /* llama-bench's warm-up: the prompt once, one decode step */
            if (bt ? run_batch_once(bt, ids, n_ids, 1, &s)
                   : run_once(ctx, ids, r->n_depth, r->n_prompt, r->n_gen ? 1 : 0, &s, NULL, NULL))
                goto fail;
        }
        mlxc_counters a, b;
        for (int k = 0; k < reps; k++) {
            const bool last = k == reps - 1;
            if (last && bt) mlxc_counters_get(&a);
            if (bt ? run_batch_once(bt, ids, n_ids, r->n_gen, &s)
                   : run_once(ctx, ids, r->n_depth, r->n_prompt, r->n_gen, &s, last ? &a : NULL, last ? &b : NULL))
                goto fail;
            if (last && bt) mlxc_counters_get(&b);
            long n = r->n_prompt ? r->n_prompt : r->n_gen * (r->n_seq ? r->n_seq : 1);
            r->ns[k] = s * 1e9;
            r->ts[k] = s > 0 ? (double)n / s : 0;
        }
        mean_sd(r->ts, (int)reps, &r->avg_ts, &r->sd_ts);
        mean_sd(r->ns, (int)reps, &r->avg_ns, &r->sd_ns);
        if (r->n_gen) {
            double n = (double)r->n_gen;
            r->cmd_buf = (double)(b.cmd_buf - a.cmd_buf) / n;
            r->sync = (double)(b.sync - a.sync) / n;
            double d = (double)(b.dispatch - a.dispatch) / n;
            /* a replayed decode graph records no dispatch when it runs */
            r->replayed = d < 0.5 && r->cmd_buf > 0;
            r->dispatch = r->replayed ? eager_dispatches(m, ids[0], kv) : d;
        }
    }

    /* the ceiling of the tg tests' weight bandwidth, measured once after them */
    bool any_tg = false;
    for (int i = 0; i < nr; i++) any_tg = any_tg || weight_bw(&res[i], m) > 0;
    const double ceiling = any_tg ? copy_ceiling(dev) : 0;
    char desc[160];
    describe(w, m, desc, sizeof desc);
    const char *backend = mlxc_device_backend(dev) == MLXC_BACKEND_CUDA ? "CUDA" : "CPU";
    uint64_t size_b = mlxc_weights_total_bytes(w), params = mlxc_weights_param_count(w);
    if (out_i == 0) {
        print_md(res, nr, desc, (double)size_b, params, backend, mlxc_device_name(dev),
                 mlxc_context_decode_act(ctx) == MLXC_DECODE_ACT_Q8, m, ceiling);

    } else {
        arr = json_array();
        for (int i = 0; i < nr; i++) {
            json_t *o = result_json(&res[i], (int)reps, model, desc, size_b, params, backend, mlxc_device_name(dev),
                                    n_batch, kv_names[kv_i], mlxc_context_decode_act(ctx) == MLXC_DECODE_ACT_Q8);
            /* the bytes a decode token reads (less than model_size for a mixture of experts) */
            json_object_set_new(o, "decode_weight_bytes", json_integer((json_int_t)mlxc_model_decode_weight_bytes(m)));
            const double bw = weight_bw(&res[i], m);
            if (ceiling > 0) json_object_set_new(o, "copy_bandwidth", json_real(ceiling));
            if (ceiling > 0 && bw > 0) json_object_set_new(o, "bandwidth_fraction", json_real(bw / ceiling));
            if (out_i == 2) {
                char *line = json_dumps(o, JSON_COMPACT);
                if (line) puts(line);
                free(line);
                json_decref(o);
            } else {
                json_array_append_new(arr, o);
            }
        }
        if (out_i == 1) {
            char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (text) puts(text);
            free(text);
        }
    }
    rc = 0;
    goto out;
fail_oom:
    fprintf(stderr, "mlxc bench: out of memory\n");
    rc = 1;
    goto out;
fail:
    fprintf(stderr, "mlxc bench: %s\n", mlxc_last_error());
    rc = 1;
out:
    json_decref(arr);
    for (int i = 0; i < nr; i++) {
        free(res[i].ts);
        free(res[i].ns);
    }
    free(ids);
    mlxc_batch_free(bt);
    mlxc_context_free(ctx);
    mlxc_model_close(m);
    mlxc_weights_close(w);
    mlxc_device_close(dev);
    return rc;
}
