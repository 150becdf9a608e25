/* Quantized matmul CPU kernels (src/kernels/params_qmatmul.h):
 *
 *     y[i, j] = sum_k x[i, k] * W[j, k]      x (m, k)  W (n, k)  y (m, n)
 *
 * Plain on purpose: k is walked in chunks of MLXC_CPU_QMM_KB values; each
 * chunk of a weight row is dequantized into f32 (one block at a time, the
 * formulas of the formats' own reference code), each chunk of an x row
 * converted to f32, and the pair dotted with eight fixed partial sums.  A
 * group owns whole tiles of weight rows by x rows, so the result does not
 * depend on the grid, and the mat-vec and mat-mat names run the same code:
 * one function serves every format, which the parameters name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_qmatmul.h"
#define MLXC_QI_F16(h) mlxc_half_f16_to_f32((uint16_t)(h))
#include "quant/quant_iq.h"

static inline float qc_f16(uint16_t h) { return mlxc_half_f16_to_f32(h); }

/* fp8 e4m3 (no infinities; S.1111.111 is NaN) to f32. */
static inline float qc_e4m3(uint8_t v) {
    const int e = (v >> 3) & 15, mnt = v & 7;
    float f;
    if (e == 15 && mnt == 7) f = NAN;
    else if (e == 0) f = ldexpf((float)mnt, -9);
    else f = ldexpf((float)(8 + mnt), e - 10);
    return (v & 0x80) ? -f : f;
}
/* e8m0 scale: 2^(e - 127); 255 is NaN. */
static inline float qc_e8m0(uint8_t e) { return e == 255 ? NAN : ldexpf(1.0f, (int)e - 127); }

static inline float qc_scale(const void *s, uint32_t sdtype, uint64_t i) {
    if (sdtype == MLXC_QS_F32) return ((const float *)s)[i];
    const uint16_t h = ((const uint16_t *)s)[i];
    return sdtype == MLXC_QS_F16 ? mlxc_half_f16_to_f32(h) : mlxc_half_bf16_to_f32(h);
}

/* The K-quants' packed 6-bit scale and min j (0..7) of 12 bytes. */
static inline void qc_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Bit j of the 32 little-endian bits at p into h[j] (constant shifts, so
 * the loop vectorizes). */
static inline void qc_bits32(const uint8_t *p, int32_t h[32]) {
    for (int i = 0; i < 4; i++)
        for (int t = 0; t < 8; t++) h[8 * i + t] = (p[i] >> t) & 1;
}

static const int8_t k_iq4nl[16] = MLXC_IQ4NL_INIT;

/* One GGML block (src/quant/quant_blocks.h) at b into y; blocks holding
 * an f16 are 2-byte aligned (the front-end checks the view, and every such
 * block has an even size). */
