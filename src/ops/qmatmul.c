/* Front-end of the quantized matmul (include/mlxc/ops_qmatmul.h): validate
 * the weight against its format, pick the mat-vec (m <= 8) or the mat-mat
 * kernel and its launch per backend, and dispatch tracked.  Kernel names
 * are qmv_F_X_Y and qmm_F_X_Y (src/kernels/params_qmatmul.h). */
#include <math.h>
#include <stdio.h>

#include "kernels/params_qmatmul.h"
#include "mlxc/ops_qmatmul.h"
#include "mlxc/ops_sample.h"
#include "ops/ops_internal.h"

/* The public formats (mlxc/quant.h) as the kernels' codes and names. */
static const struct {
    mlxc_qformat f;
    uint32_t     code;
    const char  *name;
} k_formats[] = {
    {MLXC_QF_MLX_AFFINE, MLXC_QMMF_AFFINE, "affine"}, {MLXC_QF_MLX_MXFP4, MLXC_QMMF_MXFP4, "mxfp4"},
    {MLXC_QF_MLX_NVFP4, MLXC_QMMF_NVFP4, "nvfp4"},    {MLXC_QF_MLX_MXFP8, MLXC_QMMF_MXFP8, "mxfp8"},
    {MLXC_QF_Q4_0, MLXC_QMMF_Q4_0, "q4_0"},           {MLXC_QF_Q4_1, MLXC_QMMF_Q4_1, "q4_1"},
    {MLXC_QF_Q5_0, MLXC_QMMF_Q5_0, "q5_0"},           {MLXC_QF_Q5_1, MLXC_QMMF_Q5_1, "q5_1"},
    {MLXC_QF_Q8_0, MLXC_QMMF_Q8_0, "q8_0"},           {MLXC_QF_Q2_K, MLXC_QMMF_Q2_K, "q2_k"},
    {MLXC_QF_Q3_K, MLXC_QMMF_Q3_K, "q3_k"},           {MLXC_QF_Q4_K, MLXC_QMMF_Q4_K, "q4_k"},
    {MLXC_QF_Q5_K, MLXC_QMMF_Q5_K, "q5_k"},           {MLXC_QF_Q6_K, MLXC_QMMF_Q6_K, "q6_k"},
    {MLXC_QF_IQ4_NL, MLXC_QMMF_IQ4_NL, "iq4_nl"},     {MLXC_QF_IQ4_XS, MLXC_QMMF_IQ4_XS, "iq4_xs"},
    {MLXC_QF_MXFP4, MLXC_QMMF_GGML_MXFP4, "gmxfp4"},   {MLXC_QF_Q4_0_TILES, MLXC_QMMF_Q4_0T, "q4_0t"},
    {MLXC_QF_IQ2_XXS, MLXC_QMMF_IQ2_XXS, "iq2_xxs"},  {MLXC_QF_IQ2_XS, MLXC_QMMF_IQ2_XS, "iq2_xs"},
    {MLXC_QF_IQ2_S, MLXC_QMMF_IQ2_S, "iq2_s"},        {MLXC_QF_IQ3_XXS, MLXC_QMMF_IQ3_XXS, "iq3_xxs"},
    {MLXC_QF_IQ3_S, MLXC_QMMF_IQ3_S, "iq3_s"},        {MLXC_QF_IQ1_S, MLXC_QMMF_IQ1_S, "iq1_s"},
    {MLXC_QF_IQ1_M, MLXC_QMMF_IQ1_M, "iq1_m"},        {MLXC_QF_TQ1_0, MLXC_QMMF_TQ1_0, "tq1_0"},
    {MLXC_QF_TQ2_0, MLXC_QMMF_TQ2_0, "tq2_0"},        {MLXC_QF_NVFP4, MLXC_QMMF_GGML_NVFP4, "gnvfp4"},
    /* dense experts: mlxc_qmatmul_experts and _grouped only */
    {MLXC_QF_F32, MLXC_QMMF_F32, "f32"},              {MLXC_QF_F16, MLXC_QMMF_F16, "f16"},
    {MLXC_QF_BF16, MLXC_QMMF_BF16, "bf16"},
};

/* The kernel code of f, 0 when no kernel takes it; *name its kernel name part. */
static uint32_t qmm_code(mlxc_qformat f, const char **name) {
    for (size_t i = 0; i < sizeof k_formats / sizeof *k_formats; i++)
        if (k_formats[i].f == f) {
            if (name) *name = k_formats[i].name;
            return k_formats[i].code;
        }
    return 0;
}

/* The MLX microscaling modes' fixed element bits and group size. */
static void qmm_mode(uint32_t f, uint32_t *bits, uint32_t *group) {
    *bits = f == MLXC_QMMF_MXFP8 ? 8 : 4;
    *group = f == MLXC_QMMF_NVFP4 ? 16 : 32;
}

uint64_t mlxc_qmm_row_bytes(mlxc_qformat f, uint32_t bits, uint32_t group_size, uint32_t k) {
    const uint32_t c = qmm_code(f, NULL);
    if (c == 0 || k == 0) return 0;
    if (mlxc_qf_dense_size(c)) return (uint64_t)k * mlxc_qf_dense_size(c);
    if (c <= MLXC_QMMF_MXFP8) {
        if (c != MLXC_QMMF_AFFINE) qmm_mode(c, &bits, &group_size);
        if (group_size == 0 || k % group_size) return 0;
        return (uint64_t)k * bits / 8; /* whole words: every group is a multiple of 32 bits */
    }
    const uint32_t be = mlxc_qf_block_elems(c);
    return k % be ? 0 : (uint64_t)k / be * mlxc_qf_block_bytes(c);
}

static mlxc_status qmm_check_view(const char *what, const mlxc_buffer *b, uint64_t want, bool elems, size_t align) {
    const uint64_t have = elems ? (uint64_t)mlxc_buffer_elements(b) : mlxc_buffer_bytes(b);
    if (have != want)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qmatmul: %s has %llu %s, want %llu", what,
                              (unsigned long long)have, elems ? "elements" : "bytes", (unsigned long long)want);
    if (b->offset % align)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                              "mlxc_qmatmul: %s starts at byte offset %zu, not a multiple of %zu", what, b->offset,
                              align);
    return MLXC_OK;
}

static mlxc_status qmm_check_act(const char *what, const mlxc_buffer *b) {
    if (b->dtype != MLXC_F32 && b->dtype != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_qmatmul: %s has dtype %s (f32 or bf16)", what,
                              mlxc_dtype_name(b->dtype));
    return MLXC_OK;
}

/* The weight's format parameters into p (bits, group, sdtype, row_bytes). */
/* dense: the caller takes the dense formats (the expert forms). */
static mlxc_status qmm_check_weight(const mlxc_qmm_weight *w, uint32_t n, uint32_t k, bool dense, mlxc_p_qmatmul *p) {
    const uint32_t f = qmm_code(w->format, NULL);
    const char *name = mlxc_qformat_name(w->format);
    if (!f || (!dense && mlxc_qf_dense_size(f)))
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_qmatmul: no kernel for the weight format %s (%d)%s",
                              name ? name : "unknown", (int)w->format,
                              f ? "; dense weights multiply through mlxc_matmul" : "");
    if (!w->data) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul: %s weight without data", name);
    const bool mlx = f <= MLXC_QMMF_MXFP8;
    uint32_t bits = w->bits, group = w->group_size;
    p->format = f;
    p->sdtype = 0;
    if (f == MLXC_QMMF_AFFINE) {
        if (bits < 2 || bits > 8 || bits == 7)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul: affine bits = %u (2, 3, 4, 5, 6 or 8)",
                                  bits);
        if (group != 32 && group != 64 && group != 128)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul: affine group size %u (32, 64 or 128)",
                                  group);
    } else if (mlx) {
        uint32_t mb, mg;
        qmm_mode(f, &mb, &mg);
        if ((bits && bits != mb) || (group && group != mg))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                  "mlxc_qmatmul: %s has %u-bit values in groups of %u, not bits %u group %u", name, mb,
                                  mg, bits, group);
        bits = mb, group = mg;
    } else if (mlxc_qf_dense_size(f)) {
        bits = 8 * mlxc_qf_dense_size(f);
        group = 1;
    } else {
        bits = 0;
        group = mlxc_qf_block_elems(f);
    }
    if (k % group)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qmatmul: k = %u is not a multiple of the %s %s of %u", k, name,
                              mlx ? "group size" : "block", group);
    if (f == MLXC_QMMF_Q4_0T && (n % MLXC_Q4T_ROWS || k % MLXC_Q4T_COLS))
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qmatmul: %s takes n a multiple of %u and k of %u (n = %u, k = %u)",
                              name, MLXC_Q4T_ROWS, MLXC_Q4T_COLS, n, k);
    const uint64_t row = mlxc_qmm_row_bytes(w->format, bits, group, k);
    if (row == 0 || row > UINT32_MAX)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qmatmul: a %s row of k = %u does not fit", name, k);
    p->bits = bits;
    p->group = group;
    p->row_bytes = (uint32_t)row;
    /* MLX: uint32 words; GGML: blocks holding an f16 are 2-byte aligned,
     * MXFP4's (bytes only) are not, nor are those read a byte at a time
     * (quant_iq.h); Q4_0 tiles are copied in 16-byte units. */
    const size_t align = mlx                                                 ? 4
                         : mlxc_qf_dense_size(f)                               ? mlxc_qf_dense_size(f)
                         : f == MLXC_QMMF_GGML_MXFP4 || mlxc_qf_qi_type(f) ? 1
                         : f == MLXC_QMMF_Q4_0T                                ? 16
                                                                               : 2;
    mlxc_status s = qmm_check_view("the weight data", w->data, row * n, false, align);
    if (s || !mlx) return s;

    const uint64_t ng = (uint64_t)n * (k / group);
    if (!w->scales) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul: %s weight without scales", name);
    if (f == MLXC_QMMF_AFFINE) {
        const mlxc_dtype dt = w->scales->dtype;
        if (dt != MLXC_F32 && dt != MLXC_F16 && dt != MLXC_BF16)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_qmatmul: affine scales have dtype %s (f32, f16 or bf16)",
                                  mlxc_dtype_name(dt));
        if (!w->biases) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul: affine weight without biases");
        if (w->biases->dtype != dt)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_qmatmul: affine biases have dtype %s, the scales %s",
                                  mlxc_dtype_name(w->biases->dtype), mlxc_dtype_name(dt));
        const size_t es = mlxc_dtype_size(dt);
        if ((s = qmm_check_view("the scales (n, k / group)", w->scales, ng, true, es)) ||
            (s = qmm_check_view("the biases (n, k / group)", w->biases, ng, true, es)))
            return s;
        p->sdtype = dt == MLXC_F32 ? MLXC_QS_F32 : dt == MLXC_F16 ? MLXC_QS_F16 : MLXC_QS_BF16;
        return MLXC_OK;
    }
    if (w->scales->dtype != MLXC_U8)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_qmatmul: %s scales have dtype %s (u8)", name,
                              mlxc_dtype_name(w->scales->dtype));
    return qmm_check_view("the scales (n, k / group)", w->scales, ng, true, 1);
}

