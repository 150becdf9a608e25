/* GGML block formats on the CPU: reference dequantize for every block type in
 * quant_blocks.h (the code-book formats, TQ and NVFP4 through quant_iq.h),
 * and quantize for the types the gguf Python package quantizes (Q4_0 Q4_1
 * Q5_0 Q5_1 Q8_0 MXFP4 TQ1_0 TQ2_0), float for float as that package
 * computes them (f32 arithmetic, one rounding per operation), so the bytes
 * match gguf.quants.quantize and the floats gguf.quants.dequantize. */
#include <math.h>
#include <string.h>

#include "mlxc/quant.h"
#include "core/internal.h"
#include "quant/quant_blocks.h"
#define MLXC_QI_F16(h) mlxc_f16_to_f32((uint16_t)(h))
#include "quant/quant_iq.h"

_Static_assert((int)MLXC_QI_IQ2_XXS == (int)MLXC_GGML_IQ2_XXS && (int)MLXC_QI_IQ2_XS == (int)MLXC_GGML_IQ2_XS &&
                   (int)MLXC_QI_IQ2_S == (int)MLXC_GGML_IQ2_S && (int)MLXC_QI_IQ3_XXS == (int)MLXC_GGML_IQ3_XXS &&
                   (int)MLXC_QI_IQ3_S == (int)MLXC_GGML_IQ3_S && (int)MLXC_QI_IQ1_S == (int)MLXC_GGML_IQ1_S &&
                   (int)MLXC_QI_IQ1_M == (int)MLXC_GGML_IQ1_M && (int)MLXC_QI_TQ1_0 == (int)MLXC_GGML_TQ1_0 &&
                   (int)MLXC_QI_TQ2_0 == (int)MLXC_GGML_TQ2_0 && (int)MLXC_QI_NVFP4 == (int)MLXC_GGML_NVFP4,
               "quant_iq.h numbers the formats as ggml does");

static const int8_t k_iq4nl[16] = MLXC_IQ4NL_INIT;

static float h2f(uint16_t h) { return mlxc_f16_to_f32(h); }

/* Blocks are only 2-byte aligned inside a GGUF file; read the struct by copy
 * so that no access assumes more. */
#define LOAD_BLOCK(T, var, src, i) T var; memcpy(&var, (const uint8_t *)(src) + (i) * sizeof(T), sizeof(T))

/* ---- dequantize, one block ----------------------------------------------------------- */

static void deq_q4_0(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q4_0, b, s, i);
    float d = h2f(b.d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b.qs[j] & 15) - 8);
        y[j + 16] = d * (float)((b.qs[j] >> 4) - 8);
    }
}

static void deq_q4_1(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q4_1, b, s, i);
    float d = h2f(b.d), m = h2f(b.m);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(b.qs[j] & 15) + m;
        y[j + 16] = d * (float)(b.qs[j] >> 4) + m;
    }
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void deq_q5_0(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q5_0, b, s, i);
    float d = h2f(b.d);
    uint32_t qh = le32(b.qh);
    for (int j = 0; j < 16; j++) {
        int lo = (b.qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (b.qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)(lo - 16);
        y[j + 16] = d * (float)(hi - 16);
    }
}

static void deq_q5_1(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q5_1, b, s, i);
    float d = h2f(b.d), m = h2f(b.m);
    uint32_t qh = le32(b.qh);
    for (int j = 0; j < 16; j++) {
        int lo = (b.qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (b.qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)lo + m;
        y[j + 16] = d * (float)hi + m;
    }
}

static void deq_q8_0(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q8_0, b, s, i);
    float d = h2f(b.d);
    for (int j = 0; j < 32; j++) y[j] = (float)b.qs[j] * d;
}

/* Q2_K: 256 = 2 halves of 128; in half h, shift k (0,2,4,6) takes 32 codes
 * from qs[32h .. 32h+31]; those 32 are sub-blocks 8h+2k' and +1 of 16. */
static void deq_q2_k(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q2_k, b, s, i);
    float d = h2f(b.d), dmin = h2f(b.dmin);
    for (int n = 0; n < MLXC_QK_K; n++) {
        int h = n / 128, k = (n % 128) / 32, l = n % 32, sb = n / 16;
        int q = (b.qs[32 * h + l] >> (2 * k)) & 3;
        float dl = d * (float)(b.scales[sb] & 15), ml = dmin * (float)(b.scales[sb] >> 4);
        y[n] = dl * (float)q - ml;
    }
}

