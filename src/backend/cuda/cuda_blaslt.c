/*
 * cuBLASLt behind kernel names, for the tensor-core GEMM of the dense matmul
 * (include/mlxc/ops_matmul.h) where it beats our own kernel.
 *
 *   gemm_lt_bf16_bf16_bf16(x, w, y, mlxc_lib_gemm)   y bf16
 *   gemm_lt_bf16_bf16_f32 (x, w, y, mlxc_lib_gemm)   y f32
 *   gemm_lt_f16_f16_f32   (x, w, y, mlxc_lib_gemm)   x, w f16, y f32
 *   gemm_lt_f32_f32_f32   (x, w, y, mlxc_lib_gemm)   all f32 (f32 compute, not TF32)
 *
 * The call is described by mlxc_lib_gemm (src/core/libcall.h; its rows in
 * src/kernels/matmul.def), so the front-end dispatches the names
 * like any kernel: tracked, in command buffers, graphs and profiles.
 * The backend launches one through cu_func.lib instead of cuLaunchKernel,
 * always on a stream: in graph mode between the graph launches of the
 * kernels around it, and an instantiated mlxc_graph that holds one replays
 * its plan launch by launch (cuda_instantiate.c, cuda_immediate.c).  alpha
 * and beta live in static storage, so nothing the library reads later
 * points into a stack frame.
 *
 * libcublasLt is loaded with dlopen on first use (MLXC_CUBLASLT_PATH names
 * a file; MLXC_CUBLASLT=0 hides it); without it the names do not resolve
 * and the front-end keeps its own kernel.  Row-major y (m, n) = x (m, k)
 * w (n, k)^T is cuBLASLt's column-major D (n, m) = A^T B with A = w as a
 * (k, n) matrix and B = x as (k, m), each column-major matrix's leading
 * dimension the row-major one's row distance: the "TN" case, f32 compute
 * and scale.  Those are among cuBLASLt's documented combinations for
 * bf16 A/B (C/D bf16 or f32), f16 A/B (C/D f16 or f32) and f32 A/B/C/D;
 * f16 A/B with a bf16 D is not, hence no gemm_lt_f16_f16_bf16.
 * Plans (descriptors and the heuristic's algorithm) are cached per device
 * and shape.  The algorithm is chosen for 16-byte aligned operands and no
 * workspace, so any call of the shape may run it and concurrent graph nodes
 * share no scratch memory.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "core/libcall.h"

/* ---- the slice of the cuBLASLt API used (cublasLt.h, CUDA 12 and 13) ------------- */

typedef int lt_status;               /* cublasStatus_t; 0 = success      */
typedef struct lt_ctx_st *lt_handle; /* cublasLtHandle_t                 */
typedef void *lt_obj;                /* descriptors, layouts, preference */
typedef struct { uint64_t data[8]; } lt_algo;
typedef struct {
    lt_algo   algo;
    size_t    workspace;
    lt_status state;
    float     waves;
    int       reserved[4];
} lt_heuristic;

enum {
    LT_COMPUTE_32F = 68,        /* CUBLAS_COMPUTE_32F                    */
    LT_R_32F = 0,               /* CUDA_R_32F                            */
    LT_R_16F = 2,               /* CUDA_R_16F                            */
    LT_R_16BF = 14,             /* CUDA_R_16BF                           */
    LT_OP_N = 0, LT_OP_T = 1,
    LT_DESC_TRANSA = 3, LT_DESC_TRANSB = 4,
    LT_PREF_MAX_WORKSPACE = 1,
    LT_PREF_ALIGN_A = 5, LT_PREF_ALIGN_B = 6, LT_PREF_ALIGN_C = 7, LT_PREF_ALIGN_D = 8
};

