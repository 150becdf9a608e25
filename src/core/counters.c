/* Process-wide counters of syncs, dispatches, command buffers and barriers. */
#include "core/internal.h"

mlxc_counter_state mlxc_g_counters;

void mlxc_counters_get(mlxc_counters *out) {
    if (!out) return;
    out->sync = atomic_load_explicit(&mlxc_g_counters.sync, memory_order_relaxed);
    out->dispatch = atomic_load_explicit(&mlxc_g_counters.dispatch, memory_order_relaxed);
    out->cmd_buf = atomic_load_explicit(&mlxc_g_counters.cmd_buf, memory_order_relaxed);
    out->barrier = atomic_load_explicit(&mlxc_g_counters.barrier, memory_order_relaxed);
    out->barrier_ns = atomic_load_explicit(&mlxc_g_counters.barrier_ns, memory_order_relaxed);
    out->auto_barrier = atomic_load_explicit(&mlxc_g_counters.auto_barrier, memory_order_relaxed);
    out->auto_barrier_concurrent =
        atomic_load_explicit(&mlxc_g_counters.auto_barrier_concurrent, memory_order_relaxed);
}

void mlxc_counters_reset(void) {
    atomic_store(&mlxc_g_counters.sync, 0);
    atomic_store(&mlxc_g_counters.dispatch, 0);
    atomic_store(&mlxc_g_counters.cmd_buf, 0);
    atomic_store(&mlxc_g_counters.barrier, 0);
    atomic_store(&mlxc_g_counters.barrier_ns, 0);
    atomic_store(&mlxc_g_counters.auto_barrier, 0);
    atomic_store(&mlxc_g_counters.auto_barrier_concurrent, 0);
}