static void deq_q3_k(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q3_k, b, s, i);
    float d = h2f(b.d);
    int sc[16];
    for (int j = 0; j < 16; j++) {
        int lo = (b.scales[j % 8] >> (4 * (j / 8))) & 15;
        int hi = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | hi << 4) - 32;
    }
    for (int n = 0; n < MLXC_QK_K; n++) {
        int h = n / 128, k = (n % 128) / 32, l = n % 32, sb = n / 16;
        int q = (b.qs[32 * h + l] >> (2 * k)) & 3;
        int m = (b.hmask[l] >> (n / 32)) & 1;
        float dl = d * (float)sc[sb];
        y[n] = dl * (float)(q - (m ? 0 : 4));
    }
}

/* The 6-bit scale and min of sub-block j of Q4_K / Q5_K. */
static void k_scale_min(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void deq_q4_k(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q4_k, b, s, i);
    float d = h2f(b.d), dmin = h2f(b.dmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k_scale_min(b.scales, j, &sc, &m);
        float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
            y[32 * j + l] = dl * (float)q - ml;
        }
    }
}

static void deq_q5_k(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q5_k, b, s, i);
    float d = h2f(b.d), dmin = h2f(b.dmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k_scale_min(b.scales, j, &sc, &m);
        float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = ((b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15) | ((b.qh[l] >> j) & 1) << 4;
            y[32 * j + l] = dl * (float)q - ml;
        }
    }
}

/* Q6_K: halves of 128; in half h, quarter k takes low nibbles from
 * ql[64h + 32(k%2) + l] (high nibble when k >= 2) and 2 high bits from
 * qh[32h + l] at shift 2k. */
static void deq_q6_k(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_q6_k, b, s, i);
    float d = h2f(b.d);
    for (int n = 0; n < MLXC_QK_K; n++) {
        int h = n / 128, k = (n % 128) / 32, l = n % 32;
        int lo = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
        int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
        float dl = d * (float)b.scales[n / 16];
        y[n] = dl * (float)((lo | hi << 4) - 32);
    }
}

static void deq_iq4_nl(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_iq4_nl, b, s, i);
    float d = h2f(b.d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)k_iq4nl[b.qs[j] & 15];
        y[j + 16] = d * (float)k_iq4nl[b.qs[j] >> 4];
    }
}

static void deq_iq4_xs(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_iq4_xs, b, s, i);
    float d = h2f(b.d);
    for (int j = 0; j < 8; j++) {
        int lo = (b.scales_l[j / 2] >> (4 * (j % 2))) & 15, hi = (b.scales_h >> (2 * j)) & 3;
        float dl = d * (float)((lo | hi << 4) - 32);
        for (int l = 0; l < 16; l++) {
            y[32 * j + l] = dl * (float)k_iq4nl[b.qs[16 * j + l] & 15];
            y[32 * j + l + 16] = dl * (float)k_iq4nl[b.qs[16 * j + l] >> 4];
        }
    }
}

/* Half the e8m0 scale, so that the doubled e2m1 code book gives the value. */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void deq_mxfp4(const void *s, size_t i, float *y) {
    LOAD_BLOCK(mlxc_block_mxfp4, b, s, i);
    float d = e8m0_half(b.e);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)mlxc_qi_e2m1x2[b.qs[j] & 15];
        y[j + 16] = d * (float)mlxc_qi_e2m1x2[b.qs[j] >> 4];
    }
}

typedef void (*deq_fn)(const void *src, size_t block, float *y);

static deq_fn deq_for(uint32_t t) {
    switch (t) {
    case MLXC_GGML_Q4_0: return deq_q4_0;
    case MLXC_GGML_Q4_1: return deq_q4_1;
    case MLXC_GGML_Q5_0: return deq_q5_0;
    case MLXC_GGML_Q5_1: return deq_q5_1;
    case MLXC_GGML_Q8_0: return deq_q8_0;
    case MLXC_GGML_Q2_K: return deq_q2_k;
    case MLXC_GGML_Q3_K: return deq_q3_k;
    case MLXC_GGML_Q4_K: return deq_q4_k;
    case MLXC_GGML_Q5_K: return deq_q5_k;
    case MLXC_GGML_Q6_K: return deq_q6_k;
    case MLXC_GGML_IQ4_NL: return deq_iq4_nl;
    case MLXC_GGML_IQ4_XS: return deq_iq4_xs;
    case MLXC_GGML_MXFP4: return deq_mxfp4;
    default: return NULL;
    }
}

