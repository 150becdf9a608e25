/* libFuzzer harness for the safetensors reader: open the input and touch
 * every tensor's first and last byte, name and metadata entry. */
#include <stdint.h>
#include <string.h>

#include "mlxc/safetensors.h"

static volatile uint64_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxc_safetensors *st;
    if (mlxc_safetensors_open_memory(data, size, &st) != MLXC_OK) return 0;
    for (size_t i = 0; i < mlxc_safetensors_count(st); i++) {
        mlxc_st_tensor_info t;
        if (mlxc_safetensors_tensor_at(st, i, &t) != MLXC_OK) continue;
        const uint8_t *p = t.data;
        if (t.bytes) g_sink += p[0] + p[t.bytes - 1];
        g_sink += strlen(t.name);
        size_t j;
        if (mlxc_safetensors_find(st, t.name, &j) == MLXC_OK) g_sink += j;
    }
    for (size_t i = 0; i < mlxc_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        if (mlxc_safetensors_metadata_at(st, i, &k, &v) == MLXC_OK) g_sink += strlen(k) + strlen(v);
    }
    mlxc_safetensors_close(st);
    return 0;
}
