/*
 * f16 and bf16 to and from f32, round to nearest even, header-only so the
 * CPU kernels' conversion loops inline and vectorize.  The one definition
 * for the core's public mlxc_f16_to_f32 family, the CPU kernels and the
 * tests, so every path rounds the same way.
 */
#ifndef MLXC_CORE_HALF_H
#define MLXC_CORE_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t mlxc_half_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float mlxc_half_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float mlxc_half_bf16_to_f32(uint16_t b) { return mlxc_half_bits_f32((uint32_t)b << 16); }

/* NaN stays a (quiet) NaN: rounding could carry its payload into inf. */
static inline uint16_t mlxc_half_f32_to_bf16(float f) {
    uint32_t u = mlxc_half_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Branch-free so loops over it vectorize: the 15 bits of exponent and
 * mantissa move into place and one multiply by 2^112 rebiases the exponent
 * (exact for normals and subnormals); inf and NaN get the all-ones exponent. */
static inline float mlxc_half_f16_to_f32(uint16_t h) {
    const uint32_t em = h & 0x7fffu, sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t u = em << 13;
    uint32_t r = mlxc_half_f32_bits(mlxc_half_bits_f32(u) * 0x1p112f);
    r = em >= 0x7c00u ? (u | 0x7f800000u) : r;
    return mlxc_half_bits_f32(r | sign);
}

static inline uint16_t mlxc_half_f32_to_f16(float f) {
    uint32_t u = mlxc_half_f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);       /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);      /* inf; 65520 rounds up */
    if (a < 0x38800000u) {                                        /* subnormal or zero */
        /* Adding 0.5 (as f32) makes the FPU round to the f16 subnormal grid. */
        float r = mlxc_half_bits_f32(a) + 0.5f;
        return (uint16_t)(sign | (mlxc_half_f32_bits(r) - 0x3f000000u));
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xc8000fffu + mant_odd;   /* rebias the exponent (-112 << 23), round to nearest even */
    return (uint16_t)(sign | (a >> 13));
}

#endif /* MLXC_CORE_HALF_H */
