/* One weight descriptor (mlxc/quant.h) from whichever file holds the
 * tensor, so that code above io never branches on the file format.  io
 * depends on quant here (the format enum and the ggml type table), which the
 * layer map allows: both sit below the model. */
#include <string.h>

#include "io/io_internal.h"
#include "mlxc/quant.h"

/* The mapped bytes of tensor i. */
static mlxc_status tensor_data(const mlxc_weights *w, size_t i, const void **data, uint64_t *bytes) {
    mlxc_tensor_info ti;
    mlxc_status st = mlxc_weights_info(w, i, &ti);
    if (st) return st;
    if (mlxc_weights_format(w) == MLXC_FORMAT_GGUF) {
        const mlxc_gguf *g = mlxc_weights_gguf(w);
        size_t gi;
        mlxc_gguf_tensor_info gt;
        if ((st = mlxc_gguf_tensor_find(g, ti.name, &gi)) || (st = mlxc_gguf_tensor_at(g, gi, &gt))) return st;
        *data = gt.data, *bytes = gt.bytes;
        return MLXC_OK;
    }
    const mlxc_safetensors *sf = mlxc_weights_safetensors(w, ti.file);
    size_t si;
    mlxc_st_tensor_info stt;
    if (!sf) return mlxc_set_error(MLXC_ERR_INTERNAL, "tensor \"%s\" names file %zu, which is not open", ti.name, ti.file);
    if ((st = mlxc_safetensors_find(sf, ti.name, &si)) || (st = mlxc_safetensors_tensor_at(sf, si, &stt))) return st;
    *data = stt.data, *bytes = stt.bytes;
    return MLXC_OK;
}

/* Leading dimensions folded into rows. */
static void rows_cols(const mlxc_tensor_info *ti, int64_t cols, mlxc_qweight *q) {
    int64_t rows = 1;
    for (int d = 0; d + 1 < ti->ndim; d++) rows *= ti->shape[d];
    q->rows = rows;
    q->cols = cols;
}

static mlxc_status from_triple(const mlxc_weights *w, const mlxc_quant_triple *t, mlxc_qweight *q) {
    if (!t->cols || !t->params.bits || !t->params.group_size)
        return mlxc_set_error(MLXC_ERR_FORMAT, "\"%s\": no config.json quantization section, so its group size is unknown",
                              t->stem);
    mlxc_tensor_info wi, si;
    mlxc_status st;
    if ((st = mlxc_weights_info(w, t->weight, &wi)) || (st = mlxc_weights_info(w, t->scales, &si))) return st;
    q->format = t->params.mode ? t->params.mode : MLXC_QF_MLX_AFFINE;
    q->bits = (uint32_t)t->params.bits;
    q->group_size = (uint32_t)t->params.group_size;
    q->scale_dtype = si.dtype;
    if (q->format == MLXC_QF_MLX_AFFINE ? (si.dtype != MLXC_F16 && si.dtype != MLXC_BF16 && si.dtype != MLXC_F32)
                                        : si.dtype != MLXC_U8)
        return mlxc_set_error(MLXC_ERR_DTYPE, "\"%s\" is %s, which %s scales cannot be", si.name, si.dtype_name,
                              mlxc_qformat_name(q->format));
    if (q->format == MLXC_QF_MLX_AFFINE && t->biases == SIZE_MAX)
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "\"%s\" is MLX affine but has no biases", t->stem);
    rows_cols(&wi, t->cols, q);
    if ((st = tensor_data(w, t->weight, &q->data, &q->data_bytes))) return st;
    if ((st = tensor_data(w, t->scales, &q->scales, &q->scales_bytes))) return st;
    if (t->biases != SIZE_MAX && (st = tensor_data(w, t->biases, &q->biases, &q->biases_bytes))) return st;
    return MLXC_OK;
}

mlxc_status mlxc_weights_qweight(const mlxc_weights *w, const char *name, mlxc_qweight *out) {
    MLXC_CHECK_ARG(w && name && out, "mlxc_weights_qweight: NULL argument");
    memset(out, 0, sizeof *out);
    mlxc_quant_triple t;
    if (mlxc_weights_quant_find(w, name, &t) == MLXC_OK) return from_triple(w, &t, out);
    mlxc_clear_error();
    size_t i;
    mlxc_status st = mlxc_weights_find(w, name, &i);
    if (st) return st;
    mlxc_tensor_info ti;
    if ((st = mlxc_weights_info(w, i, &ti))) return st;
    if (ti.ndim < 1) return mlxc_set_error(MLXC_ERR_SHAPE, "\"%s\" is a scalar, not a weight", ti.name);
    if (ti.ggml_type >= 0) {
        if ((st = mlxc_qformat_from_ggml((uint32_t)ti.ggml_type, &out->format))) return st;
        uint32_t blk, tsz;
        mlxc_ggml_type_info((uint32_t)ti.ggml_type, &blk, &tsz);
        bool dense = out->format < MLXC_QF_GGML;
        out->group_size = dense ? 1 : blk;
        out->block_bytes = dense ? 0 : tsz;
        out->bits = (uint32_t)(tsz * 8 / blk);   /* dense: 32/16; blocks: bits per weight, rounded down */
    } else {
        switch (ti.dtype_exact ? ti.dtype : MLXC_DTYPE_COUNT) {
        case MLXC_F32: out->format = MLXC_QF_F32, out->bits = 32; break;
        case MLXC_F16: out->format = MLXC_QF_F16, out->bits = 16; break;
        case MLXC_BF16: out->format = MLXC_QF_BF16, out->bits = 16; break;
        default:
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "\"%s\" is %s, not a weight format", ti.name, ti.dtype_name);
        }
        out->group_size = 1;
    }
    out->scale_dtype = ti.dtype;
    rows_cols(&ti, ti.shape[ti.ndim - 1], out);
    return tensor_data(w, i, &out->data, &out->data_bytes);
}
