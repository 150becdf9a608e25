/* MLX's split-array formats on the CPU: affine (scale * q + bias per group)
 * and the microscaling modes mxfp4 / nvfp4 / mxfp8.
 *
 * The contract is mlx's own CPU path (mlx 0.32.4), reproduced operation by
 * operation so that every byte and every float matches:
 *   affine quantize   the CPU kernel (fast::Quantize::eval_cpu): fp32 math,
 *                     rint (half to even), group max starting at -inf;
 *   affine dequantize the op graph (uint32 codes * scales + biases), each op
 *                     rounded to the scales' dtype;
 *   fp quantize       f32/f16/bf16 input, every op rounded to the input dtype
 *                     as mlx 0.32.4's CPU op graph does: the
 *                     e8m0 exponent is ceil(log2(amax / maxval)), the e2m1
 *                     code the nearest value (the smaller magnitude on ties),
 *                     e4m3 by mlx's ToFP8 (found by comparison: the 2026-08
 *                     sources rounded the exponent to nearest instead);
 *   fp dequantize     dtype=float32; e4m3 0x7F / 0xFF decode to NaN.
 */
#include <math.h>
#include <string.h>

#include "mlxc/quant.h"
#include "core/internal.h"
#include "quant/quant_blocks.h"

static const float k_e2m1[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                 -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

/* ---- element access in the three scale dtypes --------------------------------------- */

/* Loads by copy: tensors inside a safetensors mapping are only as aligned as
 * the file's offsets make them. */
static float load_el(const void *p, mlxc_dtype dt, size_t i) {
    if (dt == MLXC_F32) {
        float f;
        memcpy(&f, (const char *)p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)p + 2 * i, 2);
    return dt == MLXC_F16 ? mlxc_f16_to_f32(h) : mlxc_bf16_to_f32(h);
}

static uint32_t load_word(const uint32_t *row, size_t w) {
    uint32_t v;
    memcpy(&v, (const char *)row + 4 * w, 4);
    return v;
}

static void store_el(void *p, mlxc_dtype dt, size_t i, float v) {
    if (dt == MLXC_F32) {
        memcpy((char *)p + 4 * i, &v, 4);
        return;
    }
    uint16_t h = dt == MLXC_F16 ? mlxc_f32_to_f16(v) : mlxc_f32_to_bf16(v);
    memcpy((char *)p + 2 * i, &h, 2);
}

/* What storing v in dt and reading it back gives: mlx's per-op rounding. */
static float round_to(mlxc_dtype dt, float v) {
    if (dt == MLXC_F16) return mlxc_f16_to_f32(mlxc_f32_to_f16(v));
    if (dt == MLXC_BF16) return mlxc_bf16_to_f32(mlxc_f32_to_bf16(v));
    return v;
}

/* ---- the LSB-first bitstream ---------------------------------------------------------- */

static uint32_t get_code(const uint32_t *row, size_t i, uint32_t bits) {
    size_t bit = i * bits, w = bit / 32;
    unsigned sh = (unsigned)(bit % 32);
    uint64_t v = load_word(row, w) >> sh;
    if (sh + bits > 32) v |= (uint64_t)load_word(row, w + 1) << (32 - sh);
    return (uint32_t)(v & ((1u << bits) - 1));
}

static void put_code(uint32_t *row, size_t i, uint32_t bits, uint32_t q) {
    size_t bit = i * bits, w = bit / 32;
    unsigned sh = (unsigned)(bit % 32);
    row[w] |= q << sh;
    if (sh + bits > 32) row[w + 1] |= q >> (32 - sh);
}

/* ---- affine --------------------------------------------------------------------------- */

static mlxc_status check_affine(const char *fn, mlxc_dtype dt, size_t rows, size_t cols, uint32_t bits,
                                uint32_t group_size) {
    if (dt != MLXC_F32 && dt != MLXC_F16 && dt != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "%s: dtype %s is not f32, f16 or bf16", fn, mlxc_dtype_name(dt));
    if (bits < 2 || bits > 8 || bits == 7)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: %u bits (MLX affine has 2, 3, 4, 5, 6 and 8)", fn, bits);
    if (group_size != 32 && group_size != 64 && group_size != 128)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: group size %u (MLX affine has 32, 64 and 128)", fn,
                              group_size);
    if (rows == 0 || cols == 0) return mlxc_set_error(MLXC_ERR_SHAPE, "%s: empty matrix", fn);
    if (cols % group_size)
        return mlxc_set_error(MLXC_ERR_SHAPE, "%s: %zu columns is not a multiple of the group size %u", fn, cols,
                              group_size);
    return MLXC_OK;
}