/* The format part of a kernel name (affine4, q4_0, ...) of w, whose
 * parameters qmm_check_weight put in p, into fmt. */
static void qmm_kernel_fmt(const mlxc_qmm_weight *w, const mlxc_p_qmatmul *p, char *fmt, size_t n) {
    const char *kname = NULL;
    qmm_code(w->format, &kname);
    if (p->format == MLXC_QMMF_AFFINE) snprintf(fmt, n, "affine%u", p->bits);
    else snprintf(fmt, n, "%s", kname);
}

/* The prologue of a fused mat-vec and the vectors it takes: aux for
 * SILU_MUL, g for RMS_NORM, neither for NONE; a finite eps >= 0. */
static mlxc_status qmm_check_fuse(const char *op, const mlxc_buffer *aux, const mlxc_buffer *g, const mlxc_qmm_fuse *f) {
    MLXC_CHECK_ARG(f->pro == MLXC_QMM_PRO_NONE || f->pro == MLXC_QMM_PRO_RMS_NORM || f->pro == MLXC_QMM_PRO_SILU_MUL,
                   "%s: unknown prologue %d", op, (int)f->pro);
    MLXC_CHECK_ARG(f->pro != MLXC_QMM_PRO_RMS_NORM || (g && !aux), "%s: RMS_NORM takes g and no aux", op);
    MLXC_CHECK_ARG(f->pro != MLXC_QMM_PRO_SILU_MUL || (aux && !g), "%s: SILU_MUL takes aux and no g", op);
    MLXC_CHECK_ARG(f->pro != MLXC_QMM_PRO_NONE || (!aux && !g), "%s: NONE takes neither aux nor g", op);
    MLXC_CHECK_ARG(isfinite(f->eps) && f->eps >= 0.0f, "%s: eps %g (finite, >= 0)", op, (double)f->eps);
    return MLXC_OK;
}

static bool qmm_overlaps_weight(const mlxc_buffer *y, const mlxc_qmm_weight *w) {
    return ops_overlap(y, w->data) || (w->scales && ops_overlap(y, w->scales)) ||
           (w->biases && ops_overlap(y, w->biases));
}

/* Stages of qmoegt's raw-tile path: bench_qmatmul --moe-prefill-only times
 * 2, 3 and 4 (H100, 2026-12-06: 3 and 2 alike, 4 fits one block an SM and
 * is 40% slower).  3 where two blocks an SM still fit (Q4_0, Q4_K, MLX
 * 4-bit), else 2 (Q6_K's 45 KB stages). */
static uint32_t qmoeg2_stages(uint32_t stage) { return 3 * stage <= 112 * 1024 ? 3 : 2; }

/* The shared memory of a streaming mat-vec (qmvt's or qmvf's ring, qmvr's
 * x') of `ring` bytes (0: none, or it does not fit a block), capping
 * *groups to `per_sm` blocks an SM where that many fit, at least one:
 * 228 KB a Hopper or Ampere SM, 1 KB of it reserved a block, the kernel's
 * static sums 4.6 KB.  With the grid no larger than what runs at once,
 * each block streams over several tiles without draining. */
static uint32_t qmv_ring_launch(const mlxc_device *dev, uint32_t ring, uint32_t per_sm, uint64_t *groups) {
    if (!ring || ring + 8 * 1024 > dev->caps.max_shared_bytes) return 0;
    const uint32_t fit = (uint32_t)(228 * 1024 / (ring + 6 * 1024)), blocks = fit < per_sm ? fit : per_sm;
    const uint64_t cap =
        (uint64_t)(dev->caps.compute_units > 0 ? dev->caps.compute_units : 1) * (blocks > 0 ? blocks : 1);
    if (*groups > cap) *groups = cap;
    return ring;
}

mlxc_status mlxc_qmatmul(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_qmm_weight *w, mlxc_buffer *y,
                         uint32_t m, uint32_t n, uint32_t k) {
    MLXC_CHECK_ARG(enc && x && w && y, "mlxc_qmatmul: NULL argument");
    MLXC_CHECK_ARG(m >= 1 && n >= 1 && k >= 1 && m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX,
                   "mlxc_qmatmul: m = %u, n = %u, k = %u (each 1 .. 2^31 - 1)", m, n, k);
    mlxc_p_qmatmul p = {.m = m, .n = n, .k = k};
    mlxc_status s;
    if ((s = qmm_check_act("x", x)) || (s = qmm_check_act("y", y)) || (s = qmm_check_weight(w, n, k, false, &p)))
        return s;
    if ((s = qmm_check_view("x (m, k)", x, (uint64_t)m * k, true, mlxc_dtype_size(x->dtype))) ||
        (s = qmm_check_view("y (m, n)", y, (uint64_t)m * n, true, mlxc_dtype_size(y->dtype))))
        return s;
    if (ops_overlap(y, x) || qmm_overlaps_weight(y, w))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul: y overlaps x or the weight");

    mlxc_device *dev = mlxc_encoder_device(enc);
    const bool cpu = ops_is_cpu(dev), matvec = m <= MLXC_QMV_MAX_M;
    char fmt[16], name[48];
    qmm_kernel_fmt(w, &p, fmt, sizeof fmt);
    /* CUDA mat-vec: the tensor-core kernel where the format has one. */
    const bool tc = !cpu && matvec && mlxc_qmvt_has(p.format, p.bits);
    snprintf(name, sizeof name, "%s_%s_%s_%s", tc ? "qmvt" : matvec ? "qmv" : "qmm", fmt, ops_float_sfx(x->dtype),
             ops_float_sfx(y->dtype));

    /* CPU groups own tiles of weight rows by x rows; CUDA mat-vec blocks
     * one weight row per warp, mat-mat blocks one output tile. */
    uint64_t groups;
    uint32_t block, shared = 0;
    if (cpu) {
        groups = ops_cpu_tile_groups(dev, (uint64_t)((n + MLXC_CPU_QMM_NT - 1) / MLXC_CPU_QMM_NT) *
                                              ((m + MLXC_CPU_QMM_MT - 1) / MLXC_CPU_QMM_MT));
        block = 1;
    } else if (matvec) {
        groups = (n + MLXC_QMV_BLOCK_ROWS - 1) / MLXC_QMV_BLOCK_ROWS;
        block = tc ? MLXC_QMVT_THREADS : MLXC_QMV_THREADS;
        /* The tensor-core kernel's ring (formats that have one): a grid of
         * as many blocks as fit on the SMs at once (two, by registers; one
         * for Q6_K with f32 x, whose kernel takes 167 registers a thread),
         * so each block's ring runs over several tiles without draining. */
        const uint32_t es = p.sdtype == MLXC_QS_F32 ? 4 : 2,
                       ring = tc ? mlxc_qmvt_smem_bytes(p.format, p.bits, m, (uint32_t)mlxc_dtype_size(x->dtype),
                                                        p.group, es)
                                 : 0;
        const uint32_t per_sm = p.format == MLXC_QMMF_Q6_K && x->dtype == MLXC_F32 ? 1 : 2;
        if ((shared = qmv_ring_launch(dev, ring, per_sm, &groups))) block = 32 * MLXC_QMVT_WARPS;
    } else {
        groups = (uint64_t)((n + MLXC_QMM_BN - 1) / MLXC_QMM_BN) * ((m + MLXC_QMM_BM - 1) / MLXC_QMM_BM);
        block = MLXC_QMM_THREADS;
    }
    if (groups > INT32_MAX) groups = INT32_MAX;

    const mlxc_kernel *kern = NULL;
    if ((s = mlxc_kernel_get(dev, name, &kern))) return s;
    const mlxc_buffer *sc = w->scales ? w->scales : w->data, *bi = w->biases ? w->biases : sc;
    if (mlxc_buffer_device(x) != dev || mlxc_buffer_device(w->data) != dev || mlxc_buffer_device(sc) != dev ||
        mlxc_buffer_device(bi) != dev || mlxc_buffer_device(y) != dev)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                              "mlxc_qmatmul: a buffer lives on another device than the encoder");
    mlxc_arg args[6] = {mlxc_arg_buffer(x),  mlxc_arg_buffer(w->data), mlxc_arg_buffer(sc),
                        mlxc_arg_buffer(bi), mlxc_arg_buffer(y),       mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[4] = {x, w->data, sc, bi}, *writes[1] = {y};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 6, .grid = {(uint32_t)groups, 1, 1},
                       .block = {block, 1, 1}, .shared_bytes = shared, .reads = reads, .nreads = 4,
                       .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

/* The formats of the fused mat-vec: those with a qmvt ring, and Q4_0
 * tiles (their own walk). */
static bool qmvf_has(uint32_t f, uint32_t bits) {
    mlxc_qmvt_ring r;
    return f == MLXC_QMMF_Q4_0T || mlxc_qmvt_ring_of(f, bits, 1, &r) != 0;
}

mlxc_status mlxc_qmatmul_fused_supported(const mlxc_qmm_weight *w) {
    MLXC_CHECK_ARG(w, "mlxc_qmatmul_fused_supported: NULL weight");
    const uint32_t f = qmm_code(w->format, NULL);
    if (f && qmvf_has(f, f == MLXC_QMMF_AFFINE ? w->bits : 0)) return MLXC_OK;
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_qmatmul_fused: %s%s weights are not supported",
                          mlxc_qformat_name(w->format) ? mlxc_qformat_name(w->format) : "unknown",
                          f == MLXC_QMMF_AFFINE ? " (affine: 4 or 8 bits)" : "");
}

