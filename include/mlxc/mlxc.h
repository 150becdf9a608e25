/*
 * mlxc.h — umbrella header.
 *
 * mlxc is a C11 GPU compute library for transformer inference with
 * MLX-compatible weights: devices (CUDA and CPU), buffers, a kernel registry,
 * command encoders with barriers and auto-barriers, sessions with device-side
 * fences, captured graphs with fusion, reordering and one-launch replay,
 * profiling, op front-ends (elementwise, layout, norms, RoPE, softmax,
 * sampling, dense matmul, attention), model-file readers (GGUF,
 * safetensors, MLX / Hugging Face directories) and tokenizers on top.
 */
#ifndef MLXC_H
#define MLXC_H

#include "mlxc/common.h"
#include "mlxc/device.h"
#include "mlxc/kernel.h"
#include "mlxc/encoder.h"
#include "mlxc/session.h"
#include "mlxc/graph.h"
#include "mlxc/profile.h"
#include "mlxc/ops.h"
#include "mlxc/ops_elementwise.h"
#include "mlxc/ops_layout.h"
#include "mlxc/ops_norm.h"
#include "mlxc/ops_rope.h"
#include "mlxc/ops_sample.h"
#include "mlxc/ops_softmax.h"
#include "mlxc/ops_matmul.h"
#include "mlxc/ops_qmatmul.h"
#include "mlxc/ops_attention.h"
#include "mlxc/quant.h"
#include "mlxc/gguf.h"
#include "mlxc/safetensors.h"
#include "mlxc/weights.h"
#include "mlxc/tokenizer.h"
#include "mlxc/model.h"

#endif /* MLXC_H */
