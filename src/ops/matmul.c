/* Front-end of the dense matmul (include/mlxc/ops_matmul.h): validate, pick
 * the mat-vec (m <= 8) or the GEMM kernel and its launch per backend, and
 * dispatch tracked.  Kernel names are matvec_W_X_Y and gemm_W_X_Y
 * (src/kernels/params_matmul.h), and gemm_lt_* (src/core/libcall.h). */
#include <stdio.h>

#include "core/libcall.h"
#include "kernels/params_matmul.h"
#include "mlxc/ops_matmul.h"
#include "ops/ops_internal.h"

static mlxc_status mm_check_dtype(const char *what, const mlxc_buffer *b, bool allow_f16) {
    if (b->dtype == MLXC_F32 || b->dtype == MLXC_BF16 || (allow_f16 && b->dtype == MLXC_F16)) return MLXC_OK;
    return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_matmul: %s has dtype %s (%s)", what, mlxc_dtype_name(b->dtype),
                          allow_f16 ? "f32, f16 or bf16" : "f32 or bf16");
}

static mlxc_status mm_check_view(const char *what, const mlxc_buffer *b, uint64_t elems) {
    mlxc_status s = ops_check_elems("matmul", what, b, elems);
    if (s) return s;
    size_t es = mlxc_dtype_size(b->dtype);
    if (b->offset % es)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                              "mlxc_matmul: %s starts at byte offset %zu, not a multiple of its %zu-byte elements", what,
                              b->offset, es);
    return MLXC_OK;
}