/* Bytes of one MLX scale of w (4 for f32 scales, else 2; only the affine
 * walks read it). */
static uint32_t qmm_scale_bytes(const mlxc_qmm_weight *w) {
    return w->scales && w->scales->dtype == MLXC_F32 ? 4 : 2;
}

mlxc_status mlxc_qmatmul_fused_fast(const mlxc_qmm_weight *w, uint32_t k) {
    mlxc_status s = mlxc_qmatmul_fused_supported(w);
    if (s) return s;
    MLXC_CHECK_ARG(k >= 1 && k <= INT32_MAX, "mlxc_qmatmul_fused_fast: k = %u (1 .. 2^31 - 1)", k);
    const uint32_t f = qmm_code(w->format, NULL);
    const bool aff = f == MLXC_QMMF_AFFINE;
    const uint32_t bits = aff ? w->bits : 0, group = aff ? w->group_size : mlxc_qf_block_elems(f);
    const uint64_t row = group && k % group == 0 ? mlxc_qmm_row_bytes(w->format, bits, group, k) : 0;
    const uint32_t es = qmm_scale_bytes(w);
    if (f == MLXC_QMMF_Q4_0T) {
        if (k % MLXC_Q4T_COLS == 0 && mlxc_q4t_smem_bytes(k) + 16 * 1024 <= 227 * 1024) return MLXC_OK;
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_qmatmul_fused: Q4_0 tiles of k = %u are off the fast path", k);
    }
    if (row && mlxc_qmv_ring_takes(f, bits, 1, k, row, group, es)) return MLXC_OK;
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_qmatmul_fused: k = %u (%llu-byte rows%s) is off the fast path", k,
                          (unsigned long long)row,
                          aff ? "; affine: a power-of-two group >= 32, scale rows of whole 4-byte units" : "");
}

/* Whether the views a fused mat-vec's 16-byte walks read (the weight's
 * data, x, and aux and g where given) start on 16 bytes. */
static bool qmm_views16(const mlxc_qmm_weight *w, const mlxc_buffer *x, const mlxc_buffer *aux, const mlxc_buffer *g) {
    return ((w->data->offset | x->offset | (aux ? aux->offset : 0) | (g ? g->offset : 0)) & 15) == 0;
}

/* Whether the int8 walk takes w with k columns (mlxc_qmvr_takes on the
 * weight's format code, bits, group and scale size). */
static bool qmvr_weight(const mlxc_qmm_weight *w, uint32_t k) {
    return mlxc_qmvr_takes(qmm_code(w->format, NULL), w->bits, k, w->group_size, qmm_scale_bytes(w));
}

mlxc_status mlxc_qmatmul_fused_q8_fast(const mlxc_qmm_weight *w, uint32_t k) {
    mlxc_status s = mlxc_qmatmul_fused_supported(w);
    if (s) return s;
    MLXC_CHECK_ARG(k >= 1 && k <= INT32_MAX, "mlxc_qmatmul_fused_q8_fast: k = %u (1 .. 2^31 - 1)", k);
    if (qmvr_weight(w, k)) return MLXC_OK;
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                          "mlxc_qmatmul_fused: int8 activations on a GPU take MLX affine 4- or 8-bit weights with "
                          "2-byte scales, group 32, 64 or 128, k a multiple of 32 up to 32768, Q4_K or Q5_K with "
                          "k a multiple of 256 up to 32768, or Q6_K with k a multiple of 256 up to 16384 (%s%u-bit, "
                          "group %u, k = %u)",
                          mlxc_qformat_name(w->format) ? mlxc_qformat_name(w->format) : "?", w->bits, w->group_size,
                          k);
}

/* One fused mat-vec checked and its launch chosen: the kernel, its
 * parameters, grid, block and shared memory, and the buffers it binds. */
typedef struct qmvf_plan {
    mlxc_p_qmvf        vp;
    const mlxc_kernel *kern;
    uint64_t           groups;
    uint32_t           block, shared;
    const mlxc_buffer *x, *ax, *gx, *sc, *bi, *y;
    const mlxc_qmm_weight *w;
} qmvf_plan;

/* The int8 walk's grid (qmvr) beside a walk of format oth (0: alone):
 * tiles of mlxc_qmvr_rows_in rows, capped at waves times the blocks that
 * fit, MLXC_QMVR_BLOCKS an SM (0: a block a tile), striding over them;
 * returns its shared memory, 0 where a block has too little. */
static uint32_t qmvr_grid(const mlxc_device *dev, const mlxc_p_qmatmul *q, uint32_t n, uint32_t k, uint32_t oth,
                          uint32_t waves, uint64_t *groups) {
    const uint32_t rows = mlxc_qmvr_rows_in(q->format, q->bits, k, oth);
    const uint64_t all = (n + rows - 1) / rows;
    *groups = all;
    const uint32_t shared = qmv_ring_launch(dev, mlxc_qmvr_smem_bytes(k), MLXC_QMVR_BLOCKS, groups);
    if (waves != 1) *groups = waves == 0 || *groups * waves > all ? all : *groups * waves;
    return shared;
}

/* The waves of the int8 walk's grid alone (not in a pair, whose parts
 * share one wave): MLXC_QMVR_WAVES, 1 by default, at most 64, 0 a block
 * a tile (blocks then follow one another on an SM, each making x' and
 * walking one tile, as a grid of short blocks does). */
static uint32_t qmvr_waves(void) {
    const long v = mlxc_env_int("MLXC_QMVR_WAVES", 1);
    return v <= 0 ? 0u : v > 64 ? 64u : (uint32_t)v;
}

