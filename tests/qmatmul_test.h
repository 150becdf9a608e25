/* Shared by the quantized matmul tests (test_ops_qmatmul*.c): the formats
 * under test, random quantized weights with sane scales (the same bytes on
 * any number of devices), and a double-precision reference that reads every
 * weight element by its own index, written apart from the kernels' block
 * loops (the formats' layouts as src/quant/quant_blocks.h documents them). */
#ifndef MLXC_QMATMUL_TEST_H
#define MLXC_QMATMUL_TEST_H

#include <stddef.h>

#include "mlxc/ops_qmatmul.h"
#include "ops_test.h"
#include "quant/quant_blocks.h"
#include "quant/quant_grids.h"

typedef struct qt_format {
    mlxc_qformat    f;
    uint32_t        bits, group; /* MLX: the values' bits and the group size; GGML: 0, block */
    mlxc_dtype      sdt;         /* affine scales and biases                                  */
} qt_format;

static const qt_format qt_formats[] = {
    {MLXC_QF_MLX_AFFINE, 2, 64, MLXC_BF16},  {MLXC_QF_MLX_AFFINE, 3, 32, MLXC_F16},   {MLXC_QF_MLX_AFFINE, 4, 32, MLXC_F32},
    {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16},  {MLXC_QF_MLX_AFFINE, 4, 128, MLXC_F16},  {MLXC_QF_MLX_AFFINE, 5, 128, MLXC_BF16},
    {MLXC_QF_MLX_AFFINE, 6, 64, MLXC_F32},   {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_BF16},  {MLXC_QF_MLX_AFFINE, 8, 128, MLXC_F16},
    {MLXC_QF_MLX_AFFINE, 3, 128, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 6, 32, MLXC_F16},   {MLXC_QF_MLX_AFFINE, 2, 32, MLXC_F32},
    {MLXC_QF_MLX_MXFP4, 4, 32, MLXC_U8},     {MLXC_QF_MLX_NVFP4, 4, 16, MLXC_U8},     {MLXC_QF_MLX_MXFP8, 8, 32, MLXC_U8},
    {MLXC_QF_Q4_0, 0, 32, MLXC_U8},      {MLXC_QF_Q4_1, 0, 32, MLXC_U8},      {MLXC_QF_Q5_0, 0, 32, MLXC_U8},
    {MLXC_QF_Q5_1, 0, 32, MLXC_U8},      {MLXC_QF_Q8_0, 0, 32, MLXC_U8},      {MLXC_QF_Q2_K, 0, 256, MLXC_U8},
    {MLXC_QF_Q3_K, 0, 256, MLXC_U8},     {MLXC_QF_Q4_K, 0, 256, MLXC_U8},     {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
    {MLXC_QF_Q6_K, 0, 256, MLXC_U8},     {MLXC_QF_IQ4_NL, 0, 32, MLXC_U8},    {MLXC_QF_IQ4_XS, 0, 256, MLXC_U8},
    {MLXC_QF_MXFP4, 0, 32, MLXC_U8},     {MLXC_QF_NVFP4, 0, 64, MLXC_U8},     {MLXC_QF_IQ2_XXS, 0, 256, MLXC_U8},
    {MLXC_QF_IQ2_XS, 0, 256, MLXC_U8},   {MLXC_QF_IQ2_S, 0, 256, MLXC_U8},    {MLXC_QF_IQ3_XXS, 0, 256, MLXC_U8},
    {MLXC_QF_IQ3_S, 0, 256, MLXC_U8},    {MLXC_QF_IQ1_S, 0, 256, MLXC_U8},    {MLXC_QF_IQ1_M, 0, 256, MLXC_U8},
    {MLXC_QF_TQ1_0, 0, 256, MLXC_U8},    {MLXC_QF_TQ2_0, 0, 256, MLXC_U8},
};
#define QT_NFORMATS (sizeof qt_formats / sizeof *qt_formats)

static inline bool qt_is_mlx(mlxc_qformat f) { return f >= MLXC_QF_MLX_AFFINE && f <= MLXC_QF_MLX_MXFP8; }

/* A quantized weight (n, k) on the host: the bytes and, for MLX, the scales
 * and biases as stored (doubles of u8 codes or of the float dtype). */
typedef struct qt_weight {
    qt_format fmt;
    uint32_t  n, k;
    uint64_t  row_bytes;
    uint8_t  *data;
    double   *scales, *biases; /* n * k / group each (MLX)                  */
} qt_weight;

static inline uint16_t qt_half(double v) { return mlxc_f32_to_f16((float)v); }
static inline void qt_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* Random bytes, then every scale made finite and of a sane size. */
static inline qt_weight qt_weight_rand(qt_format fmt, uint32_t n, uint32_t k) {
    qt_weight w = {fmt, n, k, mlxc_qmm_row_bytes(fmt.f, fmt.bits, fmt.group, k), NULL, NULL, NULL};
    const size_t bytes = (size_t)w.row_bytes * n;
    w.data = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) w.data[i] = (uint8_t)ot_u32();
    if (qt_is_mlx(fmt.f)) {
        const size_t ng = (size_t)n * (k / fmt.group);
        w.scales = malloc(ng * sizeof(double));
        w.biases = malloc(ng * sizeof(double));
        for (size_t i = 0; i < ng; i++) {
            switch (fmt.f) {
            case MLXC_QF_MLX_AFFINE: {
                /* stored values: round through the dtype */
                uint8_t raw[8];
                ot_st(fmt.sdt, raw, 0, ot_uniform(-0.05, 0.05));
                w.scales[i] = ot_ld(fmt.sdt, raw, 0);
                ot_st(fmt.sdt, raw, 0, ot_uniform(-0.5, 0.5));
                w.biases[i] = ot_ld(fmt.sdt, raw, 0);
                break;
            }
            case MLXC_QF_MLX_NVFP4: w.scales[i] = 0x28 + ot_u32() % 0x20; break; /* e4m3 0.03 .. 0.9 */
            default: w.scales[i] = 120 + ot_u32() % 14; break;                /* e8m0 2^-7 .. 2^6 */
            }
        }
        if (fmt.f == MLXC_QF_MLX_MXFP8)
            for (size_t i = 0; i < bytes; i++)
                if ((w.data[i] & 0x7f) == 0x7f) w.data[i] ^= 1; /* e4m3 NaN */
        return w;
    }
    /* GGML: the f16 fields (d, and the min where there is one). */
    size_t off[2] = {0, 0}, nh = 1;
    switch (fmt.f) {
    case MLXC_QF_Q4_1: off[1] = offsetof(mlxc_block_q4_1, m), nh = 2; break;
    case MLXC_QF_Q5_1: off[1] = offsetof(mlxc_block_q5_1, m), nh = 2; break;
    case MLXC_QF_Q2_K: off[0] = offsetof(mlxc_block_q2_k, d), off[1] = offsetof(mlxc_block_q2_k, dmin), nh = 2; break;
    case MLXC_QF_Q3_K: off[0] = offsetof(mlxc_block_q3_k, d); break;
    case MLXC_QF_Q4_K: off[1] = offsetof(mlxc_block_q4_k, dmin), nh = 2; break;
    case MLXC_QF_Q5_K: off[1] = offsetof(mlxc_block_q5_k, dmin), nh = 2; break;
    case MLXC_QF_Q6_K: off[0] = offsetof(mlxc_block_q6_k, d); break;
    case MLXC_QF_MXFP4: case MLXC_QF_NVFP4: case MLXC_QF_IQ1_M: nh = 0; break;
    case MLXC_QF_TQ1_0: off[0] = offsetof(mlxc_block_tq1_0, d); break;
    case MLXC_QF_TQ2_0: off[0] = offsetof(mlxc_block_tq2_0, d); break;
    default: break;
    }
    const uint32_t be = fmt.group;
    const size_t bb = w.row_bytes / (k / be), nb = bytes / bb;
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = w.data + b * bb;
        if (fmt.f == MLXC_QF_MXFP4) blk[0] = (uint8_t)(120 + ot_u32() % 14);
        if (fmt.f == MLXC_QF_NVFP4)
            for (int i = 0; i < 4; i++) blk[i] = (uint8_t)(0x28 + ot_u32() % 0x20); /* e4m3 0.03 .. 0.9 */
        if (fmt.f == MLXC_QF_IQ1_M) { /* d: the top nibbles of the four scale words */
            const uint16_t d = qt_half(ot_uniform(-1, 1) / 64);
            for (int i = 0; i < 4; i++) blk[49 + 2 * i] = (uint8_t)((blk[49 + 2 * i] & 15) | ((d >> (4 * i)) & 15) << 4);
        }
        for (size_t h = 0; h < nh; h++) qt_put16(blk + off[h], qt_half(ot_uniform(-1, 1) / 64));
    }
    return w;
}

