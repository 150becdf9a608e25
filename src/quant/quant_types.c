/* The GGML type table and the format enum: names, block geometry, and the
 * mapping from what a file says (ggml type number, MLX "mode") to a format. */
#include <stdlib.h>
#include <string.h>

#include "mlxc/quant.h"
#include "core/internal.h"

typedef struct ggml_type_desc { const char *name; uint32_t block, size; } ggml_type_desc;

/* Block size and bytes per block, as in ggml's type traits (and the gguf
 * Python package's GGML_QUANT_SIZES, except Q8_1, an activation-only format
 * whose legacy 40-byte size the package still lists). */
static const ggml_type_desc k_ggml_types[MLXC_GGML_TYPE_LIMIT] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 40},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},   [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18},
};

bool mlxc_ggml_type_info(uint32_t type, uint32_t *block_size, uint32_t *type_size) {
    if (type >= MLXC_GGML_TYPE_LIMIT || !k_ggml_types[type].name) return false;
    if (block_size) *block_size = k_ggml_types[type].block;
    if (type_size) *type_size = k_ggml_types[type].size;
    return true;
}

const char *mlxc_ggml_type_name(uint32_t type) {
    return type < MLXC_GGML_TYPE_LIMIT ? k_ggml_types[type].name : NULL;
}

const char *mlxc_qformat_name(mlxc_qformat f) {
    switch (f) {
    case MLXC_QF_F32: return "f32";
    case MLXC_QF_F16: return "f16";
    case MLXC_QF_BF16: return "bf16";
    case MLXC_QF_MLX_AFFINE: return "mlx-affine";
    case MLXC_QF_MLX_MXFP4: return "mlx-mxfp4";
    case MLXC_QF_MLX_NVFP4: return "mlx-nvfp4";
    case MLXC_QF_MLX_MXFP8: return "mlx-mxfp8";
    case MLXC_QF_Q4_0_TILES: return "Q4_0-tiles";
    default: break;
    }
    if (f > MLXC_QF_GGML && f < MLXC_QF_LIMIT) return mlxc_ggml_type_name((uint32_t)(f - MLXC_QF_GGML));
    return NULL;
}

mlxc_status mlxc_qformat_from_ggml(uint32_t type, mlxc_qformat *out) {
    MLXC_CHECK_ARG(out, "mlxc_qformat_from_ggml: NULL argument");
    if (!mlxc_ggml_type_info(type, NULL, NULL)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "unknown ggml type %u", type);
    switch (type) {
    case MLXC_GGML_F32: *out = MLXC_QF_F32; return MLXC_OK;
    case MLXC_GGML_F16: *out = MLXC_QF_F16; return MLXC_OK;
    case MLXC_GGML_BF16: *out = MLXC_QF_BF16; return MLXC_OK;
    case MLXC_GGML_I8: case MLXC_GGML_I16: case MLXC_GGML_I32: case MLXC_GGML_I64: case MLXC_GGML_F64:
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "ggml type %s is not a weight format", mlxc_ggml_type_name(type));
    default: *out = (mlxc_qformat)(MLXC_QF_GGML + type); return MLXC_OK;
    }
}

mlxc_status mlxc_qformat_from_mlx_mode(const char *mode, mlxc_qformat *out) {
    MLXC_CHECK_ARG(mode && out, "mlxc_qformat_from_mlx_mode: NULL argument");
    static const struct { const char *name; mlxc_qformat f; } k[] = {
        {"affine", MLXC_QF_MLX_AFFINE}, {"mxfp4", MLXC_QF_MLX_MXFP4},
        {"nvfp4", MLXC_QF_MLX_NVFP4},   {"mxfp8", MLXC_QF_MLX_MXFP8},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(mode, k[i].name)) { *out = k[i].f; return MLXC_OK; }
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "unknown MLX quantization mode \"%.32s\"", mode);
}

bool mlxc_qformat_can_dequantize(mlxc_qformat f) {
    switch (f) {
    case MLXC_QF_F32: case MLXC_QF_F16: case MLXC_QF_BF16:
    case MLXC_QF_MLX_AFFINE: case MLXC_QF_MLX_MXFP4: case MLXC_QF_MLX_NVFP4: case MLXC_QF_MLX_MXFP8:
    case MLXC_QF_Q4_0: case MLXC_QF_Q4_1: case MLXC_QF_Q5_0: case MLXC_QF_Q5_1: case MLXC_QF_Q8_0:
    case MLXC_QF_Q2_K: case MLXC_QF_Q3_K: case MLXC_QF_Q4_K: case MLXC_QF_Q5_K: case MLXC_QF_Q6_K:
    case MLXC_QF_IQ4_NL: case MLXC_QF_IQ4_XS: case MLXC_QF_MXFP4: case MLXC_QF_NVFP4: case MLXC_QF_Q4_0_TILES:
    case MLXC_QF_IQ2_XXS: case MLXC_QF_IQ2_XS: case MLXC_QF_IQ2_S: case MLXC_QF_IQ3_XXS: case MLXC_QF_IQ3_S:
    case MLXC_QF_IQ1_S: case MLXC_QF_IQ1_M: case MLXC_QF_TQ1_0: case MLXC_QF_TQ2_0:
        return true;
    default: return false;
    }
}

