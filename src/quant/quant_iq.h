/* Eight values of a GGML IQ1/IQ2/IQ3, TQ1_0/TQ2_0 or NVFP4 block, one
 * routine for the CPU reference (quant_ggml.c), the CPU kernels and the
 * CUDA kernels (src/kernels/cpu/qmatmul.c, src/kernels/cuda/qmatmul.cu).
 *
 * These formats name their values through code books (quant_grids.h) and
 * per-group scales; what a value is follows gguf.quants.dequantize (gguf
 * 0.19), operation for operation in f32, so that the CPU gives its floats
 * bit for bit:
 *   IQ2_XXS, IQ2_XS, IQ2_S  db = d (0.5 + s) 0.25, value = db grid[t], negated
 *                           where the group's sign bit t is set
 *   IQ3_XXS                 db = d (0.5 + s) 0.5, the same
 *   IQ3_S                   db = d (1 + 2 s), the same
 *   IQ1_S, IQ1_M            dl = d (2 s + 1), value = dl (grid[t] + delta),
 *                           delta = -0.125 where the point's flag is set,
 *                           else 0.125
 *   TQ1_0, TQ2_0            d (q - 1), q a base-3 or 2-bit digit
 *   NVFP4                   e2m1 code x unsigned-e4m3 scale
 * The IQ2/IQ3 sign groups are 7 bits that index a table of 8-bit patterns:
 * entry i is i plus an eighth bit that makes the count of set bits even.
 *
 * Blocks are only as aligned as a GGUF tensor's offset allows (2 bytes at
 * most here, IQ1_M and NVFP4 1), so every field is read a byte at a time.
 *
 * The includer defines MLXC_QI_F16(h) (an f16 bit pattern as float) first. */
#ifndef MLXC_QUANT_IQ_H
#define MLXC_QUANT_IQ_H

#include <stdint.h>

#include "quant/quant_blocks.h"
#include "quant/quant_grids.h"

#ifndef MLXC_QI_F16
#error "define MLXC_QI_F16(h) before including quant_iq.h"
#endif

#ifdef __CUDACC__
#define MLXC_QI_FN static __device__ __forceinline__
#define MLXC_QI_TABLE static __device__ const
#else
#include <math.h>
#define MLXC_QI_FN static inline
#define MLXC_QI_TABLE static const
#endif

MLXC_QI_TABLE uint64_t mlxc_qi_iq2xxs[MLXC_IQ2XXS_GRID_SIZE] = MLXC_IQ2XXS_GRID_INIT;
MLXC_QI_TABLE uint64_t mlxc_qi_iq2xs[MLXC_IQ2XS_GRID_SIZE] = MLXC_IQ2XS_GRID_INIT;
MLXC_QI_TABLE uint64_t mlxc_qi_iq2s[MLXC_IQ2S_GRID_SIZE] = MLXC_IQ2S_GRID_INIT;
MLXC_QI_TABLE uint32_t mlxc_qi_iq3xxs[MLXC_IQ3XXS_GRID_SIZE] = MLXC_IQ3XXS_GRID_INIT;
MLXC_QI_TABLE uint32_t mlxc_qi_iq3s[MLXC_IQ3S_GRID_SIZE] = MLXC_IQ3S_GRID_INIT;
MLXC_QI_TABLE uint64_t mlxc_qi_iq1s[MLXC_IQ1S_GRID_SIZE] = MLXC_IQ1S_GRID_INIT;
MLXC_QI_TABLE int8_t mlxc_qi_e2m1x2[16] = MLXC_E2M1_X2_INIT;

/* True for the types mlxc_qi_deq8 decodes. */
MLXC_QI_FN int mlxc_qi_has(uint32_t t) {
    return t == MLXC_QI_IQ2_XXS || t == MLXC_QI_IQ2_XS || t == MLXC_QI_IQ2_S || t == MLXC_QI_IQ3_XXS ||
           t == MLXC_QI_IQ3_S || t == MLXC_QI_IQ1_S || t == MLXC_QI_IQ1_M || t == MLXC_QI_TQ1_0 ||
           t == MLXC_QI_TQ2_0 || t == MLXC_QI_NVFP4;
}

MLXC_QI_FN uint32_t mlxc_qi_u16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
MLXC_QI_FN uint32_t mlxc_qi_u32(const uint8_t *p) { return mlxc_qi_u16(p) | mlxc_qi_u16(p + 2) << 16; }

/* The 8-bit sign pattern of a 7-bit sign index (bit t set: value t < 0). */
MLXC_QI_FN uint32_t mlxc_qi_signs(uint32_t i) {
    uint32_t p = i ^ (i >> 4);
    p ^= p >> 2;
    p ^= p >> 1;
    return i | (p & 1) << 7;
}

