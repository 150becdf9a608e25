/*
 * `mlxc info FILE|DIR [--json] [--load] [--copy] [--no-tensors]`: describe a
 * GGUF or safetensors file, or a model directory: format, architecture,
 * hyperparameters, quantization, the tensor table and a summary.  --load
 * also loads every tensor into buffers on the device (MLXC_BACKEND picks it)
 * with a progress bar on stderr and reports the throughput; --copy forces a
 * copy where the CPU backend would wrap the mapping.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "mlxc/weights.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bar { double start, last; bool shown; } bar;

/* Drawn only once loading has taken more than a moment, at most 10 times
 * a second, and only on a terminal unless forced. */
static bool progress_cb(uint64_t done, uint64_t total, void *user) {
    bar *b = user;
    double t = now_s();
    if (t - b->start < 0.3 || (t - b->last < 0.1 && done < total)) return true;
    b->last = t;
    b->shown = true;
    int w = 40, fill = total ? (int)((double)done / (double)total * w) : w;
    double gbs = (double)done / (t - b->start) / 1e9;
    fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %.2f / %.2f GB  %.2f GB/s", fill,
            "########################################", w - fill, "", total ? 100.0 * (double)done / (double)total : 100.0,
            (double)done / 1e9, (double)total / 1e9, gbs);
    fflush(stderr);
    return true;
}

static void shape_str(char *s, size_t cap, const mlxc_tensor_info *t) {
    size_t o = (size_t)snprintf(s, cap, "[");
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(s + o, cap - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < cap) snprintf(s + o, cap - o, "]");
}

static void human(char *s, size_t cap, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) { bytes /= 1024; i++; }
    snprintf(s, cap, i ? "%.2f %s" : "%.0f %s", bytes, u[i]);
}

/* The integer fields of a config: the text name, the JSON key, where. */
static const struct {
    const char *text, *json;
    size_t      off;
} k_int_fields[] = {
    {"hidden_size", "hidden_size", offsetof(mlxc_model_config, hidden_size)},
    {"intermediate_size", "intermediate_size", offsetof(mlxc_model_config, intermediate_size)},
    {"num_layers", "num_layers", offsetof(mlxc_model_config, num_layers)},
    {"num_heads", "num_heads", offsetof(mlxc_model_config, num_heads)},
    {"num_kv_heads", "num_kv_heads", offsetof(mlxc_model_config, num_kv_heads)},
    {"head_dim", "head_dim", offsetof(mlxc_model_config, head_dim)},
    {"vocab_size", "vocab_size", offsetof(mlxc_model_config, vocab_size)},
    {"max_positions", "max_position_embeddings", offsetof(mlxc_model_config, max_position_embeddings)},
    {"sliding_window", "sliding_window", offsetof(mlxc_model_config, sliding_window)},
};
#define N_INT_FIELDS (sizeof k_int_fields / sizeof *k_int_fields)

static int64_t int_field(const mlxc_model_config *c, size_t i) {
    int64_t v;
    memcpy(&v, (const char *)c + k_int_fields[i].off, sizeof v);
    return v;
}

static void print_config_text(const mlxc_model_config *c) {
    if (c->architecture[0]) printf("architecture        %s\n", c->architecture);
    if (c->model_type[0]) printf("model_type          %s\n", c->model_type);
    for (size_t i = 0; i < N_INT_FIELDS; i++)
        if (int_field(c, i)) printf("%-20s%lld\n", k_int_fields[i].text, (long long)int_field(c, i));
    if (c->rope_theta) printf("rope_theta          %g\n", c->rope_theta);
    if (c->rope_scaling.present)
        printf("rope_scaling        %s factor %g\n", c->rope_scaling.type[0] ? c->rope_scaling.type : "?",
               c->rope_scaling.factor);
    if (c->norm_eps) printf("norm_eps            %g\n", c->norm_eps);
    printf("tie_embeddings      %s\n", c->tie_word_embeddings ? "yes" : "no");
    if (c->has_quantization) {
        printf("quantization        %s, %d bits, group %d\n", mlxc_qformat_name(c->quant.mode), c->quant.bits,
               c->quant.group_size);
        for (size_t i = 0; i < mlxc_model_config_quant_override_count(c); i++) {
            const char *n;
            mlxc_quant_params p;
            mlxc_model_config_quant_override_at(c, i, &n, &p);
            if (p.quantized) printf("  %-40s %s, %d bits, group %d\n", n, mlxc_qformat_name(p.mode), p.bits, p.group_size);
            else printf("  %-40s not quantized\n", n);
        }
    }
}

/* The weight format through the one descriptor (mlxc_weights_qweight), so
 * that GGUF, dense and MLX tensors read alike; "-" for what is not a weight. */
static const char *tensor_format(const mlxc_weights *w, const char *name) {
    mlxc_qweight d;
    const char *f = mlxc_weights_qweight(w, name, &d) == MLXC_OK ? mlxc_qformat_name(d.format) : NULL;
    mlxc_clear_error();
    return f ? f : "-";
}

