/*
 * Run-time compilation of registered CUDA C with NVRTC, cached twice:
 * in memory per device (loaded modules) and on disk per user (cubins), so a
 * second process skips the compiler.
 *
 * Cache key: a 128-bit hash of the source, the kernel name, the target
 * architecture, the NVRTC version and the -D defines made from the
 * specialization constants (MLXC_CONST_<index>=<value>).  Disk location:
 * $MLXC_CACHE_DIR, else $XDG_CACHE_HOME/mlxc, else ~/.cache/mlxc.  A file is
 * "<key>.cubin": a 32-byte header (magic, key, length) then the cubin; it is
 * written to a temporary name and renamed, so readers never see half a file,
 * and a file that fails the header check is recompiled and replaced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"

#define CU_CACHE_MAGIC "MLXCCUB1"

static void hash_bytes(uint64_t h[2], const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h[0] = (h[0] ^ b[i]) * 1099511628211ull;
        h[1] = (h[1] ^ b[i]) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
    }
    /* A separator, so ("ab","c") and ("a","bc") differ. */
    h[0] = (h[0] ^ 0xff) * 1099511628211ull;
    h[1] = (h[1] ^ 0xfe) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
}

static int mkdirs(const char *path) {
    char tmp[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (tmp[i] != '/') continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        tmp[i] = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int cache_dir(char *out, size_t cap) {
    const char *d = mlxc_env_str("MLXC_CACHE_DIR");
    if (d && *d) {
        snprintf(out, cap, "%s", d);
    } else if ((d = getenv("XDG_CACHE_HOME")) && *d) {
        snprintf(out, cap, "%s/mlxc", d);
    } else if ((d = getenv("HOME")) && *d) {
        snprintf(out, cap, "%s/.cache/mlxc", d);
    } else {
        return -1;
    }
    return mkdirs(out);
}

static void *disk_load(const char *path, const uint64_t key[2], size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char hdr[32];
    void *img = NULL;
    if (fread(hdr, 1, sizeof hdr, f) == sizeof hdr && memcmp(hdr, CU_CACHE_MAGIC, 8) == 0 &&
        memcmp(hdr + 8, key, 16) == 0) {
        uint64_t len;
        memcpy(&len, hdr + 24, 8);
        if (len > 0 && len < ((uint64_t)1 << 30) && (img = malloc(len)) != NULL) {
            if (fread(img, 1, len, f) != len || fgetc(f) != EOF) {
                free(img);
                img = NULL;
            } else {
                *size = (size_t)len;
            }
        }
    }
    fclose(f);
    return img;
}

static void disk_store(const char *path, const uint64_t key[2], const void *img, size_t size) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%p", path, (long)getpid(), (void *)&tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    unsigned char hdr[32];
    uint64_t len = size;
    memcpy(hdr, CU_CACHE_MAGIC, 8);
    memcpy(hdr + 8, key, 16);
    memcpy(hdr + 24, &len, 8);
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(img, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

/* Compile with NVRTC; on failure MLXC_ERR_COMPILE carries the log. */
static mlxc_status compile(const char *name, const char *src, const char *const *opts, int nopts, void **img,
                           size_t *size) {
    const mlxc_nvrtc_api *nv = mlxc_nvrtc();
    if (!nv) return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "kernel %s: NVRTC is not available", name);
    nvrtcProgram prog = NULL;
    char fname[MLXC_MAX_KERNEL_NAME + 8];
    snprintf(fname, sizeof fname, "%s.cu", name);
    int r = nv->CreateProgram(&prog, src, fname, 0, NULL, NULL);
    if (r != 0) return mlxc_set_error(MLXC_ERR_COMPILE, "kernel %s: nvrtcCreateProgram: %s", name, nv->GetErrorString(r));
    CU_STAT(nvrtc_compiles, 1);
    r = nv->CompileProgram(prog, nopts, opts);
    if (r != 0) {
        size_t ln = 0;
        char *log = NULL;
        if (nv->GetProgramLogSize(prog, &ln) == 0 && ln > 0 && (log = malloc(ln + 1)) != NULL) {
            if (nv->GetProgramLog(prog, log) != 0) log[0] = '\0';
            log[ln] = '\0';
        }
        mlxc_status st = mlxc_set_error(MLXC_ERR_COMPILE, "kernel %s failed to compile (%s):\n%s", name,
                                        nv->GetErrorString(r), log ? log : "(no log)");
        free(log);
        nv->DestroyProgram(&prog);
        return st;
    }
    size_t n = 0;
    void *out = NULL;
    if ((r = nv->GetCUBINSize(prog, &n)) != 0 || n == 0 || !(out = malloc(n)) ||
        (r = nv->GetCUBIN(prog, out)) != 0) {
        free(out);
        nv->DestroyProgram(&prog);
        return mlxc_set_error(MLXC_ERR_COMPILE, "kernel %s: no cubin from NVRTC (%s)", name,
                              r ? nv->GetErrorString(r) : "empty");
    }
    nv->DestroyProgram(&prog);
    *img = out;
    *size = n;
    return MLXC_OK;
}

mlxc_status cu_nvrtc_module(mlxc_device *dev, const char *name, const char *src, const mlxc_constant *c,
                            uint32_t nc, CUmodule *out) {
    cu_dev *cu = cu_of(dev);
    const mlxc_nvrtc_api *nv = mlxc_nvrtc();
    if (!nv) return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "kernel %s: NVRTC is not available", name);

    char arch[32];
    snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d%d", dev->caps.arch_major, dev->caps.arch_minor);
    char defs[MLXC_MAX_KERNEL_CONSTANTS][48];
    const char *opts[MLXC_MAX_KERNEL_CONSTANTS + 4];
    int nopts = 0;
    opts[nopts++] = arch;
    opts[nopts++] = "--std=c++17";
    opts[nopts++] = "-DMLXC_NVRTC=1";
    for (uint32_t i = 0; i < nc && i < MLXC_MAX_KERNEL_CONSTANTS; i++) {
        snprintf(defs[i], sizeof defs[i], "-DMLXC_CONST_%u=%d", c[i].index, (int)c[i].value);
        opts[nopts++] = defs[i];
    }

    uint64_t key[2] = {1469598103934665603ull, 0x6a09e667f3bcc909ull};
    int ver[2] = {nv->major, nv->minor};
    hash_bytes(key, "mlxc-nvrtc-1", 12);
    hash_bytes(key, ver, sizeof ver);
    hash_bytes(key, name, strlen(name));
    for (int i = 0; i < nopts; i++) hash_bytes(key, opts[i], strlen(opts[i]));
    hash_bytes(key, src, strlen(src));

    for (cu_module *m = cu->modules; m; m = m->next)
        if (m->key[0] == key[0] && m->key[1] == key[1]) {
            CU_STAT(memory_hits, 1);
            *out = m->mod;
            return MLXC_OK;
        }

    char dir[1024], path[1100];
    int have_dir = cache_dir(dir, sizeof dir) == 0;
    if (have_dir)
        snprintf(path, sizeof path, "%s/%016llx%016llx.cubin", dir, (unsigned long long)key[0],
                 (unsigned long long)key[1]);
    const mlxc_cu_api *api = mlxc_cu();
    size_t size = 0;
    void *img = have_dir ? disk_load(path, key, &size) : NULL;
    CUmodule mod = NULL;
    if (img) {
        if (api->ModuleLoadData(&mod, img) == CUDA_SUCCESS) {
            CU_STAT(disk_hits, 1);
        } else {
            mod = NULL; /* stale or damaged: compile afresh below */
        }
        free(img);
        img = NULL;
    }
    if (!mod) {
        mlxc_status s = compile(name, src, opts, nopts, &img, &size);
        if (s) return s;
        CUresult r = api->ModuleLoadData(&mod, img);
        if (r != CUDA_SUCCESS) {
            free(img);
            return cu_fail(dev, r, "cuModuleLoadData (NVRTC cubin)");
        }
        if (have_dir) disk_store(path, key, img, size);
        free(img);
    }
    cu_module *m = calloc(1, sizeof *m);
    if (!m) {
        (void)api->ModuleUnload(mod);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    m->key[0] = key[0];
    m->key[1] = key[1];
    m->mod = mod;
    m->next = cu->modules;
    cu->modules = m;
    *out = mod;
    return MLXC_OK;
}
