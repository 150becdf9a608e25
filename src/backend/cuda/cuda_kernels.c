/*
 * Signatures of the built-in CUDA kernels: the shared table of
 * src/kernels/signatures.c (one layout per name on every backend).  The
 * registry uses them to reject wrong argument counts and kinds before a
 * launch; at resolve time they are cross-checked against the module's own
 * parameter info where the driver reports it.  Also which embedded module
 * (kernel family) holds a built-in.
 */
#include "backend/cuda/cuda_backend.h"
#include "kernels/signatures.h"

const mlxc_kernel_signature *cu_builtin_sig(const char *name) { return mlxc_kernel_builtin_signature(name); }

/* Not known yet: the resolver searches the embedded modules, loading them
 * one at a time.  A name -> family map (a kernel's family is the stem of its
 * .cu) lets it load exactly the one module. */
const char *cu_builtin_family(const char *name) {
    (void)name;
    return NULL;
}
