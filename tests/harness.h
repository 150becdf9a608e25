/* A minimal test harness: TEST(name) functions registered by hand in main,
 * CHECK macros that record failures with file:line, and a closing line
 * "N passed, M failed" (the exit status is non-zero when anything failed). */
#ifndef MLXC_TEST_HARNESS_H
#define MLXC_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int th_checks_failed_in_test __attribute__((unused));
static int th_passed __attribute__((unused)), th_failed __attribute__((unused));
static const char *th_current __attribute__((unused));

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, th_current, #cond); \
            th_checks_failed_in_test++;                                             \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s: ", __FILE__, __LINE__, th_current, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
            th_checks_failed_in_test++;                                             \
        }                                                                           \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                          \
    do {                                                                            \
        long long va_ = (long long)(a), vb_ = (long long)(b);                       \
        if (va_ != vb_) {                                                           \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, \
                    th_current, #a, #b, va_, vb_);                                  \
            th_checks_failed_in_test++;                                             \
        }                                                                           \
    } while (0)

/* A call that must succeed; prints the library's message if it does not. */
#define CHECK_OK(call)                                                              \
    do {                                                                            \
        mlxc_status st_ = (call);                                                   \
        if (st_ != MLXC_OK) {                                                       \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s -> %s (%s)\n", __FILE__, __LINE__, th_current, \
                    #call, mlxc_status_name(st_), mlxc_last_error());               \
            th_checks_failed_in_test++;                                             \
        }                                                                           \
    } while (0)

/* A call that must fail with `want` and leave a non-empty message. */
#define CHECK_ERR(call, want)                                                       \
    do {                                                                            \
        mlxc_clear_error();                                                         \
        mlxc_status st_ = (call);                                                   \
        if (st_ != (want) || mlxc_last_error()[0] == '\0') {                        \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s -> %s, want %s (message \"%s\")\n", __FILE__, \
                    __LINE__, th_current, #call, mlxc_status_name(st_), mlxc_status_name(want), \
                    mlxc_last_error());                                             \
            th_checks_failed_in_test++;                                             \
        }                                                                           \
    } while (0)

/* MLXC_TEST_ONLY=TEXT runs only the tests whose name holds TEXT (e.g. one
 * test under compute-sanitizer). */
#define RUN(fn)                                                                     \
    do {                                                                            \
        const char *only_ = getenv("MLXC_TEST_ONLY");                               \
        if (only_ && *only_ && !strstr(#fn, only_)) break;                          \
        th_current = #fn;                                                           \
        th_checks_failed_in_test = 0;                                               \
        fn();                                                                       \
        if (th_checks_failed_in_test) {                                             \
            th_failed++;                                                            \
            fprintf(stderr, "FAILED %s\n", #fn);                                    \
        } else {                                                                    \
            th_passed++;                                                            \
            printf("ok     %s\n", #fn);                                             \
        }                                                                           \
        fflush(stdout);                                                             \
    } while (0)

#define HARNESS_END()                                                               \
    do {                                                                            \
        printf("%d passed, %d failed\n", th_passed, th_failed);                     \
        return th_failed ? 1 : 0;                                                   \
    } while (0)

#define SKIP_ALL(...)                                                               \
    do {                                                                            \
        printf("SKIP: ");                                                           \
        printf(__VA_ARGS__);                                                        \
        printf("\n");                                                               \
        exit(77);                                                                   \
    } while (0)

#endif
