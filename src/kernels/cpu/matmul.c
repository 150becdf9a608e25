/* Dense matmul CPU kernels (src/kernels/params_matmul.h):
 *
 *     y[i, j] = sum_k x[i, k] * w[j, k]      x (m, k)  w (n, k)  y (m, n)
 *
 * Both kernels walk k in blocks of MM_KB: a block of each operand row is
 * converted to f32 once into scratch, then dotted with eight fixed partial
 * sums (vectorizable; the result does not depend on the grid).  Groups own
 * whole tiles of MLXC_CPU_MM_NT weight rows (mat-vec), or of MLXC_CPU_MM_MT
 * x rows by MLXC_CPU_MM_NT weight rows (GEMM, whose 4 x 4 register block
 * reads each converted value once per four products).  The per-element
 * summation order is the same in both, so the GEMM of m <= 8 rows equals
 * the mat-vec bit for bit. */
#include <stdlib.h>

#include "core/libcall.h" /* mlxc_lib_gemm, the CUDA-only rows of matmul.def */
#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_matmul.h"

#define MM_KB 256u

static inline void mm_cvt_f32(const void *s, float *d, uint32_t n) { memcpy(d, s, (size_t)n * 4); }
static inline void mm_cvt_f16(const void *s, float *d, uint32_t n) {
    const uint16_t *h = s;
    for (uint32_t i = 0; i < n; i++) d[i] = mlxc_half_f16_to_f32(h[i]);
}
static inline void mm_cvt_bf16(const void *s, float *d, uint32_t n) {
    const uint16_t *h = s;
    for (uint32_t i = 0; i < n; i++) d[i] = mlxc_half_bf16_to_f32(h[i]);
}

static inline void mm_st_f32(void *y, uint64_t i, float v) { ((float *)y)[i] = v; }
static inline void mm_st_bf16(void *y, uint64_t i, float v) { ((uint16_t *)y)[i] = mlxc_half_f32_to_bf16(v); }

