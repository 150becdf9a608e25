/* Dtype sizes and names, and the public 16-bit float conversions (the
 * definitions are in core/half.h, shared with the CPU kernels). */
#include "core/half.h"
#include "core/internal.h"

static const struct { size_t size; const char *name; } k_dtypes[MLXC_DTYPE_COUNT] = {
    [MLXC_F32] = {4, "f32"}, [MLXC_F16] = {2, "f16"}, [MLXC_BF16] = {2, "bf16"},
    [MLXC_U8] = {1, "u8"},   [MLXC_U16] = {2, "u16"}, [MLXC_U32] = {4, "u32"},
    [MLXC_I8] = {1, "i8"},   [MLXC_I16] = {2, "i16"}, [MLXC_I32] = {4, "i32"},
    [MLXC_I64] = {8, "i64"},
};

size_t mlxc_dtype_size(mlxc_dtype dt) {
    return ((unsigned)dt < MLXC_DTYPE_COUNT) ? k_dtypes[dt].size : 0;
}

const char *mlxc_dtype_name(mlxc_dtype dt) {
    return ((unsigned)dt < MLXC_DTYPE_COUNT) ? k_dtypes[dt].name : "invalid";
}

uint16_t mlxc_f32_to_bf16(float f) { return mlxc_half_f32_to_bf16(f); }
float mlxc_bf16_to_f32(uint16_t b) { return mlxc_half_bf16_to_f32(b); }
uint16_t mlxc_f32_to_f16(float f) { return mlxc_half_f32_to_f16(f); }
float mlxc_f16_to_f32(uint16_t h) { return mlxc_half_f16_to_f32(h); }
