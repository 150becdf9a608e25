/* The per-device kernel registry: (name, constants) -> resolved kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

typedef struct kentry {
    char        *key;        /* name plus encoded constants */
    mlxc_kernel *k;
} kentry;

struct mlxc_kernel_table {
    kentry  *slots;
    size_t   cap, count;
    /* Registration generations: re-registering a name invalidates entries. */
    struct gen { char *name; uint64_t gen; bool has_sig; mlxc_kernel_signature sig; } *gens;
    size_t   ngens;
    /* Kernels replaced by a re-registration: recorded commands and graphs
     * may still point at them, so they live until the device closes. */
    mlxc_kernel **retired;
    size_t   nretired;
};

mlxc_kernel_table *mlxc_kernel_table_new(void) {
    mlxc_kernel_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = 64;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (!t->slots) { free(t); return NULL; }
    return t;
}

void mlxc_kernel_table_free(mlxc_kernel_table *t) {
    if (!t) return;
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i].key);
        free(t->slots[i].k);
    }
    for (size_t i = 0; i < t->ngens; i++) free(t->gens[i].name);
    free(t->gens);
    for (size_t i = 0; i < t->nretired; i++) free(t->retired[i]);
    free(t->retired);
    free(t->slots);
    free(t);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

static struct gen *gen_entry(mlxc_kernel_table *t, const char *name) {
    for (size_t i = 0; i < t->ngens; i++)
        if (strcmp(t->gens[i].name, name) == 0) return &t->gens[i];
    return NULL;
}

static kentry *find_slot(mlxc_kernel_table *t, const char *key) {
    size_t i = fnv1a(key) & (t->cap - 1);
    while (t->slots[i].key && strcmp(t->slots[i].key, key) != 0) i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static bool grow(mlxc_kernel_table *t) {
    size_t ncap = t->cap * 2;
    kentry *ns = calloc(ncap, sizeof *ns);
    if (!ns) return false;
    kentry *old = t->slots;
    size_t ocap = t->cap;
    t->slots = ns;
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key) *find_slot(t, old[i].key) = old[i];
    free(old);
    return true;
}

/* A new registration of `name`: bump its generation (cached entries of the
 * older one re-resolve) and remember the caller's signature, if any. */
static mlxc_status registration(mlxc_device *dev, const char *name, const mlxc_kernel_signature *sig) {
    mlxc_kernel_table *t = dev->kernels;
    pthread_mutex_lock(&dev->lock);
    struct gen *g = gen_entry(t, name);
    if (!g) {
        struct gen *v = realloc(t->gens, (t->ngens + 1) * sizeof *v);
        char *nm = strdup(name);
        if (!v || !nm) {
            if (v) t->gens = v;
            free(nm);
            pthread_mutex_unlock(&dev->lock);
            return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        t->gens = v;
        g = &t->gens[t->ngens++];
        memset(g, 0, sizeof *g);
        g->name = nm;
    }
    g->gen++;
    g->has_sig = sig != NULL;
    if (sig) g->sig = *sig;
    pthread_mutex_unlock(&dev->lock);
    return MLXC_OK;
}

void mlxc_kernel_invalidate(mlxc_device *dev, const char *name) { (void)registration(dev, name, NULL); }

static bool valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n >= MLXC_MAX_KERNEL_NAME) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

