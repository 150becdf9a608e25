/* libFuzzer harness for the GGUF reader: open the input, then touch every
 * key, value (arrays two levels deep) and tensor byte the handle exposes,
 * so that any out-of-bounds offset the validator let through is read. */
#include <stdint.h>
#include <string.h>

#include "mlxc/gguf.h"

static volatile uint64_t g_sink;

static void walk(const mlxc_gguf_value *v, int depth) {
    if (v->type == MLXC_GGUF_STRING) {
        for (uint64_t i = 0; i < v->len; i++) g_sink += v->data[i];
        return;
    }
    if (v->type != MLXC_GGUF_ARRAY) {
        int64_t x;
        double f;
        if (mlxc_gguf_value_int(v, &x) == MLXC_OK) g_sink += (uint64_t)x;
        if (mlxc_gguf_value_float(v, &f) == MLXC_OK) g_sink += (uint64_t)(f != f);
        return;
    }
    if (depth > 3) return;
    for (uint64_t i = 0; i < v->count && i < 4096; i++) {
        mlxc_gguf_value e;
        if (mlxc_gguf_value_elem(v, i, &e) != MLXC_OK) return;
        walk(&e, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxc_gguf *g;
    if (mlxc_gguf_open_memory(data, size, &g) != MLXC_OK) return 0;
    for (size_t i = 0; i < mlxc_gguf_kv_count(g); i++) {
        const char *k;
        size_t kl;
        mlxc_gguf_value v;
        if (mlxc_gguf_kv_at(g, i, &k, &kl, &v) != MLXC_OK) continue;
        for (size_t j = 0; j < kl; j++) g_sink += (uint8_t)k[j];
        walk(&v, 0);
    }
    /* the typed getters on well-known keys */
    int64_t iv;
    const char *s;
    size_t len, n;
    mlxc_gguf_type et;
    mlxc_gguf_get_int(g, "general.alignment", &iv);
    mlxc_gguf_get_string(g, "general.architecture", &s, &len);
    if (mlxc_gguf_get_array_info(g, "tokenizer.ggml.tokens", &et, &n) == MLXC_OK && n)
        mlxc_gguf_get_array_string(g, "tokenizer.ggml.tokens", n - 1, &s, &len);
    for (size_t i = 0; i < mlxc_gguf_tensor_count(g); i++) {
        mlxc_gguf_tensor_info t;
        if (mlxc_gguf_tensor_at(g, i, &t) != MLXC_OK) continue;
        const uint8_t *p = t.data;
        if (t.bytes) g_sink += p[0] + p[t.bytes - 1];
    }
    mlxc_gguf_close(g);
    return 0;
}
