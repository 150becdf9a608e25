/* A faulting kernel (a store to an illegal address) must fail its command
 * buffer with MLXC_ERR_COMMAND_BUFFER naming the CUDA error, mark the
 * device lost, make later calls fail fast with MLXC_ERR_DEVICE_LOST, and
 * hang nothing.  CUDA cannot clear a sticky error inside a process, so a
 * later open of the GPU must fail fast with MLXC_ERR_DEVICE_LOST; the CPU
 * backend keeps working.
 *
 * Each command-buffer mode runs in its own child process, forked before
 * anything touches CUDA (a lost context is per process), with an alarm as
 * the hang detector. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mlxc/mlxc.h"
#ifdef MLXC_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

#ifdef MLXC_HAVE_CUDA
static const char *const fault_src =
    "extern \"C\" __global__ void fault_kernel(float *out) {\n"
    "  float *bad = (float *)0x10; *bad = out[0];\n"
    "}\n";

static const mlxc_kernel_signature fault_sig = {1, {MLXC_PARAM_PTR}, {0}};

static int g_mode;

static void test_fault(void) {
    mlxc_device *dev = NULL;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_CUDA, 0, &dev));
    if (!dev) return;
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, g_mode));
    CHECK_OK(mlxc_kernel_register_source(dev, "fault_kernel", fault_src, &fault_sig));
    const mlxc_kernel *k = NULL, *add = NULL;
    CHECK_OK(mlxc_kernel_get(dev, "fault_kernel", &k));
    CHECK_OK(mlxc_kernel_get(dev, "add_f32", &add));
    mlxc_buffer *b = NULL;
    int64_t sh[1] = {16};
    CHECK_OK(mlxc_buffer_alloc(dev, 64, MLXC_F32, 1, sh, &b));
    mlxc_arg a[1] = {mlxc_arg_buffer(b)};
    mlxc_dispatch d = {.kernel = k, .args = a, .nargs = 1, .grid = {1, 1, 1}, .block = {1, 1, 1}};
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    /* Two dispatches so graph mode builds a graph, not a single launch. */
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    /* The fault is asynchronous: in immediate mode the first kernel may
     * have faulted before the next call, which then reports it. */
    mlxc_status st = mlxc_encoder_barrier(enc);
    if (st == MLXC_OK) st = mlxc_encoder_dispatch(enc, &d);
    if (st == MLXC_OK) CHECK_ERR(mlxc_encoder_commit_and_wait(enc), MLXC_ERR_COMMAND_BUFFER);
    else CHECK_MSG(st == MLXC_ERR_DEVICE_LOST || st == MLXC_ERR_COMMAND_BUFFER, "early: %s", mlxc_status_name(st));
    CHECK_MSG(strstr(mlxc_last_error(), "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL, "message: %s", mlxc_last_error());
    CHECK(mlxc_device_is_lost(dev));
    mlxc_encoder_destroy(enc);
    /* Everything afterwards fails fast. */
    mlxc_encoder *e2 = NULL;
    CHECK_ERR(mlxc_encoder_create(dev, &e2), MLXC_ERR_DEVICE_LOST);
    mlxc_buffer *b2 = NULL;
    CHECK_ERR(mlxc_buffer_alloc(dev, 64, MLXC_F32, 1, sh, &b2), MLXC_ERR_DEVICE_LOST);
    float h[16];
    CHECK_ERR(mlxc_buffer_read(b, 0, h, sizeof h), MLXC_ERR_DEVICE_LOST);
    CHECK_ERR(mlxc_device_synchronize(dev), MLXC_ERR_DEVICE_LOST);
    mlxc_buffer_release(b);
    mlxc_device_close(dev);

    /* CUDA cannot recover from a sticky error inside the process: a new
     * open must fail fast and say so, not crash or hang. */
    mlxc_device *again = NULL;
    CHECK_ERR(mlxc_device_open(MLXC_BACKEND_CUDA, 0, &again), MLXC_ERR_DEVICE_LOST);
    CHECK(again == NULL);
    /* The CPU backend is unaffected. */
    mlxc_device *cpu = NULL;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_CPU, 0, &cpu));
    if (!cpu) return;
    mlxc_buffer *x = NULL, *y = NULL;
    CHECK_OK(mlxc_buffer_alloc(cpu, 64, MLXC_F32, 1, sh, &x));
    CHECK_OK(mlxc_buffer_alloc(cpu, 64, MLXC_F32, 1, sh, &y));
    float v[16];
    for (int i = 0; i < 16; i++) v[i] = (float)i + 0.5f;
    CHECK_OK(mlxc_buffer_write(x, 0, v, sizeof v));
    CHECK_OK(mlxc_encoder_create(cpu, &e2));
    CHECK_OK(mlxc_add(e2, x, x, y));
    CHECK_OK(mlxc_encoder_commit_and_wait(e2));
    mlxc_encoder_destroy(e2);
    CHECK_OK(mlxc_buffer_read(y, 0, h, sizeof h));
    CHECK(h[3] == 7.0f && h[15] == 31.0f);
    mlxc_buffer_release(x);
    mlxc_buffer_release(y);
    dev = cpu;
    mlxc_device_close(dev);
}