typedef struct lt_api {
    lt_status (*Create)(lt_handle *);
    lt_status (*Destroy)(lt_handle);
    lt_status (*DescCreate)(lt_obj *, int compute, int scale);
    lt_status (*DescDestroy)(lt_obj);
    lt_status (*DescSetAttribute)(lt_obj, int, const void *, size_t);
    lt_status (*LayoutCreate)(lt_obj *, int type, uint64_t rows, uint64_t cols, int64_t ld);
    lt_status (*LayoutDestroy)(lt_obj);
    lt_status (*PrefCreate)(lt_obj *);
    lt_status (*PrefDestroy)(lt_obj);
    lt_status (*PrefSetAttribute)(lt_obj, int, const void *, size_t);
    lt_status (*Heuristic)(lt_handle, lt_obj desc, lt_obj a, lt_obj b, lt_obj c, lt_obj d, lt_obj pref, int n,
                           lt_heuristic *out, int *count);
    lt_status (*Matmul)(lt_handle, lt_obj desc, const void *alpha, const void *a, lt_obj adesc, const void *b,
                        lt_obj bdesc, const void *beta, const void *c, lt_obj cdesc, void *d, lt_obj ddesc,
                        const lt_algo *algo, void *workspace, size_t workspace_bytes, CUstream stream);
    size_t (*GetVersion)(void);
} lt_api;

static lt_api          g_lt;
static const lt_api   *g_lt_ptr;
static pthread_once_t  g_lt_once = PTHREAD_ONCE_INIT;

static int lt_sym(void *lib, void *fnptr, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) return 0;
    memcpy(fnptr, &p, sizeof p);
    return 1;
}

static void lt_load(void) {
    const char *off = mlxc_env_str("MLXC_CUBLASLT");
    if (off && strcmp(off, "0") == 0) return;
    static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so", NULL};
    void *lib = mlxc_cuda_lib_open("MLXC_CUBLASLT_PATH", names);
    if (!lib) return;
    lt_api a;
    memset(&a, 0, sizeof a);
    int ok = lt_sym(lib, &a.Create, "cublasLtCreate") & lt_sym(lib, &a.Destroy, "cublasLtDestroy") &
             lt_sym(lib, &a.DescCreate, "cublasLtMatmulDescCreate") &
             lt_sym(lib, &a.DescDestroy, "cublasLtMatmulDescDestroy") &
             lt_sym(lib, &a.DescSetAttribute, "cublasLtMatmulDescSetAttribute") &
             lt_sym(lib, &a.LayoutCreate, "cublasLtMatrixLayoutCreate") &
             lt_sym(lib, &a.LayoutDestroy, "cublasLtMatrixLayoutDestroy") &
             lt_sym(lib, &a.PrefCreate, "cublasLtMatmulPreferenceCreate") &
             lt_sym(lib, &a.PrefDestroy, "cublasLtMatmulPreferenceDestroy") &
             lt_sym(lib, &a.PrefSetAttribute, "cublasLtMatmulPreferenceSetAttribute") &
             lt_sym(lib, &a.Heuristic, "cublasLtMatmulAlgoGetHeuristic") &
             lt_sym(lib, &a.Matmul, "cublasLtMatmul") & lt_sym(lib, &a.GetVersion, "cublasLtGetVersion");
    /* Version 11 and older laid the descriptors out differently. */
    if (!ok || a.GetVersion() < 120000) {
        dlclose(lib);
        return;
    }
    g_lt = a;
    g_lt_ptr = &g_lt; /* stays loaded for the process, like the driver */
}

static const lt_api *lt(void) {
    pthread_once(&g_lt_once, lt_load);
    return g_lt_ptr;
}

/* ---- per-device state and plans ------------------------------------------------- */

/* The names, each with its A/B (x, w) and D (y) types; cu_func.lib_arg is
 * the index of a function's row. */
static const struct {
    const char *name;
    int         abtype, ytype;
} k_lt_kinds[] = {
    {"gemm_lt_bf16_bf16_bf16", LT_R_16BF, LT_R_16BF},
    {"gemm_lt_bf16_bf16_f32", LT_R_16BF, LT_R_32F},
    {"gemm_lt_f16_f16_f32", LT_R_16F, LT_R_32F},
    {"gemm_lt_f32_f32_f32", LT_R_32F, LT_R_32F},
};

