/*
 * mlxc.h — umbrella header.
 *
 * mlxc is a C11 GPU compute library for transformer inference with
 * MLX-compatible weights: devices (CUDA and CPU), buffers, a kernel registry,
 * command encoders with barriers and auto-barriers, sessions with device-side
 * fences, captured graphs with fusion, reordering and one-launch replay,
 * profiling, and op front-ends on top.
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

#endif /* MLXC_H */