static mlxc_status check_sizes(const char *fn, uint32_t type, size_t n, size_t bytes, uint32_t *blk, uint32_t *tsz) {
    if (!mlxc_ggml_type_info(type, blk, tsz))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: unknown ggml type %u", fn, type);
    if (n == 0) return mlxc_set_error(MLXC_ERR_SHAPE, "%s: no elements", fn);
    if (n % *blk)
        return mlxc_set_error(MLXC_ERR_SHAPE, "%s: %zu elements is not a multiple of the %s block size %u", fn, n,
                              mlxc_ggml_type_name(type), *blk);
    if (bytes != n / *blk * *tsz)
        return mlxc_set_error(MLXC_ERR_SHAPE, "%s: %zu bytes, %s needs %zu for %zu elements", fn, bytes,
                              mlxc_ggml_type_name(type), n / *blk * *tsz, n);
    return MLXC_OK;
}

mlxc_status mlxc_ggml_dequantize(uint32_t type, const void *src, size_t src_bytes, size_t n, float *y) {
    MLXC_CHECK_ARG(src && y, "mlxc_ggml_dequantize: NULL argument");
    uint32_t blk, tsz;
    mlxc_status st = check_sizes("mlxc_ggml_dequantize", type, n, src_bytes, &blk, &tsz);
    if (st) return st;
    deq_fn f = deq_for(type);
    if (f) {
        for (size_t b = 0; b < n / blk; b++) f(src, b, y + b * blk);
        return MLXC_OK;
    }
    if (!mlxc_qi_has(type))
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_ggml_dequantize: no CPU reference for %s",
                              mlxc_ggml_type_name(type));
    for (size_t b = 0; b < n / blk; b++)
        mlxc_qi_deq_block(type, (const uint8_t *)src + b * tsz, blk, y + b * blk);
    return MLXC_OK;
}

/* ---- quantize, one block ------------------------------------------------------------- */

/* The signed value of largest magnitude (the first on ties). */
static float absmax_signed(const float *x, int n) {
    float m = x[0];
    for (int j = 1; j < n; j++)
        if (fabsf(x[j]) > fabsf(m)) m = x[j];
    return m;
}

/* Compared as floats first, so that NaN or inf input never reaches an
 * out-of-range conversion (the package's clip gives these 0 or hi too). */
static uint8_t clip_u8(float v, int hi) {
    if (!(v >= 0.0f)) return 0;
    return v >= (float)hi ? (uint8_t)hi : (uint8_t)(int)v;
}

static void q_q4_0(const float *x, void *dst) {
    mlxc_block_q4_0 b;
    float d = absmax_signed(x, 32) / -8.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    for (int j = 0; j < 16; j++) {
        uint8_t lo = clip_u8(truncf(x[j] * id + 8.5f), 15), hi = clip_u8(truncf(x[j + 16] * id + 8.5f), 15);
        b.qs[j] = (uint8_t)(lo | hi << 4);
    }
    b.d = mlxc_f32_to_f16(d);
    memcpy(dst, &b, sizeof b);
}

static void q_q4_1(const float *x, void *dst) {
    mlxc_block_q4_1 b;
    float mx = x[0], mn = x[0];
    for (int j = 1; j < 32; j++) { mx = fmaxf(mx, x[j]); mn = fminf(mn, x[j]); }
    float d = (mx - mn) / 15.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    for (int j = 0; j < 16; j++) {
        uint8_t lo = clip_u8(truncf((x[j] - mn) * id + 0.5f), 15), hi = clip_u8(truncf((x[j + 16] - mn) * id + 0.5f), 15);
        b.qs[j] = (uint8_t)(lo | hi << 4);
    }
    b.d = mlxc_f32_to_f16(d);
    b.m = mlxc_f32_to_f16(mn);
    memcpy(dst, &b, sizeof b);
}