static json_t *config_json(const mlxc_model_config *c) {
    json_t *o = json_object();
    json_object_set_new(o, "architecture", json_string(c->architecture));
    json_object_set_new(o, "model_type", json_string(c->model_type));
    for (size_t i = 0; i < N_INT_FIELDS; i++)
        json_object_set_new(o, k_int_fields[i].json, json_integer(int_field(c, i)));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    if (c->rope_scaling.present) {
        json_t *r = json_object();
        json_object_set_new(r, "type", json_string(c->rope_scaling.type));
        json_object_set_new(r, "factor", json_real(c->rope_scaling.factor));
        json_object_set_new(r, "low_freq_factor", json_real(c->rope_scaling.low_freq_factor));
        json_object_set_new(r, "high_freq_factor", json_real(c->rope_scaling.high_freq_factor));
        json_object_set_new(r, "original_max_position_embeddings",
                            json_integer(c->rope_scaling.original_max_position_embeddings));
        json_object_set_new(o, "rope_scaling", r);
    }
    if (c->has_quantization) {
        json_t *q = json_object();
        json_object_set_new(q, "mode", json_string(mlxc_qformat_name(c->quant.mode)));
        json_object_set_new(q, "bits", json_integer(c->quant.bits));
        json_object_set_new(q, "group_size", json_integer(c->quant.group_size));
        json_t *ov = json_object();
        for (size_t i = 0; i < mlxc_model_config_quant_override_count(c); i++) {
            const char *n;
            mlxc_quant_params p;
            mlxc_model_config_quant_override_at(c, i, &n, &p);
            if (!p.quantized) { json_object_set_new(ov, n, json_false()); continue; }
            json_t *e = json_object();
            json_object_set_new(e, "mode", json_string(mlxc_qformat_name(p.mode)));
            json_object_set_new(e, "bits", json_integer(p.bits));
            json_object_set_new(e, "group_size", json_integer(p.group_size));
            json_object_set_new(ov, n, e);
        }
        json_object_set_new(q, "overrides", ov);
        json_object_set_new(o, "quantization", q);
    }
    return o;
}

static void usage(void) {
    fprintf(stderr, "usage: mlxc info FILE|DIR [--json] [--load] [--copy] [--no-tensors]\n");
}