static void qc_block(uint32_t f, const void *b, float *y) {
    switch (f) {
    /* Q4_0 and Q4_1 unpack the codes first, then convert in one straight
     * loop (the form a compiler vectorizes); the values are the same. */
    case MLXC_QMMF_Q4_0: {
        const mlxc_block_q4_0 *x = b;
        const float d = qc_f16(x->d);
        int32_t q[32];
        for (int j = 0; j < 16; j++) q[j] = (x->qs[j] & 0xF) - 8, q[j + 16] = (x->qs[j] >> 4) - 8;
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d;
        break;
    }
    case MLXC_QMMF_Q4_1: {
        const mlxc_block_q4_1 *x = b;
        const float d = qc_f16(x->d), mn = qc_f16(x->m);
        int32_t q[32];
        for (int j = 0; j < 16; j++) q[j] = x->qs[j] & 0xF, q[j + 16] = x->qs[j] >> 4;
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + mn;
        break;
    }
    case MLXC_QMMF_Q5_0: {
        const mlxc_block_q5_0 *x = b;
        const float d = qc_f16(x->d);
        int32_t q[32], h[32];
        qc_bits32(x->qh, h);
        for (int j = 0; j < 16; j++)
            q[j] = ((x->qs[j] & 0xF) | h[j] << 4) - 16, q[j + 16] = ((x->qs[j] >> 4) | h[j + 16] << 4) - 16;
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d;
        break;
    }
    case MLXC_QMMF_Q5_1: {
        const mlxc_block_q5_1 *x = b;
        const float d = qc_f16(x->d), mn = qc_f16(x->m);
        int32_t q[32], h[32];
        qc_bits32(x->qh, h);
        for (int j = 0; j < 16; j++) q[j] = (x->qs[j] & 0xF) | h[j] << 4, q[j + 16] = (x->qs[j] >> 4) | h[j + 16] << 4;
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + mn;
        break;
    }
    case MLXC_QMMF_Q8_0: {
        const mlxc_block_q8_0 *x = b;
        const float d = qc_f16(x->d);
        int32_t q[32];
        for (int j = 0; j < 32; j++) q[j] = x->qs[j];
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d;
        break;
    }
    case MLXC_QMMF_IQ4_NL: {
        const mlxc_block_iq4_nl *x = b;
        const float d = qc_f16(x->d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)k_iq4nl[x->qs[j] & 0xF];
            y[j + 16] = d * (float)k_iq4nl[x->qs[j] >> 4];
        }
        break;
    }
    case MLXC_QMMF_GGML_MXFP4: {
        /* The table holds doubled e2m1 values, hence 2^(e - 128). */
        const mlxc_block_mxfp4 *x = b;
        const float d = x->e == 255 ? NAN : ldexpf(1.0f, (int)x->e - 128);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)mlxc_qi_e2m1x2[x->qs[j] & 0xF] * d;
            y[j + 16] = (float)mlxc_qi_e2m1x2[x->qs[j] >> 4] * d;
        }
        break;
    }
    case MLXC_QMMF_Q2_K: {
        const mlxc_block_q2_k *x = b;
        const uint8_t *sc = x->scales, *q = x->qs;
        const float d = qc_f16(x->d), dmin = qc_f16(x->dmin);
        int is = 0;
        for (int n = 0; n < 256; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int h = 0; h < 2; h++) {
                    const uint8_t s = sc[is++];
                    const float dl = d * (float)(s & 0xF), ml = dmin * (float)(s >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16 * h] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
        break;
    }
    case MLXC_QMMF_Q3_K: {
        const mlxc_block_q3_k *x = b;
        const uint8_t *hm = x->hmask, *q = x->qs, *s12 = x->scales;
        const float d = qc_f16(x->d);
        int8_t sc[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? s12[j] & 0xF : s12[j - 8] >> 4, hi = (s12[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (int8_t)((lo | hi << 4) - 32);
        }
        int is = 0;
        uint8_t mask = 1;
        for (int n = 0; n < 256; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int h = 0; h < 2; h++) {
                    const float dl = d * (float)sc[is++];
                    for (int l = 16 * h; l < 16 * h + 16; l++)
                        *y++ = dl * (float)((int)((q[l] >> shift) & 3) - ((hm[l] & mask) ? 0 : 4));
                }
                mask <<= 1;
            }
            q += 32;
        }
        break;
    }
    case MLXC_QMMF_Q4_K: {
        const mlxc_block_q4_k *x = b;
        const float d = qc_f16(x->d), dmin = qc_f16(x->dmin);
        const uint8_t *q = x->qs;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            uint8_t sc, mn;
            qc_scale_min_k4(is, x->scales, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            qc_scale_min_k4(is + 1, x->scales, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            int32_t lo[32], hi[32];
            for (int l = 0; l < 32; l++) lo[l] = q[l] & 0xF, hi[l] = q[l] >> 4;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)lo[l] - m1;
            for (int l = 0; l < 32; l++) y[l + 32] = d2 * (float)hi[l] - m2;
            y += 64;
            q += 32;
        }
        break;
    }
    case MLXC_QMMF_Q5_K: {
        const int five = 1;
        const mlxc_block_q4_k *x4 = b;
        const mlxc_block_q5_k *x5 = b;
        const float d = qc_f16(five ? x5->d : x4->d), dmin = qc_f16(five ? x5->dmin : x4->dmin);
        const uint8_t *s12 = five ? x5->scales : x4->scales, *qh = x5->qh, *q = five ? x5->qs : x4->qs;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            uint8_t sc, mn;
            qc_scale_min_k4(is, s12, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            qc_scale_min_k4(is + 1, s12, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0)) - m2;
            q += 32;
            u1 <<= 2;
            u2 <<= 2;
        }
        break;
    }
    case MLXC_QMMF_Q6_K: {
        const mlxc_block_q6_k *x = b;
        const uint8_t *ql = x->ql, *qh = x->qh;
        const int8_t *sc = x->scales;
        const float d = qc_f16(x->d);
        for (int n = 0; n < 256; n += 128) {
            /* the four 32-value quarters of 128, then each 16 with its scale */
            int32_t q[4][32];
            for (int l = 0; l < 32; l++) {
                q[0][l] = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                q[1][l] = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                q[2][l] = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                q[3][l] = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
            for (int h = 0; h < 4; h++)
                for (int half = 0; half < 2; half++) {
                    const float ds = d * (float)sc[half + 2 * h];
                    for (int l = 16 * half; l < 16 * half + 16; l++) y[32 * h + l] = ds * (float)q[h][l];
                }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
        break;
    }
    case MLXC_QMMF_IQ4_XS: {
        const mlxc_block_iq4_xs *x = b;
        const float d = qc_f16(x->d);
        const uint32_t sh = x->scales_h;
        const uint8_t *sl = x->scales_l, *q = x->qs;
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((sl[ib / 2] >> (4 * (ib % 2))) & 0xF) | (int)(((sh >> (2 * ib)) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)k_iq4nl[q[j] & 0xF];
                y[j + 16] = dl * (float)k_iq4nl[q[j] >> 4];
            }
            y += 32;
            q += 16;
        }
        break;
    }
    default: {
        /* the code-book, ternary and NVFP4 blocks: the format layer's decoder */
        const uint32_t t = mlxc_qf_qi_type(f);
        if (t) mlxc_qi_deq_block(t, b, mlxc_qf_block_elems(f), y);
        break;
    }
    }
}

/* Block b of row r of a Q4_0 tiles weight (quant_blocks.h) as the Q4_0
 * block it was. */
static void qc_q4t_block(const uint8_t *w, uint32_t row_bytes, uint32_t r, uint32_t b, mlxc_block_q4_0 *o) {
    const uint8_t *rec = w + mlxc_q4t_record(row_bytes, r, b);
    const uint32_t h = r % MLXC_Q4T_ROWS, i = b % 4;
    memcpy(&o->d, rec + MLXC_Q4T_SCALE(h, i), 2);
    for (uint32_t j = 0; j < 4; j++) memcpy(o->qs + 4 * j, rec + MLXC_Q4T_CODE(h, i, j), 4);
}

/* Values [e0, e0 + cnt) of weight row r into y; e0 and cnt are multiples
 * of the format's block or group size. */