mlxc_status mlxc_matmul(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, mlxc_buffer *y, uint32_t m,
                        uint32_t n, uint32_t k) {
    MLXC_CHECK_ARG(enc && x && w && y, "mlxc_matmul: NULL argument");
    MLXC_CHECK_ARG(m >= 1 && n >= 1 && k >= 1 && m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX,
                   "mlxc_matmul: m = %u, n = %u, k = %u (each 1 .. 2^31 - 1)", m, n, k);
    mlxc_status s;
    if ((s = mm_check_dtype("w", w, true)) || (s = mm_check_dtype("y", y, false))) return s;
    /* An f16 x exists for f16 weights alone (the f16 tensor-core GEMM). */
    if (x->dtype == MLXC_F16 && w->dtype != MLXC_F16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_matmul: x is f16 but w is %s (an f16 x needs f16 w)",
                              mlxc_dtype_name(w->dtype));
    if ((s = mm_check_dtype("x", x, x->dtype == MLXC_F16))) return s;
    if ((s = mm_check_view("x (m, k)", x, (uint64_t)m * k)) || (s = mm_check_view("w (n, k)", w, (uint64_t)n * k)) ||
        (s = mm_check_view("y (m, n)", y, (uint64_t)m * n)))
        return s;
    if (ops_overlap(y, x) || ops_overlap(y, w))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_matmul: y overlaps x or w");

    mlxc_device *dev = mlxc_encoder_device(enc);
    const bool cpu = ops_is_cpu(dev), matvec = m <= MLXC_MATVEC_MAX_M;
    char name[48];
    snprintf(name, sizeof name, "%s_%s_%s_%s", matvec ? "matvec" : "gemm", ops_float_sfx(w->dtype),
             ops_float_sfx(x->dtype), ops_float_sfx(y->dtype));

    /* The launch: CPU groups own whole tiles of weight rows (and x rows for
     * the GEMM); CUDA blocks own MLXC_MATVEC_ROWS rows (mat-vec) or one
     * 128 x 128 output tile (tensor-core GEMM), or grid-stride elements. */
    /* bf16 GEMMs on CUDA go to cuBLASLt when it is present (its kernels
     * measured ahead of ours: bench/results/matmul-*.md) and the operands
     * are 16-byte aligned row by row, the alignment its plans assume.  So
     * do f16 GEMMs with an f32 y: cuBLASLt has no f16 x f16 -> bf16 GEMM
     * with f32 compute, so f16 with a bf16 y stays on our plain kernel;
     * and f32 GEMMs (f32 compute, no TF32), which our plain kernel runs a
     * thread an element. */
    const mlxc_kernel *kern = NULL;
    const bool lt_bf16 = w->dtype == MLXC_BF16 && x->dtype == MLXC_BF16;
    const bool lt_f16 = w->dtype == MLXC_F16 && x->dtype == MLXC_F16 && y->dtype == MLXC_F32;
    const bool lt_f32 = w->dtype == MLXC_F32 && x->dtype == MLXC_F32 && y->dtype == MLXC_F32;
    if (!cpu && !matvec && (lt_bf16 || lt_f16 || lt_f32) && k % 8 == 0 && n % 8 == 0 && x->offset % 16 == 0 &&
        w->offset % 16 == 0 && y->offset % 16 == 0) {
        char lt[48];
        snprintf(lt, sizeof lt, "gemm_lt_%s_%s_%s", ops_float_sfx(w->dtype), ops_float_sfx(x->dtype),
                 ops_float_sfx(y->dtype));
        if (mlxc_kernel_get(dev, lt, &kern) != MLXC_OK) kern = NULL;
    }
    const bool lib = kern != NULL;
    uint64_t groups;
    uint32_t block = 256, shared = 0;
    const uint64_t ntiles = (n + MLXC_CPU_MM_NT - 1) / MLXC_CPU_MM_NT;
    if (lib) {
        groups = 1; /* the library picks its own launch */
        block = 1;
    } else if (cpu) {
        groups = ops_cpu_tile_groups(dev, matvec ? ntiles : ntiles * ((m + MLXC_CPU_MM_MT - 1) / MLXC_CPU_MM_MT));
    } else if (matvec) {
        const bool tc = m >= MLXC_MATVEC_TC_MIN_M && w->dtype == MLXC_BF16 && x->dtype == MLXC_BF16;
        const uint32_t rows = tc ? MLXC_MATVEC_TC_ROWS : MLXC_MATVEC_ROWS;
        groups = (n + rows - 1) / rows;
        block = MLXC_MATVEC_THREADS;
    } else if (w->dtype == MLXC_BF16 && x->dtype == MLXC_BF16 && dev->caps.max_shared_bytes >= MLXC_GEMM_SHARED) {
        groups = (uint64_t)((m + MLXC_GEMM_BM - 1) / MLXC_GEMM_BM) * ((n + MLXC_GEMM_BN - 1) / MLXC_GEMM_BN);
        block = MLXC_GEMM_THREADS;
        shared = MLXC_GEMM_SHARED;
    } else {
        groups = ops_groups(dev, (uint64_t)m * n, 256);
    }
    if (groups > INT32_MAX) groups = INT32_MAX;
    if (groups == 0) groups = 1;

    if (!kern && (s = mlxc_kernel_get(dev, name, &kern))) return s;
    if (mlxc_buffer_device(x) != dev || mlxc_buffer_device(w) != dev || mlxc_buffer_device(y) != dev)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_matmul: a buffer lives on another device than the encoder");
    /* Our kernels take the op's parameters; the library GEMM the call's
     * description (src/core/libcall.h): contiguous rows, so each leading
     * dimension is the row length. */
    mlxc_p_matmul p = {m, n, k, 0};
    mlxc_lib_gemm lg = {.m = m, .n = n, .k = k, .ld_x = k, .ld_w = k, .ld_y = n};
    mlxc_arg args[4] = {mlxc_arg_buffer(x), mlxc_arg_buffer(w), mlxc_arg_buffer(y),
                        lib ? mlxc_arg_bytes(&lg, sizeof lg) : mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[2] = {x, w}, *writes[1] = {y};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 4, .grid = {(uint32_t)groups, 1, 1},
                       .block = {block, 1, 1}, .shared_bytes = shared, .reads = reads, .nreads = 2,
                       .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}
