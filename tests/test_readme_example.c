/* The README's two examples.
 *
 * The first is a whole program: the build copies it out of README.md and
 * compiles it as it stands (`readme_example`, tests/readme.cmake).  Run on
 * a tiny model it must print the prompt followed by exactly the text the
 * same calls give here, and for a model that is not there it must fail
 * with the library's message.  The second is the runtime fragment: its
 * calls, each status checked, and the result against a double-precision
 * reference. */
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <sys/wait.h>

#include "read_file.h"
#include "test_util.h"

extern char **environ;

#define EXAMPLE_MODEL  MLXC_SOURCE_DIR "/tests/fixtures/models/llama-tiny"
#define EXAMPLE_PROMPT "Hello world, the quick brown fox"

/* The program built from the README (ctest names it; by hand, the build's). */
static const char *example_path(void) {
    const char *p = getenv("MLXC_README_EXAMPLE");
    return p && *p ? p : MLXC_BINARY_DIR "/readme_example";
}

/* Runs the example with argv {exe, model, prompt}: its exit status (-1 when
 * it could not be started or did not exit), stdout and stderr in *out and
 * *err (free() them). */
static int run_example(const char *model, const char *prompt, char **out, char **err) {
    const char *outp = MLXC_BINARY_DIR "/readme_example.stdout", *errp = MLXC_BINARY_DIR "/readme_example.stderr";
    char *argv[] = {(char *)example_path(), (char *)model, (char *)prompt, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), ws = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(rc));
        *out = *err = NULL;
        return -1;
    }
    if (waitpid(pid, &ws, 0) != pid) ws = -1;
    *out = read_file(outp, NULL);
    *err = read_file(errp, NULL);
    return ws != -1 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

typedef struct {
    int32_t ids[32];
    size_t  n;
} generated;

static bool collect(int32_t id, float logprob, void *user) {
    generated *g = user;
    g->ids[g->n++] = id;
    return g->n < 32;
}

/* What the example should print: its calls with its settings (the default
 * context, the trained one up to 4096 positions, the default sampler, up to 32 tokens stopping at EOS, the
 * text decoded without special tokens) made here. */
static char *expected_output(mlxc_device *dev, const char *path, const char *prompt) {
    mlxc_model *model = NULL;
    mlxc_context *ctx = NULL;
    mlxc_sampler *smp = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, len = 0;
    char *text = NULL, *want = NULL;
    generated out = {{0}, 0};
    mlxc_sampler_params sp = mlxc_sampler_default_params();
    CHECK_OK(mlxc_model_open(dev, path, &model));
    if (model) {
        CHECK_OK(mlxc_tokenizer_encode(mlxc_model_tokenizer(model), prompt, strlen(prompt), MLXC_TOKENIZE_ADD_SPECIAL,
                                       &ids, &n_ids));
        CHECK_OK(mlxc_context_create(model, 0, &ctx));
        CHECK_OK(mlxc_sampler_create(&sp, &smp));
    }
    if (ids && ctx && smp) {
        CHECK_OK(mlxc_generate(ctx, smp, ids, n_ids, 32, true, collect, &out, NULL));
        CHECK(out.n > 0);
        CHECK_OK(mlxc_tokenizer_decode(mlxc_model_tokenizer(model), out.ids, out.n, MLXC_DECODE_SKIP_SPECIAL, &text,
                                       &len));
    }
    if (text) {
        want = malloc(strlen(prompt) + len + 2);
        if (want) sprintf(want, "%s%s\n", prompt, text);
    }
    free(ids);
    free(text);
    mlxc_sampler_free(smp);
    mlxc_context_free(ctx);
    mlxc_model_close(model);
    return want;
}

static void test_model_example(void) {
    mlxc_device *dev = tu_open();
    char *want = expected_output(dev, EXAMPLE_MODEL, EXAMPLE_PROMPT);
    mlxc_device_close(dev);
    char *out, *err;
    int rc = run_example(EXAMPLE_MODEL, EXAMPLE_PROMPT, &out, &err);
    CHECK_MSG(rc == 0, "exit status %d, stderr: %s", rc, err ? err : "(none)");
    CHECK_MSG(want && out && strcmp(out, want) == 0, "printed\n%s\nwant\n%s", out ? out : "(nothing)",
              want ? want : "(nothing)");
    free(out);
    free(err);
    free(want);

    /* A model that is not there: exit status 1, the library's message. */
    rc = run_example(MLXC_BINARY_DIR "/no-such-model.gguf", EXAMPLE_PROMPT, &out, &err);
    CHECK_EQ_INT(rc, 1);
    CHECK_MSG(out && out[0] == '\0', "stdout: %s", out ? out : "(unreadable)");
    CHECK_MSG(err && strncmp(err, "mlxc: ", 6) == 0 && strstr(err, "no-such-model.gguf"), "stderr: %s",
              err ? err : "(unreadable)");
    free(out);
    free(err);
}

static void test_runtime_example(void) {
    mlxc_device *dev;  mlxc_encoder *enc;  mlxc_buffer *x, *w, *y;
    int64_t shape[2] = {4, 1024}, wshape[1] = {1024};
    dev = tu_open(); /* mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev), skipping a CUDA run without a GPU */
    CHECK_OK(mlxc_buffer_alloc(dev, 4 * 1024 * 4, MLXC_F32, 2, shape, &x));
    CHECK_OK(mlxc_buffer_alloc(dev, 1024 * 4, MLXC_F32, 1, wshape, &w));
    CHECK_OK(mlxc_buffer_alloc(dev, 4 * 1024 * 4, MLXC_F32, 2, shape, &y));
    static float hx[4 * 1024], hw[1024], hy[4 * 1024];
    tu_fill(hx, 4 * 1024);
    tu_fill(hw, 1024);
    CHECK_OK(mlxc_buffer_write(x, 0, hx, sizeof hx));
    CHECK_OK(mlxc_buffer_write(w, 0, hw, sizeof hw));
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, true));
    CHECK_OK(mlxc_rms_norm(enc, x, w, y, 1024, 1e-5f));
    CHECK_OK(mlxc_add(enc, y, x, y));
    CHECK_OK(mlxc_encoder_commit_and_wait_labeled(enc, "block"));
    CHECK_OK(mlxc_buffer_read(y, 0, hy, sizeof hy));
    /* Against a double-precision reference. */
    double err = 0, ref2 = 0;
    for (int r = 0; r < 4; r++) {
        double ss = 0;
        for (int i = 0; i < 1024; i++) ss += (double)hx[r * 1024 + i] * hx[r * 1024 + i];
        double inv = 1.0 / sqrt(ss / 1024 + 1e-5);
        for (int i = 0; i < 1024; i++) {
            double want = hx[r * 1024 + i] * inv * hw[i] + hx[r * 1024 + i];
            err += (hy[r * 1024 + i] - want) * (hy[r * 1024 + i] - want);
            ref2 += want * want;
        }
    }
    CHECK_MSG(sqrt(err / ref2) < 1e-6, "normalized error %g", sqrt(err / ref2));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(x);
    mlxc_buffer_release(w);
    mlxc_buffer_release(y);
    mlxc_device_close(dev);
}

int main(void) {
    RUN(test_model_example);
    RUN(test_runtime_example);
    HARNESS_END();
}
