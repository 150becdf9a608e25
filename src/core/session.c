/* Sessions: command buffers chained by a device-side timeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

struct mlxc_session {
    mlxc_device   *dev;
    mlxc_encoder  *enc;
    mlxc_timeline  tl;
    bool           has_event;       /* timeline created (lazily, at the first fence) */
    uint64_t       fence_value;     /* last value signalled                          */
    uint64_t       wait_count, wait_value;
    bool           drained;         /* current command buffer committed              */
    bool           fence_pending;   /* ... with a fence the next one must wait for   */
    char           label[MLXC_PROFILE_LABEL_MAX];
};

mlxc_status mlxc_session_create(mlxc_device *dev, mlxc_session **out) {
    MLXC_CHECK_ARG(dev && out, "mlxc_session_create: NULL argument");
    *out = NULL;
    mlxc_session *s = calloc(1, sizeof *s);
    if (!s) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    mlxc_status st = mlxc_encoder_create(dev, &s->enc);
    if (st) { free(s); return st; }
    s->dev = dev;
    mlxc_device_retain(dev);
    *out = s;
    return MLXC_OK;
}

mlxc_encoder *mlxc_session_encoder(mlxc_session *s) { return s ? s->enc : NULL; }

mlxc_status mlxc_session_begin_stage(mlxc_session *s, const char *label) {
    MLXC_CHECK_ARG(s, "mlxc_session_begin_stage: NULL session");
    snprintf(s->label, sizeof s->label, "%s", label ? label : "");
    return MLXC_OK;
}

static const char *stage_label(mlxc_session *s, const char *label) {
    if (label && label[0]) return label;
    if (s->label[0]) return s->label;
    return "session.stage";
}

/* Commit the stage under its label (with MLXC_PROFILE_CB this waits, as
 * every labelled commit does while profiling). */
static mlxc_status commit_current(mlxc_session *s, const char *label) {
    return mlxc_encoder_commit_labeled(s->enc, stage_label(s, label));
}

mlxc_status mlxc_session_fence_stage(mlxc_session *s, const char *label) {
    MLXC_CHECK_ARG(s, "mlxc_session_fence_stage: NULL session");
    if (s->drained) return MLXC_OK;
    mlxc_status st;
    if (!s->has_event) {
        s->tl.dev = s->dev;
        if ((st = s->dev->be->timeline_create(s->dev, &s->tl))) return st;
        s->has_event = true;
    }
    if ((st = mlxc_encoder_append_sync(s->enc, MLXC_CMD_SIGNAL, &s->tl, s->fence_value + 1))) return st;
    if ((st = commit_current(s, label))) return st;
    s->fence_value++;
    s->drained = true;
    s->fence_pending = true;
    return MLXC_OK;
}

mlxc_status mlxc_session_commit_stage(mlxc_session *s) {
    MLXC_CHECK_ARG(s, "mlxc_session_commit_stage: NULL session");
    if (s->drained) return MLXC_OK;
    mlxc_status st = commit_current(s, NULL);
    if (st) return st;
    s->drained = true;
    s->fence_pending = false;
    return MLXC_OK;
}

mlxc_status mlxc_session_reset_for_next_stage(mlxc_session *s) {
    MLXC_CHECK_ARG(s, "mlxc_session_reset_for_next_stage: NULL session");
    if (!s->drained) return MLXC_OK;
    /* Keep the committed buffer reachable for wait(): hand it to the device's
     * in-flight list by reopening (its status is checked by the device). */
    mlxc_status st = mlxc_encoder_reopen(s->enc);
    if (st) return st;
    if (s->fence_pending) {
        if ((st = mlxc_encoder_append_sync(s->enc, MLXC_CMD_WAIT, &s->tl, s->fence_value))) return st;
        s->wait_count++;
        s->wait_value = s->fence_value;
    }
    s->drained = false;
    s->fence_pending = false;
    s->label[0] = '\0';
    return MLXC_OK;
}

mlxc_status mlxc_session_wait(mlxc_session *s) {
    MLXC_CHECK_ARG(s, "mlxc_session_wait: NULL session");
    /* Buffers committed earlier were handed to the device's in-flight list
     * when the session moved on; the current one is the encoder's. */
    mlxc_status first = MLXC_OK;
    if (mlxc_encoder_is_committed(s->enc)) first = mlxc_encoder_wait(s->enc);
    mlxc_status st = mlxc_device_synchronize(s->dev);
    return first ? first : st;
}

mlxc_status mlxc_session_commit_and_wait(mlxc_session *s) {
    MLXC_CHECK_ARG(s, "mlxc_session_commit_and_wait: NULL session");
    MLXC_COUNT(sync, 1);
    if (!s->drained) {
        mlxc_status st = commit_current(s, NULL);
        if (st) return st;
        s->drained = true;
        s->fence_pending = false;
    }
    return mlxc_session_wait(s);
}

void mlxc_session_destroy(mlxc_session *s) {
    if (!s) return;
    if (mlxc_encoder_is_committed(s->enc)) (void)mlxc_encoder_wait(s->enc);
    mlxc_encoder_destroy(s->enc);
    mlxc_device_reap(s->dev, true);
    if (s->has_event) s->dev->be->timeline_destroy(s->dev, &s->tl);
    mlxc_device_release(s->dev);
    free(s);
}

uint64_t mlxc_session_fence_value(const mlxc_session *s) { return s ? s->fence_value : 0; }
uint64_t mlxc_session_wait_count(const mlxc_session *s) { return s ? s->wait_count : 0; }
uint64_t mlxc_session_wait_value(const mlxc_session *s) { return s ? s->wait_value : 0; }
bool mlxc_session_is_fence_pending(const mlxc_session *s) { return s && s->fence_pending; }
bool mlxc_session_is_drained(const mlxc_session *s) { return s && s->drained; }
bool mlxc_session_has_event(const mlxc_session *s) { return s && s->has_event; }

uint64_t mlxc_session_completed_value(const mlxc_session *s) {
    if (!s || !s->has_event) return 0;
    return s->dev->be->timeline_value(s->dev, (mlxc_timeline *)&s->tl);
}