mlxc_status mlxc_kernel_get_specialized(mlxc_device *dev, const char *name, const mlxc_constant *c, size_t n,
                                        const mlxc_kernel **out) {
    MLXC_CHECK_ARG(dev && name && out, "mlxc_kernel_get: NULL argument");
    *out = NULL;
    MLXC_CHECK_ARG(valid_name(name), "mlxc_kernel_get: invalid kernel name \"%.100s\"", name);
    MLXC_CHECK_ARG(n <= MLXC_MAX_KERNEL_CONSTANTS, "mlxc_kernel_get: %zu constants (at most %d)", n,
                   MLXC_MAX_KERNEL_CONSTANTS);
    MLXC_CHECK_ARG(n == 0 || c, "mlxc_kernel_get: NULL constants");
    char key[MLXC_MAX_KERNEL_NAME + MLXC_MAX_KERNEL_CONSTANTS * 24];
    size_t kl = (size_t)snprintf(key, sizeof key, "%s", name);
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind != MLXC_CONST_BOOL && c[i].kind != MLXC_CONST_INT)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "constant %zu has an invalid kind", i);
        kl += (size_t)snprintf(key + kl, sizeof key - kl, "|%u:%c%d", c[i].index,
                               c[i].kind == MLXC_CONST_BOOL ? 'b' : 'i',
                               c[i].kind == MLXC_CONST_BOOL ? (c[i].value != 0) : c[i].value);
    }
    mlxc_kernel_table *t = dev->kernels;
    pthread_mutex_lock(&dev->lock);
    struct gen *ge = gen_entry(t, name);
    uint64_t gen = ge ? ge->gen : 0;
    kentry *e = find_slot(t, key);
    if (e->key && e->k->generation == gen) {
        *out = e->k;
        pthread_mutex_unlock(&dev->lock);
        return MLXC_OK;
    }
    /* Resolve without the lock: loading or compiling a kernel can take long
     * (NVRTC), and other threads' lookups must not wait behind it. */
    pthread_mutex_unlock(&dev->lock);
    mlxc_kernel *k = calloc(1, sizeof *k);
    if (!k) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    snprintf(k->name, sizeof k->name, "%s", name);
    for (size_t i = 0; i < n; i++) {
        k->constants[i] = c[i];
        if (c[i].kind == MLXC_CONST_BOOL) k->constants[i].value = c[i].value != 0;
    }
    k->nconstants = (uint32_t)n;
    k->generation = gen;
    mlxc_status s = dev->be->kernel_resolve(dev, k);
    if (s) {
        free(k);
        return s;
    }
    pthread_mutex_lock(&dev->lock);
    ge = gen_entry(t, name);
    e = find_slot(t, key);
    if ((ge ? ge->gen : 0) != gen) {
        /* Re-registered meanwhile: this resolution is stale; retry. */
        pthread_mutex_unlock(&dev->lock);
        free(k);
        return mlxc_kernel_get_specialized(dev, name, c, n, out);
    }
    if (e->key && e->k->generation == gen) {
        /* Another thread resolved it first: use theirs. */
        *out = e->k;
        pthread_mutex_unlock(&dev->lock);
        free(k);
        return MLXC_OK;
    }
    if (ge && ge->has_sig) {
        k->has_sig = true;
        k->sig = ge->sig;
    }
    if (e->key) {
        /* Same key, older registration: retire the old kernel, reuse the slot. */
        mlxc_kernel **r = realloc(t->retired, (t->nretired + 1) * sizeof *r);
        if (!r) { free(k); pthread_mutex_unlock(&dev->lock); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
        t->retired = r;
        t->retired[t->nretired++] = e->k;
        e->k = k;
        pthread_mutex_unlock(&dev->lock);
        *out = k;
        return MLXC_OK;
    }
    if ((t->count + 1) * 2 > t->cap) {
        if (!grow(t)) { free(k); pthread_mutex_unlock(&dev->lock); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
        e = find_slot(t, key);
    }
    e->key = strdup(key);
    if (!e->key) { free(k); pthread_mutex_unlock(&dev->lock); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
    t->count++;
    e->k = k;
    pthread_mutex_unlock(&dev->lock);
    *out = k;
    return MLXC_OK;
}

mlxc_status mlxc_kernel_get(mlxc_device *dev, const char *name, const mlxc_kernel **out) {
    return mlxc_kernel_get_specialized(dev, name, NULL, 0, out);
}

mlxc_status mlxc_kernel_register_source(mlxc_device *dev, const char *name, const char *src,
                                        const mlxc_kernel_signature *sig) {
    MLXC_CHECK_ARG(dev && name && src, "mlxc_kernel_register_source: NULL argument");
    MLXC_CHECK_ARG(valid_name(name), "mlxc_kernel_register_source: invalid kernel name \"%.100s\"", name);
    MLXC_CHECK_ARG(!sig || sig->nparams <= MLXC_MAX_KERNEL_ARGS, "signature has too many parameters");
    if (!dev->be->kernel_register_source)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "the %s backend cannot compile kernels from source",
                              dev->be->name);
    mlxc_status s = dev->be->kernel_register_source(dev, name, src, sig);
    if (s) return s;
    return registration(dev, name, sig);
}

mlxc_status mlxc_kernel_register_cpu(mlxc_device *dev, const char *name, mlxc_cpu_kernel_fn fn,
                                     const mlxc_kernel_signature *sig) {
    MLXC_CHECK_ARG(dev && name && fn, "mlxc_kernel_register_cpu: NULL argument");
    MLXC_CHECK_ARG(valid_name(name), "mlxc_kernel_register_cpu: invalid kernel name \"%.100s\"", name);
    MLXC_CHECK_ARG(!sig || sig->nparams <= MLXC_MAX_KERNEL_ARGS, "signature has too many parameters");
    if (!dev->be->kernel_register_cpu)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "the %s backend does not run C kernels", dev->be->name);
    mlxc_status s = dev->be->kernel_register_cpu(dev, name, fn);
    if (s) return s;
    return registration(dev, name, sig);
}

const char *mlxc_kernel_name(const mlxc_kernel *k) { return k ? k->name : ""; }

size_t mlxc_kernel_cache_size(const mlxc_device *dev) {
    if (!dev) return 0;
    mlxc_device *d = (mlxc_device *)dev;
    pthread_mutex_lock(&d->lock);
    size_t n = d->kernels->count;
    pthread_mutex_unlock(&d->lock);
    return n;
}