typedef struct lt_plan {
    mlxc_lib_gemm g;      /* the call: with kind, the cache key */
    int           kind;   /* the row of k_lt_kinds */
    lt_obj        desc, a, b, d;
    lt_algo       algo;
} lt_plan;

struct cu_lt {
    lt_handle       h;
    pthread_mutex_t mu;
    lt_plan        *plans;
    size_t          nplans, cap;
};

static void plan_destroy(const lt_api *a, lt_plan *p) {
    if (p->desc) a->DescDestroy(p->desc);
    if (p->a) a->LayoutDestroy(p->a);
    if (p->b) a->LayoutDestroy(p->b);
    if (p->d) a->LayoutDestroy(p->d);
}

void cu_lt_free(cu_dev *cu) {
    cu_lt *s = cu->lt;
    if (!s) return;
    const lt_api *a = lt();
    for (size_t i = 0; i < s->nplans; i++) plan_destroy(a, &s->plans[i]);
    free(s->plans);
    if (s->h) a->Destroy(s->h);
    pthread_mutex_destroy(&s->mu);
    free(s);
    cu->lt = NULL;
}

/* Find or build the plan of a shape (under s->mu).  NULL with an error set
 * when cuBLASLt offers no algorithm. */
static bool same_gemm(const mlxc_lib_gemm *a, const mlxc_lib_gemm *b) {
    return a->m == b->m && a->n == b->n && a->k == b->k && a->ld_x == b->ld_x && a->ld_w == b->ld_w &&
           a->ld_y == b->ld_y;
}

static const lt_plan *plan_get(cu_lt *s, const mlxc_lib_gemm *g, int kind) {
    for (size_t i = 0; i < s->nplans; i++) {
        const lt_plan *p = &s->plans[i];
        if (same_gemm(&p->g, g) && p->kind == kind) return p;
    }
    if (s->nplans == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 16;
        lt_plan *v = realloc(s->plans, nc * sizeof *v);
        if (!v) {
            mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
            return NULL;
        }
        s->plans = v;
        s->cap = nc;
    }
    const lt_api *a = lt();
    lt_plan p = {.g = *g, .kind = kind};
    const int abtype = k_lt_kinds[kind].abtype, ytype = k_lt_kinds[kind].ytype;
    const int32_t ta = LT_OP_T, tb = LT_OP_N;
    const uint64_t ws = 0;
    const uint32_t align = 16;
    lt_obj pref = NULL;
    lt_heuristic res;
    int count = 0;
    lt_status st = a->DescCreate(&p.desc, LT_COMPUTE_32F, LT_R_32F);
    if (!st) st = a->DescSetAttribute(p.desc, LT_DESC_TRANSA, &ta, sizeof ta);
    if (!st) st = a->DescSetAttribute(p.desc, LT_DESC_TRANSB, &tb, sizeof tb);
    if (!st) st = a->LayoutCreate(&p.a, abtype, g->k, g->n, g->ld_w);
    if (!st) st = a->LayoutCreate(&p.b, abtype, g->k, g->m, g->ld_x);
    if (!st) st = a->LayoutCreate(&p.d, ytype, g->n, g->m, g->ld_y);
    if (!st) st = a->PrefCreate(&pref);
    if (!st) st = a->PrefSetAttribute(pref, LT_PREF_MAX_WORKSPACE, &ws, sizeof ws);
    for (int attr = LT_PREF_ALIGN_A; !st && attr <= LT_PREF_ALIGN_D; attr++)
        st = a->PrefSetAttribute(pref, attr, &align, sizeof align);
    if (!st) st = a->Heuristic(s->h, p.desc, p.a, p.b, p.d, p.d, pref, 1, &res, &count);
    if (pref) a->PrefDestroy(pref);
    if (st || count < 1 || res.state) {
        plan_destroy(a, &p);
        mlxc_set_error(MLXC_ERR_UNSUPPORTED, "cuBLASLt has no algorithm for a %u x %u x %u GEMM %s (status %d)",
                       g->m, g->n, g->k, k_lt_kinds[kind].name, st ? st : res.state);
        return NULL;
    }
    p.algo = res.algo;
    s->plans[s->nplans] = p;
    return &s->plans[s->nplans++];
}

