/* The conflict tracker behind auto-barriers: exact half-open byte ranges per
 * allocation.  Two ranges conflict when they belong to the same allocation,
 * at least one is a write, and they overlap (touching is not overlapping). */
#include <stdlib.h>

#include "core/internal.h"

struct mlxc_mem_ranges {
    mlxc_buffer_range *r;
    size_t             n, cap;
    uint64_t           barriers_forced;
    uint64_t           checks;
};

mlxc_status mlxc_buffer_range_of(const mlxc_buffer *b, mlxc_range_role role, mlxc_buffer_range *out) {
    MLXC_CHECK_ARG(b && out, "mlxc_buffer_range_of: NULL argument");
    MLXC_CHECK_ARG(role == MLXC_RANGE_SRC || role == MLXC_RANGE_DST, "mlxc_buffer_range_of: invalid role");
    out->alloc_id = b->st->id;
    out->p0 = b->offset;
    out->p1 = b->offset + b->bytes;
    out->role = role;
    return MLXC_OK;
}

mlxc_status mlxc_mem_ranges_create(mlxc_mem_ranges **out) {
    MLXC_CHECK_ARG(out, "mlxc_mem_ranges_create: NULL output");
    *out = calloc(1, sizeof **out);
    if (!*out) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    return MLXC_OK;
}

void mlxc_mem_ranges_destroy(mlxc_mem_ranges *mr) {
    if (!mr) return;
    free(mr->r);
    free(mr);
}

void mlxc_mem_ranges_reset(mlxc_mem_ranges *mr) {
    if (mr) mr->n = 0;
}

size_t mlxc_mem_ranges_len(const mlxc_mem_ranges *mr) { return mr ? mr->n : 0; }
uint64_t mlxc_mem_ranges_barriers_forced(const mlxc_mem_ranges *mr) { return mr ? mr->barriers_forced : 0; }
uint64_t mlxc_mem_ranges_checks(const mlxc_mem_ranges *mr) { return mr ? mr->checks : 0; }

static bool conflicts(const mlxc_buffer_range *a, const mlxc_buffer_range *b) {
    if (a->alloc_id != b->alloc_id) return false;
    if (a->role == MLXC_RANGE_SRC && b->role == MLXC_RANGE_SRC) return false;
    return a->p0 < b->p1 && b->p0 < a->p1;
}

/* True when no range of `r` conflicts with a recorded one (no counters). */
bool mlxc_ranges_disjoint(const mlxc_buffer_range *a, size_t na, const mlxc_buffer_range *b, size_t nb) {
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (conflicts(&a[i], &b[j])) return false;
    return true;
}

mlxc_status mlxc_mem_ranges_check_ranges(mlxc_mem_ranges *mr, const mlxc_buffer_range *r, size_t n,
                                         bool *concurrent) {
    MLXC_CHECK_ARG(mr && concurrent && (n == 0 || r), "mlxc_mem_ranges_check_ranges: NULL argument");
    mr->checks++;
    *concurrent = mlxc_ranges_disjoint(r, n, mr->r, mr->n);
    if (!*concurrent) mr->barriers_forced++;
    return MLXC_OK;
}

mlxc_status mlxc_mem_ranges_add_ranges(mlxc_mem_ranges *mr, const mlxc_buffer_range *r, size_t n) {
    MLXC_CHECK_ARG(mr && (n == 0 || r), "mlxc_mem_ranges_add_ranges: NULL argument");
    if (mr->n + n > mr->cap) {
        size_t nc = mr->cap ? mr->cap : 64;
        while (nc < mr->n + n) nc *= 2;
        mlxc_buffer_range *v = realloc(mr->r, nc * sizeof *v);
        if (!v) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        mr->r = v;
        mr->cap = nc;
    }
    for (size_t i = 0; i < n; i++) mr->r[mr->n++] = r[i];
    return MLXC_OK;
}

/* Ranges of a read set and a write set, reads first. */
mlxc_status mlxc_ranges_from_sets(const mlxc_buffer *const *reads, uint32_t nreads,
                                  const mlxc_buffer *const *writes, uint32_t nwrites,
                                  mlxc_buffer_range *out) {
    if ((nreads && !reads) || (nwrites && !writes))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "NULL read or write set");
    for (uint32_t i = 0; i < nreads; i++) {
        if (!reads[i]) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "read set entry %u is NULL", i);
        mlxc_buffer_range_of(reads[i], MLXC_RANGE_SRC, &out[i]);
    }
    for (uint32_t i = 0; i < nwrites; i++) {
        if (!writes[i]) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "write set entry %u is NULL", i);
        mlxc_buffer_range_of(writes[i], MLXC_RANGE_DST, &out[nreads + i]);
    }
    return MLXC_OK;
}

#define MAX_SET 64

mlxc_status mlxc_mem_ranges_check(mlxc_mem_ranges *mr, const mlxc_buffer *const *reads, uint32_t nreads,
                                  const mlxc_buffer *const *writes, uint32_t nwrites, bool *concurrent) {
    MLXC_CHECK_ARG(mr && concurrent, "mlxc_mem_ranges_check: NULL argument");
    MLXC_CHECK_ARG(nreads + nwrites <= MAX_SET, "mlxc_mem_ranges_check: more than %d buffers", MAX_SET);
    mlxc_buffer_range r[MAX_SET];
    mlxc_status s = mlxc_ranges_from_sets(reads, nreads, writes, nwrites, r);
    if (s) return s;
    return mlxc_mem_ranges_check_ranges(mr, r, nreads + nwrites, concurrent);
}

mlxc_status mlxc_mem_ranges_add(mlxc_mem_ranges *mr, const mlxc_buffer *const *reads, uint32_t nreads,
                                const mlxc_buffer *const *writes, uint32_t nwrites) {
    MLXC_CHECK_ARG(mr, "mlxc_mem_ranges_add: NULL tracker");
    MLXC_CHECK_ARG(nreads + nwrites <= MAX_SET, "mlxc_mem_ranges_add: more than %d buffers", MAX_SET);
    mlxc_buffer_range r[MAX_SET];
    mlxc_status s = mlxc_ranges_from_sets(reads, nreads, writes, nwrites, r);
    if (s) return s;
    return mlxc_mem_ranges_add_ranges(mr, r, nreads + nwrites);
}
