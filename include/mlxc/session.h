/*
 * mlxc/session.h — a chain of command buffers joined by device-side fences.
 *
 * A session owns one encoder at a time.  fence_stage() commits the current
 * command buffer without blocking and has it signal the session's timeline
 * value + 1 when it completes.  reset_for_next_stage() opens a new command
 * buffer (cmd_buf +1) that waits on the device for the last signalled value
 * before running anything.  The host never blocks between stages.
 *
 *     for (int i = 0; i < 5; i++) {
 *         encode attention into mlxc_session_encoder(s);
 *         mlxc_encoder_barrier(mlxc_session_encoder(s));
 *         encode the FFN;
 *         mlxc_session_fence_stage(s, "layer");
 *         if (i < 4) mlxc_session_reset_for_next_stage(s);
 *     }
 *     mlxc_session_wait(s);   // 5 command buffers, fence_value 5, wait_count 4
 */
#ifndef MLXC_SESSION_H
#define MLXC_SESSION_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_session mlxc_session;

MLXC_API mlxc_status  mlxc_session_create(mlxc_device *dev, mlxc_session **out);
/* Waits for the session's committed work, then frees it.  NULL ignored. */
MLXC_API void         mlxc_session_destroy(mlxc_session *s);
/* The current stage's encoder (owned by the session; do not commit or destroy
 * it yourself).  NULL for a NULL session. */
MLXC_API mlxc_encoder *mlxc_session_encoder(mlxc_session *s);
/* Remember a label for the current stage (used when committing). */
MLXC_API mlxc_status  mlxc_session_begin_stage(mlxc_session *s, const char *label);
/* Commit the stage without blocking and signal value+1 on completion.
 * A no-op on a drained session. `label` may be NULL. */
MLXC_API mlxc_status  mlxc_session_fence_stage(mlxc_session *s, const char *label);
/* Commit without a fence (async); no-op when drained. */
MLXC_API mlxc_status  mlxc_session_commit_stage(mlxc_session *s);
/* Commit (if not drained) and block until everything committed completed. */
MLXC_API mlxc_status  mlxc_session_commit_and_wait(mlxc_session *s);
/* Open the next command buffer; no-op unless drained.  If a fence is pending
 * the new buffer waits for it on the device (wait_count +1). */
MLXC_API mlxc_status  mlxc_session_reset_for_next_stage(mlxc_session *s);
/* Block until every command buffer the session committed has completed. */
MLXC_API mlxc_status  mlxc_session_wait(mlxc_session *s);

MLXC_API uint64_t mlxc_session_fence_value(const mlxc_session *s);
MLXC_API uint64_t mlxc_session_wait_count(const mlxc_session *s);
MLXC_API uint64_t mlxc_session_wait_value(const mlxc_session *s);
MLXC_API bool     mlxc_session_is_fence_pending(const mlxc_session *s);
MLXC_API bool     mlxc_session_is_drained(const mlxc_session *s);
MLXC_API bool     mlxc_session_has_event(const mlxc_session *s);
/* The timeline value the device has completed so far. */
MLXC_API uint64_t mlxc_session_completed_value(const mlxc_session *s);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_SESSION_H */