static mlxc_status qmvf_prepare(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                const mlxc_buffer *g, const mlxc_qmm_weight *w, mlxc_buffer *y, uint32_t n,
                                uint32_t k, const mlxc_qmm_fuse *f, qmvf_plan *pl) {
    const char *op = "qmatmul_fused";
    MLXC_CHECK_ARG(enc && x && w && y && f, "mlxc_qmatmul_fused: NULL argument");
    MLXC_CHECK_ARG(n >= 1 && k >= 1 && n <= INT32_MAX && k <= INT32_MAX,
                   "mlxc_qmatmul_fused: n = %u, k = %u (each 1 .. 2^31 - 1)", n, k);
    MLXC_CHECK_ARG(f->epi == MLXC_QMM_EPI_STORE || f->epi == MLXC_QMM_EPI_ADD, "mlxc_qmatmul_fused: unknown epilogue %d",
                   (int)f->epi);
    MLXC_CHECK_ARG(f->act == MLXC_QMM_ACT_EXACT || f->act == MLXC_QMM_ACT_Q8, "mlxc_qmatmul_fused: unknown act %d",
                   (int)f->act);
    mlxc_status s;
    if ((s = qmm_check_fuse("mlxc_qmatmul_fused", aux, g, f)) || (s = mlxc_qmatmul_fused_supported(w))) return s;
    mlxc_p_qmvf vp = {.q = {.m = 1, .n = n, .k = k}, .pro = (uint32_t)f->pro, .epi = (uint32_t)f->epi, .eps = f->eps,
                      .act = f->act == MLXC_QMM_ACT_Q8 ? MLXC_QMVF_ACT_Q8 : MLXC_QMVF_ACT_EXACT};
    if ((s = qmm_check_weight(w, n, k, false, &vp.q))) return s;
    const mlxc_buffer *vecs[3] = {x, aux, g};
    static const char *const vname[3] = {"x (k)", "aux (k)", "g (k)"};
    for (int i = 0; i < 3; i++) {
        if (!vecs[i]) continue;
        if ((s = ops_check_dtype(op, vname[i], vecs[i], MLXC_BF16)) ||
            (s = qmm_check_view(vname[i], vecs[i], k, true, 2)))
            return s;
        if (ops_overlap(y, vecs[i]))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul_fused: y overlaps %s", vname[i]);
    }
    /* f32 y (an output head's logits): the int8 walk's, on either backend */
    const bool yf = y->dtype == MLXC_F32;
    if (!yf && (s = ops_check_dtype(op, "y", y, MLXC_BF16))) return s;
    if (yf && (vp.act != MLXC_QMVF_ACT_Q8 || !qmvr_weight(w, k)))
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                              "mlxc_qmatmul_fused: f32 y takes int8 activations (MLXC_QMM_ACT_Q8) and a weight of the "
                              "int8 walk (mlxc_qmatmul_fused_q8_fast)");
    if ((s = qmm_check_view("y (n)", y, n, true, yf ? 4 : 2))) return s;
    if (qmm_overlaps_weight(y, w))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul_fused: y overlaps the weight");

    mlxc_device *dev = mlxc_encoder_device(enc);
    const bool cpu = ops_is_cpu(dev);
    char fmt[16], name[48];
    qmm_kernel_fmt(w, &vp.q, fmt, sizeof fmt);
    snprintf(name, sizeof name, "%s_%s_bf16_%s", (!cpu || yf) && vp.act == MLXC_QMVF_ACT_Q8 ? "qmvr" : "qmvf", fmt,
             yf ? "f32" : "bf16");
    uint64_t groups;
    uint32_t block, shared = 0;
    if (cpu) {
        groups = ops_cpu_tile_groups(dev, (n + MLXC_CPU_QMM_NT - 1) / MLXC_CPU_QMM_NT);
        block = 1;
    } else if (vp.act == MLXC_QMVF_ACT_Q8) {
        /* the register walk (qmvr): x' in registers, tiles of 8 / S row
         * groups of mlxc_qmvr_rows rows, MLXC_QMVR_BLOCKS blocks an SM
         * striding over them */
        if (!qmvr_weight(w, k)) return mlxc_qmatmul_fused_q8_fast(w, k);
        if (!qmm_views16(w, x, aux, g))
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                                  "mlxc_qmatmul_fused: int8 activations on a GPU take 16-byte aligned x, aux, g and "
                                  "weight views");
        block = 32 * MLXC_QMVR_WARPS;
        shared = qmvr_grid(dev, &vp.q, n, k, 0, qmvr_waves(), &groups);
        if (!shared)
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_qmatmul_fused: k = %u needs more shared memory for "
                                  "int8 activations than a block has", k);
    } else if (vp.q.format == MLXC_QMMF_Q4_0T) {
        /* the tile walk (qmvf_q4_0t): its row groups of tiles, capped at
         * as many blocks as fit on the SMs at once (qmv_ring_launch), each
         * streaming its tiles through the copy engine; slices as if two
         * blocks an SM ran, measured best on the 7B shapes
         * (bench/results/matvec-tiles-2026-12-05.md).  Misaligned views
         * get no shared memory: the kernel's generic body. */
        const bool al = qmm_views16(w, x, aux, g);
        const uint64_t sms = (uint64_t)(dev->caps.compute_units > 0 ? dev->caps.compute_units : 1);
        vp.slices = mlxc_q4t_slices(n, k, sms * MLXC_Q4T_SLICE_BLOCKS);
        block = 32 * MLXC_Q4T_WARPS;
        groups = (n / MLXC_Q4T_ROWS + MLXC_Q4T_WARPS / vp.slices - 1) / (MLXC_Q4T_WARPS / vp.slices);
        if (al) shared = qmv_ring_launch(dev, mlxc_q4t_smem_bytes(k), MLXC_Q4T_WARPS, &groups);
    } else {
        /* the ring without x, then the whole x': a grid of
         * MLXC_QMVF_BLOCKS blocks an SM where that many fit */
        const uint32_t es = vp.q.sdtype == MLXC_QS_F32 ? 4 : 2;
        const uint32_t ring = mlxc_qmvf_smem_bytes(vp.q.format, vp.q.bits, k, vp.q.group, es);
        groups = (n + MLXC_QMVT_ROWS - 1) / MLXC_QMVT_ROWS;
        block = 32 * MLXC_QMVT_WARPS;
        shared = qmv_ring_launch(dev, ring, MLXC_QMVF_BLOCKS, &groups);
    }
    if (groups > INT32_MAX) groups = INT32_MAX;
    const mlxc_kernel *kern = NULL;
    if ((s = mlxc_kernel_get(dev, name, &kern))) return s;
    const mlxc_buffer *sc = w->scales ? w->scales : w->data, *bi = w->biases ? w->biases : sc;
    const mlxc_buffer *ax = aux ? aux : x, *gx = g ? g : x;
    const mlxc_buffer *all[7] = {x, ax, gx, w->data, sc, bi, y};
    for (int i = 0; i < 7; i++)
        if (mlxc_buffer_device(all[i]) != dev)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                  "mlxc_qmatmul_fused: a buffer lives on another device than the encoder");
    *pl = (qmvf_plan){.vp = vp, .kern = kern, .groups = groups, .block = block, .shared = shared,
                      .x = x, .ax = ax, .gx = gx, .sc = sc, .bi = bi, .y = y, .w = w};
    return MLXC_OK;
}

static mlxc_status qmvf_dispatch(mlxc_encoder *enc, const qmvf_plan *pl) {
    mlxc_arg args[8] = {mlxc_arg_buffer(pl->x),       mlxc_arg_buffer(pl->ax), mlxc_arg_buffer(pl->gx),
                        mlxc_arg_buffer(pl->w->data), mlxc_arg_buffer(pl->sc), mlxc_arg_buffer(pl->bi),
                        mlxc_arg_buffer(pl->y),       mlxc_arg_bytes(&pl->vp, sizeof pl->vp)};
    /* the first three are read after the kernel waits for earlier ones,
     * the weight before (cuda: pdl_late) */
    const mlxc_buffer *reads[6] = {pl->x, pl->ax, pl->gx, pl->w->data, pl->sc, pl->bi}, *writes[1] = {pl->y};
    mlxc_dispatch d = {.kernel = pl->kern, .args = args, .nargs = 8, .grid = {(uint32_t)pl->groups, 1, 1},
                       .block = {pl->block, 1, 1}, .shared_bytes = pl->shared, .reads = reads, .nreads = 6,
                       .writes = writes, .nwrites = 1};
    mlxc_status s;
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

mlxc_status mlxc_qmatmul_fused(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux, const mlxc_buffer *g,
                               const mlxc_qmm_weight *w, mlxc_buffer *y, uint32_t n, uint32_t k,
                               const mlxc_qmm_fuse *f) {
    qmvf_plan pl;
    mlxc_status s = qmvf_prepare(enc, x, aux, g, w, y, n, k, f, &pl);
    return s ? s : qmvf_dispatch(enc, &pl);
}

_Static_assert(MLXC_QMM_ARGMAX_SCRATCH >= 1 + 4 * MLXC_QMVA_BLOCKS, "the argmax scratch holds every block");
mlxc_status mlxc_qmatmul_fused_argmax(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *g,
                                      const mlxc_qmm_weight *w, mlxc_buffer *y, mlxc_buffer *token,
                                      mlxc_buffer *logprob, mlxc_buffer *scratch, uint32_t n, uint32_t k,
                                      const mlxc_qmm_fuse *f) {
    const char *op = "qmatmul_fused_argmax";
    MLXC_CHECK_ARG(enc && x && w && y && token && scratch && f, "mlxc_qmatmul_fused_argmax: NULL argument");
    MLXC_CHECK_ARG((f->pro == MLXC_QMM_PRO_NONE || f->pro == MLXC_QMM_PRO_RMS_NORM) && f->epi == MLXC_QMM_EPI_STORE &&
                       f->act == MLXC_QMM_ACT_Q8,
                   "mlxc_qmatmul_fused_argmax: the prologue none or the RMS norm, the store epilogue, int8 "
                   "activations (MLXC_QMM_ACT_Q8)");
    mlxc_status s;
    if ((s = ops_check_dtype(op, "y", y, MLXC_F32)) || (s = ops_check_dtype(op, "token", token, MLXC_U32)) ||
        (s = ops_check_elems(op, "token", token, 1)) || (s = ops_check_dtype(op, "scratch", scratch, MLXC_U32)))
        return s;
    if (mlxc_buffer_elements(scratch) < MLXC_QMM_ARGMAX_SCRATCH)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qmatmul_fused_argmax: scratch has %lld words, want at least %d",
                              (long long)mlxc_buffer_elements(scratch), MLXC_QMM_ARGMAX_SCRATCH);
    if (logprob && ((s = ops_check_dtype(op, "logprob", logprob, MLXC_F32)) ||
                    (s = ops_check_elems(op, "logprob", logprob, 1))))
        return s;
    const mlxc_buffer *outs[4] = {y, token, logprob, scratch};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (outs[i] && outs[j] && ops_overlap(outs[i], outs[j]))
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                      "mlxc_qmatmul_fused_argmax: y, token, logprob and scratch overlap");
    for (int i = 1; i < 4; i++)
        if (outs[i] && (ops_overlap(outs[i], x) || (g && ops_overlap(outs[i], g)) || qmm_overlaps_weight(outs[i], w)))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                  "mlxc_qmatmul_fused_argmax: token, logprob or scratch overlaps an input");
    qmvf_plan pl;
    if ((s = qmvf_prepare(enc, x, NULL, g, w, y, n, k, f, &pl))) return s;
    mlxc_device *dev = mlxc_encoder_device(enc);
    if (ops_is_cpu(dev)) {
        /* the two ops it fuses (the CPU's pick is mlxc_sample_softmax's) */
        if ((s = qmvf_dispatch(enc, &pl)) || (!mlxc_encoder_auto_barrier(enc) && (s = mlxc_encoder_barrier(enc))))
            return s;
        return mlxc_sample_softmax(enc, y, NULL, token, logprob, n, 0.0f, 0.0f);
    }
    if (pl.groups > MLXC_QMVA_BLOCKS) pl.groups = MLXC_QMVA_BLOCKS; /* the walk strides over its tiles */
    char fmt[16], name[64];
    qmm_kernel_fmt(w, &pl.vp.q, fmt, sizeof fmt);
    snprintf(name, sizeof name, "qmvr_%s_bf16_f32_argmax", fmt);
    const mlxc_kernel *kern = NULL;
    if ((s = mlxc_kernel_get(dev, name, &kern))) return s;
    mlxc_p_qmva pa = {.v = pl.vp, .write_lp = logprob != NULL};
    mlxc_arg args[11] = {mlxc_arg_buffer(pl.x),       mlxc_arg_buffer(pl.ax),    mlxc_arg_buffer(pl.gx),
                         mlxc_arg_buffer(pl.w->data), mlxc_arg_buffer(pl.sc),    mlxc_arg_buffer(pl.bi),
                         mlxc_arg_buffer(y),          mlxc_arg_buffer(token),    mlxc_arg_buffer(logprob ? logprob : token),
                         mlxc_arg_buffer(scratch),    mlxc_arg_bytes(&pa, sizeof pa)};
    const mlxc_buffer *reads[7] = {pl.x, pl.ax, pl.gx, pl.w->data, pl.sc, pl.bi, scratch},
                      *writes[4] = {y, token, scratch, logprob};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 11, .grid = {(uint32_t)pl.groups, 1, 1},
                       .block = {pl.block, 1, 1}, .shared_bytes = pl.shared, .reads = reads, .nreads = 7,
                       .writes = writes, .nwrites = logprob ? 4 : 3};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