mlxc_status mlxc_mlx_affine_quantize(const void *w, mlxc_dtype dt, size_t rows, size_t cols, uint32_t bits,
                                     uint32_t group_size, uint32_t *wq, void *scales, void *biases) {
    MLXC_CHECK_ARG(w && wq && scales && biases, "mlxc_mlx_affine_quantize: NULL argument");
    mlxc_status st = check_affine("mlxc_mlx_affine_quantize", dt, rows, cols, bits, group_size);
    if (st) return st;
    const float n_bins = (float)((1u << bits) - 1), eps = 1e-7f;
    size_t row_words = cols * bits / 32, groups = cols / group_size;
    for (size_t r = 0; r < rows; r++) {
        uint32_t *qrow = wq + r * row_words;
        memset(qrow, 0, row_words * sizeof *qrow);
        for (size_t g = 0; g < groups; g++) {
            size_t base = r * cols + g * group_size;
            float w_min = INFINITY, w_max = -INFINITY;
            for (uint32_t j = 0; j < group_size; j++) {
                float v = load_el(w, dt, base + j);
                w_max = fmaxf(w_max, v);   /* std::max: NaN propagation differs only for NaN input */
                w_min = fminf(w_min, v);
            }
            /* The edge of larger magnitude sets the sign of the scale, and is
             * then hit exactly so that 0.0 stays representable. */
            bool mask = fabsf(w_min) > fabsf(w_max);
            float scale = fmaxf((w_max - w_min) / n_bins, eps);
            scale = mask ? scale : -scale;
            float edge = mask ? w_min : w_max;
            float q0 = rintf(edge / scale), bias = 0.0f;
            if (q0 != 0.0f) {
                scale = edge / q0;
                bias = edge;
            }
            for (uint32_t j = 0; j < group_size; j++) {
                float q = rintf((load_el(w, dt, base + j) - bias) / scale);
                q = fminf(fmaxf(q, 0.0f), n_bins);
                put_code(qrow, g * group_size + j, bits, (uint32_t)q);
            }
            store_el(scales, dt, r * groups + g, scale);
            store_el(biases, dt, r * groups + g, bias);
        }
    }
    return MLXC_OK;
}

mlxc_status mlxc_mlx_affine_dequantize(const uint32_t *wq, const void *scales, const void *biases, mlxc_dtype dt,
                                       size_t rows, size_t cols, uint32_t bits, uint32_t group_size, float *out) {
    MLXC_CHECK_ARG(wq && scales && biases && out, "mlxc_mlx_affine_dequantize: NULL argument");
    mlxc_status st = check_affine("mlxc_mlx_affine_dequantize", dt, rows, cols, bits, group_size);
    if (st) return st;
    size_t row_words = cols * bits / 32, groups = cols / group_size;
    for (size_t r = 0; r < rows; r++) {
        const uint32_t *qrow = wq + r * row_words;
        for (size_t g = 0; g < groups; g++) {
            float s = load_el(scales, dt, r * groups + g), b = load_el(biases, dt, r * groups + g);
            for (uint32_t j = 0; j < group_size; j++) {
                size_t i = g * group_size + j;
                float v = round_to(dt, (float)get_code(qrow, i, bits) * s);
                out[r * cols + i] = round_to(dt, v + b);
            }
        }
    }
    return MLXC_OK;
}

/* ---- fp8 e4m3 and the microscaling modes ----------------------------------------------- */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* f32 -> e4m3 as mlx's CPU ToFP8: round to nearest even, saturating at 448
 * (0x7E), NaN saturates too. */
static uint8_t to_e4m3(float f) {
    const uint32_t fp8_max = 543u << 21, denorm = 141u << 23;
    uint32_t b = f2u(f), sign = b & 0x80000000u;
    b ^= sign;
    uint8_t low = (uint8_t)(f2u(u2f(b) + u2f(denorm)) - denorm);
    uint32_t high = b + (((uint32_t)(7 - 127)) << 23) + 0x7FFFFu + ((b >> 20) & 1u);
    uint8_t r = b < (121u << 23) ? low : (uint8_t)(high >> 20);
    if (b >= fp8_max) r = 0x7E;
    return (uint8_t)(r | (sign >> 24));
}

/* e4m3 -> f32 as mlx's CPU path (0.32.4): 0x7F and 0xFF are NaN, with the
 * payload mlx gives them (compared bit for bit). */
static float from_e4m3(uint8_t x) {
    if ((x & 127u) == 127u) return u2f((x & 128u) ? 0xFFF00000u : 0x7FF00000u);
    float v = mlxc_f16_to_f32((uint16_t)((x & 127u) << 7)) * 256.0f;
    return (x & 128u) ? -v : v;
}

/* ceil(log2(x)) for finite x > 0, exact (a float log2 would round
 * 2^k * (1 + 2^-23) down to k). */
static int32_t ceil_log2(float x) {
    uint32_t b = f2u(x) & 0x7FFFFFFFu, e = b >> 23, m = b & 0x7FFFFFu;
    if (e) return (int32_t)e - 127 + (m != 0);
    int32_t k = 0;   /* subnormal: x = m * 2^-149 */
    while ((1u << k) < m) k++;
    return k - 149;
}

typedef struct fp_mode { uint32_t group, bits; bool e4m3_scale; } fp_mode;