/* v[t] = db * the point's value t, negated where bit t of s is set. */
MLXC_QI_FN void mlxc_qi_point8(float db, uint64_t point, uint32_t s, float v[8]) {
    for (int t = 0; t < 8; t++) {
        const float a = db * (float)(uint32_t)((point >> (8 * t)) & 0xFF);
        v[t] = (s >> t) & 1 ? -a : a;
    }
}

/* IQ1: v[t] = dl * (point value t + delta), the value an int8 -1, 0 or 1. */
MLXC_QI_FN void mlxc_qi_iq1_8(float dl, uint64_t point, float delta, float v[8]) {
    for (int t = 0; t < 8; t++) v[t] = dl * ((float)(int8_t)(uint8_t)((point >> (8 * t)) & 0xFF) + delta);
}

/* NVFP4's scale: an unsigned e4m3 (bit 7 ignored; 0 and 0x7F give 0), halved
 * for the doubled e2m1 table. */
MLXC_QI_FN float mlxc_qi_ue4m3_half(uint32_t x) {
    const int e = (int)((x >> 3) & 15), m = (int)(x & 7);
    if (x == 0 || x == 0x7F) return 0.0f;
    const float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return v * 0.5f;
}

/* Values j0 .. j0 + 7 (j0 a multiple of 8 inside the block) of the block of
 * type t at b into v. */