/* The call, read from the dispatch's mlxc_lib_gemm argument (its size
 * checked against the signature when the dispatch was recorded). */
static mlxc_lib_gemm lt_call(const mlxc_cmd_dispatch *d) {
    mlxc_lib_gemm g;      /* the call, and the cache key with the kind */
    memcpy(&g, d->args[3].bytes, sizeof g);
    return g;
}

static mlxc_status lt_check(const cu_func *f, const mlxc_cmd_dispatch *d) {
    cu_lt *s = f->lib_ctx;
    mlxc_lib_gemm g = lt_call(d);
    pthread_mutex_lock(&s->mu);
    const lt_plan *pl = plan_get(s, &g, f->lib_arg);
    pthread_mutex_unlock(&s->mu);
    return pl ? MLXC_OK : MLXC_ERR_UNSUPPORTED;
}

static CUresult lt_launch(const cu_func *f, CUstream stream, const mlxc_cmd_dispatch *d) {
    cu_lt *s = f->lib_ctx;
    const lt_api *a = lt();
    mlxc_lib_gemm g = lt_call(d);
    static const float alpha = 1.0f, beta = 0.0f;
    pthread_mutex_lock(&s->mu);
    const lt_plan *pl = plan_get(s, &g, f->lib_arg);
    lt_status st = -1;
    if (pl) {
        const void *x = (const void *)(uintptr_t)d->args[0].value, *w = (const void *)(uintptr_t)d->args[1].value;
        void *y = (void *)(uintptr_t)d->args[2].value;
        st = a->Matmul(s->h, pl->desc, &alpha, w, pl->a, x, pl->b, &beta, y, pl->d, y, pl->d, &pl->algo, NULL, 0,
                       stream);
    }
    pthread_mutex_unlock(&s->mu);
    /* Not a sticky driver error: the device stays usable. */
    return st == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- resolving the names ----------------------------------------------------- */

bool cu_lt_name(const char *name) { return strncmp(name, "gemm_lt_", 8) == 0; }

mlxc_status cu_lt_resolve(mlxc_device *dev, cu_dev *cu, mlxc_kernel *k, cu_func **out) {
    int kind = -1;
    for (int i = 0; i < (int)(sizeof k_lt_kinds / sizeof *k_lt_kinds); i++)
        if (strcmp(k->name, k_lt_kinds[i].name) == 0) kind = i;
    if (kind < 0) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "no CUDA kernel named %s", k->name);
    const lt_api *a = lt();
    if (!a) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "%s: cuBLASLt 12 or newer is not available", k->name);
    const mlxc_kernel_signature *sig = cu_builtin_sig(k->name);
    if (!sig) return mlxc_set_error(MLXC_ERR_INTERNAL, "no signature for %s", k->name);
    if (!cu->lt) {
        cu_lt *s = calloc(1, sizeof *s);
        if (!s) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        pthread_mutex_init(&s->mu, NULL);
        lt_status st = a->Create(&s->h);
        if (st) {
            pthread_mutex_destroy(&s->mu);
            free(s);
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "cublasLtCreate failed on %s (status %d)", dev->caps.name, st);
        }
        cu->lt = s;
    }
    cu_func *f = calloc(1, sizeof *f);
    if (!f) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    f->lib = lt_launch;
    f->lib_check = lt_check;
    f->lib_ctx = cu->lt;
    f->lib_arg = kind;
    f->nparams = sig->nparams;
    for (uint32_t i = 0; i < sig->nparams; i++) f->sizes[i] = sig->kinds[i] == MLXC_PARAM_PTR ? 8 : sig->sizes[i];
    f->shared_limit = 0;
    f->next = cu->funcs;
    cu->funcs = f;
    k->has_sig = true;
    k->sig = *sig;
    *out = f;
    return MLXC_OK;
}