/* A pair's int8-walk part beside a walk of format oth: its tiles' rows
 * follow the pair kernel's (mlxc_qmvr_rows_in: Q6_K beside Q5_K walks two
 * rows at a time, not pipelined), and so its groups. */
static void qmvp_regroup(const mlxc_device *dev, qmvf_plan *pl, uint32_t n, uint32_t k, uint32_t oth) {
    if (ops_is_cpu(dev) || pl->vp.act != MLXC_QMVF_ACT_Q8 || !pl->shared || !qmvr_weight(pl->w, k)) return;
    uint64_t groups;
    if (qmvr_grid(dev, &pl->vp.q, n, k, oth, 1, &groups)) pl->groups = groups;
}

mlxc_status mlxc_qmatmul_fused_pair(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *g,
                                    const mlxc_qmm_weight *w1, mlxc_buffer *y1, uint32_t n1, const mlxc_qmm_fuse *f1,
                                    const mlxc_qmm_weight *w2, mlxc_buffer *y2, uint32_t n2, const mlxc_qmm_fuse *f2,
                                    uint32_t k) {
    MLXC_CHECK_ARG(enc && x && w1 && y1 && f1 && w2 && y2 && f2, "mlxc_qmatmul_fused_pair: NULL argument");
    MLXC_CHECK_ARG(f1->pro == f2->pro && (f1->pro == MLXC_QMM_PRO_NONE || f1->pro == MLXC_QMM_PRO_RMS_NORM) &&
                       f1->epi == MLXC_QMM_EPI_STORE && f2->epi == MLXC_QMM_EPI_STORE &&
                       (f1->pro == MLXC_QMM_PRO_NONE || f1->eps == f2->eps),
                   "mlxc_qmatmul_fused_pair: both parts take one prologue (none, or the RMS norm with one eps) "
                   "and the store epilogue");
    qmvf_plan a, b;
    mlxc_status s;
    if ((s = qmvf_prepare(enc, x, NULL, g, w1, y1, n1, k, f1, &a)) ||
        (s = qmvf_prepare(enc, x, NULL, g, w2, y2, n2, k, f2, &b)))
        return s;
    if (y1->dtype != MLXC_BF16 || y2->dtype != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul_fused_pair: y1 and y2 are bf16");
    if (ops_overlap(y1, y2)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul_fused_pair: y1 overlaps y2");
    if (qmm_overlaps_weight(y1, w2) || qmm_overlaps_weight(y2, w1))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qmatmul_fused_pair: an output overlaps the other weight");
    /* one kernel where the pair has one: part a the int8 walk, part b the
     * exact ring or the int8 walk (on a GPU both on their shared-memory
     * paths), else two */
    mlxc_device *dev = mlxc_encoder_device(enc);
    const mlxc_kernel *kern = NULL;
    char f1s[16], f2s[16], name[64];
    qmm_kernel_fmt(w1, &a.vp.q, f1s, sizeof f1s);
    qmm_kernel_fmt(w2, &b.vp.q, f2s, sizeof f2s);
    snprintf(name, sizeof name, "qmvp_%s_%s_bf16_bf16", f1s, f2s);
    const bool one = a.vp.act == MLXC_QMVF_ACT_Q8 &&
                     (ops_is_cpu(dev) || (a.shared && b.shared && a.block == b.block)) &&
                     mlxc_kernel_get(dev, name, &kern) == MLXC_OK;
    mlxc_clear_error();
    if (!one) {
        if ((s = qmvf_dispatch(enc, &a))) return s;
        return qmvf_dispatch(enc, &b);
    }
    qmvp_regroup(dev, &a, n1, k, b.vp.q.format);
    qmvp_regroup(dev, &b, n2, k, a.vp.q.format);
    /* part b's blocks first, then part a's (on the CPU every group runs
     * its slice of both parts).  Where the two parts' groups exceed one
     * wave of blocks at the pair's shared memory, they share the wave by
     * their weight bytes, each striding over its groups, so that no block
     * makes x' a second time (the 7B Q4_K_M's Q6_K layers ran two waves,
     * 528 blocks, before: on an H100 this took its decode from 339.5 to
     * 342.4-343.3 tokens/s, bench/results/qmv-wide-pair-split-2026-12-07.md) */
    uint32_t shared = a.shared > b.shared ? a.shared : b.shared;
    uint64_t gb = b.groups, ga = a.groups, cap = (uint64_t)-1;
    if (!ops_is_cpu(dev) && qmv_ring_launch(dev, shared, MLXC_QMVF_BLOCKS, &cap) && cap >= 2 && ga + gb > cap) {
        const double wa = (double)n1 * a.vp.q.row_bytes, wb = (double)n2 * b.vp.q.row_bytes;
        uint64_t sb = (uint64_t)((double)cap * wb / (wa + wb) + 0.5);
        sb = sb < 1 ? 1 : sb > cap - 1 ? cap - 1 : sb;
        if (sb > gb) sb = gb;             /* part b needs no more than its groups */
        if (ga > cap - sb) ga = cap - sb; /* part a the rest of the wave, */
        if (gb > cap - ga) gb = cap - ga; /* and part b what part a leaves */
    }
    mlxc_p_qmvp pp = {a.vp, b.vp, (uint32_t)gb};
    mlxc_arg args[11] = {mlxc_arg_buffer(x),       mlxc_arg_buffer(a.gx),      mlxc_arg_buffer(w1->data),
                         mlxc_arg_buffer(a.sc),    mlxc_arg_buffer(a.bi),      mlxc_arg_buffer(y1),
                         mlxc_arg_buffer(w2->data), mlxc_arg_buffer(b.sc),     mlxc_arg_buffer(b.bi),
                         mlxc_arg_buffer(y2),      mlxc_arg_bytes(&pp, sizeof pp)};
    /* x and g are read after the wait, the weights before (cuda: pdl_late) */
    const mlxc_buffer *reads[8] = {x, a.gx, w1->data, a.sc, a.bi, w2->data, b.sc, b.bi}, *writes[2] = {y1, y2};
    const uint64_t gx = ops_is_cpu(dev)
                            ? ops_cpu_tile_groups(dev, ((n1 > n2 ? n1 : n2) + MLXC_CPU_QMM_NT - 1) / MLXC_CPU_QMM_NT)
                            : ga + gb;
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 11, .grid = {(uint32_t)gx, 1, 1},
                       .block = {a.block, 1, 1}, .shared_bytes = shared,
                       .reads = reads, .nreads = 8, .writes = writes, .nwrites = 2};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

mlxc_status mlxc_qembedding_gather(mlxc_encoder *enc, const mlxc_qmm_weight *table, const mlxc_buffer *ids,
                                   mlxc_buffer *out, uint32_t n, uint32_t k, float scale) {
    MLXC_CHECK_ARG(enc && table && out, "mlxc_qembedding_gather: NULL argument");
    MLXC_CHECK_ARG(n >= 1 && k >= 1 && n <= INT32_MAX && k <= INT32_MAX,
                   "mlxc_qembedding_gather: n = %u, k = %u (each 1 .. 2^31 - 1)", n, k);
    mlxc_p_qgather g = {.q = {.n = n, .k = k}, .has_ids = ids != NULL, .scale = scale};
    mlxc_status s;
    if ((s = qmm_check_act("out", out)) || (s = qmm_check_weight(table, n, k, false, &g.q))) return s;
    uint64_t rows = n;
    if (ids) {
        if (ids->dtype != MLXC_U32)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_qembedding_gather: ids have dtype %s (u32)",
                                  mlxc_dtype_name(ids->dtype));
        rows = (uint64_t)mlxc_buffer_elements(ids);
        if (rows == 0 || rows > INT32_MAX)
            return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_qembedding_gather: %llu ids (1 .. 2^31 - 1)",
                                  (unsigned long long)rows);
        if (ids->offset % 4)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                  "mlxc_qembedding_gather: ids start at byte offset %zu, not a multiple of 4",
                                  ids->offset);
    }
    g.q.m = (uint32_t)rows;
    if ((s = qmm_check_view("out (rows, k)", out, rows * k, true, mlxc_dtype_size(out->dtype)))) return s;
    if ((ids && ops_overlap(out, ids)) || qmm_overlaps_weight(out, table))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_qembedding_gather: out overlaps the ids or the table");

    mlxc_device *dev = mlxc_encoder_device(enc);
    char fmt[16], name[48];
    qmm_kernel_fmt(table, &g.q, fmt, sizeof fmt);
    snprintf(name, sizeof name, "qgather_%s_%s", fmt, ops_float_sfx(out->dtype));
    const uint64_t units = rows * (k / 8);
    uint32_t groups = ops_is_cpu(dev) ? ops_groups(dev, rows * k, 1u << 14) : ops_groups(dev, units, 256);
    if (groups == 0) groups = 1;

    const mlxc_kernel *kern = NULL;
    if ((s = mlxc_kernel_get(dev, name, &kern))) return s;
    const mlxc_buffer *sc = table->scales ? table->scales : table->data, *bi = table->biases ? table->biases : sc;
    const mlxc_buffer *id = ids ? ids : table->data;
    if (mlxc_buffer_device(id) != dev || mlxc_buffer_device(table->data) != dev || mlxc_buffer_device(sc) != dev ||
        mlxc_buffer_device(bi) != dev || mlxc_buffer_device(out) != dev)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                              "mlxc_qembedding_gather: a buffer lives on another device than the encoder");
    mlxc_arg args[6] = {mlxc_arg_buffer(id),  mlxc_arg_buffer(table->data), mlxc_arg_buffer(sc),
                        mlxc_arg_buffer(bi),  mlxc_arg_buffer(out),         mlxc_arg_bytes(&g, sizeof g)};
    const mlxc_buffer *reads[4] = {id, table->data, sc, bi}, *writes[1] = {out};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 6, .grid = {groups, 1, 1},
                       .block = {256, 1, 1}, .reads = reads, .nreads = 4, .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_GATHER))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

