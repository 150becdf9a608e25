/*
 * mlxc/profile.h — per-command-buffer and per-dispatch device timings.
 *
 * MLXC_PROFILE_CB (any value): each labelled command buffer adds its device
 * time to a table keyed by label (count, total, min, max ns).
 * MLXC_PROFILE_DISPATCH (any value): every dispatch of a labelled command
 * buffer records device start/end timestamps, its op kind and its index in
 * the command buffer; dispatches run one at a time while this is on.
 * mlxc_profile_write_trace() writes everything recorded as Chrome/Perfetto
 * trace JSON (open it at ui.perfetto.dev or chrome://tracing).
 */
#ifndef MLXC_PROFILE_H
#define MLXC_PROFILE_H

#include "mlxc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLXC_PROFILE_LABEL_MAX 64

typedef struct mlxc_profile_cb_entry {
    char     label[MLXC_PROFILE_LABEL_MAX];
    uint64_t count, total_ns, min_ns, max_ns;
} mlxc_profile_cb_entry;

typedef struct mlxc_profile_dispatch_entry {
    char     cb_label[MLXC_PROFILE_LABEL_MAX];
    char     kernel[MLXC_PROFILE_LABEL_MAX];
    const char *op_kind;          /* static string: "Other", "Sdpa", ... */
    uint32_t dispatch_index;      /* ordinal within its command buffer   */
    uint64_t start_ns, end_ns, gpu_ns;
    /* Bytes of the views a tracked dispatch names as read and as written
     * (0 for an untracked one): what it may touch, so an op that reads
     * part of a view (decode attention over a cache) moves fewer. */
    uint64_t bytes_read, bytes_written;
} mlxc_profile_dispatch_entry;

/* Copy up to `cap` per-label entries, largest total first; returns how many
 * exist (call with cap 0 to size the array). */
MLXC_API size_t mlxc_profile_cb_entries(mlxc_profile_cb_entry *out, size_t cap);
/* Copy up to `cap` dispatch entries grouped by label in first-seen order,
 * insertion order within a label; returns how many exist. */
MLXC_API size_t mlxc_profile_dispatch_entries(mlxc_profile_dispatch_entry *out, size_t cap);
/* Clear both tables and the trace. */
MLXC_API void   mlxc_profile_reset(void);
MLXC_API bool   mlxc_profile_cb_enabled(void);
MLXC_API bool   mlxc_profile_dispatch_enabled(void);
MLXC_API mlxc_status mlxc_profile_write_trace(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_PROFILE_H */
