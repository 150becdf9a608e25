/* A crash's stack for the benchmarks: bench_on_crash() makes SIGSEGV,
 * SIGBUS and SIGFPE print the stack first (glibc's backtrace: each frame
 * as module(+offset), for `addr2line -f -e BINARY OFFSET` on the
 * unstripped binary), then the signal ends the run as before.  A benchmark
 * that dies on a lent GPU machine, which has no debugger, then says where. */
#ifndef MLXC_BENCH_CRASH_H
#define MLXC_BENCH_CRASH_H

#include <signal.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <execinfo.h>
#endif

static void bench_crash(int sig) {
#if defined(__GLIBC__)
    static const char head[] = "\nbench: fatal signal; the stack (addr2line -f -e BINARY OFFSET):\n";
    void *frames[64];
    const int n = backtrace(frames, 64);
    if (write(2, head, sizeof head - 1) < 0) { /* nothing more to do */
    }
    backtrace_symbols_fd(frames, n, 2);
#endif
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void bench_on_crash(void) {
    signal(SIGSEGV, bench_crash);
    signal(SIGBUS, bench_crash);
    signal(SIGFPE, bench_crash);
}

#endif