/* The checks and kernel name the two expert forms share: the counts, x
 * (tokens, k), y (tokens * topk, n), the stacked weight, no overlaps of y
 * with x or the weight.  `name` gets OP_FORMAT_X_Y. */
static mlxc_status qmoe_prepare(const char *op, const char *kop, const mlxc_buffer *x, const mlxc_qmm_weight *w,
                                const mlxc_buffer *y, uint32_t tokens, uint32_t topk, uint32_t experts, uint32_t n,
                                uint32_t k, mlxc_p_qmoe *mp, char *name, size_t name_size) {
    MLXC_CHECK_ARG(tokens >= 1 && topk >= 1 && experts >= 1 && n >= 1 && k >= 1 && k <= INT32_MAX &&
                       (uint64_t)tokens * topk <= INT32_MAX && (uint64_t)experts * n <= INT32_MAX,
                   "%s: tokens = %u, topk = %u, experts = %u, n = %u, k = %u (each >= 1, "
                   "tokens * topk and experts * n at most 2^31 - 1)",
                   op, tokens, topk, experts, n, k);
    const uint32_t pairs = tokens * topk;
    *mp = (mlxc_p_qmoe){.q = {.m = pairs, .n = n, .k = k}, .topk = topk, .experts = experts};
    mlxc_status s;
    if ((s = qmm_check_act("x", x)) || (s = qmm_check_act("y", y)) ||
        (s = qmm_check_weight(w, experts * n, k, true, &mp->q)))
        return s;
    mp->q.n = n; /* the rows of one expert; the check covered all of them */
    if ((s = qmm_check_view("x (tokens, k)", x, (uint64_t)tokens * k, true, mlxc_dtype_size(x->dtype))) ||
        (s = qmm_check_view("y (tokens, topk, n)", y, (uint64_t)pairs * n, true, mlxc_dtype_size(y->dtype))))
        return s;
    if (ops_overlap(y, x) || qmm_overlaps_weight(y, w))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: y overlaps x or the weight", op);
    char fmt[16];
    qmm_kernel_fmt(w, &mp->q, fmt, sizeof fmt);
    snprintf(name, name_size, "%s_%s_%s_%s", kop, fmt, ops_float_sfx(x->dtype), ops_float_sfx(y->dtype));
    return MLXC_OK;
}