static void pack_q5(const uint8_t *q, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
    for (int j = 0; j < 32; j++) h |= (uint32_t)(q[j] >> 4 & 1) << j;
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

static void q_q5_0(const float *x, void *dst) {
    mlxc_block_q5_0 b;
    uint8_t q[32];
    float d = absmax_signed(x, 32) / -16.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    for (int j = 0; j < 32; j++) q[j] = clip_u8(truncf(x[j] * id + 16.5f), 31);
    pack_q5(q, b.qs, b.qh);
    b.d = mlxc_f32_to_f16(d);
    memcpy(dst, &b, sizeof b);
}

static void q_q5_1(const float *x, void *dst) {
    mlxc_block_q5_1 b;
    uint8_t q[32];
    float mx = x[0], mn = x[0];
    for (int j = 1; j < 32; j++) { mx = fmaxf(mx, x[j]); mn = fminf(mn, x[j]); }
    float d = (mx - mn) / 31.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    for (int j = 0; j < 32; j++) q[j] = clip_u8(truncf((x[j] - mn) * id + 0.5f), 31);
    pack_q5(q, b.qs, b.qh);
    b.d = mlxc_f32_to_f16(d);
    b.m = mlxc_f32_to_f16(mn);
    memcpy(dst, &b, sizeof b);
}

static void q_q8_0(const float *x, void *dst) {
    mlxc_block_q8_0 b;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d == 0.0f ? 0.0f : 1.0f / d;
    for (int j = 0; j < 32; j++) {
        float r = roundf(x[j] * id);   /* half away from zero */
        b.qs[j] = (int8_t)(r >= 127.0f ? 127 : r <= -127.0f ? -127 : r == r ? (int)r : 0);
    }
    b.d = mlxc_f32_to_f16(d);
    memcpy(dst, &b, sizeof b);
}

static void q_mxfp4(const float *x, void *dst) {
    mlxc_block_mxfp4 b;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float fe = amax > 0.0f ? floorf(log2f(amax)) - 2.0f + 127.0f : 0.0f;
    b.e = isfinite(fe) ? (uint8_t)(int)fe : 0xFF;   /* the int -> byte wrap as numpy's cast */
    float d = e8m0_half(b.e);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int best = 0;
        float be = fabsf(d * (float)mlxc_qi_e2m1x2[0] - x[j]);
        for (int k = 1; k < 16; k++) {
            float e = fabsf(d * (float)mlxc_qi_e2m1x2[k] - x[j]);
            if (e < be) { be = e; best = k; }
        }
        q[j] = (uint8_t)best;
    }
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    memcpy(dst, &b, sizeof b);
}

/* The ternary formats: d = max |x|, each value rounded (half away from
 * zero) to -1, 0 or 1 of d, stored as that plus one. */
static float tq_digits(const float *x, uint8_t q[256]) {
    float d = 0.0f;
    for (int j = 0; j < 256; j++) d = fmaxf(d, fabsf(x[j]));
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    for (int j = 0; j < 256; j++) {
        const float r = roundf(x[j] * id);
        q[j] = (uint8_t)(r >= 1.0f ? 2 : r <= -1.0f ? 0 : 1);
    }
    return d;
}

/* TQ1_0: 5 digits a byte, the first digit most significant, the byte
 * ceil(v * 256 / 243) so that multiplying by 3^k brings digit k to the top:
 * bytes 0..31 hold values j + 32k (k = 0..4), bytes 32..47 values
 * 160 + j + 16k, bytes 48..51 values 240 + j + 4k (k = 0..3). */
static void q_tq1_0(const float *x, void *dst) {
    mlxc_block_tq1_0 b;
    uint8_t q[256];
    const float d = tq_digits(x, q);
    static const uint32_t w[5] = {81, 27, 9, 3, 1};
    for (int j = 0; j < 48; j++) {
        const int base = j < 32 ? j : 160 + (j - 32), step = j < 32 ? 32 : 16;
        uint32_t v = 0;
        for (int k = 0; k < 5; k++) v += q[base + step * k] * w[k];
        b.qs[j] = (uint8_t)((v * 256 + 242) / 243);
    }
    for (int j = 0; j < 4; j++) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) v += q[240 + j + 4 * k] * w[k];
        b.qh[j] = (uint8_t)((v * 256 + 242) / 243);
    }
    b.d = mlxc_f32_to_f16(d);
    memcpy(dst, &b, sizeof b);
}

/* TQ2_0: value 128c + 32k + j in bits 2k of byte 32c + j. */
static void q_tq2_0(const float *x, void *dst) {
    mlxc_block_tq2_0 b;
    uint8_t q[256];
    const float d = tq_digits(x, q);
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 32; j++) {
            uint32_t v = 0;
            for (int k = 0; k < 4; k++) v |= (uint32_t)q[128 * c + 32 * k + j] << (2 * k);
            b.qs[32 * c + j] = (uint8_t)v;
        }
    b.d = mlxc_f32_to_f16(d);
    memcpy(dst, &b, sizeof b);
}

typedef void (*q_fn)(const float *x, void *dst);

