/*
 * Signatures of the built-in CUDA kernels: the shared table of
 * src/kernels/signatures.c, generated like the CPU tables from each family's
 * src/kernels/F.def (one layout per name on every backend).  The
 * registry uses them to reject wrong argument counts and kinds before a
 * launch; at resolve time they are cross-checked against the module's own
 * parameter info where the driver reports it.  Also which embedded module
 * (kernel family) holds a built-in.
 */
#include "backend/cuda/cuda_backend.h"
#include "kernels/signatures.h"

const mlxc_kernel_signature *cu_builtin_sig(const char *name) { return mlxc_kernel_builtin_signature(name); }

/* A kernel's family (src/kernels/families.def) is the stem of the .cu that
 * defines it and so the name of its embedded module: the resolver loads
 * exactly that one.  The Hopper prefill kernels (attn_prefill_sm90_*) are in
 * attention.cu like the rest of their family.  The cuBLASLt GEMMs (gemm_lt_*)
 * are in no module; the resolver takes them before any module lookup, and
 * NULL here keeps a stray lookup from blaming the matmul module. */
const char *cu_builtin_family(const char *name) {
    if (cu_lt_name(name)) return NULL;
    return mlxc_kernel_family_of(name);
}
