/* A command buffer that fails on the device: commit/wait report
 * MLXC_ERR_COMMAND_BUFFER, the device is marked lost, later work fails fast
 * with MLXC_ERR_DEVICE_LOST, and nothing hangs. */
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

/* A device fault poisons a CUDA context for the rest of the process, so each
 * case runs in a child process; the child's exit code is its failure count
 * (77: no device of the requested kind).  The parent touches no device: a
 * CUDA driver initialised before fork() is unusable in the child. */
static void in_child(void (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK_MSG(0, "fork failed");
        return;
    }
    if (pid == 0) {
        fn();
        fflush(stdout);
        fflush(stderr);
        _exit(th_checks_failed_in_test > 100 ? 100 : th_checks_failed_in_test);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status), "the case crashed (signal %d)", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("SKIP: no device of the requested kind\n");
        exit(77);
    }
    if (WIFEXITED(status)) th_checks_failed_in_test += WEXITSTATUS(status);
}

static void fault_case(void) {
    mlxc_device *dev = tu_open();
    mlxc_buffer *x = tu_alloc_f32(dev, 16);
    const mlxc_kernel *k = tu_kernel(dev, "fault_kernel");
    mlxc_arg args[1] = {mlxc_arg_buffer(x)};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 1, .grid = {1, 1, 1}, .block = {1, 1, 1}};
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    CHECK_ERR(mlxc_encoder_commit_and_wait(enc), MLXC_ERR_COMMAND_BUFFER);
    CHECK_ERR(mlxc_encoder_wait(enc), MLXC_ERR_COMMAND_BUFFER); /* sticky */
    mlxc_encoder_destroy(enc);
    CHECK(mlxc_device_is_lost(dev));
    CHECK_ERR(mlxc_encoder_create(dev, &enc), MLXC_ERR_DEVICE_LOST);
    mlxc_buffer *y = NULL;
    CHECK_ERR(mlxc_buffer_alloc(dev, 64, MLXC_F32, 0, NULL, &y), MLXC_ERR_DEVICE_LOST);
    float h[4];
    CHECK_ERR(mlxc_buffer_read(x, 0, h, sizeof h), MLXC_ERR_DEVICE_LOST);
    mlxc_buffer_release(x);
    mlxc_device_close(dev);
    /* A fresh CPU device works; a CUDA context cannot recover within the
     * process, and reopening says so instead of hanging or crashing. */
    mlxc_device *again = NULL;
    mlxc_status st = mlxc_device_open(MLXC_BACKEND_AUTO, 0, &again);
    if (st == MLXC_OK) {
        CHECK(!mlxc_device_is_lost(again));
        x = tu_alloc_f32(again, 16);
        CHECK_OK(mlxc_encoder_create(again, &enc));
        CHECK_OK(mlxc_add(enc, x, x, x));
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        mlxc_buffer_release(x);
        mlxc_device_close(again);
    } else {
        CHECK_MSG(st == MLXC_ERR_DEVICE_LOST, "reopen after a fault: %s", mlxc_status_name(st));
    }
}

/* A session whose fenced stage fails: the next stage's wait fails too
 * instead of hanging. */
static void fault_in_session_case(void) {
    mlxc_device *dev = tu_open();
    mlxc_buffer *x = tu_alloc_f32(dev, 16);
    const mlxc_kernel *k = tu_kernel(dev, "fault_kernel");
    mlxc_arg args[1] = {mlxc_arg_buffer(x)};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 1, .grid = {1, 1, 1}, .block = {1, 1, 1}};
    mlxc_session *s;
    CHECK_OK(mlxc_session_create(dev, &s));
    CHECK_OK(mlxc_encoder_dispatch(mlxc_session_encoder(s), &d));
    /* The fault is asynchronous: in immediate mode the kernel has already
     * run, and the fence may be the call that reports it. */
    mlxc_status st = mlxc_session_fence_stage(s, "faulty");
    CHECK_MSG(st == MLXC_OK || st == MLXC_ERR_DEVICE_LOST, "fence after a fault: %s", mlxc_status_name(st));
    if (st == MLXC_OK) st = mlxc_session_reset_for_next_stage(s);
    if (st == MLXC_OK) {
        mlxc_status st2 = mlxc_add(mlxc_session_encoder(s), x, x, x);
        if (st2 == MLXC_OK) st2 = mlxc_session_fence_stage(s, "after");
        CHECK(mlxc_session_wait(s) != MLXC_OK);
    }
    CHECK(mlxc_device_is_lost(dev));
    mlxc_session_destroy(s);
    mlxc_buffer_release(x);
    mlxc_device_close(dev);
}

static void test_fault(void) { in_child(fault_case); }
static void test_fault_in_session(void) { in_child(fault_in_session_case); }

int main(void) {
    RUN(test_fault);
    RUN(test_fault_in_session);
    HARNESS_END();
}