/* A u32 index buffer of `count` elements that y does not overlap. */
static mlxc_status qmoe_check_index(const char *op, const char *what, const mlxc_buffer *b, uint64_t count,
                                    const mlxc_buffer *y) {
    if (b->dtype != MLXC_U32)
        return mlxc_set_error(MLXC_ERR_DTYPE, "%s: %s have dtype %s (u32)", op, what, mlxc_dtype_name(b->dtype));
    mlxc_status s = qmm_check_view(what, b, count, true, 4);
    if (s) return s;
    if (ops_overlap(y, b)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: y overlaps the %s", op, what);
    return MLXC_OK;
}

/* Dispatch an expert form: x, the weight's three buffers, the index
 * buffers, y, then the parameters. */
static mlxc_status qmoe_dispatch(mlxc_encoder *enc, const char *op, const char *name, const mlxc_buffer *x,
                                 const mlxc_qmm_weight *w, const mlxc_buffer *const *idx, uint32_t nidx,
                                 mlxc_buffer *y, const mlxc_p_qmoe *mp, uint64_t groups, uint32_t gy, uint32_t block,
                                 uint32_t shared) {
    mlxc_device *dev = mlxc_encoder_device(enc);
    if (groups > INT32_MAX) groups = INT32_MAX;
    const mlxc_kernel *kern = NULL;
    mlxc_status s;
    if ((s = mlxc_kernel_get(dev, name, &kern))) return s;
    const mlxc_buffer *sc = w->scales ? w->scales : w->data, *bi = w->biases ? w->biases : sc;
    bool same = mlxc_buffer_device(x) == dev && mlxc_buffer_device(w->data) == dev && mlxc_buffer_device(sc) == dev &&
                mlxc_buffer_device(bi) == dev && mlxc_buffer_device(y) == dev;
    for (uint32_t i = 0; i < nidx; i++) same = same && mlxc_buffer_device(idx[i]) == dev;
    if (!same) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: a buffer lives on another device than the encoder", op);
    mlxc_arg args[8] = {mlxc_arg_buffer(x), mlxc_arg_buffer(w->data), mlxc_arg_buffer(sc), mlxc_arg_buffer(bi)};
    const mlxc_buffer *reads[6] = {x, w->data, sc, bi}, *writes[1] = {y};
    for (uint32_t i = 0; i < nidx; i++) args[4 + i] = mlxc_arg_buffer(idx[i]), reads[4 + i] = idx[i];
    args[4 + nidx] = mlxc_arg_buffer(y);
    args[5 + nidx] = mlxc_arg_bytes(mp, sizeof *mp);
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 6 + nidx, .grid = {(uint32_t)groups, gy, 1},
                       .block = {block, 1, 1}, .shared_bytes = shared, .reads = reads, .nreads = 4 + nidx,
                       .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

mlxc_status mlxc_qmatmul_experts(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_qmm_weight *w,
                                 const mlxc_buffer *ids, mlxc_buffer *y, uint32_t tokens, uint32_t topk,
                                 uint32_t experts, uint32_t n, uint32_t k) {
    static const char op[] = "mlxc_qmatmul_experts";
    MLXC_CHECK_ARG(enc && x && w && ids && y, "mlxc_qmatmul_experts: NULL argument");
    mlxc_p_qmoe mp;
    char name[48];
    mlxc_status s;
    if ((s = qmoe_prepare(op, "qmoe", x, w, y, tokens, topk, experts, n, k, &mp, name, sizeof name)) ||
        (s = qmoe_check_index(op, "ids (tokens, topk)", ids, mp.q.m, y)))
        return s;
    mlxc_device *dev = mlxc_encoder_device(enc);
    const mlxc_buffer *idx[1] = {ids};
    const uint32_t pairs = mp.q.m;
    if (!ops_is_cpu(dev) && mlxc_qmvt_has(mp.q.format, mp.q.bits) && pairs <= 65535) {
        /* the tensor-core mat-vec per (token, expert) pair, grid.y the pair:
         * each pair's blocks share the SMs' room for qmvt's ring (two
         * blocks an SM, one for Q6_K with f32 x), at least one a pair */
        const uint32_t es = mp.q.sdtype == MLXC_QS_F32 ? 4 : 2;
        const uint32_t ring = mlxc_qmvt_smem_bytes(mp.q.format, mp.q.bits, 1, (uint32_t)mlxc_dtype_size(x->dtype),
                                                   mp.q.group, es);
        const uint32_t per_sm =
            (mp.q.format == MLXC_QMMF_Q6_K || mp.q.format == MLXC_QMMF_Q5_K) && x->dtype == MLXC_F32 ? 1 : 2;
        uint64_t gx = (n + MLXC_QMV_BLOCK_ROWS - 1) / MLXC_QMV_BLOCK_ROWS, all = (uint64_t)-1;
        uint32_t block = MLXC_QMVT_THREADS, shared = qmv_ring_launch(dev, ring, per_sm, &all);
        if (shared) {
            block = 32 * MLXC_QMVT_WARPS;
            const uint64_t share = all / pairs ? all / pairs : 1;
            if (gx > share) gx = share;
        }
        char tname[56];
        snprintf(tname, sizeof tname, "qmoet%.48s", name + 4); /* qmoe_F_X_Y -> qmoet_F_X_Y */
        return qmoe_dispatch(enc, op, tname, x, w, idx, 1, y, &mp, gx, pairs, block, shared);
    }
    const uint64_t groups = ops_is_cpu(dev)
                                ? ops_cpu_tile_groups(dev, (uint64_t)mp.q.m * ((n + MLXC_CPU_QMM_NT - 1) / MLXC_CPU_QMM_NT))
                                : ((uint64_t)mp.q.m * n + MLXC_QMV_ROWS - 1) / MLXC_QMV_ROWS;
    return qmoe_dispatch(enc, op, name, x, w, idx, 1, y, &mp, groups, 1, MLXC_QMV_THREADS, 0);
}

/* The expert-routed fused mat-vec (qmoef), or with rw set its combine
 * form (qmoec: pair s its own rows of x and aux, then the experts' sum of
 * each token's `group` pairs added to resid, counted in ctr). */
static mlxc_status experts_fused(const char *op, mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                 const mlxc_buffer *g, const mlxc_qmm_weight *w, const mlxc_buffer *ids,
                                 const mlxc_buffer *rw, mlxc_buffer *y, mlxc_buffer *resid, mlxc_buffer *ctr,
                                 uint32_t tokens, uint32_t topk, uint32_t experts, uint32_t n, uint32_t k,
                                 uint32_t x_stride, const mlxc_qmm_fuse *f) {
    MLXC_CHECK_ARG(tokens >= 1 && topk >= 1 && experts >= 1 && n >= 1 && k >= 1 && k <= INT32_MAX &&
                       (uint64_t)tokens * topk <= 65535 && (uint64_t)experts * n <= INT32_MAX && x_stride >= k &&
                       x_stride <= INT32_MAX,
                   "%s: tokens = %u, topk = %u, experts = %u, n = %u, k = %u, x_stride = %u (each >= 1, tokens * "
                   "topk at most 65535, experts * n at most 2^31 - 1, k <= x_stride <= 2^31 - 1)",
                   op, tokens, topk, experts, n, k, x_stride);
    MLXC_CHECK_ARG(f->epi == MLXC_QMM_EPI_STORE, "%s: the epilogue must be MLXC_QMM_EPI_STORE", op);
    MLXC_CHECK_ARG(f->act == MLXC_QMM_ACT_EXACT || f->act == MLXC_QMM_ACT_Q8, "%s: unknown act %d", op, (int)f->act);
    mlxc_status s;
    if ((s = qmm_check_fuse(op, aux, g, f)) || (s = mlxc_qmatmul_fused_supported(w))) return s;
    const uint32_t pairs = tokens * topk;
    const bool comb = rw != NULL, q8 = f->act == MLXC_QMM_ACT_Q8;
    mlxc_p_qmoef mp = {.v = {.q = {.m = 1, .n = n, .k = k}, .pro = (uint32_t)f->pro, .epi = MLXC_QMVF_STORE,
                             .eps = f->eps, .act = q8 ? MLXC_QMVF_ACT_Q8 : MLXC_QMVF_ACT_EXACT},
                       .topk = comb ? 1 : topk, .experts = experts, .x_stride = x_stride, .pairs = pairs,
                       .group = comb ? topk : 0};
    if ((s = qmm_check_weight(w, experts * n, k, false, &mp.v.q))) return s;
    mp.v.q.n = n; /* the rows of one expert; the check covered all of them */
    if (mp.v.q.format == MLXC_QMMF_Q4_0T)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: Q4_0 tiles are not an expert form", op);
    /* x and aux: row r's k values from r * x_stride on (r the token, or
     * with the combine the pair); g: k values */
    const uint64_t span = (uint64_t)((comb ? pairs : tokens) - 1) * x_stride + k;
    const mlxc_buffer *vecs[3] = {x, aux, g};
    static const char *const vname[3] = {"x", "aux", "g"};
    for (int i = 0; i < 3; i++) {
        if (!vecs[i]) continue;
        if ((s = ops_check_dtype(op, vname[i], vecs[i], MLXC_BF16))) return s;
        const uint64_t want = i == 2 ? k : span;
        if ((uint64_t)mlxc_buffer_elements(vecs[i]) < want || vecs[i]->offset % 2)
            return mlxc_set_error(MLXC_ERR_SHAPE, "%s: %s has %lld elements at byte offset %zu (want %llu or more, "
                                  "2-byte aligned)", op, vname[i], (long long)mlxc_buffer_elements(vecs[i]),
                                  vecs[i]->offset, (unsigned long long)want);
        if (ops_overlap(y, vecs[i])) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: y overlaps %s", op, vname[i]);
        if (comb && ops_overlap(resid, vecs[i]))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: resid overlaps %s", op, vname[i]);
    }
    if ((s = ops_check_dtype(op, "y", y, MLXC_BF16)) ||
        (s = qmm_check_view("y (tokens, topk, n)", y, (uint64_t)pairs * n, true, 2)) ||
        (s = qmoe_check_index(op, "ids (tokens, topk)", ids, pairs, y)))
        return s;
    if (qmm_overlaps_weight(y, w)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: y overlaps the weight", op);
    /* the combine's counters: a token's grid.x blocks at most, one per
     * MLXC_QMVT_ROWS rows (the launches below keep grid.x within it) */
    const uint64_t ctr_tok = (n + MLXC_QMVT_ROWS - 1) / MLXC_QMVT_ROWS, nctr = (uint64_t)tokens * ctr_tok;
    if (comb) {
        if ((s = ops_check_dtype(op, "weights", rw, MLXC_F32)) || (s = ops_check_dtype(op, "resid", resid, MLXC_BF16)) ||
            (s = ops_check_dtype(op, "counters", ctr, MLXC_U32)) ||
            (s = qmm_check_view("weights (tokens, topk)", rw, pairs, true, 4)) ||
            (s = qmm_check_view("resid (tokens, n)", resid, (uint64_t)tokens * n, true, 2)))
            return s;
        if ((uint64_t)mlxc_buffer_elements(ctr) < nctr || ctr->offset % 4)
            return mlxc_set_error(MLXC_ERR_SHAPE, "%s: counters has %lld elements at byte offset %zu (want %llu or "
                                  "more, 4-byte aligned)", op, (long long)mlxc_buffer_elements(ctr), ctr->offset,
                                  (unsigned long long)nctr);
        const mlxc_buffer *outs[3] = {y, resid, ctr}, *ins[4] = {ids, rw, w->data, NULL};
        static const char *const oname[3] = {"y", "resid", "counters"}, *const iname[3] = {"ids", "weights", "the weight"};
        for (int a = 0; a < 3; a++) {
            for (int b = a + 1; b < 3; b++)
                if (ops_overlap(outs[a], outs[b]))
                    return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, oname[a], oname[b]);
            for (int b = 0; ins[b]; b++)
                if (ops_overlap(outs[a], ins[b]))
                    return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, oname[a], iname[b]);
            if (a && qmm_overlaps_weight(outs[a], w))
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: %s overlaps the weight", op, oname[a]);
        }
    }

    mlxc_device *dev = mlxc_encoder_device(enc);
    char fmt[16], name[48];
    qmm_kernel_fmt(w, &mp.v.q, fmt, sizeof fmt);
    /* the CPU's qmoef and qmoec honour act; CUDA's int8 walk is qmoer */
    const bool walk = q8 && !ops_is_cpu(dev);
    snprintf(name, sizeof name, "%s_%s_bf16_bf16", walk ? (comb ? "qmoerc" : "qmoer") : comb ? "qmoec" : "qmoef", fmt);
    uint64_t gx;
    uint32_t gy = 1, block = 1, shared = 0;
    if (ops_is_cpu(dev)) {
        gx = ops_cpu_tile_groups(dev, (uint64_t)(comb ? tokens : pairs) * ((n + MLXC_CPU_QMM_NT - 1) / MLXC_CPU_QMM_NT));
    } else if (q8) {
        /* qmvr's int8 walk a pair (its formats, 16-byte aligned rows of x,
         * aux and each expert's weight), grid.y the pair: the pairs share
         * the blocks that fit at once, at least one a pair */
        if (!qmvr_weight(w, k)) return mlxc_qmatmul_fused_q8_fast(w, k);
        if (!qmm_views16(w, x, aux, g) || ((uint64_t)x_stride * 2) % 16 || ((uint64_t)n * mp.v.q.row_bytes) % 16)
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                                  "%s: int8 activations on a GPU take 16-byte aligned x, aux, g and weight views, "
                                  "x_stride a multiple of 8 and experts of whole 16-byte units", op);
        const uint32_t rows = mlxc_qmoer_rows(mp.v.q.format, mp.v.q.bits, k);
        uint64_t all = (uint64_t)-1;
        gx = (n + rows - 1) / rows;
        gy = pairs;
        block = 32 * MLXC_QMVR_WARPS;
        shared = qmv_ring_launch(dev, mlxc_qmvr_smem_bytes(k), MLXC_QMVR_BLOCKS, &all);
        if (!shared)
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "%s: k = %u needs more shared memory for int8 activations "
                                  "than a block has", op, k);
        const uint64_t share = all / pairs ? all / pairs : 1;
        if (gx > share) gx = share;
        if (comb && gx > ctr_tok) gx = ctr_tok;
    } else {
        /* qmvf's ring a pair, grid.y the pair: the pairs share the blocks
         * that fit at once (MLXC_QMVF_BLOCKS an SM), at least one a pair */
        const uint32_t es = mp.v.q.sdtype == MLXC_QS_F32 ? 4 : 2;
        const uint32_t ring = mlxc_qmvf_smem_bytes(mp.v.q.format, mp.v.q.bits, k, mp.v.q.group, es);
        uint64_t all = (uint64_t)-1;
        gx = (n + MLXC_QMVT_ROWS - 1) / MLXC_QMVT_ROWS;
        gy = pairs;
        block = 32 * MLXC_QMVT_WARPS;
        shared = qmv_ring_launch(dev, ring, MLXC_QMVF_BLOCKS, &all);
        if (shared) {
            const uint64_t share = all / pairs ? all / pairs : 1;
            if (gx > share) gx = share;
        }
    }
    if (gx > INT32_MAX) gx = INT32_MAX;
    const mlxc_kernel *kern = NULL;
    if ((s = mlxc_kernel_get(dev, name, &kern))) return s;
    const mlxc_buffer *sc = w->scales ? w->scales : w->data, *bi = w->biases ? w->biases : sc;
    const mlxc_buffer *ax = aux ? aux : x, *gv = g ? g : x;
    const mlxc_buffer *all_b[11] = {x, ax, gv, w->data, sc, bi, ids, y, rw, resid, ctr};
    for (int i = 0; i < (comb ? 11 : 8); i++)
        if (mlxc_buffer_device(all_b[i]) != dev)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: a buffer lives on another device than the encoder",
                                  op);
    mlxc_arg args[12] = {mlxc_arg_buffer(x),  mlxc_arg_buffer(ax), mlxc_arg_buffer(gv), mlxc_arg_buffer(w->data),
                         mlxc_arg_buffer(sc), mlxc_arg_buffer(bi), mlxc_arg_buffer(ids)};
    int na = 7;
    if (comb) args[na++] = mlxc_arg_buffer(rw);
    args[na++] = mlxc_arg_buffer(y);
    if (comb) args[na++] = mlxc_arg_buffer(resid), args[na++] = mlxc_arg_buffer(ctr);
    args[na++] = mlxc_arg_bytes(&mp, sizeof mp);
    const mlxc_buffer *reads[10] = {x, ax, gv, w->data, sc, bi, ids, rw, resid, ctr}, *writes[3] = {y, resid, ctr};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = (uint32_t)na, .grid = {(uint32_t)gx, gy, 1},
                       .block = {block, 1, 1}, .shared_bytes = shared, .reads = reads, .nreads = comb ? 10 : 7,
                       .writes = writes, .nwrites = comb ? 3 : 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_MATMUL))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