static inline void qt_weight_free(qt_weight *w) {
    free(w->data);
    free(w->scales);
    free(w->biases);
}

static inline double qt_e4m3(unsigned v) {
    const int e = (v >> 3) & 15, mnt = v & 7;
    const double f = e == 0 ? ldexp(mnt, -9) : ldexp(8 + mnt, e - 10);
    return (v & 0x80) ? -f : f;
}
static inline double qt_e2m1(unsigned c) {
    static const double mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    return (c & 8) ? -mag[c & 7] : mag[c & 7];
}
static inline double qt_f16(const uint8_t *p) { return mlxc_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
static inline unsigned qt_nib(const uint8_t *qs, unsigned j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }
/* Bit b of the little-endian bytes at p. */
static inline unsigned qt_bit(const uint8_t *p, uint64_t b) { return (p[b / 8] >> (b % 8)) & 1; }
/* 6-bit scale j and min j of a K-quant's 12 packed bytes. */
static inline void qt_k4(const uint8_t *s, int j, double *d, double *m) {
    if (j < 4) *d = s[j] & 63, *m = s[j + 4] & 63;
    else *d = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
}

/* The code books' point p, value t (quant_grids.h: value t in byte t). */
static inline unsigned qt_point(const uint64_t *book, unsigned p, unsigned t) { return (book[p] >> (8 * t)) & 255; }
/* Bit t of the IQ2/IQ3 sign group i: the 7 bits, then even parity. */
static inline int qt_sign_neg(unsigned i, unsigned t) {
    if (t < 7) return (i >> t) & 1;
    int ones = 0;
    for (int u = 0; u < 7; u++) ones += (i >> u) & 1;
    return ones & 1;
}
static inline unsigned qt_u16(const uint8_t *p) { return p[0] | (unsigned)p[1] << 8; }
static inline unsigned qt_u32(const uint8_t *p) { return qt_u16(p) | qt_u16(p + 2) << 16; }

/* The code-book, ternary and NVFP4 blocks: value j of the block at b. */
static inline double qt_elem_books(mlxc_qformat f, const uint8_t *b, unsigned j) {
    static const uint64_t g2xxs[] = MLXC_IQ2XXS_GRID_INIT, g2xs[] = MLXC_IQ2XS_GRID_INIT, g2s[] = MLXC_IQ2S_GRID_INIT,
                          g1s[] = MLXC_IQ1S_GRID_INIT;
    static const uint32_t g3xxs[] = MLXC_IQ3XXS_GRID_INIT, g3s[] = MLXC_IQ3S_GRID_INIT;
    const unsigned ib = j / 32, l = j / 8, t = j % 8;
    switch (f) {
    case MLXC_QF_IQ2_XXS: {
        const unsigned aux = qt_u32(b + 2 + 8 * ib + 4), v = qt_point(g2xxs, b[2 + 8 * ib + l % 4], t);
        const double a = qt_f16(b) * (0.5 + (aux >> 28)) * 0.25 * v;
        return qt_sign_neg((aux >> (7 * (l % 4))) & 127, t) ? -a : a;
    }
    case MLXC_QF_IQ2_XS: {
        const unsigned q = qt_u16(b + 2 + 2 * l), sc = (b[66 + j / 32] >> (j % 32 < 16 ? 0 : 4)) & 15;
        const double a = qt_f16(b) * (0.5 + sc) * 0.25 * qt_point(g2xs, q & 511, t);
        return qt_sign_neg(q >> 9, t) ? -a : a;
    }
    case MLXC_QF_IQ2_S: {
        const unsigned p = b[2 + l] | ((b[66 + l / 4] >> (2 * (l % 4))) & 3) << 8;
        const unsigned sc = (b[74 + j / 32] >> (j % 32 < 16 ? 0 : 4)) & 15;
        const double a = qt_f16(b) * (0.5 + sc) * 0.25 * qt_point(g2s, p, t);
        return (b[34 + l] >> t) & 1 ? -a : a;
    }
    case MLXC_QF_IQ3_XXS: {
        const unsigned aux = qt_u32(b + 66 + 4 * ib), p = b[2 + j / 4];
        const double a = qt_f16(b) * (0.5 + (aux >> 28)) * 0.5 * ((g3xxs[p] >> (8 * (j % 4))) & 255);
        return qt_sign_neg((aux >> (7 * (l % 4))) & 127, t) ? -a : a;
    }
    case MLXC_QF_IQ3_S: {
        const unsigned e = j / 4, p = b[2 + e] | ((b[66 + e / 8] >> (e % 8)) & 1) << 8;
        const unsigned sc = (b[106 + ib / 2] >> (ib % 2 ? 4 : 0)) & 15;
        const double a = qt_f16(b) * (1 + 2 * sc) * ((g3s[p] >> (8 * (j % 4))) & 255);
        return (b[74 + l] >> t) & 1 ? -a : a;
    }
    case MLXC_QF_IQ1_S: {
        const unsigned h = qt_u16(b + 34 + 2 * ib), p = b[2 + l] | ((h >> (3 * (l % 4))) & 7) << 8;
        const double v = (int8_t)qt_point(g1s, p, t) + ((h & 0x8000) ? -0.125 : 0.125);
        return qt_f16(b) * (2 * ((h >> 12) & 7) + 1) * v;
    }
    case MLXC_QF_IQ1_M: {
        uint8_t d[2];
        const unsigned dh = qt_u16(b + 48) >> 12 | (qt_u16(b + 50) >> 12) << 4 | (qt_u16(b + 52) >> 12) << 8 |
                            (qt_u16(b + 54) >> 12) << 12;
        d[0] = (uint8_t)dh, d[1] = (uint8_t)(dh >> 8);
        const unsigned sc = (qt_u16(b + 48 + 2 * (j / 64)) >> (3 * ((j / 16) % 4))) & 7;
        const unsigned h = (b[32 + l / 2] >> (l % 2 ? 4 : 0)) & 15, p = b[l] | (h & 7) << 8;
        return qt_f16(d) * (2 * sc + 1) * ((int8_t)qt_point(g1s, p, t) + ((h & 8) ? -0.125 : 0.125));
    }
    case MLXC_QF_TQ1_0: {
        /* value j: a base-3 digit of byte j % 32 (j < 160), 32 + (j - 160) % 16
         * (j < 240) or 48 + (j - 240) % 4, the digit (j / 32, (j - 160) / 16,
         * (j - 240) / 4) counted from the most significant */
        unsigned byte, k;
        if (j < 160) byte = b[j % 32], k = j / 32;
        else if (j < 240) byte = b[32 + (j - 160) % 16], k = (j - 160) / 16;
        else byte = b[48 + (j - 240) % 4], k = (j - 240) / 4;
        unsigned m = byte;
        for (unsigned u = 0; u < k; u++) m = (m * 3) & 255;
        return qt_f16(b + 52) * ((int)((m * 3) >> 8) - 1);
    }
    case MLXC_QF_TQ2_0: return qt_f16(b + 64) * ((int)((b[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3) - 1);
    case MLXC_QF_NVFP4: { /* unsigned e4m3 scale per 16 (bit 7 unread; bytes 0 and 0x7f read 0), e2m1 codes */
        const unsigned s = b[j / 16], se = (s >> 3) & 15, sm = s & 7;
        const double sc = s == 0 || s == 0x7f ? 0 : se == 0 ? ldexp(sm, -9) : ldexp(8 + sm, (int)se - 10);
        const unsigned c = (b[4 + 8 * (j / 16) + j % 8] >> (j % 16 < 8 ? 0 : 4)) & 15;
        return qt_e2m1(c) * sc;
    }
    default: return NAN;
    }
}

/* W[r, e] in double. */
static inline double qt_elem(const qt_weight *w, uint32_t r, uint32_t e) {
    const uint8_t *row = w->data + (size_t)r * w->row_bytes;
    const uint32_t g = w->fmt.group;
    const size_t gi = (size_t)r * (w->k / g) + e / g;
    static const int iq4[16] = MLXC_IQ4NL_INIT;
    switch (w->fmt.f) {
    case MLXC_QF_MLX_AFFINE: {
        unsigned q = 0;
        for (unsigned b = 0; b < w->fmt.bits; b++) q |= qt_bit(row, (uint64_t)e * w->fmt.bits + b) << b;
        return w->scales[gi] * q + w->biases[gi];
    }
    case MLXC_QF_MLX_MXFP4: return qt_e2m1((row[e / 2] >> (4 * (e % 2))) & 15) * ldexp(1, (int)w->scales[gi] - 127);
    case MLXC_QF_MLX_NVFP4: return qt_e2m1((row[e / 2] >> (4 * (e % 2))) & 15) * qt_e4m3((unsigned)w->scales[gi]);
    case MLXC_QF_MLX_MXFP8: return qt_e4m3(row[e]) * ldexp(1, (int)w->scales[gi] - 127);
    default: break;
    }
    const size_t bb = w->row_bytes / (w->k / g);
    const uint8_t *b = row + (e / g) * bb;
    const unsigned j = e % g;
    switch (w->fmt.f) {
    case MLXC_QF_Q4_0: return qt_f16(b) * ((int)qt_nib(b + 2, j) - 8);
    case MLXC_QF_Q4_1: return qt_f16(b) * qt_nib(b + 4, j) + qt_f16(b + 2);
    case MLXC_QF_Q5_0: return qt_f16(b) * ((int)(qt_nib(b + 6, j) | qt_bit(b + 2, j) << 4) - 16);
    case MLXC_QF_Q5_1: return qt_f16(b) * (qt_nib(b + 8, j) | qt_bit(b + 4, j) << 4) + qt_f16(b + 2);
    case MLXC_QF_Q8_0: return qt_f16(b) * (int8_t)b[2 + j];
    case MLXC_QF_IQ4_NL: return qt_f16(b) * iq4[qt_nib(b + 2, j)];
    case MLXC_QF_MXFP4: return 2 * qt_e2m1(qt_nib(b + 1, j)) * ldexp(1, b[0] - 128);
    case MLXC_QF_Q2_K: { /* 16 groups of 16: scales[16] qs[64] d dmin */
        const unsigned h = j / 128, jj = (j % 128) / 32, l = j % 32, sc = b[h * 8 + jj * 2 + l / 16];
        const unsigned q = (b[16 + h * 32 + l] >> (2 * jj)) & 3;
        return qt_f16(b + 80) * (sc & 15) * q - qt_f16(b + 82) * (sc >> 4);
    }
    case MLXC_QF_Q3_K: { /* hmask[32] qs[64] scales[12] d */
        const unsigned h = j / 128, jj = (j % 128) / 32, l = j % 32, si = h * 8 + jj * 2 + l / 16;
        const uint8_t *s = b + 96;
        const int lo = si < 8 ? s[si] & 15 : s[si - 8] >> 4, hi = (s[8 + si % 4] >> (2 * (si / 4))) & 3;
        const int q = (int)((b[32 + h * 32 + l] >> (2 * jj)) & 3) - ((b[l] >> (h * 4 + jj)) & 1 ? 0 : 4);
        return qt_f16(b + 108) * ((lo | hi << 4) - 32) * q;
    }
    case MLXC_QF_Q4_K:
    case MLXC_QF_Q5_K: { /* d dmin scales[12] (qh[32]) qs[128] */
        const int five = w->fmt.f == MLXC_QF_Q5_K;
        const unsigned c = j / 64, hi = (j % 64) / 32, l = j % 32, byte = b[(five ? 48 : 16) + c * 32 + l];
        unsigned q = hi ? byte >> 4 : byte & 15;
        if (five) q |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
        double sc, mn;
        qt_k4(b + 4, (int)(2 * c + hi), &sc, &mn);
        return qt_f16(b) * sc * q - qt_f16(b + 2) * mn;
    }
    case MLXC_QF_Q6_K: { /* ql[128] qh[64] scales[16] d */
        const unsigned h = j / 128, qu = (j % 128) / 32, l = j % 32;
        const unsigned lb = b[h * 64 + l + (qu & 1) * 32], lo = qu >= 2 ? lb >> 4 : lb & 15;
        const unsigned hb = (b[128 + h * 32 + l] >> (2 * qu)) & 3;
        const int sc = (int8_t)b[192 + h * 8 + l / 16 + 2 * qu];
        return qt_f16(b + 208) * sc * ((int)(lo | hb << 4) - 32);
    }
    case MLXC_QF_IQ4_XS: { /* d scales_h scales_l[4] qs[128] */
        const unsigned ib = j / 32, jj = j % 32, sh = b[2] | b[3] << 8;
        const int ls = (int)(((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | ((sh >> (2 * ib)) & 3) << 4);
        return qt_f16(b) * (ls - 32) * iq4[qt_nib(b + 8 + ib * 16, jj)];
    }
    default: return qt_elem_books(w->fmt.f, b, j);
    }
}

/* The format layer's CPU dequantize (mlxc_qweight_dequantize, bit-exact
 * with the formats' reference packages) of the whole weight into out
 * (n * k floats). */
static inline mlxc_status qt_layer_dequantize(const qt_weight *w, float *out) {
    mlxc_qweight d = {0};
    d.format = w->fmt.f;
    d.rows = w->n;
    d.cols = w->k;
    d.data = w->data;
    d.data_bytes = w->row_bytes * w->n;
    unsigned char *s = NULL, *b = NULL;
    if (qt_is_mlx(w->fmt.f)) {
        const size_t ng = (size_t)w->n * (w->k / w->fmt.group), es = mlxc_dtype_size(w->fmt.sdt);
        s = malloc(ng * es);
        b = malloc(ng * es);
        for (size_t i = 0; i < ng; i++) {
            ot_st(w->fmt.sdt, s, i, w->scales[i]);
            ot_st(w->fmt.sdt, b, i, w->biases[i]);
        }
        d.bits = w->fmt.bits;
        d.group_size = w->fmt.group;
        d.scale_dtype = w->fmt.sdt;
        d.scales = s;
        d.scales_bytes = ng * es;
        if (w->fmt.f == MLXC_QF_MLX_AFFINE) d.biases = b, d.biases_bytes = ng * es;
    } else {
        uint32_t bs = 0, ts = 0;
        mlxc_ggml_type_info((uint32_t)(w->fmt.f - MLXC_QF_GGML), &bs, &ts);
        d.group_size = bs;
        d.block_bytes = ts;
    }
    mlxc_status st = mlxc_qweight_dequantize(&d, out, (size_t)w->n * w->k);
    free(s);
    free(b);
    return st;
}

/* The weight on a device: buffers and the descriptor pointing at them. */
typedef struct qt_dev_weight {
    mlxc_buffer    *data, *scales, *biases;
    mlxc_qmm_weight w;
} qt_dev_weight;

static inline qt_dev_weight qt_upload(mlxc_device *dev, const qt_weight *w) {
    qt_dev_weight d = {NULL, NULL, NULL, {w->fmt.f, w->fmt.bits, w->fmt.group, NULL, NULL, NULL}};
    const size_t bytes = (size_t)w->row_bytes * w->n;
    int64_t shape[1] = {(int64_t)bytes};
    if (mlxc_buffer_alloc(dev, bytes, MLXC_U8, 1, shape, &d.data) || mlxc_buffer_write(d.data, 0, w->data, bytes)) {
        fprintf(stderr, "qt_upload: %s\n", mlxc_last_error());
        exit(1);
    }
    d.w.data = d.data;
    if (qt_is_mlx(w->fmt.f)) {
        const size_t ng = (size_t)w->n * (w->k / w->fmt.group), es = mlxc_dtype_size(w->fmt.sdt);
        unsigned char *raw = malloc(ng * es);
        shape[0] = (int64_t)ng;
        for (int which = 0; which < (w->fmt.f == MLXC_QF_MLX_AFFINE ? 2 : 1); which++) {
            mlxc_buffer **b = which ? &d.biases : &d.scales;
            for (size_t i = 0; i < ng; i++) ot_st(w->fmt.sdt, raw, i, which ? w->biases[i] : w->scales[i]);
            if (mlxc_buffer_alloc(dev, ng * es, w->fmt.sdt, 1, shape, b) || mlxc_buffer_write(*b, 0, raw, ng * es)) {
                fprintf(stderr, "qt_upload: %s\n", mlxc_last_error());
                exit(1);
            }
        }
        free(raw);
        d.w.scales = d.scales;
        d.w.biases = d.biases;
    }
    return d;
}

/* A Q4_0 weight (w: format Q4_0, n % 16 == 0, k % 128 == 0) on a device
 * as Q4_0 tiles (mlxc_ggml_to_tiles). */
static inline qt_dev_weight qt_upload_tiles(mlxc_device *dev, const qt_weight *w) {
    qt_dev_weight d = {NULL, NULL, NULL, {MLXC_QF_Q4_0_TILES, 4, 32, NULL, NULL, NULL}};
    const size_t bytes = (size_t)w->row_bytes * w->n;
    uint8_t *t = malloc(bytes);
    mlxc_qweight q = {.format = MLXC_QF_Q4_0, .bits = 4, .group_size = 32, .block_bytes = 18, .rows = w->n,
                      .cols = w->k, .data = w->data, .data_bytes = bytes};
    int64_t shape[1] = {(int64_t)bytes};
    if (!t || mlxc_ggml_to_tiles(&q, t, bytes) || mlxc_buffer_alloc(dev, bytes, MLXC_U8, 1, shape, &d.data) ||
        mlxc_buffer_write(d.data, 0, t, bytes)) {
        fprintf(stderr, "qt_upload_tiles: %s\n", mlxc_last_error());
        exit(1);
    }
    free(t);
    d.w.data = d.data;
    return d;
}

static inline void qt_dev_free(qt_dev_weight *d) {
    mlxc_buffer_release(d->data);
    mlxc_buffer_release(d->scales);
    mlxc_buffer_release(d->biases);
}

/* "affine4 g64 bf16", "q4_k" */
static inline const char *qt_label(const qt_format *f, char *buf, size_t n) {
    if (f->f == MLXC_QF_MLX_AFFINE)
        snprintf(buf, n, "affine%u g%u %s", f->bits, f->group, mlxc_dtype_name(f->sdt));
    else snprintf(buf, n, "%s", mlxc_qformat_name(f->f));
    return buf;
}

/* mlxc_qmatmul_fused_pair's tests: the q/k formats beside a Q6_K v, the
 * two with a pair kernel (int8 activations) and one without (Q4_0). */
static const qt_format qt_pair_qk[3] = {{MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
                                        {MLXC_QF_Q4_0, 0, 32, MLXC_U8}};
static const qt_format qt_pair_v = {MLXC_QF_Q6_K, 0, 256, MLXC_U8};

#endif