MLXC_QI_FN void mlxc_qi_deq8(uint32_t t, const uint8_t *b, uint32_t j0, float v[8]) {
    const uint32_t l = j0 / 8; /* the 8-value group, 0..31 in a 256 block */
    switch (t) {
    case MLXC_QI_IQ2_XXS: { /* d, then per 32 values: 4 point bytes, a word of 4 sign groups and the scale */
        const uint8_t *sb = b + 2 + 8 * (l / 4);
        const uint32_t aux = mlxc_qi_u32(sb + 4);
        const float db = MLXC_QI_F16(mlxc_qi_u16(b)) * (0.5f + (float)(aux >> 28)) * 0.25f;
        mlxc_qi_point8(db, mlxc_qi_iq2xxs[sb[l % 4]], mlxc_qi_signs((aux >> (7 * (l % 4))) & 127), v);
        return;
    }
    case MLXC_QI_IQ2_XS: { /* d, 32 x (9-bit point | 7-bit signs), 16 4-bit scales */
        const uint32_t q = mlxc_qi_u16(b + 2 + 2 * l), s = (b[66 + l / 4] >> (4 * ((l / 2) % 2))) & 15;
        const float db = MLXC_QI_F16(mlxc_qi_u16(b)) * (0.5f + (float)s) * 0.25f;
        mlxc_qi_point8(db, mlxc_qi_iq2xs[q & 511], mlxc_qi_signs(q >> 9), v);
        return;
    }
    case MLXC_QI_IQ2_S: { /* d, 32 point bytes, 32 sign bytes, 8 bytes of high point bits, 8 of scales */
        const uint32_t p = b[2 + l] | ((b[66 + l / 4] >> (2 * (l % 4))) & 3) << 8;
        const uint32_t s = (b[74 + l / 4] >> (4 * ((l / 2) % 2))) & 15;
        const float db = MLXC_QI_F16(mlxc_qi_u16(b)) * (0.5f + (float)s) * 0.25f;
        mlxc_qi_point8(db, mlxc_qi_iq2s[p], b[34 + l], v);
        return;
    }
    case MLXC_QI_IQ3_XXS: { /* d, 64 point bytes (4 values each), 8 words of sign groups and scale */
        const uint32_t aux = mlxc_qi_u32(b + 66 + 4 * (l / 4));
        const float db = MLXC_QI_F16(mlxc_qi_u16(b)) * (0.5f + (float)(aux >> 28)) * 0.5f;
        const uint64_t point = (uint64_t)mlxc_qi_iq3xxs[b[2 + 2 * l]] | (uint64_t)mlxc_qi_iq3xxs[b[3 + 2 * l]] << 32;
        mlxc_qi_point8(db, point, mlxc_qi_signs((aux >> (7 * (l % 4))) & 127), v);
        return;
    }
    case MLXC_QI_IQ3_S: { /* d, 64 point bytes, 8 bytes of 9th point bits, 32 sign bytes, 8 4-bit scales */
        const uint32_t e0 = 2 * l, e1 = 2 * l + 1;
        const uint32_t p0 = b[2 + e0] | ((b[66 + e0 / 8] >> (e0 % 8)) & 1) << 8;
        const uint32_t p1 = b[2 + e1] | ((b[66 + e1 / 8] >> (e1 % 8)) & 1) << 8;
        const uint32_t s = (b[106 + l / 8] >> (4 * ((l / 4) % 2))) & 15;
        const float db = MLXC_QI_F16(mlxc_qi_u16(b)) * (float)(1 + 2 * s);
        mlxc_qi_point8(db, (uint64_t)mlxc_qi_iq3s[p0] | (uint64_t)mlxc_qi_iq3s[p1] << 32, b[74 + l], v);
        return;
    }
    case MLXC_QI_IQ1_S: { /* d, 32 point bytes, 8 words: 4 x 3 high point bits, 3-bit scale, delta sign */
        const uint32_t h = mlxc_qi_u16(b + 34 + 2 * (l / 4));
        const float dl = MLXC_QI_F16(mlxc_qi_u16(b)) * (float)(2 * ((h >> 12) & 7) + 1);
        const uint32_t p = b[2 + l] | ((h >> (3 * (l % 4))) & 7) << 8;
        mlxc_qi_iq1_8(dl, mlxc_qi_iq1s[p], (h & 0x8000) ? -0.125f : 0.125f, v);
        return;
    }
    case MLXC_QI_IQ1_M: { /* 32 point bytes, 16 bytes of (3 high point bits, delta sign) x 2,
                           * 4 words of 4 3-bit scales, d in their top nibbles */
        const uint32_t d = mlxc_qi_u16(b + 48) >> 12 | (mlxc_qi_u16(b + 50) >> 8 & 0xF0) |
                           (mlxc_qi_u16(b + 52) >> 4 & 0xF00) | (mlxc_qi_u16(b + 54) & 0xF000);
        const uint32_t g = l / 2, s = (mlxc_qi_u16(b + 48 + 2 * (g / 4)) >> (3 * (g % 4))) & 7;
        const float dl = MLXC_QI_F16(d) * (float)(2 * s + 1);
        const uint32_t h = (b[32 + l / 2] >> (4 * (l % 2))) & 15;
        mlxc_qi_iq1_8(dl, mlxc_qi_iq1s[b[l] | (h & 7) << 8], (h & 8) ? -0.125f : 0.125f, v);
        return;
    }
    case MLXC_QI_TQ1_0: { /* 48 bytes of 5 base-3 digits (32 then 16), 4 bytes of 4, d */
        const float d = MLXC_QI_F16(mlxc_qi_u16(b + 52));
        for (int u = 0; u < 8; u++) {
            const uint32_t i = j0 + (uint32_t)u;
            uint32_t byte, k;
            if (i < 160) byte = b[i % 32], k = i / 32;
            else if (i < 240) byte = b[32 + (i - 160) % 16], k = (i - 160) / 16;
            else byte = b[48 + (i - 240) % 4], k = (i - 240) / 4;
            const uint32_t p3 = k == 0 ? 1 : k == 1 ? 3 : k == 2 ? 9 : k == 3 ? 27 : 81;
            const uint32_t q = (((byte * p3) & 0xFF) * 3) >> 8;
            v[u] = d * (float)((int)q - 1);
        }
        return;
    }
    case MLXC_QI_TQ2_0: { /* 64 bytes of 4 2-bit digits (value c*128 + k*32 + j in byte c*32 + j), d */
        const float d = MLXC_QI_F16(mlxc_qi_u16(b + 64));
        const uint32_t c = j0 / 128, k = (j0 % 128) / 32, j = j0 % 32;
        for (int u = 0; u < 8; u++) v[u] = d * (float)((int)((b[32 * c + j + u] >> (2 * k)) & 3) - 1);
        return;
    }
    case MLXC_QI_NVFP4: { /* 4 scales, then per 16 values 8 bytes: value j low nibble, j + 8 high */
        const uint32_t sb = j0 / 16, hi = (j0 % 16) / 8;
        const float d = mlxc_qi_ue4m3_half(b[sb]);
        for (int u = 0; u < 8; u++) v[u] = d * (float)mlxc_qi_e2m1x2[(b[4 + 8 * sb + u] >> (4 * hi)) & 15];
        return;
    }
    default:
        for (int u = 0; u < 8; u++) v[u] = 0.0f;
        return;
    }
}

/* The n values (a multiple of 8) of the block of type t at b into y. */
MLXC_QI_FN void mlxc_qi_deq_block(uint32_t t, const uint8_t *b, uint32_t n, float *y) {
    for (uint32_t j = 0; j < n; j += 8) mlxc_qi_deq8(t, b, j, y + j);
}

#endif /* MLXC_QUANT_IQ_H */
