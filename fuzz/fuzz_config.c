/* libFuzzer harness for config.json parsing and the MLX quantization lookup. */
#include <stdint.h>
#include <string.h>

#include "mlxc/weights.h"

static volatile uint64_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxc_model_config c = MLXC_MODEL_CONFIG_INIT;
    if (mlxc_model_config_parse((const char *)data, size, &c) != MLXC_OK) return 0;
    g_sink += (uint64_t)c.hidden_size + strlen(c.architecture) + strlen(c.rope_scaling.type);
    static const char *const names[] = {"model.layers.0.mlp.down_proj.weight", "language_model.lm_head.scales",
                                        "lm_head", "x.biases", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mlxc_quant_params p;
        if (mlxc_model_config_quant(&c, names[i], &p) == MLXC_OK) g_sink += (uint64_t)p.bits;
    }
    for (size_t i = 0; i < mlxc_model_config_quant_override_count(&c); i++) {
        const char *n;
        mlxc_quant_params p;
        if (mlxc_model_config_quant_override_at(&c, i, &n, &p) == MLXC_OK) {
            g_sink += strlen(n);
            if (mlxc_model_config_quant(&c, n, &p) == MLXC_OK) g_sink += (uint64_t)p.group_size;
        }
    }
    mlxc_model_config_clear(&c);
    return 0;
}
