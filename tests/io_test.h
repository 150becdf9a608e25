/* Helpers shared by the model-file tests: where the fixtures are, the
 * checksum scripts/make_io_fixtures.py writes for each tensor, and the
 * manifest / device set-up every io test program starts with. */
#ifndef MLXC_TESTS_IO_TEST_H
#define MLXC_TESTS_IO_TEST_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlxc/mlxc.h"

/* The folder make_io_fixtures.py filled ($MLXC_IO_FIXTURES, set by tests/io.cmake). */
static inline const char *fixture_dir(void) {
    const char *d = getenv("MLXC_IO_FIXTURES");
    return d ? d : MLXC_BINARY_DIR "/io_fixtures";
}

/* sum64 as in scripts/make_io_fixtures.py: little-endian 64-bit words (the
 * last one zero-padded), each weighted by an odd number, plus the length. */
static inline uint64_t sum64(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 0;
    for (size_t i = 0; i * 8 < n; i++) {
        uint8_t w8[8] = {0};
        memcpy(w8, p + i * 8, n - i * 8 < 8 ? n - i * 8 : 8);
        uint64_t w = 0;
        for (int k = 7; k >= 0; k--) w = (w << 8) | w8[k];
        h += w * (2 * (uint64_t)i + 1);
    }
    return h ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
}

/* The fixtures' manifest.json, or NULL after saying how to make it. */
static inline json_t *io_test_manifest(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", fixture_dir());
    json_error_t e;
    json_t *m = json_load_file(path, 0, &e);
    if (!m) fprintf(stderr, "cannot read %s (%s): run scripts/make_io_fixtures.py %s\n", path, e.text, fixture_dir());
    return m;
}

/* The CPU device the io tests load into, or NULL after saying why. */
static inline mlxc_device *io_test_cpu_device(void) {
    mlxc_device *dev = NULL;
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) fprintf(stderr, "no CPU device: %s\n", mlxc_last_error());
    return dev;
}

#endif