static q_fn q_for(uint32_t t) {
    switch (t) {
    case MLXC_GGML_Q4_0: return q_q4_0;
    case MLXC_GGML_Q4_1: return q_q4_1;
    case MLXC_GGML_Q5_0: return q_q5_0;
    case MLXC_GGML_Q5_1: return q_q5_1;
    case MLXC_GGML_Q8_0: return q_q8_0;
    case MLXC_GGML_MXFP4: return q_mxfp4;
    case MLXC_GGML_TQ1_0: return q_tq1_0;
    case MLXC_GGML_TQ2_0: return q_tq2_0;
    default: return NULL;
    }
}

bool mlxc_ggml_can_quantize(uint32_t type) { return q_for(type) != NULL; }

mlxc_status mlxc_ggml_quantize(uint32_t type, const float *x, size_t n, void *dst, size_t dst_bytes) {
    MLXC_CHECK_ARG(x && dst, "mlxc_ggml_quantize: NULL argument");
    uint32_t blk, tsz;
    mlxc_status st = check_sizes("mlxc_ggml_quantize", type, n, dst_bytes, &blk, &tsz);
    if (st) return st;
    q_fn f = q_for(type);
    if (!f) return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_ggml_quantize: no quantizer for %s",
                                  mlxc_ggml_type_name(type));
    for (size_t b = 0; b < n / blk; b++) f(x + b * blk, (uint8_t *)dst + b * tsz);
    return MLXC_OK;
}

/* ---- GGML restated as MLX affine ---------------------------------------------------------- */

/* Eight bytes of 0..15 (byte j the j-th value) as eight nibbles, value j
 * at bits 4j. */
static inline uint32_t pack_nibbles(uint64_t b) {
    b = (b | b >> 4) & 0x00FF00FF00FF00FFull;
    b = (b | b >> 8) & 0x0000FFFF0000FFFFull;
    return (uint32_t)(b | b >> 16);
}

mlxc_status mlxc_ggml_to_affine(const mlxc_qweight *src, uint32_t *wq, uint16_t *scales, uint16_t *biases) {
    MLXC_CHECK_ARG(src && wq && scales && biases && src->data, "mlxc_ggml_to_affine: NULL argument");
    const bool q4 = src->format == MLXC_QF_Q4_0;
    if (!q4 && src->format != MLXC_QF_Q8_0)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_ggml_to_affine: %s is not Q4_0 or Q8_0",
                              mlxc_qformat_name(src->format) ? mlxc_qformat_name(src->format) : "the format");
    MLXC_CHECK_ARG(src->rows >= 0 && src->cols >= 0 && src->cols % 32 == 0,
                   "mlxc_ggml_to_affine: %lld x %lld (columns a multiple of 32)", (long long)src->rows,
                   (long long)src->cols);
    const size_t nb = (size_t)src->rows * (size_t)src->cols / 32,
                 bb = q4 ? sizeof(mlxc_block_q4_0) : sizeof(mlxc_block_q8_0);
    MLXC_CHECK_ARG(src->data_bytes == nb * bb, "mlxc_ggml_to_affine: %llu data bytes, %zu blocks of %zu want %zu",
                   (unsigned long long)src->data_bytes, nb, bb, nb * bb);
    const uint8_t *blk = src->data;
    const uint32_t esh = q4 ? 3 : 7; /* the bias is -2^esh d */
    const float off = -(float)(1u << esh);
    for (size_t i = 0; i < nb; i++, blk += bb) {
        const uint16_t dh = (uint16_t)(blk[0] | blk[1] << 8);
        const uint32_t e = dh >> 10 & 31;
        uint16_t bh;
        if (e >= 1 && e + esh <= 30) {
            bh = (uint16_t)((dh + (esh << 10)) ^ 0x8000); /* a normal d: 2^esh d, negated, in its bits */
        } else {
            const float d = mlxc_f16_to_f32(dh), bias = off * d;
            bh = mlxc_f32_to_f16(bias);
            if (!isfinite(d) || mlxc_f16_to_f32(bh) != bias)
                return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                                      "mlxc_ggml_to_affine: block %zu has d = %g, whose bias %g is not an f16", i,
                                      (double)d, (double)bias);
        }
        scales[i] = dh;
        biases[i] = bh;
        const uint8_t *qs = blk + 2;
        if (q4) {
            /* words 0, 1: the low nibbles of bytes 0..7 and 8..15 (values
             * 0..15); words 2, 3: their high nibbles (values 16..31) */
            uint32_t *o = wq + 4 * i;
            for (int h = 0; h < 2; h++) {
                uint64_t b = 0;
                for (int j = 7; j >= 0; j--) b = b << 8 | qs[8 * h + j];
                o[h] = pack_nibbles(b & 0x0F0F0F0F0F0F0F0Full);
                o[2 + h] = pack_nibbles(b >> 4 & 0x0F0F0F0F0F0F0F0Full);
            }
        } else {
            uint32_t *o = wq + 8 * i; /* 32 values, 4 a word */
            for (int w = 0; w < 8; w++)
                o[w] = (uint32_t)(qs[4 * w] ^ 0x80) | (uint32_t)(qs[4 * w + 1] ^ 0x80) << 8 |
                       (uint32_t)(qs[4 * w + 2] ^ 0x80) << 16 | (uint32_t)(qs[4 * w + 3] ^ 0x80) << 24;
        }
    }
    return MLXC_OK;
}