static void qc_dequant_row(const mlxc_p_qmatmul *p, const uint8_t *w, const void *scales, const void *biases,
                           uint32_t r, uint32_t e0, uint32_t cnt, float *y) {
    const uint8_t *row = w + (uint64_t)r * p->row_bytes;
    const uint64_t g0 = ((uint64_t)r * p->k + e0) / p->group; /* first scale of the chunk */
    switch (p->format) {
    case MLXC_QMMF_AFFINE: {
        /* An LSB-first bitstream over the row's little-endian words. */
        const uint32_t bits = p->bits, mask = (1u << bits) - 1;
        if (bits == 4 || bits == 8) {
            /* whole bytes: 8 / bits values each, in order (the same values
             * as the general loop below) */
            for (uint32_t i = 0; i < cnt; i += p->group) {
                const float s = qc_scale(scales, p->sdtype, g0 + i / p->group);
                const float bb = qc_scale(biases, p->sdtype, g0 + i / p->group);
                const uint8_t *at = row + (uint64_t)(e0 + i) * bits / 8;
                int32_t q[128];
                for (uint32_t j0 = 0; j0 < p->group; j0 += 128) {
                    const uint32_t nj = p->group - j0 < 128 ? p->group - j0 : 128;
                    if (bits == 8)
                        for (uint32_t j = 0; j < nj; j++) q[j] = at[j0 + j];
                    else
                        for (uint32_t j = 0; j < nj; j += 2) q[j] = at[(j0 + j) / 2] & 0xF, q[j + 1] = at[(j0 + j) / 2] >> 4;
                    for (uint32_t j = 0; j < nj; j++) y[i + j0 + j] = s * (float)q[j] + bb;
                }
            }
            break;
        }
        for (uint32_t i = 0; i < cnt; i += p->group) {
            const float s = qc_scale(scales, p->sdtype, g0 + i / p->group);
            const float bb = qc_scale(biases, p->sdtype, g0 + i / p->group);
            for (uint32_t j = i; j < i + p->group; j++) {
                const uint64_t bit = (uint64_t)(e0 + j) * bits;
                const uint8_t *at = row + bit / 8;
                /* Up to 8 bits starting anywhere in a byte span two bytes. */
                const uint32_t two = (uint32_t)at[0] | ((bit % 8 + bits > 8) ? (uint32_t)at[1] << 8 : 0u);
                const uint32_t q = (two >> (bit % 8)) & mask;
                y[j] = s * (float)q + bb;
            }
        }
        break;
    }
    case MLXC_QMMF_MXFP4:
    case MLXC_QMMF_NVFP4:
        for (uint32_t j = 0; j < cnt; j++) {
            const uint32_t e = e0 + j;
            const uint8_t sb = ((const uint8_t *)scales)[g0 + j / p->group];
            const float s = p->format == MLXC_QMMF_MXFP4 ? qc_e8m0(sb) : qc_e4m3(sb);
            y[j] = 0.5f * (float)mlxc_qi_e2m1x2[(row[e / 2] >> (4 * (e % 2))) & 0xF] * s;
        }
        break;
    case MLXC_QMMF_MXFP8:
        for (uint32_t j = 0; j < cnt; j++)
            y[j] = qc_e4m3(row[e0 + j]) * qc_e8m0(((const uint8_t *)scales)[g0 + j / p->group]);
        break;
    case MLXC_QMMF_F32:
        memcpy(y, row + (uint64_t)e0 * 4, (size_t)cnt * 4);
        break;
    case MLXC_QMMF_F16:
    case MLXC_QMMF_BF16:
        for (uint32_t j = 0; j < cnt; j++) {
            uint16_t h;
            memcpy(&h, row + (uint64_t)(e0 + j) * 2, 2);
            y[j] = p->format == MLXC_QMMF_F16 ? mlxc_half_f16_to_f32(h) : mlxc_half_bf16_to_f32(h);
        }
        break;
    case MLXC_QMMF_Q4_0T:
        for (uint32_t j = 0; j < cnt; j += 32) {
            mlxc_block_q4_0 blk;
            qc_q4t_block(w, p->row_bytes, r, (e0 + j) / 32, &blk);
            qc_block(MLXC_QMMF_Q4_0, &blk, y + j);
        }
        break;
    default: {
        const uint32_t be = mlxc_qf_block_elems(p->format), bb = mlxc_qf_block_bytes(p->format);
        for (uint32_t j = 0; j < cnt; j += be) qc_block(p->format, row + (uint64_t)(e0 + j) / be * bb, y + j);
        break;
    }
    }
}

