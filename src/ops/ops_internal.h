/* Helpers shared by the op-library front-ends (one src/ops file per family): dtype
 * suffixes, grid choice per backend, argument checks that leave a clear
 * message, and the tagged, tracked dispatch every op ends with. */
#ifndef MLXC_OPS_INTERNAL_H
#define MLXC_OPS_INTERNAL_H

#include "core/internal.h"
#include "kernels/params_rope.h"
#include "mlxc/ops.h"
#include "mlxc/ops_attention.h"
#include "mlxc/ops_elementwise.h"
#include "mlxc/ops_layout.h"
#include "mlxc/ops_matmul.h"
#include "mlxc/ops_norm.h"
#include "mlxc/ops_rope.h"
#include "mlxc/ops_sample.h"
#include "mlxc/ops_softmax.h"
#include "mlxc/ops_moe.h"

/* "f32", "f16", "bf16", or NULL for any other dtype. */
const char *ops_float_sfx(mlxc_dtype dt);
bool        ops_is_cpu(const mlxc_device *dev);

/* Thread groups for `n` units at ~`per_group` units each, capped at what
 * the device keeps busy (grid-stride kernels cover the rest). */
uint32_t ops_groups(const mlxc_device *dev, uint64_t n, uint64_t per_group);
/* CPU groups for a kernel whose units are whole tiles (the matmuls):
 * `tiles`, at most 16 per core, so that the tiles a group owns do not
 * depend on the grid. */
uint64_t ops_cpu_tile_groups(const mlxc_device *dev, uint64_t tiles);
/* Groups for a row-wise kernel: CPU, contiguous runs of rows of ~16K
 * elements per group; CUDA, one block per row (capped). */
uint32_t ops_row_groups(const mlxc_device *dev, uint64_t rows, uint64_t row_elems);
/* Threads per CUDA block for a row of `row_elems` (the CPU ignores it). */
uint32_t ops_row_block(uint64_t row_elems);

/* Checks; each returns MLXC_OK or sets the error "op: ..." and returns it. */
mlxc_status ops_check_float(const char *op, const char *what, const mlxc_buffer *b);
mlxc_status ops_check_dtype(const char *op, const char *what, const mlxc_buffer *b, mlxc_dtype want);
mlxc_status ops_check_elems(const char *op, const char *what, const mlxc_buffer *b, uint64_t want);
/* rows = elements of x / dim, checked to divide and to fit in 32 bits. */
mlxc_status ops_rows_of(const char *op, const mlxc_buffer *x, uint32_t dim, uint32_t *rows);

/* Do two views share bytes of one allocation? */
bool        ops_overlap(const mlxc_buffer *a, const mlxc_buffer *b);

/* The end of every op: look the kernel up, tag the op kind, dispatch
 * tracked.  NULL entries of reads/writes are skipped; every buffer must
 * live on the encoder's device. */
typedef struct ops_launch {
    const char        *kernel;
    mlxc_op_kind       kind;
    const mlxc_arg    *args;
    uint32_t           nargs;
    uint32_t           groups;
    uint32_t           block;
    uint32_t           shared; /* dynamic shared memory bytes (CUDA), 0: none */
    const mlxc_buffer *reads[10];
    const mlxc_buffer *writes[5];
} ops_launch;

mlxc_status ops_dispatch(mlxc_encoder *enc, const char *op, const ops_launch *l);

/* The checks of mlxc_rope_qkv_cache (op names it in messages: "mlxc_" op)
 * and its kernel's parameters (p->rope.n_tokens: the rows of qkv). */
mlxc_status ops_rope_qkv_params(const char *op, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, const mlxc_buffer *q_out,
                                const mlxc_buffer *k_cache, const mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                const mlxc_buffer *freq_factors, const mlxc_rope_qkv_desc *d, mlxc_p_rope_qkv *p);
/* Its dispatch, for parameters ops_rope_qkv_params made of these operands. */
mlxc_status ops_rope_qkv_dispatch(mlxc_encoder *enc, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                  const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, mlxc_buffer *q_out,
                                  mlxc_buffer *k_cache, mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                  const mlxc_buffer *freq_factors, const mlxc_p_rope_qkv *p);

#endif
