/* The monotonic host clock. */
#include <time.h>

#include "core/internal.h"

uint64_t mlxc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