/* ---- GGML Q4_0 in 16-row tiles ---------------------------------------------------------- */

/* Checks a tiles conversion's shape and sizes. */
static mlxc_status tiles_check(const char *fn, const mlxc_qweight *w, mlxc_qformat want, const void *out,
                               size_t out_bytes) {
    MLXC_CHECK_ARG(w && out && w->data, "%s: NULL argument", fn);
    if (w->format != want)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: the weight is %s, not %s", fn,
                              mlxc_qformat_name(w->format) ? mlxc_qformat_name(w->format) : "unknown",
                              mlxc_qformat_name(want));
    if (w->rows <= 0 || w->cols <= 0 || w->rows % MLXC_Q4T_ROWS || w->cols % MLXC_Q4T_COLS)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: %lld x %lld (tiles take rows a multiple of 16, columns of 128)",
                              fn, (long long)w->rows, (long long)w->cols);
    const size_t bytes = (size_t)w->rows * (size_t)(w->cols / 32) * sizeof(mlxc_block_q4_0);
    if (w->data_bytes != bytes || out_bytes != bytes)
        return mlxc_set_error(MLXC_ERR_SHAPE, "%s: %llu bytes in, %zu out, want %zu for %lld x %lld", fn,
                              (unsigned long long)w->data_bytes, out_bytes, bytes, (long long)w->rows,
                              (long long)w->cols);
    return MLXC_OK;
}

/* Each block of w (rows x cols of Q4_0) copied between its place in the
 * blocks and its place in the tiles: blocks -> tiles where to_tiles. */
static void tiles_move(const mlxc_qweight *w, const uint8_t *blocks_in, uint8_t *tiles_out, const uint8_t *tiles_in,
                       uint8_t *blocks_out) {
    const size_t rows = (size_t)w->rows, nbr = (size_t)w->cols / 32, rb = nbr * sizeof(mlxc_block_q4_0);
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nbr; b++) {
            const size_t h = r % MLXC_Q4T_ROWS, i = b % 4, blk = (r * nbr + b) * sizeof(mlxc_block_q4_0),
                         rec = (size_t)MLXC_Q4T_RECORD_AT(rb, r, b);
            if (tiles_out) {
                memcpy(tiles_out + rec + MLXC_Q4T_SCALE(h, i), blocks_in + blk, 2);
                for (size_t j = 0; j < 4; j++) memcpy(tiles_out + rec + MLXC_Q4T_CODE(h, i, j), blocks_in + blk + 2 + 4 * j, 4);
            } else {
                memcpy(blocks_out + blk, tiles_in + rec + MLXC_Q4T_SCALE(h, i), 2);
                for (size_t j = 0; j < 4; j++) memcpy(blocks_out + blk + 2 + 4 * j, tiles_in + rec + MLXC_Q4T_CODE(h, i, j), 4);
            }
        }
}

mlxc_status mlxc_ggml_to_tiles(const mlxc_qweight *src, void *dst, size_t dst_bytes) {
    mlxc_status s = tiles_check("mlxc_ggml_to_tiles", src, MLXC_QF_Q4_0, dst, dst_bytes);
    if (s) return s;
    tiles_move(src, src->data, dst, NULL, NULL);
    return MLXC_OK;
}

mlxc_status mlxc_tiles_to_ggml(const mlxc_qweight *src, void *blocks, size_t blocks_bytes) {
    mlxc_status s = tiles_check("mlxc_tiles_to_ggml", src, MLXC_QF_Q4_0_TILES, blocks, blocks_bytes);
    if (s) return s;
    tiles_move(src, NULL, NULL, src->data, blocks);
    return MLXC_OK;
}
