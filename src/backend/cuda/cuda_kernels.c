/*
 * Signatures of the built-in CUDA kernels: the shared table of
 * src/kernels/signatures.c (one layout per name on every backend).  The
 * registry uses them to reject wrong argument counts and kinds before a
 * launch; at resolve time they are cross-checked against the module's own
 * parameter info where the driver reports it.
 */
#include "backend/cuda/cuda_backend.h"
#include "kernels/signatures.h"

const mlxc_kernel_signature *cu_builtin_sig(const char *name) { return mlxc_kernel_builtin_signature(name); }