/* ---- the descriptor ------------------------------------------------------------------ */

static mlxc_status dense_to_f32(const mlxc_qweight *w, float *out, size_t n) {
    size_t es = w->format == MLXC_QF_F32 ? 4 : 2;
    if (w->data_bytes != n * es) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qweight_dequantize: %llu data bytes for %zu %s elements",
                                                       (unsigned long long)w->data_bytes, n, mlxc_qformat_name(w->format));
    for (size_t i = 0; i < n; i++) {
        if (w->format == MLXC_QF_F32) memcpy(&out[i], (const uint8_t *)w->data + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, (const uint8_t *)w->data + 2 * i, 2);
            out[i] = w->format == MLXC_QF_F16 ? mlxc_f16_to_f32(h) : mlxc_bf16_to_f32(h);
        }
    }
    return MLXC_OK;
}

mlxc_status mlxc_qweight_dequantize(const mlxc_qweight *w, float *out, size_t out_count) {
    MLXC_CHECK_ARG(w && out && w->data, "mlxc_qweight_dequantize: NULL argument");
    if (w->rows <= 0 || w->cols <= 0) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qweight_dequantize: empty weight");
    size_t rows = (size_t)w->rows, cols = (size_t)w->cols;
    if (cols > SIZE_MAX / rows || out_count != rows * cols)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qweight_dequantize: out holds %zu values, the weight has %lld x %lld",
                              out_count, (long long)w->rows, (long long)w->cols);
    switch (w->format) {
    case MLXC_QF_F32: case MLXC_QF_F16: case MLXC_QF_BF16: return dense_to_f32(w, out, out_count);
    case MLXC_QF_MLX_AFFINE:
        MLXC_CHECK_ARG(w->scales && w->biases, "mlxc_qweight_dequantize: MLX affine weight without scales or biases");
        if (w->bits >= 2 && w->bits <= 8 && w->group_size && cols % w->group_size == 0) {
            size_t ss = mlxc_dtype_size(w->scale_dtype) * rows * (cols / w->group_size);
            if (w->data_bytes != rows * cols * w->bits / 8 || w->scales_bytes != ss || w->biases_bytes != ss)
                return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qweight_dequantize: buffer sizes do not fit %lld x %lld at %u bits, group %u",
                                      (long long)w->rows, (long long)w->cols, w->bits, w->group_size);
        }
        return mlxc_mlx_affine_dequantize(w->data, w->scales, w->biases, w->scale_dtype, rows, cols, w->bits,
                                          w->group_size, out);
    case MLXC_QF_MLX_MXFP4: case MLXC_QF_MLX_NVFP4: case MLXC_QF_MLX_MXFP8: {
        MLXC_CHECK_ARG(w->scales, "mlxc_qweight_dequantize: MLX microscaled weight without scales");
        uint32_t bits = w->format == MLXC_QF_MLX_MXFP8 ? 8 : 4, g = w->format == MLXC_QF_MLX_NVFP4 ? 16 : 32;
        if (cols % g == 0 && (w->data_bytes != rows * cols * bits / 8 || w->scales_bytes != rows * (cols / g)))
            return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qweight_dequantize: buffer sizes do not fit %lld x %lld %s",
                                  (long long)w->rows, (long long)w->cols, mlxc_qformat_name(w->format));
        return mlxc_mlx_fp_dequantize(w->format, w->data, w->scales, rows, cols, out);
    }
    case MLXC_QF_Q4_0_TILES: {
        /* back into the blocks (mlxc_tiles_to_ggml refuses a shape the
         * tiles do not take), then as Q4_0 */
        const size_t bytes = rows * (cols / 32) * 18;
        uint8_t *blocks = malloc(bytes ? bytes : 1);
        if (!blocks) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "mlxc_qweight_dequantize: out of memory");
        mlxc_status st = mlxc_tiles_to_ggml(w, blocks, bytes);
        if (!st) st = mlxc_ggml_dequantize(MLXC_GGML_Q4_0, blocks, bytes, out_count, out);
        free(blocks);
        return st;
    }
    default:
        if (w->format > MLXC_QF_GGML && w->format < MLXC_QF_LIMIT) {
            uint32_t t = (uint32_t)(w->format - MLXC_QF_GGML), blk;
            if (!mlxc_ggml_type_info(t, &blk, NULL)) break;
            if (cols % blk) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qweight_dequantize: %zu columns is not a multiple of the %s block %u",
                                                  cols, mlxc_ggml_type_name(t), blk);
            return mlxc_ggml_dequantize(t, w->data, (size_t)w->data_bytes, out_count, out);
        }
        break;
    }
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_qweight_dequantize: format %d", (int)w->format);
}
