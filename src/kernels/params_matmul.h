/*
 * By-value parameters of the dense matmul kernels (include/mlxc/ops_matmul.h),
 * shared by the CPU kernels (C), the CUDA kernels (.cu) and the front-end.
 *
 *   matvec_W_X_Y(x, w, y, mlxc_p_matmul)   m <= 8 (decode)
 *   gemm_W_X_Y(x, w, y, mlxc_p_matmul)     any m (prefill)
 *
 *       y[i, j] = sum_k x[i, k] * w[j, k]      x (m, k)  w (n, k)  y (m, n)
 *
 * W (weights) is f32, f16 or bf16; X (activations) f32 or bf16, or f16
 * with f16 W; Y (output) f32 or bf16.  Products and sums are f32; a bf16 y is rounded once, at the
 * end, to nearest even.  All three are contiguous row-major.
 *
 * The grid convention of params_elementwise.h holds: each kernel covers all of its work
 * for any grid >= 1, any block size and any dynamic shared memory.  The CUDA
 * kernels take their fast paths when the launch shape allows (the front-end
 * asks for it: MLXC_MATVEC_* and MLXC_GEMM_* below) and the pointers are 16-
 * byte aligned with k a multiple of 8 elements; otherwise a plain path that
 * gives the same function.
 */
#ifndef MLXC_KERNELS_PARAMS_MATMUL_H
#define MLXC_KERNELS_PARAMS_MATMUL_H

#include <stdint.h>

/* The largest m the mat-vec kernels take (the x rows held in registers). */
#define MLXC_MATVEC_MAX_M 8
/* CUDA mat-vec launch: threads per block and weight rows per block. */
#define MLXC_MATVEC_THREADS 256
#define MLXC_MATVEC_ROWS    4
/* bf16 w and bf16 x with m >= MLXC_MATVEC_TC_MIN_M run on the tensor cores
 * (k a multiple of 32): weight rows per block, k chunks in flight per warp. */
#define MLXC_MATVEC_TC_MIN_M    5
#define MLXC_MATVEC_TC_ROWS     16
#define MLXC_MATVEC_TC_INFLIGHT 4

/* CUDA tensor-core GEMM launch (bf16 x, bf16 w): threads per block, the
 * output tile, and the dynamic shared memory its pipeline needs. */
#define MLXC_GEMM_THREADS 256
#define MLXC_GEMM_BM      128
#define MLXC_GEMM_BN      128
#define MLXC_GEMM_BK      64
#define MLXC_GEMM_STAGES  3
#define MLXC_GEMM_SHARED  (MLXC_GEMM_STAGES * (MLXC_GEMM_BM + MLXC_GEMM_BN) * MLXC_GEMM_BK * 2)

/* CPU tiles: a group owns whole tiles of MLXC_CPU_MM_NT weight rows (and,
 * for the GEMM, MLXC_CPU_MM_MT x rows). */
#define MLXC_CPU_MM_NT 64
#define MLXC_CPU_MM_MT 32

typedef struct mlxc_p_matmul {
    uint32_t m, n, k;
    uint32_t pad;
} mlxc_p_matmul;

#endif /* MLXC_KERNELS_PARAMS_MATMUL_H */