/* The 8-lane sum of a[j] * b[j] over one block, combined in a fixed tree. */
static inline float mm_lanes(const float l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
static inline float mm_dot(const float *a, const float *b, uint32_t n) {
    float l[8] = {0};
    uint32_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (uint32_t q = 0; q < 8; q++) l[q] += a[j + q] * b[j + q];
    for (uint32_t q = 0; j + q < n; q++) l[q] += a[j + q] * b[j + q];
    return mm_lanes(l);
}

/* acc[i][r] += dot(xs[i], ws[r]) for a 4 x 4 block, the order of mm_dot. */
static inline void mm_dot4x4(const float *xs, const float *ws, uint32_t ld, uint32_t n, float *acc, uint32_t acc_ld) {
    float l[4][4][8] = {{{0}}};
    uint32_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (uint32_t i = 0; i < 4; i++)
            for (uint32_t r = 0; r < 4; r++)
                for (uint32_t q = 0; q < 8; q++) l[i][r][q] += xs[i * ld + j + q] * ws[r * ld + j + q];
    for (uint32_t i = 0; i < 4; i++)
        for (uint32_t r = 0; r < 4; r++) {
            for (uint32_t q = 0; j + q < n; q++) l[i][r][q] += xs[i * ld + j + q] * ws[r * ld + j + q];
            acc[i * acc_ld + r] += mm_lanes(l[i][r]);
        }
}

typedef void (*mm_cvt_fn)(const void *s, float *d, uint32_t n);
typedef void (*mm_st_fn)(void *y, uint64_t i, float v);

/* Mat-vec: for each tile of NT weight rows, acc (m, NT) over the k blocks. */
static inline void mm_matvec(const mlxc_cpu_launch *l, size_t wes, mm_cvt_fn cw, size_t xes, mm_cvt_fn cx, mm_st_fn st) {
    const unsigned char *x = l->args[0], *w = l->args[1];
    void *y = l->args[2];
    const mlxc_p_matmul *p = l->args[3];
    const uint32_t m = p->m, n = p->n, k = p->k, NT = MLXC_CPU_MM_NT;
    if (m > MLXC_MATVEC_MAX_M) {
        *l->fault = 1;
        return;
    }
    uint64_t t0, t1;
    mlxc_cpu_slice(l, (n + NT - 1) / NT, &t0, &t1);
    float xf[MLXC_MATVEC_MAX_M][MM_KB], wf[MM_KB], acc[MLXC_MATVEC_MAX_M][MLXC_CPU_MM_NT];
    for (uint64_t t = t0; t < t1; t++) {
        const uint32_t r0 = (uint32_t)t * NT, nr = n - r0 < NT ? n - r0 : NT;
        memset(acc, 0, sizeof acc);
        for (uint32_t kb = 0; kb < k; kb += MM_KB) {
            const uint32_t kl = k - kb < MM_KB ? k - kb : MM_KB;
            for (uint32_t i = 0; i < m; i++) cx(x + ((uint64_t)i * k + kb) * xes, xf[i], kl);
            for (uint32_t r = 0; r < nr; r++) {
                cw(w + ((uint64_t)(r0 + r) * k + kb) * wes, wf, kl);
                for (uint32_t i = 0; i < m; i++) acc[i][r] += mm_dot(wf, xf[i], kl);
            }
        }
        for (uint32_t i = 0; i < m; i++)
            for (uint32_t r = 0; r < nr; r++) st(y, (uint64_t)i * n + r0 + r, acc[i][r]);
    }
}

/* GEMM: tiles of MT x rows by NT weight rows; the converted blocks live in
 * heap scratch (too large for a worker's stack). */
static inline void mm_gemm(const mlxc_cpu_launch *l, size_t wes, mm_cvt_fn cw, size_t xes, mm_cvt_fn cx, mm_st_fn st) {
    const unsigned char *x = l->args[0], *w = l->args[1];
    void *y = l->args[2];
    const mlxc_p_matmul *p = l->args[3];
    const uint32_t m = p->m, n = p->n, k = p->k, NT = MLXC_CPU_MM_NT, MT = MLXC_CPU_MM_MT;
    const uint64_t ntn = (n + NT - 1) / NT, ntm = (m + MT - 1) / MT;
    uint64_t t0, t1;
    mlxc_cpu_slice(l, ntn * ntm, &t0, &t1);
    if (t0 >= t1) return;
    float *xf = malloc(((size_t)MT + NT) * MM_KB * sizeof(float) + (size_t)MT * NT * sizeof(float));
    if (!xf) {
        *l->fault = 1;
        return;
    }
    float *wf = xf + (size_t)MT * MM_KB, *acc = wf + (size_t)NT * MM_KB;
    for (uint64_t t = t0; t < t1; t++) {
        /* Consecutive tiles share a weight tile (x is the smaller operand). */
        const uint32_t c0 = (uint32_t)(t / ntm) * NT, i0 = (uint32_t)(t % ntm) * MT;
        const uint32_t nr = n - c0 < NT ? n - c0 : NT, mr = m - i0 < MT ? m - i0 : MT;
        memset(acc, 0, (size_t)MT * NT * sizeof(float));
        for (uint32_t kb = 0; kb < k; kb += MM_KB) {
            const uint32_t kl = k - kb < MM_KB ? k - kb : MM_KB;
            for (uint32_t i = 0; i < mr; i++) cx(x + ((uint64_t)(i0 + i) * k + kb) * xes, xf + (size_t)i * MM_KB, kl);
            for (uint32_t r = 0; r < nr; r++) cw(w + ((uint64_t)(c0 + r) * k + kb) * wes, wf + (size_t)r * MM_KB, kl);
            uint32_t i = 0;
            for (; i + 4 <= mr; i += 4) {
                uint32_t r = 0;
                for (; r + 4 <= nr; r += 4)
                    mm_dot4x4(xf + (size_t)i * MM_KB, wf + (size_t)r * MM_KB, MM_KB, kl, acc + (size_t)i * NT + r, NT);
                for (; r < nr; r++)
                    for (uint32_t ii = i; ii < i + 4; ii++)
                        acc[(size_t)ii * NT + r] += mm_dot(wf + (size_t)r * MM_KB, xf + (size_t)ii * MM_KB, kl);
            }
            for (; i < mr; i++)
                for (uint32_t r = 0; r < nr; r++)
                    acc[(size_t)i * NT + r] += mm_dot(wf + (size_t)r * MM_KB, xf + (size_t)i * MM_KB, kl);
        }
        for (uint32_t i = 0; i < mr; i++)
            for (uint32_t r = 0; r < nr; r++) st(y, (uint64_t)(i0 + i) * n + c0 + r, acc[(size_t)i * NT + r]);
    }
    free(xf);
}

/* Every (w, x, y) combination: W in {f32, f16, bf16}, X and Y in {f32,
 * bf16}; and f16 x with f16 w (the model's route to the f16 tensor-core
 * GEMM on CUDA, whose CPU twin this is). */
#define MM_KERNELS(W, WES, X, XES, Y)                                                               \
    static void matvec_##W##_##X##_##Y(const mlxc_cpu_launch *l) {                                  \
        mm_matvec(l, WES, mm_cvt_##W, XES, mm_cvt_##X, mm_st_##Y);                                   \
    }                                                                                               \
    static void gemm_##W##_##X##_##Y(const mlxc_cpu_launch *l) {                                    \
        mm_gemm(l, WES, mm_cvt_##W, XES, mm_cvt_##X, mm_st_##Y);                                     \
    }
#define MM_FOR_Y(M, W, WES, X, XES) M(W, WES, X, XES, f32) M(W, WES, X, XES, bf16)
#define MM_FOR_X(M, W, WES) MM_FOR_Y(M, W, WES, f32, 4) MM_FOR_Y(M, W, WES, bf16, 2)
#define MM_ALL(M) MM_FOR_X(M, f32, 4) MM_FOR_X(M, f16, 2) MM_FOR_Y(M, f16, 2, f16, 2) MM_FOR_X(M, bf16, 2)

MM_ALL(MM_KERNELS)

#define MLXC_FAMILY_NAME matmul
#define MLXC_FAMILY_DEF "kernels/matmul.def"
#include "kernels/cpu/family_tables.h"