mlxc_status mlxc_qmatmul_experts_fused(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                       const mlxc_buffer *g, const mlxc_qmm_weight *w, const mlxc_buffer *ids,
                                       mlxc_buffer *y, uint32_t tokens, uint32_t topk, uint32_t experts, uint32_t n,
                                       uint32_t k, uint32_t x_stride, const mlxc_qmm_fuse *f) {
    MLXC_CHECK_ARG(enc && x && w && ids && y && f, "mlxc_qmatmul_experts_fused: NULL argument");
    return experts_fused("mlxc_qmatmul_experts_fused", enc, x, aux, g, w, ids, NULL, y, NULL, NULL, tokens, topk,
                         experts, n, k, x_stride, f);
}

mlxc_status mlxc_qmatmul_experts_combine(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *aux,
                                         const mlxc_buffer *g, const mlxc_qmm_weight *w, const mlxc_buffer *ids,
                                         const mlxc_buffer *weights, mlxc_buffer *y, mlxc_buffer *resid,
                                         mlxc_buffer *counters, uint32_t tokens, uint32_t topk, uint32_t experts,
                                         uint32_t n, uint32_t k, uint32_t x_stride, const mlxc_qmm_fuse *f) {
    MLXC_CHECK_ARG(enc && x && w && ids && weights && y && resid && counters && f,
                   "mlxc_qmatmul_experts_combine: NULL argument");
    return experts_fused("mlxc_qmatmul_experts_combine", enc, x, aux, g, w, ids, weights, y, resid, counters, tokens,
                         topk, experts, n, k, x_stride, f);
}

mlxc_status mlxc_qmatmul_grouped(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_qmm_weight *w,
                                 const mlxc_buffer *offsets, const mlxc_buffer *perm, mlxc_buffer *y, uint32_t tokens,
                                 uint32_t topk, uint32_t experts, uint32_t n, uint32_t k) {
    static const char op[] = "mlxc_qmatmul_grouped";
    MLXC_CHECK_ARG(enc && x && w && offsets && perm && y, "mlxc_qmatmul_grouped: NULL argument");
    mlxc_p_qmoe mp;
    char name[48];
    mlxc_status s;
    if ((s = qmoe_prepare(op, "qmoeg", x, w, y, tokens, topk, experts, n, k, &mp, name, sizeof name)) ||
        (s = qmoe_check_index(op, "offsets (experts + 1)", offsets, (uint64_t)experts + 1, y)) ||
        (s = qmoe_check_index(op, "perm (tokens, topk)", perm, mp.q.m, y)))
        return s;
    mlxc_device *dev = mlxc_encoder_device(enc);
    const mlxc_buffer *idx[2] = {offsets, perm};
    if (!ops_is_cpu(dev) && x->dtype == MLXC_BF16 && y->dtype == MLXC_BF16 && k % 8 == 0 && x->offset % 16 == 0) {
        /* the tensor-core kernel: (slot tile, row tile) units; raw weight
         * tiles through cp.async where the format and k allow */
        char tname[56];
        snprintf(tname, sizeof tname, "qmoegt%.48s", name + 5); /* qmoeg_F_X_Y -> qmoegt_F_X_Y */
        const bool sides = !w->scales || (w->scales->offset % 4 == 0 && (!w->biases || w->biases->offset % 4 == 0));
        /* whole 16-byte rows, or Q6_K's read from the units around them */
        const uint32_t stage = mlxc_qmoeg2_stage(mp.q.format, mp.q.bits, mp.q.group, mp.q.sdtype);
        const uint32_t raw = mlxc_qmoeg2_takes(mp.q.format, mp.q.bits, mp.q.group, k) &&
                                     (mp.q.row_bytes % 16 == 0 || mp.q.format == MLXC_QMMF_Q6_K) &&
                                     w->data->offset % 16 == 0 && sides
                                 ? qmoeg2_stages(stage) * stage
                                 : 0;
        if (raw && raw <= dev->caps.max_shared_bytes)
            return qmoe_dispatch(enc, op, tname, x, w, idx, 2, y, &mp, mlxc_qmoeg2_units(mp.q.m, experts, n), 1,
                                 MLXC_QMOEG2_THREADS, raw);
        return qmoe_dispatch(enc, op, tname, x, w, idx, 2, y, &mp, mlxc_qmoegt_units(mp.q.m, experts, n), 1,
                             MLXC_QMOEGT_THREADS, MLXC_QMOEGT_SMEM);
    }
    /* Units: (expert or the unrouted tail) x tile of output rows. */
    const uint64_t units = ((uint64_t)experts + 1) * ((n + (ops_is_cpu(dev) ? MLXC_CPU_QMM_NT : MLXC_QMM_BN) - 1) /
                                                      (ops_is_cpu(dev) ? MLXC_CPU_QMM_NT : MLXC_QMM_BN));
    const uint64_t groups = ops_is_cpu(dev) ? ops_cpu_tile_groups(dev, units) : units;
    return qmoe_dispatch(enc, op, name, x, w, idx, 2, y, &mp, groups, 1, ops_is_cpu(dev) ? 1 : MLXC_QMM_THREADS, 0);
}