/* A fenced session stage faults: the next stage waits for its fence on the
 * device.  That wait must end with an error, not hang the stream. */
static void test_fault_in_session(void) {
    mlxc_device *dev = NULL;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_CUDA, 0, &dev));
    if (!dev) return;
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, g_mode));
    CHECK_OK(mlxc_kernel_register_source(dev, "fault_kernel", fault_src, &fault_sig));
    const mlxc_kernel *k = NULL;
    CHECK_OK(mlxc_kernel_get(dev, "fault_kernel", &k));
    mlxc_buffer *x = NULL;
    int64_t sh[1] = {16};
    CHECK_OK(mlxc_buffer_alloc(dev, 64, MLXC_F32, 1, sh, &x));
    mlxc_arg a[1] = {mlxc_arg_buffer(x)};
    mlxc_dispatch d = {.kernel = k, .args = a, .nargs = 1, .grid = {1, 1, 1}, .block = {1, 1, 1}};
    mlxc_session *s = NULL;
    CHECK_OK(mlxc_session_create(dev, &s));
    CHECK_OK(mlxc_encoder_dispatch(mlxc_session_encoder(s), &d));
    /* As above, the fence may already report the fault. */
    const mlxc_status fs = mlxc_session_fence_stage(s, "faulty");
    CHECK_MSG(fs == MLXC_OK || fs == MLXC_ERR_DEVICE_LOST, "fence after a fault: %s", mlxc_status_name(fs));
    if (fs == MLXC_OK && mlxc_session_reset_for_next_stage(s) == MLXC_OK) {
        if (mlxc_add(mlxc_session_encoder(s), x, x, x) == MLXC_OK) (void)mlxc_session_fence_stage(s, "after");
    }
    CHECK(mlxc_session_wait(s) != MLXC_OK);
    CHECK(mlxc_device_is_lost(dev));
    CHECK(mlxc_session_completed_value(s) == 0);
    mlxc_session_destroy(s);
    mlxc_buffer_release(x);
    mlxc_device_close(dev);
}
#endif

int main(void) {
#ifndef MLXC_HAVE_CUDA
    SKIP_ALL("no CUDA device (built without the CUDA backend)");
#else
    int failed = 0, skipped = 0;
    /* mode 1/0: commit fault in graph/immediate mode; 3/2: session fault. */
    for (int mode = 3; mode >= 0; mode--) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(120);
            int n = 0;
            mlxc_device_count(MLXC_BACKEND_CUDA, &n);
            if (n == 0) _exit(77);
            mlxc_device *probe = NULL;
            mlxc_device_caps caps;
            if (mlxc_device_open(MLXC_BACKEND_CUDA, 0, &probe) != MLXC_OK) _exit(1);
            mlxc_device_caps_get(probe, &caps);
            mlxc_device_close(probe);
            if (!caps.runtime_compile) _exit(77);
            g_mode = mode & 1;
            printf("%s mode:\n", g_mode ? "graph" : "immediate");
            if (mode >= 2)
                RUN(test_fault_in_session);
            else
                RUN(test_fault);
            fflush(stdout);
            _exit(th_failed ? 1 : 0);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid) return 1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            skipped = 1;
            continue;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "FAILED %s, %s mode (status %d%s)\n", mode >= 2 ? "session" : "commit",
                    mode & 1 ? "graph" : "immediate", status,
                    WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? ", hung" : "");
            failed++;
        } else {
            th_passed++;
        }
    }
    if (skipped && !failed && !th_passed) SKIP_ALL("no CUDA device");
    th_failed = failed;
    HARNESS_END();
#endif
}