static mlxc_status fp_mode_of(const char *fn, mlxc_qformat f, size_t rows, size_t cols, fp_mode *m) {
    switch (f) {
    case MLXC_QF_MLX_MXFP4: *m = (fp_mode){MLXC_MLX_MXFP4_GROUP, 4, false}; break;
    case MLXC_QF_MLX_NVFP4: *m = (fp_mode){MLXC_MLX_NVFP4_GROUP, 4, true}; break;
    case MLXC_QF_MLX_MXFP8: *m = (fp_mode){MLXC_MLX_MXFP8_GROUP, 8, false}; break;
    default: return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: format %d is not an MLX microscaling mode", fn, (int)f);
    }
    if (rows == 0 || cols == 0) return mlxc_set_error(MLXC_ERR_SHAPE, "%s: empty matrix", fn);
    if (cols % m->group)
        return mlxc_set_error(MLXC_ERR_SHAPE, "%s: %zu columns is not a multiple of the group size %u", fn, cols,
                              m->group);
    return MLXC_OK;
}

mlxc_status mlxc_mlx_fp_quantize(mlxc_qformat format, const void *w, mlxc_dtype dt, size_t rows, size_t cols,
                                 uint32_t *wq, uint8_t *scales) {
    MLXC_CHECK_ARG(w && wq && scales, "mlxc_mlx_fp_quantize: NULL argument");
    fp_mode m;
    mlxc_status st = fp_mode_of("mlxc_mlx_fp_quantize", format, rows, cols, &m);
    if (st) return st;
    if (dt != MLXC_F32 && dt != MLXC_F16 && dt != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_mlx_fp_quantize: dtype %s is not f32, f16 or bf16", mlxc_dtype_name(dt));
    const float maxval = m.bits == 4 ? 6.0f : 448.0f;
    size_t row_words = cols * m.bits / 32, groups = cols / m.group;
    for (size_t r = 0; r < rows; r++) {
        uint32_t *qrow = wq + r * row_words;
        memset(qrow, 0, row_words * sizeof *qrow);
        for (size_t g = 0; g < groups; g++) {
            size_t x0 = r * cols + g * m.group;
            float amax = -INFINITY;
            for (uint32_t j = 0; j < m.group; j++) amax = fmaxf(amax, fabsf(load_el(w, dt, x0 + j)));
            /* each op rounds to the input dtype, as mlx's op graph does */
            float s = round_to(dt, amax / maxval), div;
            uint8_t code;
            if (m.e4m3_scale) {
                code = to_e4m3(s);
                div = from_e4m3(code);
            } else {
                /* e8m0: the smallest power of two >= s, i.e. exactly
                 * ceil(log2(s)) (mlx 0.32.4 rounds the exponent up; older
                 * sources rounded log2 to nearest), the exponent wrapping
                 * into a byte as mlx's cast does. */
                int32_t e = s == 0.0f ? 0 : ceil_log2(s);
                code = (uint8_t)(e + 127);
                div = powf(2.0f, (float)e);
            }
            scales[r * groups + g] = code;
            for (uint32_t j = 0; j < m.group; j++) {
                float v = round_to(dt, load_el(w, dt, x0 + j) / div);
                uint32_t q;
                if (m.bits == 8) {
                    q = to_e4m3(v);
                } else {
                    /* nearest e2m1 value, the first (smaller magnitude, +0) on ties */
                    q = 0;
                    float best = round_to(dt, fabsf(v));
                    for (uint32_t k = 1; k < 16; k++) {
                        float d = round_to(dt, fabsf(round_to(dt, v - k_e2m1[k])));
                        if (d < best) { best = d; q = k; }
                    }
                }
                put_code(qrow, g * m.group + j, m.bits, q);
            }
        }
    }
    return MLXC_OK;
}

mlxc_status mlxc_mlx_fp_dequantize(mlxc_qformat format, const uint32_t *wq, const uint8_t *scales, size_t rows,
                                   size_t cols, float *out) {
    MLXC_CHECK_ARG(wq && scales && out, "mlxc_mlx_fp_dequantize: NULL argument");
    fp_mode m;
    mlxc_status st = fp_mode_of("mlxc_mlx_fp_dequantize", format, rows, cols, &m);
    if (st) return st;
    size_t row_words = cols * m.bits / 32, groups = cols / m.group;
    for (size_t r = 0; r < rows; r++) {
        const uint32_t *qrow = wq + r * row_words;
        for (size_t g = 0; g < groups; g++) {
            uint8_t sc = scales[r * groups + g];
            float s = m.e4m3_scale ? from_e4m3(sc) : powf(2.0f, (float)sc - 127.0f);
            for (uint32_t j = 0; j < m.group; j++) {
                size_t i = g * m.group + j;
                uint32_t q = get_code(qrow, i, m.bits);
                float v = m.bits == 8 ? from_e4m3((uint8_t)q) : k_e2m1[q];
                out[r * cols + i] = v * s;
            }
        }
    }
    return MLXC_OK;
}