int mlxc_cmd_info_file(int argc, char **argv) {
    const char *path = NULL;
    bool as_json = false, load = false, copy = false, tensors = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (strcmp(argv[i], "--load") == 0) load = true;
        else if (strcmp(argv[i], "--copy") == 0) copy = load = true;
        else if (strcmp(argv[i], "--no-tensors") == 0) tensors = false;
        else if (argv[i][0] == '-') { usage(); return 2; }
        else if (!path) path = argv[i];
        else { usage(); return 2; }
    }
    if (!path) { usage(); return 2; }

    mlxc_weights *w;
    double t0 = now_s();
    if (mlxc_weights_open(path, &w) != MLXC_OK) {
        fprintf(stderr, "mlxc info: %s\n", mlxc_last_error());
        return 1;
    }
    double t_open = now_s() - t0;
    size_t n = mlxc_weights_count(w);
    const mlxc_model_config *cfg = mlxc_weights_config(w);
    const mlxc_gguf *g = mlxc_weights_gguf(w);

    /* optional load into buffers */
    double load_s = 0;
    uint64_t total = mlxc_weights_total_bytes(w);
    char dev_name[160] = "";
    int rc = 0;
    if (load) {
        mlxc_device *dev;
        if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev) != MLXC_OK) {
            fprintf(stderr, "mlxc info: %s\n", mlxc_last_error());
            mlxc_weights_close(w);
            return 1;
        }
        snprintf(dev_name, sizeof dev_name, "%s", mlxc_device_name(dev));
        mlxc_buffer **bufs = calloc(n ? n : 1, sizeof *bufs);
        bar b = {.start = now_s(), .last = 0};
        mlxc_load_options opt = {.flags = copy ? MLXC_LOAD_COPY : 0, .progress = progress_cb, .user = &b};
        double t1 = now_s();
        mlxc_status st = bufs ? mlxc_weights_load_all(w, dev, &opt, bufs) : MLXC_ERR_OUT_OF_MEMORY;
        if (st == MLXC_OK) st = mlxc_device_synchronize(dev);
        load_s = now_s() - t1;
        if (b.shown) fputc('\n', stderr);
        if (st) {
            fprintf(stderr, "mlxc info: load failed: %s\n", mlxc_last_error());
            rc = 1;
        }
        for (size_t i = 0; bufs && i < n; i++) mlxc_buffer_release(bufs[i]);
        free(bufs);
        mlxc_device_close(dev);
        if (rc) { mlxc_weights_close(w); return rc; }
    }

    uint64_t params = mlxc_weights_param_count(w);
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "format", json_string(mlxc_file_format_name(mlxc_weights_format(w))));
        if (g) {
            json_object_set_new(o, "gguf_version", json_integer(mlxc_gguf_version(g)));
            json_object_set_new(o, "alignment", json_integer((json_int_t)mlxc_gguf_alignment(g)));
            json_object_set_new(o, "metadata_count", json_integer((json_int_t)mlxc_gguf_kv_count(g)));
        }
        json_t *files = json_array();
        for (size_t i = 0; i < mlxc_weights_file_count(w); i++)
            json_array_append_new(files, json_string(mlxc_weights_file_path(w, i)));
        json_object_set_new(o, "files", files);
        if (cfg) json_object_set_new(o, "config", config_json(cfg));
        if (tensors) {
            json_t *ts = json_array();
            for (size_t i = 0; i < n; i++) {
                mlxc_tensor_info t;
                mlxc_weights_info(w, i, &t);
                json_t *e = json_object();
                json_object_set_new(e, "name", json_string(t.name));
                json_object_set_new(e, "dtype", json_string(t.dtype_name));
                json_object_set_new(e, "format", json_string(tensor_format(w, t.name)));
                json_t *sh = json_array();
                for (int d = 0; d < t.ndim; d++) json_array_append_new(sh, json_integer(t.shape[d]));
                json_object_set_new(e, "shape", sh);
                json_object_set_new(e, "bytes", json_integer((json_int_t)t.bytes));
                json_object_set_new(e, "file", json_integer((json_int_t)t.file));
                json_array_append_new(ts, e);
            }
            json_object_set_new(o, "tensors", ts);
        }
        json_t *q = json_array();
        for (size_t i = 0; i < mlxc_weights_quant_count(w); i++) {
            mlxc_quant_triple t;
            mlxc_weights_quant_at(w, i, &t);
            json_t *e = json_object();
            json_object_set_new(e, "stem", json_string(t.stem));
            json_object_set_new(e, "format", json_string(tensor_format(w, t.stem)));
            json_object_set_new(e, "bits", json_integer(t.params.bits));
            json_object_set_new(e, "group_size", json_integer(t.params.group_size));
            json_object_set_new(e, "rows", json_integer(t.rows));
            json_object_set_new(e, "cols", json_integer(t.cols));
            json_object_set_new(e, "biases", json_boolean(t.biases != SIZE_MAX));
            json_array_append_new(q, e);
        }
        json_object_set_new(o, "quantized_layers", q);
        json_t *s = json_object();
        json_object_set_new(s, "tensor_count", json_integer((json_int_t)n));
        json_object_set_new(s, "total_bytes", json_integer((json_int_t)total));
        json_object_set_new(s, "parameters", json_integer((json_int_t)params));
        json_object_set_new(s, "open_seconds", json_real(t_open));
        if (load) {
            json_object_set_new(s, "load_seconds", json_real(load_s));
            json_object_set_new(s, "load_gb_per_s", json_real(load_s > 0 ? (double)total / load_s / 1e9 : 0));
            json_object_set_new(s, "device", json_string(dev_name));
        }
        json_object_set_new(o, "summary", s);
        char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (text) { puts(text); free(text); }
        json_decref(o);
        mlxc_weights_close(w);
        return 0;
    }

    printf("path                %s\n", path);
    if (g) printf("format              gguf v%u (alignment %zu, %zu metadata entries)\n", mlxc_gguf_version(g),
                  mlxc_gguf_alignment(g), mlxc_gguf_kv_count(g));
    else printf("format              safetensors (%zu file%s)\n", mlxc_weights_file_count(w),
                mlxc_weights_file_count(w) == 1 ? "" : "s");
    if (cfg) print_config_text(cfg);
    else printf("config              none (no config.json)\n");
    if (tensors && n) {
        printf("\n%-56s %-8s %-10s %-24s %12s\n", "tensor", "dtype", "format", "shape", "bytes");
        for (size_t i = 0; i < n; i++) {
            mlxc_tensor_info t;
            mlxc_weights_info(w, i, &t);
            char sh[96];
            shape_str(sh, sizeof sh, &t);
            printf("%-56s %-8s %-10s %-24s %12llu\n", t.name, t.dtype_name, tensor_format(w, t.name), sh,
                   (unsigned long long)t.bytes);
        }
    }
    size_t nq = mlxc_weights_quant_count(w);
    if (nq) {
        printf("\nquantized layers (%zu):\n", nq);
        for (size_t i = 0; i < nq; i++) {
            mlxc_quant_triple t;
            mlxc_weights_quant_at(w, i, &t);
            printf("  %-50s %s, %d bits, group %d, [%lld, %lld]%s\n", t.stem, tensor_format(w, t.stem),
                   t.params.bits, t.params.group_size,
                   (long long)t.rows, (long long)t.cols, t.biases == SIZE_MAX ? ", no biases" : "");
        }
    }
    char hb[32];
    human(hb, sizeof hb, (double)total);
    printf("\nsummary             %zu tensors, %s (%llu bytes), %.3fM parameters, opened in %.1f ms\n", n, hb,
           (unsigned long long)total, (double)params / 1e6, t_open * 1e3);
    if (load)
        printf("loaded %zu tensors  %.3f s on %s: %.2f GB/s%s\n", n, load_s, dev_name,
               load_s > 0 ? (double)total / load_s / 1e9 : 0.0,
               copy ? " (copied)" : " (zero copy where the device maps host memory; --copy to copy)");
    mlxc_weights_close(w);
    return 0;
}