/* Element i of an f32 or bf16 activation, and v stored as one. */
static inline float qc_ldx(const void *x, uint64_t i, int bf16) {
    return bf16 ? mlxc_half_bf16_to_f32(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}
static inline void qc_sty(void *y, uint64_t i, float v, int bf16) {
    if (bf16) ((uint16_t *)y)[i] = mlxc_half_f32_to_bf16(v);
    else ((float *)y)[i] = v;
}
/* v rounded to bf16, back in f32. */
static inline float qc_round_bf16(float v) { return mlxc_half_bf16_to_f32(mlxc_half_f32_to_bf16(v)); }

static inline float qc_lanes(const float l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
/* Eight partial sums, lane q taking elements q, q + 8, ...  The chunks are
 * addressed through pointers: with a 32-bit index j + q the compiler cannot
 * assume consecutive addresses and gathers lane by lane. */
static inline float qc_dot(const float *a, const float *b, uint32_t n) {
    /* lanes 0..3 and 4..7 as two 4-wide vectors: the same sums */
    ops_v4f v0 = ops_v4_splat(0.0f), v1 = v0;
    const uint32_t n8 = n / 8 * 8;
    for (const float *pa = a, *pb = b, *end = a + n8; pa < end; pa += 8, pb += 8) {
        v0 += ops_ld4_f32(pa) * ops_ld4_f32(pb);
        v1 += ops_ld4_f32(pa + 4) * ops_ld4_f32(pb + 4);
    }
    float l[8];
    ops_st4_f32(l, v0);
    ops_st4_f32(l + 4, v1);
    for (uint32_t q = 0; n8 + q < n; q++) l[q] += a[n8 + q] * b[n8 + q];
    return qc_lanes(l);
}

/* qc_row_dot without the chunk buffer, for the decode formats: GGML block
 * format f (a constant where it is called, so the branches fold) a block
 * at a time, MLX affine 4 or 8 bits (groups of 32, 64 or 128: every 32
 * values lie in one group) 32 values at a time, each piece dequantized as
 * qc_block and qc_dequant_row do and multiplied at once into the lanes
 * qc_dot keeps over each KB chunk: the same bits. */
_Static_assert(MLXC_CPU_QMM_KB % 256 == 0, "a chunk holds whole 256-value blocks");
OPS_ALWAYS_INLINE float qc_row_dot_pieces(uint32_t f, const mlxc_p_qmatmul *p, const uint8_t *w, const uint8_t *row,
                                      const void *scales, const void *biases, uint32_t r, const float *xk) {
    const bool aff = f == MLXC_QMMF_AFFINE;
    const uint32_t k = p->k, bb = aff ? 0 : mlxc_qf_block_bytes(f), pe = aff ? 32 : mlxc_qf_block_elems(f);
    const uint32_t gsh = p->group == 32 ? 5 : p->group == 64 ? 6 : 7;
    const uint64_t g0 = aff ? (uint64_t)r * (k >> gsh) : 0;
    float acc = 0.0f;
    for (uint32_t kb = 0; kb < k; kb += MLXC_CPU_QMM_KB) {
        const uint32_t kl = k - kb < MLXC_CPU_QMM_KB ? k - kb : MLXC_CPU_QMM_KB;
        ops_v4f v0 = ops_v4_splat(0.0f), v1 = v0;
        for (uint32_t j = 0; j < kl; j += pe) {
            const uint32_t e = kb + j;
            float wv[256];
            if (f == MLXC_QMMF_Q4_0T) {
                mlxc_block_q4_0 blk;
                qc_q4t_block(w, p->row_bytes, r, e / 32, &blk);
                qc_block(MLXC_QMMF_Q4_0, &blk, wv);
            } else if (!aff) {
                qc_block(f, row + (uint64_t)e / pe * bb, wv);
            } else {
                const uint64_t gi = g0 + (e >> gsh);
                const float sc = qc_scale(scales, p->sdtype, gi), b0 = qc_scale(biases, p->sdtype, gi);
                if (p->bits == 4) {
                    /* low nibbles are the even values, high ones the odd: each
                     * converted in a straight loop, then interleaved */
                    const uint8_t *at = row + e / 2;
                    int32_t lo[16], hi[16];
                    float fl[16], fh[16];
                    for (int t = 0; t < 16; t++) lo[t] = at[t] & 0xF, hi[t] = at[t] >> 4;
                    for (int t = 0; t < 16; t++) fl[t] = sc * (float)lo[t] + b0, fh[t] = sc * (float)hi[t] + b0;
                    for (int u = 0; u < 4; u++) {
                        const ops_v4f a = ops_ld4_f32(fl + 4 * u), b = ops_ld4_f32(fh + 4 * u);
                        ops_st4_f32(wv + 8 * u, (ops_v4f){a[0], b[0], a[1], b[1]});
                        ops_st4_f32(wv + 8 * u + 4, (ops_v4f){a[2], b[2], a[3], b[3]});
                    }
                } else {
                    const uint8_t *at = row + e;
                    for (int t = 0; t < 32; t++) wv[t] = sc * (float)(int32_t)at[t] + b0;
                }
            }
            const float *x = xk + e;
            for (uint32_t i = 0; i < pe; i += 8) {
                v0 += ops_ld4_f32(wv + i) * ops_ld4_f32(x + i);
                v1 += ops_ld4_f32(wv + i + 4) * ops_ld4_f32(x + i + 4);
            }
        }
        float l[8];
        ops_st4_f32(l, v0);
        ops_st4_f32(l + 4, v1);
        acc += qc_lanes(l);
    }
    return acc;
}

/* Weight row r dotted with the whole x (k f32 values), a chunk of KB at a
 * time through wk (KB floats): the sum qc_run forms for that row. */
static float qc_row_dot(const mlxc_p_qmatmul *p, const uint8_t *w, const void *scales, const void *biases, uint32_t r,
                        const float *xk, float *wk) {
    const uint8_t *row = w + (uint64_t)r * p->row_bytes;
    switch (p->format) { /* the decode formats: no chunk buffer */
    case MLXC_QMMF_AFFINE:
        if ((p->bits == 4 || p->bits == 8) && (p->group == 32 || p->group == 64 || p->group == 128))
            return qc_row_dot_pieces(MLXC_QMMF_AFFINE, p, w, row, scales, biases, r, xk);
        break;
    case MLXC_QMMF_Q4_0: return qc_row_dot_pieces(MLXC_QMMF_Q4_0, p, w, row, scales, biases, r, xk);
    case MLXC_QMMF_Q4_1: return qc_row_dot_pieces(MLXC_QMMF_Q4_1, p, w, row, scales, biases, r, xk);
    case MLXC_QMMF_Q8_0: return qc_row_dot_pieces(MLXC_QMMF_Q8_0, p, w, row, scales, biases, r, xk);
    case MLXC_QMMF_Q4_K: return qc_row_dot_pieces(MLXC_QMMF_Q4_K, p, w, row, scales, biases, r, xk);
    case MLXC_QMMF_Q5_K: return qc_row_dot_pieces(MLXC_QMMF_Q5_K, p, w, row, scales, biases, r, xk);
    case MLXC_QMMF_Q6_K: return qc_row_dot_pieces(MLXC_QMMF_Q6_K, p, w, row, scales, biases, r, xk);
    case MLXC_QMMF_Q4_0T: return qc_row_dot_pieces(MLXC_QMMF_Q4_0T, p, w, row, scales, biases, r, xk);
    default: break;
    }
    float acc = 0.0f;
    for (uint32_t kb = 0; kb < p->k; kb += MLXC_CPU_QMM_KB) {
        const uint32_t kl = p->k - kb < MLXC_CPU_QMM_KB ? p->k - kb : MLXC_CPU_QMM_KB;
        qc_dequant_row(p, w, scales, biases, r, kb, kl, wk);
        acc += qc_dot(wk, xk + kb, kl);
    }
    return acc;
}

/* Four qc_dot at once: rows a, a + lda against b, b + ldb, into
 * acc[0], acc[1], acc[ldc], acc[ldc + 1].  Each sum keeps qc_dot's lanes
 * and order (the same bits); the four share their loads. */
static inline void qc_dot2x2(const float *a, const float *b, uint32_t n, uint32_t ld, float *acc, uint32_t ldc) {
    const float *a1 = a + ld, *b1 = b + ld;
    const uint32_t n8 = n / 8 * 8;
    /* each sum's lanes 0..3 and 4..7 as two 4-wide vectors */
    ops_v4f s[4][2];
    for (int i = 0; i < 4; i++) s[i][0] = s[i][1] = ops_v4_splat(0.0f);
    for (size_t j = 0; j < n8; j += 8)
        for (int h = 0; h < 2; h++) {
            const ops_v4f va = ops_ld4_f32(a + j + 4 * h), va1 = ops_ld4_f32(a1 + j + 4 * h);
            const ops_v4f vb = ops_ld4_f32(b + j + 4 * h), vb1 = ops_ld4_f32(b1 + j + 4 * h);
            s[0][h] += va * vb;
            s[1][h] += va1 * vb;
            s[2][h] += va * vb1;
            s[3][h] += va1 * vb1;
        }
    float l00[8], l01[8], l10[8], l11[8];
    float *const ls[4] = {l00, l01, l10, l11};
    for (int i = 0; i < 4; i++) ops_st4_f32(ls[i], s[i][0]), ops_st4_f32(ls[i] + 4, s[i][1]);
    for (uint32_t q = 0; n8 + q < n; q++) {
        l00[q] += a[n8 + q] * b[n8 + q];
        l01[q] += a1[n8 + q] * b[n8 + q];
        l10[q] += a[n8 + q] * b1[n8 + q];
        l11[q] += a1[n8 + q] * b1[n8 + q];
    }
    acc[0] += qc_lanes(l00);
    acc[1] += qc_lanes(l01);
    acc[ldc] += qc_lanes(l10);
    acc[ldc + 1] += qc_lanes(l11);
}

static void qc_run(const mlxc_cpu_launch *l, int x_bf16, int y_bf16) {
    const unsigned char *x = l->args[0];
    const uint8_t *w = l->args[1];
    const void *scales = l->args[2], *biases = l->args[3];
    void *y = l->args[4];
    const mlxc_p_qmatmul *p = l->args[5];
    const uint32_t m = p->m, n = p->n, k = p->k, NT = MLXC_CPU_QMM_NT, MT = MLXC_CPU_QMM_MT, KB = MLXC_CPU_QMM_KB;
    const uint64_t ntn = (n + NT - 1) / NT, ntm = (m + MT - 1) / MT;
    uint64_t t0, t1;
    mlxc_cpu_slice(l, ntn * ntm, &t0, &t1);
    if (t0 >= t1) return;
    if (m == 1) {
        /* One token (decode): x converted once, then each weight row a chunk
         * at a time, dotted while the chunk is in L1 (the tiles below write
         * NT chunks before reading any).  The sums are the tiles' own. */
        float *xk = malloc(((size_t)k + KB) * sizeof(float)), *wk = xk + k;
        if (!xk) {
            *l->fault = 1;
            return;
        }
        for (uint32_t q = 0; q < k; q++)
            xk[q] = qc_ldx(x, q, x_bf16);
        for (uint64_t t = t0; t < t1; t++) {
            const uint32_t c0 = (uint32_t)t * NT, nr = n - c0 < NT ? n - c0 : NT;
            for (uint32_t r = 0; r < nr; r++) {
                const float acc = qc_row_dot(p, w, scales, biases, c0 + r, xk, wk);
                qc_sty(y, c0 + r, acc, y_bf16);
            }
        }
        free(xk);
        return;
    }
    float *xf = malloc(((size_t)MT + NT) * KB * sizeof(float) + (size_t)MT * NT * sizeof(float));
    if (!xf) {
        *l->fault = 1;
        return;
    }
    float *wf = xf + (size_t)MT * KB, *acc = wf + (size_t)NT * KB;
    for (uint64_t t = t0; t < t1; t++) {
        const uint32_t c0 = (uint32_t)(t / ntm) * NT, i0 = (uint32_t)(t % ntm) * MT;
        const uint32_t nr = n - c0 < NT ? n - c0 : NT, mr = m - i0 < MT ? m - i0 : MT;
        memset(acc, 0, (size_t)MT * NT * sizeof(float));
        for (uint32_t kb = 0; kb < k; kb += KB) {
            const uint32_t kl = k - kb < KB ? k - kb : KB;
            for (uint32_t i = 0; i < mr; i++) {
                const uint64_t at = (uint64_t)(i0 + i) * k + kb;
                for (uint32_t q = 0; q < kl; q++)
                    xf[(size_t)i * KB + q] = qc_ldx(x, at + q, x_bf16);
            }
            for (uint32_t r = 0; r < nr; r++) qc_dequant_row(p, w, scales, biases, c0 + r, kb, kl, wf + (size_t)r * KB);
            uint32_t i = 0;
            for (; i + 2 <= mr; i += 2) {
                uint32_t r = 0;
                for (; r + 2 <= nr; r += 2)
                    qc_dot2x2(wf + (size_t)r * KB, xf + (size_t)i * KB, kl, KB, acc + (size_t)i * NT + r, NT);
                for (; r < nr; r++) {
                    acc[(size_t)i * NT + r] += qc_dot(wf + (size_t)r * KB, xf + (size_t)i * KB, kl);
                    acc[(size_t)(i + 1) * NT + r] += qc_dot(wf + (size_t)r * KB, xf + (size_t)(i + 1) * KB, kl);
                }
            }
            for (; i < mr; i++)
                for (uint32_t r = 0; r < nr; r++)
                    acc[(size_t)i * NT + r] += qc_dot(wf + (size_t)r * KB, xf + (size_t)i * KB, kl);
        }
        for (uint32_t i = 0; i < mr; i++)
            for (uint32_t r = 0; r < nr; r++) {
                const uint64_t o = (uint64_t)(i0 + i) * n + c0 + r;
                qc_sty(y, o, acc[(size_t)i * NT + r], y_bf16);
            }
    }
    free(xf);
}

static void qc_f32_f32(const mlxc_cpu_launch *l) { qc_run(l, 0, 0); }
static void qc_f32_bf16(const mlxc_cpu_launch *l) { qc_run(l, 0, 1); }
static void qc_bf16_f32(const mlxc_cpu_launch *l) { qc_run(l, 1, 0); }
static void qc_bf16_bf16(const mlxc_cpu_launch *l) { qc_run(l, 1, 1); }

/* Rows of W dequantized (mlxc_p_qgather): a group owns a run of output rows. */
static void qc_gather(const mlxc_cpu_launch *l, int y_bf16) {
    const uint32_t *ids = l->args[0];
    const uint8_t *w = l->args[1];
    const void *scales = l->args[2], *biases = l->args[3];
    void *out = l->args[4];
    const mlxc_p_qgather *g = l->args[5];
    const mlxc_p_qmatmul *p = &g->q;
    const uint32_t KB = MLXC_CPU_QMM_KB;
    float buf[MLXC_CPU_QMM_KB];
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->m, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const uint32_t src = g->has_ids ? ids[r] : (uint32_t)r;
        for (uint32_t kb = 0; kb < p->k; kb += KB) {
            const uint32_t kl = p->k - kb < KB ? p->k - kb : KB;
            if (src < p->n) qc_dequant_row(p, w, scales, biases, src, kb, kl, buf);
            else memset(buf, 0, sizeof buf);
            for (uint32_t q = 0; q < kl; q++) {
                const uint64_t o = r * p->k + kb + q;
                qc_sty(out, o, buf[q] * g->scale, y_bf16);
            }
        }
    }
}
static void qc_gather_f32(const mlxc_cpu_launch *l) { qc_gather(l, 0); }
static void qc_gather_bf16(const mlxc_cpu_launch *l) { qc_gather(l, 1); }

/* Expert-routed mat-vec (mlxc_p_qmoe): a group owns runs of (pair, tile of
 * NT rows); the sums run in the order of qc_run, so each pair's row equals
 * the plain op on that expert's matrix bit for bit. */
static void qc_moe(const mlxc_cpu_launch *l, int x_bf16, int y_bf16) {
    const unsigned char *x = l->args[0];
    const uint8_t *w = l->args[1];
    const void *scales = l->args[2], *biases = l->args[3];
    const uint32_t *ids = l->args[4];
    void *y = l->args[5];
    const mlxc_p_qmoe *mp = l->args[6];
    const mlxc_p_qmatmul *p = &mp->q;
    const uint32_t n = p->n, k = p->k, NT = MLXC_CPU_QMM_NT, KB = MLXC_CPU_QMM_KB;
    const uint64_t ntn = (n + NT - 1) / NT;
    uint64_t t0, t1;
    mlxc_cpu_slice(l, (uint64_t)p->m * ntn, &t0, &t1);
    float xf[MLXC_CPU_QMM_KB], wf[MLXC_CPU_QMM_KB], acc[MLXC_CPU_QMM_NT];
    for (uint64_t t = t0; t < t1; t++) {
        const uint32_t pair = (uint32_t)(t / ntn), c0 = (uint32_t)(t % ntn) * NT, nr = n - c0 < NT ? n - c0 : NT;
        const uint32_t e = ids[pair], tok = pair / mp->topk;
        memset(acc, 0, sizeof acc);
        for (uint32_t kb = 0; kb < k && e < mp->experts; kb += KB) {
            const uint32_t kl = k - kb < KB ? k - kb : KB;
            const uint64_t at = (uint64_t)tok * k + kb;
            for (uint32_t q = 0; q < kl; q++)
                xf[q] = qc_ldx(x, at + q, x_bf16);
            for (uint32_t r = 0; r < nr; r++) {
                qc_dequant_row(p, w, scales, biases, e * n + c0 + r, kb, kl, wf);
                acc[r] += qc_dot(wf, xf, kl);
            }
        }
        for (uint32_t r = 0; r < nr; r++) {
            const uint64_t o = (uint64_t)pair * n + c0 + r;
            qc_sty(y, o, acc[r], y_bf16);
        }
    }
}
static void qc_moe_f32_f32(const mlxc_cpu_launch *l) { qc_moe(l, 0, 0); }
static void qc_moe_f32_bf16(const mlxc_cpu_launch *l) { qc_moe(l, 0, 1); }
static void qc_moe_bf16_f32(const mlxc_cpu_launch *l) { qc_moe(l, 1, 0); }
static void qc_moe_bf16_bf16(const mlxc_cpu_launch *l) { qc_moe(l, 1, 1); }

/* Expert-grouped mat-mat (qmoeg, params_qmatmul.h): a group owns runs of
 * (expert, tile of NT rows) units and walks the expert's slots MT at a
 * time; each (slot, row) sums its k chunks in the order of qc_moe, so a
 * row equals mlxc_qmatmul_experts' bit for bit. */
static void qc_moeg(const mlxc_cpu_launch *l, int x_bf16, int y_bf16) {
    const unsigned char *x = l->args[0];
    const uint8_t *w = l->args[1];
    const void *scales = l->args[2], *biases = l->args[3];
    const uint32_t *offsets = l->args[4], *perm = l->args[5];
    void *y = l->args[6];
    const mlxc_p_qmoe *mp = l->args[7];
    const mlxc_p_qmatmul *p = &mp->q;
    const uint32_t n = p->n, k = p->k, slots = p->m, E = mp->experts;
    const uint32_t NT = MLXC_CPU_QMM_NT, MT = MLXC_CPU_QMM_MT, KB = MLXC_CPU_QMM_KB;
    const uint64_t ntn = (n + NT - 1) / NT;
    uint64_t u0, u1;
    mlxc_cpu_slice(l, (uint64_t)(E + 1) * ntn, &u0, &u1);
    if (u0 >= u1) return;
    float *xf = malloc(((size_t)MT * KB + (size_t)NT * KB + (size_t)MT * NT) * sizeof(float));
    if (!xf) {
        *l->fault = 1;
        return;
    }
    float *wf = xf + (size_t)MT * KB, *acc = wf + (size_t)NT * KB;
    for (uint64_t u = u0; u < u1; u++) {
        const uint32_t e = (uint32_t)(u / ntn), c0 = (uint32_t)(u % ntn) * NT, nr = n - c0 < NT ? n - c0 : NT;
        /* The slots of e (the unrouted tail for e == E), clamped to the slots. */
        uint32_t lo = e < E ? offsets[e] : offsets[E], hi = e < E ? offsets[e + 1] : slots;
        if (hi > slots) hi = slots;
        if (lo > hi) lo = hi;
        for (uint32_t s0 = lo; s0 < hi; s0 += MT) {
            const uint32_t sr = hi - s0 < MT ? hi - s0 : MT;
            memset(acc, 0, (size_t)MT * NT * sizeof(float));
            for (uint32_t kb = 0; kb < k && e < E; kb += KB) {
                const uint32_t kl = k - kb < KB ? k - kb : KB;
                for (uint32_t i = 0; i < sr; i++) {
                    const uint32_t slot = perm[s0 + i];
                    const uint64_t at = (uint64_t)(slot < slots ? slot / mp->topk : 0) * k + kb;
                    for (uint32_t q = 0; q < kl; q++)
                        xf[(size_t)i * KB + q] = qc_ldx(x, at + q, x_bf16);
                }
                for (uint32_t r = 0; r < nr; r++)
                    qc_dequant_row(p, w, scales, biases, e * n + c0 + r, kb, kl, wf + (size_t)r * KB);
                for (uint32_t i = 0; i < sr; i++)
                    for (uint32_t r = 0; r < nr; r++)
                        acc[(size_t)i * NT + r] += qc_dot(wf + (size_t)r * KB, xf + (size_t)i * KB, kl);
            }
            for (uint32_t i = 0; i < sr; i++) {
                const uint32_t slot = perm[s0 + i];
                if (slot >= slots) continue;
                for (uint32_t r = 0; r < nr; r++) {
                    const uint64_t o = (uint64_t)slot * n + c0 + r;
                    qc_sty(y, o, acc[(size_t)i * NT + r], y_bf16);
                }
            }
        }
    }
    free(xf);
}
static void qc_moeg_f32_f32(const mlxc_cpu_launch *l) { qc_moeg(l, 0, 0); }
static void qc_moeg_f32_bf16(const mlxc_cpu_launch *l) { qc_moeg(l, 0, 1); }
static void qc_moeg_bf16_f32(const mlxc_cpu_launch *l) { qc_moeg(l, 1, 0); }
static void qc_moeg_bf16_bf16(const mlxc_cpu_launch *l) { qc_moeg(l, 1, 1); }

#define MLXC_FAMILY_NAME qmatmul
/* MLXC_QMVF_ACT_Q8: x' as the int8 values the GPU multiplies, d q per 32
 * (params_qmatmul.h); q as __float2int_rn rounds (to nearest even). */
static void qc_q8_act(float *xf, uint32_t k) {
    for (uint32_t i = 0; i < k; i += 32) {
        const uint32_t c = k - i < 32 ? k - i : 32;
        float a = 0.0f;
        for (uint32_t j = 0; j < c; j++) a = fmaxf(a, fabsf(xf[i + j]));
        const float d = a / 127.0f, id = a > 0.0f ? 127.0f / a : 0.0f;
        for (uint32_t j = 0; j < c; j++) xf[i + j] = d * rintf(xf[i + j] * id);
    }
}

/* x' of the fused mat-vec (k values into xf) with the formulas of the CPU
 * rms_norm and silu_mul, so it equals what those ops store; then, for
 * int8 activations, quantized as the GPU multiplies it. */
static void qc_vf_prologue(const mlxc_p_qmvf *vp, const uint16_t *x, const uint16_t *aux, const uint16_t *g,
                           uint32_t k, float *xf) {
    if (vp->pro == MLXC_QMVF_RMS_NORM) {
        const float inv = 1.0f / sqrtf(ops_sum_sq(OPS_BF16, x, k) / (float)k + vp->eps);
        for (uint32_t i = 0; i < k; i++)
            xf[i] = qc_round_bf16(ops_ld(OPS_BF16, x, i) * inv * ops_ld(OPS_BF16, g, i));
    } else if (vp->pro == MLXC_QMVF_SILU_MUL) {
        /* silu_mul's four lanes (ops_silu_mul4, the op's own) */
        for (uint32_t i = 0; i < k; i += 4) {
            float a[4] = {0}, b[4] = {0};
            const uint32_t c = k - i < 4 ? k - i : 4;
            for (uint32_t j = 0; j < c; j++) a[j] = ops_ld(OPS_BF16, x, i + j), b[j] = ops_ld(OPS_BF16, aux, i + j);
            ops_v4f va, vb;
            memcpy(&va, a, 16);
            memcpy(&vb, b, 16);
            const ops_v4f r = ops_silu_mul4(va, vb);
            float o[4];
            memcpy(o, &r, 16);
            for (uint32_t j = 0; j < c; j++) xf[i + j] = qc_round_bf16(o[j]);
        }
    } else {
        for (uint32_t i = 0; i < k; i++) xf[i] = ops_ld(OPS_BF16, x, i);
    }
    if (vp->act == MLXC_QMVF_ACT_Q8) qc_q8_act(xf, k);
}

/* The fused decode mat-vec (mlxc_p_qmvf): x' (qc_vf_prologue), then each
 * row summed as qc_run sums it, then the epilogue into y, bf16 or (f32)
 * f32.  A group owns tiles of MLXC_CPU_QMM_NT rows and makes x' itself. */
static void qc_vf_y(const mlxc_cpu_launch *l, bool f32) {
    const uint16_t *x = l->args[0], *aux = l->args[1], *g = l->args[2];
    const uint8_t *w = l->args[3];
    const void *scales = l->args[4], *biases = l->args[5];
    uint16_t *y = l->args[6];
    float *yf = l->args[6];
    const mlxc_p_qmvf *vp = l->args[7];
    const mlxc_p_qmatmul *p = &vp->q;
    const uint32_t n = p->n, k = p->k, NT = MLXC_CPU_QMM_NT, KB = MLXC_CPU_QMM_KB;
    uint64_t t0, t1;
    mlxc_cpu_slice(l, (n + NT - 1) / NT, &t0, &t1);
    if (t0 >= t1) return;
    float *xf = malloc(((size_t)k + KB) * sizeof(float)), *wf = xf + k;
    if (!xf) {
        *l->fault = 1;
        return;
    }
    qc_vf_prologue(vp, x, aux, g, k, xf);
    for (uint64_t t = t0; t < t1; t++) {
        const uint32_t c0 = (uint32_t)t * NT, nr = n - c0 < NT ? n - c0 : NT;
        for (uint32_t r = 0; r < nr; r++) {
            const float d = qc_row_dot(p, w, scales, biases, c0 + r, xf, wf);
            if (f32) {
                yf[c0 + r] = vp->epi == MLXC_QMVF_ADD ? yf[c0 + r] + d : d;
                continue;
            }
            float v = qc_round_bf16(d);
            if (vp->epi == MLXC_QMVF_ADD) v += mlxc_half_bf16_to_f32(y[c0 + r]);
            y[c0 + r] = mlxc_half_f32_to_bf16(v);
        }
    }
    free(xf);
}
static void qc_vf(const mlxc_cpu_launch *l) { qc_vf_y(l, false); }
static void qc_vf32(const mlxc_cpu_launch *l) { qc_vf_y(l, true); }

/* Two fused mat-vecs of one x (mlxc_p_qmvp): qc_vf on part a (w1 into
 * y1), then on part b (w2 into y2), each group its slice of both. */
static void qc_vp(const mlxc_cpu_launch *l) {
    const mlxc_p_qmvp *pp = l->args[10];
    for (int part = 0; part < 2; part++) {
        const int o = 2 + 4 * part; /* w, scales, biases, y of the part */
        void *const args[8] = {l->args[0], l->args[0], l->args[1], l->args[o], l->args[o + 1], l->args[o + 2],
                               l->args[o + 3], (void *)(part ? &pp->b : &pp->a)};
        mlxc_cpu_launch sub = *l;
        sub.args = args;
        sub.arg_sizes = NULL;
        sub.nargs = 8;
        qc_vf(&sub);
        if (*l->fault) return;
    }
}

/* The expert-routed fused mat-vec (mlxc_p_qmoef): a group owns runs of
 * (pair, tile of NT rows), makes x' of a pair's token when the token
 * changes, and sums each row of the pair's expert as qc_moe does (the
 * same bits as the prologue's op, then mlxc_qmatmul_experts). */
static void qc_moef(const mlxc_cpu_launch *l) {
    const uint16_t *x = l->args[0], *aux = l->args[1], *g = l->args[2];
    const uint8_t *w = l->args[3];
    const void *scales = l->args[4], *biases = l->args[5];
    const uint32_t *ids = l->args[6];
    uint16_t *y = l->args[7];
    const mlxc_p_qmoef *mp = l->args[8];
    const mlxc_p_qmvf *vp = &mp->v;
    const mlxc_p_qmatmul *p = &vp->q;
    const uint32_t n = p->n, k = p->k, NT = MLXC_CPU_QMM_NT, KB = MLXC_CPU_QMM_KB;
    const uint64_t ntn = (n + NT - 1) / NT;
    uint64_t t0, t1;
    mlxc_cpu_slice(l, (uint64_t)mp->pairs * ntn, &t0, &t1);
    if (t0 >= t1) return;
    float *xf = malloc(((size_t)k + KB) * sizeof(float)), *wf = xf + k;
    if (!xf) {
        *l->fault = 1;
        return;
    }
    uint32_t have = UINT32_MAX; /* the token x' holds */
    for (uint64_t t = t0; t < t1; t++) {
        const uint32_t pair = (uint32_t)(t / ntn), c0 = (uint32_t)(t % ntn) * NT, nr = n - c0 < NT ? n - c0 : NT;
        const uint32_t e = ids[pair], tok = pair / mp->topk;
        if (e < mp->experts && tok != have) {
            const uint64_t at = (uint64_t)tok * mp->x_stride;
            qc_vf_prologue(vp, x + at, aux + at, g, k, xf);
            have = tok;
        }
        for (uint32_t r = 0; r < nr; r++) {
            const float v = e < mp->experts ? qc_row_dot(p, w, scales, biases, e * n + c0 + r, xf, wf) : 0.0f;
            y[(uint64_t)pair * n + c0 + r] = mlxc_half_f32_to_bf16(v);
        }
    }
    free(xf);
}

/* The experts' down projection and their combine (mlxc_p_qmoef, group >
 * 0): a group owns (token, tile of NT rows) units; for each it makes x'
 * of each of the token's pairs (pair s its own rows of x and aux) and sums
 * the tile's rows of the pair's expert as qc_moef does, then adds the
 * tile's weighted sum to the residual as moe_combine does: the bits of
 * qc_moef and moe_combine one after the other. */
static void qc_moec(const mlxc_cpu_launch *l) {
    const uint16_t *x = l->args[0], *aux = l->args[1], *g = l->args[2];
    const uint8_t *w = l->args[3];
    const void *scales = l->args[4], *biases = l->args[5];
    const uint32_t *ids = l->args[6];
    const float *rw = l->args[7];
    uint16_t *y = l->args[8], *resid = l->args[9];
    const mlxc_p_qmoef *mp = l->args[11];
    const mlxc_p_qmvf *vp = &mp->v;
    const mlxc_p_qmatmul *p = &vp->q;
    const uint32_t n = p->n, k = p->k, NT = MLXC_CPU_QMM_NT, KB = MLXC_CPU_QMM_KB, G = mp->group;
    const uint64_t ntn = (n + NT - 1) / NT;
    uint64_t t0, t1;
    if (G == 0) return;
    mlxc_cpu_slice(l, (uint64_t)(mp->pairs / G) * ntn, &t0, &t1);
    if (t0 >= t1) return;
    float *xf = malloc(((size_t)k + KB) * sizeof(float)), *wf = xf + k;
    if (!xf) {
        *l->fault = 1;
        return;
    }
    for (uint64_t t = t0; t < t1; t++) {
        const uint32_t tok = (uint32_t)(t / ntn), c0 = (uint32_t)(t % ntn) * NT, nr = n - c0 < NT ? n - c0 : NT;
        for (uint32_t j = 0; j < G; j++) {
            const uint32_t pair = tok * G + j, e = ids[pair];
            if (e < mp->experts) {
                const uint64_t at = (uint64_t)pair * mp->x_stride;
                qc_vf_prologue(vp, x + at, aux + at, g, k, xf);
            }
            for (uint32_t r = 0; r < nr; r++) {
                const float v = e < mp->experts ? qc_row_dot(p, w, scales, biases, e * n + c0 + r, xf, wf) : 0.0f;
                y[(uint64_t)pair * n + c0 + r] = mlxc_half_f32_to_bf16(v);
            }
        }
        for (uint32_t r = 0; r < nr; r++) {
            float acc = 0.0f;
            for (uint32_t j = 0; j < G; j++)
                acc += rw[tok * G + j] * mlxc_half_bf16_to_f32(y[((uint64_t)tok * G + j) * n + c0 + r]);
            const uint64_t o = (uint64_t)tok * n + c0 + r;
            resid[o] = mlxc_half_f32_to_bf16(qc_round_bf16(acc) + mlxc_half_bf16_to_f32(resid[o]));
        }
    }
    free(xf);
}

#define MLXC_FAMILY_DEF "kernels/qmatmul.def"
#include "kernels/cpu/family_tables.h"
