/*
 * mlxc_weights: one view of a model's tensors, whatever the layout on disk
 * (single or sharded safetensors, MLX/HF directories, GGUF), plus its
 * hyperparameters and its MLX quantized triples.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_internal.h"

typedef struct w_tensor {
    char  *name;
    size_t file;     /* index into paths / st                                      */
    size_t local;    /* index inside that file                                     */
} w_tensor;

struct mlxc_weights {
    mlxc_file_format  fmt;
    char             **paths;    /* [nfiles]                                          */
    size_t             nfiles;
    mlxc_safetensors **st;       /* [nfiles] for safetensors                          */
    mlxc_gguf         *gguf;
    w_tensor          *t;        /* [n] sorted by name                                */
    size_t             n;
    mlxc_io_names      names;
    bool               has_cfg;
    mlxc_model_config  cfg;
    mlxc_quant_triple *q;        /* [nq]                                              */
    size_t             nq;
    uint64_t           total_bytes, params;
};

const char *mlxc_file_format_name(mlxc_file_format f) {
    return f == MLXC_FORMAT_SAFETENSORS ? "safetensors" : f == MLXC_FORMAT_GGUF ? "gguf" : "unknown";
}

static void wname_get(const void *ctx, size_t i, const char **s, size_t *n) {
    const mlxc_weights *w = ctx;
    *s = w->t[i].name;
    *n = strlen(w->t[i].name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const w_tensor *)a)->name, ((const w_tensor *)b)->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void mlxc_weights_close(mlxc_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->nfiles; i++) {
        free(w->paths[i]);
        if (w->st) mlxc_safetensors_close(w->st[i]);
    }
    free(w->paths);
    free(w->st);
    mlxc_gguf_close(w->gguf);
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    mlxc_io_names_free(&w->names);
    for (size_t i = 0; i < w->nq; i++) free((char *)w->q[i].stem);
    free(w->q);
    mlxc_model_config_clear(&w->cfg);
    free(w);
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *sfx) {
    size_t n = strlen(s), m = strlen(sfx);
    return n >= m && strcmp(s + n - m, sfx) == 0;
}

static char *join(const char *dir, const char *name) {
    char *p;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static mlxc_status add_path(mlxc_weights *w, char *p) {
    if (!p) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    char **np = realloc(w->paths, (w->nfiles + 1) * sizeof *np);
    if (!np) { free(p); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
    w->paths = np;
    w->paths[w->nfiles++] = p;
    return MLXC_OK;
}

/* Names in `dir` ending with `sfx`, sorted. */
static mlxc_status list_dir(const char *dir, const char *sfx, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return mlxc_set_error(MLXC_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    mlxc_status st = MLXC_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, sfx)) continue;
        char *full = join(dir, e->d_name);
        if (!full) { st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); break; }
        if (!is_file(full)) { free(full); continue; }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nl = realloc(*out, cap * sizeof *nl);
            if (!nl) { free(full); st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); break; }
            *out = nl;
        }
        (*out)[(*n)++] = full;
    }
    closedir(d);
    if (st) {
        for (size_t i = 0; i < *n; i++) free((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return st;
    }
    if (*n) qsort(*out, *n, sizeof **out, cmp_str);
    return MLXC_OK;
}

/* ---- sharded index ------------------------------------------------------------------------- */

typedef struct index_entry { const char *tensor; size_t file; } index_entry;

/* Read model.safetensors.index.json: the shard list into w->paths and the
 * tensor → shard map into *map (names borrowed from *root). */
static mlxc_status read_index(mlxc_weights *w, const char *dir, const char *index_path, json_t **root,
                              index_entry **map, size_t *nmap) {
    char *text;
    size_t len;
    mlxc_status st = mlxc_io_read_text(index_path, (size_t)256 << 20, &text, &len);
    if (st) return st;
    st = mlxc_io_json_parse(text, len, index_path, root);
    free(text);
    if (st) return st;
    json_t *wm = json_is_object(*root) ? json_object_get(*root, "weight_map") : NULL;
    if (!wm || !json_is_object(wm))
        return mlxc_set_error(MLXC_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    size_t n = json_object_size(wm);
    *map = calloc(n ? n : 1, sizeof **map);
    if (!*map) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        if (!json_is_string(v))
            return mlxc_set_error(MLXC_ERR_FORMAT, "%s: shard of \"%.64s\" is not a string", index_path, k);
        const char *f = json_string_value(v);
        /* A shard name is a plain file name beside the index: anything else
         * could point the loader at an arbitrary file. */
        if (!f[0] || strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
            return mlxc_set_error(MLXC_ERR_FORMAT, "%s: shard name \"%.64s\" of \"%.64s\" is not a file name beside it",
                                  index_path, f, k);
        size_t fi = SIZE_MAX;
        for (size_t i = 0; i < w->nfiles; i++) {
            const char *base = strrchr(w->paths[i], '/');
            if (strcmp(base ? base + 1 : w->paths[i], f) == 0) { fi = i; break; }
        }
        if (fi == SIZE_MAX) {
            if ((st = add_path(w, join(dir, f)))) return st;
            fi = w->nfiles - 1;
        }
        (*map)[*nmap].tensor = k;
        (*map)[(*nmap)++].file = fi;
    }
    if (w->nfiles == 0) return mlxc_set_error(MLXC_ERR_FORMAT, "%s: \"weight_map\" is empty", index_path);
    return MLXC_OK;
}

/* ---- building the tensor table ------------------------------------------------------------- */

static mlxc_status open_safetensors_files(mlxc_weights *w, const char *index_path) {
    w->st = calloc(w->nfiles, sizeof *w->st);
    if (!w->st) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < w->nfiles; i++) {
        mlxc_status st = mlxc_safetensors_open(w->paths[i], &w->st[i]);
        if (st == MLXC_ERR_NOT_FOUND && index_path)
            return mlxc_set_error(st, "%s: missing shard %s (named by the index)", index_path, w->paths[i]);
        if (st) return st;
        total += mlxc_safetensors_count(w->st[i]);
    }
    w->t = calloc(total ? total : 1, sizeof *w->t);
    if (!w->t) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t f = 0; f < w->nfiles; f++)
        for (size_t i = 0; i < mlxc_safetensors_count(w->st[f]); i++) {
            mlxc_st_tensor_info ti;
            mlxc_safetensors_tensor_at(w->st[f], i, &ti);
            if (!(w->t[w->n].name = strdup(ti.name))) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
            w->t[w->n].file = f;
            w->t[w->n++].local = i;
        }
    return MLXC_OK;
}

static mlxc_status open_gguf_file(mlxc_weights *w) {
    mlxc_status st = mlxc_gguf_open(w->paths[0], &w->gguf);
    if (st) return st;
    size_t n = mlxc_gguf_tensor_count(w->gguf);
    w->t = calloc(n ? n : 1, sizeof *w->t);
    if (!w->t) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        mlxc_gguf_tensor_info ti;
        mlxc_gguf_tensor_at(w->gguf, i, &ti);
        char *s = malloc(ti.name_len + 1);
        if (!s) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        memcpy(s, ti.name, ti.name_len);
        s[ti.name_len] = 0;
        if (strlen(s) != ti.name_len) {
            free(s);
            return mlxc_set_error(MLXC_ERR_FORMAT, "%s: GGUF: tensor %zu has a NUL byte in its name", w->paths[0], i);
        }
        w->t[w->n].name = s;
        w->t[w->n].file = 0;
        w->t[w->n++].local = i;
    }
    return MLXC_OK;
}

static mlxc_status finish_table(mlxc_weights *w) {
    qsort(w->t, w->n, sizeof *w->t, cmp_name);
    size_t dup;
    mlxc_status st = mlxc_io_names_build(&w->names, w->n, wname_get, w, &dup);
    if (st) return st;
    if (dup != SIZE_MAX) {
        /* find the other copy for the message */
        size_t other = dup;
        for (size_t i = 0; i < w->n; i++)
            if (i != dup && strcmp(w->t[i].name, w->t[dup].name) == 0) { other = i; break; }
        return mlxc_set_error(MLXC_ERR_FORMAT, "tensor \"%.96s\" appears in both %s and %s", w->t[dup].name,
                              w->paths[w->t[other].file], w->paths[w->t[dup].file]);
    }
    return MLXC_OK;
}

/* Every tensor the index names must be in the shard it names. */
static mlxc_status check_index(mlxc_weights *w, const char *index_path, const index_entry *map, size_t nmap) {
    for (size_t i = 0; i < nmap; i++) {
        size_t ti;
        if (!mlxc_io_names_find(&w->names, wname_get, w, map[i].tensor, strlen(map[i].tensor), &ti))
            return mlxc_set_error(MLXC_ERR_NOT_FOUND, "%s: missing tensor \"%.96s\": the index places it in %s, "
                                  "which does not have it", index_path, map[i].tensor, w->paths[map[i].file]);
        if (w->t[ti].file != map[i].file)
            return mlxc_set_error(MLXC_ERR_FORMAT, "%s: tensor \"%.96s\" is in %s, not in %s as the index says",
                                  index_path, map[i].tensor, w->paths[w->t[ti].file], w->paths[map[i].file]);
    }
    return MLXC_OK;
}

/* ---- quantized triples ----------------------------------------------------------------------- */

static bool find_name(const mlxc_weights *w, const char *s, size_t *i) {
    return mlxc_io_names_find(&w->names, wname_get, w, s, strlen(s), i);
}

static mlxc_status build_triples(mlxc_weights *w) {
    if (w->fmt != MLXC_FORMAT_SAFETENSORS) return MLXC_OK;
    size_t cap = 0;
    for (size_t i = 0; i < w->n; i++)
        if (ends_with(w->t[i].name, ".scales")) cap++;
    if (!cap) return MLXC_OK;
    w->q = calloc(cap, sizeof *w->q);
    if (!w->q) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < w->n; i++) {
        const char *nm = w->t[i].name;
        if (!ends_with(nm, ".scales")) continue;
        size_t sl = strlen(nm) - 7;
        char *stem = strndup(nm, sl), *buf = malloc(sl + 16);
        if (!stem || !buf) { free(stem); free(buf); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
        mlxc_quant_triple *q = &w->q[w->nq];
        q->stem = stem;
        w->nq++;
        q->scales = i;
        q->biases = SIZE_MAX;
        snprintf(buf, sl + 16, "%s.weight", stem);
        if (!find_name(w, buf, &q->weight) && !find_name(w, stem, &q->weight)) {
            free(buf);
            return mlxc_set_error(MLXC_ERR_NOT_FOUND, "missing tensor \"%.96s.weight\": \"%.96s\" has no weight",
                                  stem, nm);
        }
        snprintf(buf, sl + 16, "%s.biases", stem);
        size_t bi;
        if (find_name(w, buf, &bi)) q->biases = bi;
        free(buf);

        mlxc_tensor_info wi, si, bii;
        mlxc_weights_info(w, q->weight, &wi);
        mlxc_weights_info(w, q->scales, &si);
        if (wi.ndim < 1 || wi.ndim != si.ndim)
            return mlxc_set_error(MLXC_ERR_SHAPE, "shape mismatch: \"%s\" has rank %d, \"%s\" rank %d", wi.name,
                                  wi.ndim, si.name, si.ndim);
        if (q->biases != SIZE_MAX) {
            mlxc_weights_info(w, q->biases, &bii);
            if (bii.ndim != si.ndim || memcmp(bii.shape, si.shape, sizeof si.shape[0] * (size_t)si.ndim) != 0)
                return mlxc_set_error(MLXC_ERR_SHAPE, "shape mismatch: \"%s\" and \"%s\" differ", bii.name, si.name);
        }
        for (int d = 0; d + 1 < wi.ndim; d++)
            if (wi.shape[d] != si.shape[d])
                return mlxc_set_error(MLXC_ERR_SHAPE, "shape mismatch: \"%s\" and \"%s\" differ in dimension %d",
                                      wi.name, si.name, d);
        q->rows = wi.ndim >= 2 ? wi.shape[wi.ndim - 2] : 1;
        if (w->has_cfg && w->cfg.has_quantization) {
            mlxc_model_config_quant(&w->cfg, stem, &q->params);
            if (!q->params.quantized)
                return mlxc_set_error(MLXC_ERR_FORMAT, "\"%s\" exists but config.json says \"%s\" is not quantized",
                                      si.name, stem);
            if (wi.dtype != MLXC_U32 || !wi.dtype_exact)
                return mlxc_set_error(MLXC_ERR_DTYPE, "\"%s\" is %s; packed MLX weights are U32", wi.name,
                                      wi.dtype_name);
            int64_t packed = wi.shape[wi.ndim - 1];
            int64_t cols = packed * 32 / q->params.bits;
            if ((packed * 32) % q->params.bits != 0 || cols != si.shape[si.ndim - 1] * q->params.group_size)
                return mlxc_set_error(MLXC_ERR_SHAPE,
                                      "shape mismatch: \"%s\" packs %lld columns at %d bits but \"%s\" has %lld groups "
                                      "of %d", wi.name, (long long)cols, q->params.bits, si.name,
                                      (long long)si.shape[si.ndim - 1], q->params.group_size);
            q->cols = cols;
        } else {
            /* No config: the group size is unknown, so is K; report the packed
             * width and leave the params zero. */
            q->params.quantized = true;
            q->cols = 0;
        }
    }
    return MLXC_OK;
}

static void compute_totals(mlxc_weights *w) {
    w->total_bytes = 0;
    w->params = 0;
    for (size_t i = 0; i < w->n; i++) {
        mlxc_tensor_info ti;
        mlxc_weights_info(w, i, &ti);
        w->total_bytes += ti.bytes;
        w->params += ti.elements;
    }
    for (size_t i = 0; i < w->nq; i++) {
        const mlxc_quant_triple *q = &w->q[i];
        mlxc_tensor_info wi, si;
        mlxc_weights_info(w, q->weight, &wi);
        mlxc_weights_info(w, q->scales, &si);
        w->params -= wi.elements + si.elements;
        if (q->biases != SIZE_MAX) {
            mlxc_tensor_info bi;
            mlxc_weights_info(w, q->biases, &bi);
            w->params -= bi.elements;
        }
        if (q->cols) w->params += wi.elements / (uint64_t)wi.shape[wi.ndim - 1] * (uint64_t)q->cols;
        else if (q->params.bits) w->params += wi.elements * 32 / (uint64_t)q->params.bits;
        else w->params += wi.elements;   /* unknown bits: packed words, a lower bound */
    }
}

/* ---- open ------------------------------------------------------------------------------------------ */

static mlxc_status load_config_beside(mlxc_weights *w, const char *dir) {
    char *cp = join(dir, "config.json");
    if (!cp) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    mlxc_status st = MLXC_OK;
    if (is_file(cp)) {
        mlxc_model_config_init(&w->cfg);
        st = mlxc_model_config_load(cp, &w->cfg);
        w->has_cfg = st == MLXC_OK;
    }
    free(cp);
    return st;
}

static mlxc_status open_impl(mlxc_weights *w, const char *path) {
    mlxc_status st;
    char *dir = NULL, *index = NULL;
    json_t *root = NULL;
    index_entry *map = NULL;
    size_t nmap = 0;
    bool guessed = false;   /* a file read as safetensors for want of a GGUF magic */

    if (is_dir(path)) {
        dir = strdup(path);
        if (!dir) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        char *ip = join(dir, "model.safetensors.index.json"), *single = join(dir, "model.safetensors");
        if (!ip || !single) { free(ip); free(single); st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        if (is_file(ip)) {
            index = ip;
            free(single);
        } else if (is_file(single)) {
            free(ip);
            st = add_path(w, single);
            if (st) goto done;
        } else {
            free(ip);
            free(single);
            char **list;
            size_t n;
            if ((st = list_dir(dir, ".safetensors", &list, &n))) goto done;
            if (n == 0) {
                free(list);
                if ((st = list_dir(dir, ".gguf", &list, &n))) goto done;
                if (n == 0) {
                    free(list);
                    st = mlxc_set_error(MLXC_ERR_NOT_FOUND, "%s: no *.safetensors or *.gguf files", path);
                    goto done;
                }
                if (n > 1) {
                    st = mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                        "%s: %zu GGUF files (%s, ...); name the one to open", path, n, list[0]);
                    for (size_t i = 0; i < n; i++) free(list[i]);
                    free(list);
                    goto done;
                }
                w->fmt = MLXC_FORMAT_GGUF;
            }
            for (size_t i = 0; i < n; i++) {
                if (st == MLXC_OK) st = add_path(w, list[i]);
                else free(list[i]);
            }
            free(list);
            if (st) goto done;
        }
    } else if (is_file(path)) {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        if (!dir) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        if (ends_with(path, ".index.json")) {
            if (!(index = strdup(path))) { st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        } else {
            /* The format the name gives (.gguf, .safetensors), else the one
             * the first bytes give: an error then speaks of the format the
             * user meant. */
            FILE *f = fopen(path, "rb");
            unsigned char magic[4] = {0};
            if (f) {
                if (fread(magic, 1, 4, f) != 4) memset(magic, 0, 4);
                fclose(f);
            }
            bool gguf_magic = memcmp(magic, "GGUF", 4) == 0;
            if (ends_with(path, ".gguf") || (!ends_with(path, ".safetensors") && gguf_magic)) w->fmt = MLXC_FORMAT_GGUF;
            else guessed = !ends_with(path, ".safetensors");
            if ((st = add_path(w, strdup(path)))) goto done;
        }
    } else {
        struct stat sb;
        if (stat(path, &sb) != 0)
            st = mlxc_set_error(errno == ENOENT || errno == ENOTDIR ? MLXC_ERR_NOT_FOUND : MLXC_ERR_IO, "%s: %s", path,
                                errno == ENOENT ? "no such file or directory" : strerror(errno));
        else
            st = mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: not a regular file or a directory (a %s)", path,
                                S_ISCHR(sb.st_mode) ? "character device" : S_ISBLK(sb.st_mode) ? "block device"
                                : S_ISFIFO(sb.st_mode) ? "pipe" : S_ISSOCK(sb.st_mode) ? "socket" : "special file");
        goto done;
    }

    if (index && (st = read_index(w, dir, index, &root, &map, &nmap))) goto done;
    if (w->fmt == MLXC_FORMAT_GGUF) {
        if ((st = open_gguf_file(w))) goto done;
    } else {
        w->fmt = MLXC_FORMAT_SAFETENSORS;
        if ((st = open_safetensors_files(w, index))) {
            if (guessed && st == MLXC_ERR_FORMAT) {
                /* the name said nothing: say both formats were considered */
                char why[512];
                const char *e = mlxc_last_error();
                size_t pl = strlen(path);
                if (!strncmp(e, path, pl) && !strncmp(e + pl, ": ", 2)) e += pl + 2;
                snprintf(why, sizeof why, "%s", e);
                st = mlxc_set_error(st, "%s: neither GGUF (no \"GGUF\" magic) nor safetensors (%s)", path, why);
            }
            goto done;
        }
    }
    if ((st = finish_table(w))) goto done;
    if (index && (st = check_index(w, index, map, nmap))) goto done;

    /* A GGUF file describes itself; a config.json beside it may belong to
     * another model in the same folder. */
    if (!w->gguf && (st = load_config_beside(w, dir))) goto done;
    if (w->gguf) {
        mlxc_model_config_init(&w->cfg);
        if (mlxc_model_config_from_gguf(w->gguf, &w->cfg) == MLXC_OK) w->has_cfg = true;
        else mlxc_clear_error();   /* a GGUF without a model description is still a tensor file */
    }
    if ((st = build_triples(w))) goto done;
    compute_totals(w);
done:
    if (root) json_decref(root);
    free(map);
    free(index);
    free(dir);
    return st;
}

mlxc_status mlxc_weights_open(const char *path, mlxc_weights **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_weights_open: NULL argument");
    *out = NULL;
    mlxc_weights *w = calloc(1, sizeof *w);
    if (!w) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    mlxc_status st = open_impl(w, path);
    if (st) { mlxc_weights_close(w); return st; }
    *out = w;
    return MLXC_OK;
}

/* ---- accessors ------------------------------------------------------------------------------------- */

mlxc_file_format mlxc_weights_format(const mlxc_weights *w) { return w ? w->fmt : (mlxc_file_format)0; }
size_t mlxc_weights_file_count(const mlxc_weights *w) { return w ? w->nfiles : 0; }
const char *mlxc_weights_file_path(const mlxc_weights *w, size_t i) {
    return w && i < w->nfiles ? w->paths[i] : NULL;
}
const mlxc_gguf *mlxc_weights_gguf(const mlxc_weights *w) { return w ? w->gguf : NULL; }
const mlxc_safetensors *mlxc_weights_safetensors(const mlxc_weights *w, size_t i) {
    return w && w->st && i < w->nfiles ? w->st[i] : NULL;
}
const mlxc_model_config *mlxc_weights_config(const mlxc_weights *w) { return w && w->has_cfg ? &w->cfg : NULL; }
size_t mlxc_weights_count(const mlxc_weights *w) { return w ? w->n : 0; }
uint64_t mlxc_weights_total_bytes(const mlxc_weights *w) { return w ? w->total_bytes : 0; }
uint64_t mlxc_weights_param_count(const mlxc_weights *w) { return w ? w->params : 0; }

mlxc_status mlxc_weights_info(const mlxc_weights *w, size_t i, mlxc_tensor_info *info) {
    MLXC_CHECK_ARG(w && info, "mlxc_weights_info: NULL argument");
    if (i >= w->n) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "tensor index %zu of %zu", i, w->n);
    const w_tensor *t = &w->t[i];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->file = t->file;
    if (w->fmt == MLXC_FORMAT_GGUF) {
        mlxc_gguf_tensor_info g;
        mlxc_gguf_tensor_at(w->gguf, t->local, &g);
        info->dtype_name = mlxc_ggml_type_name(g.type);
        info->dtype_exact = mlxc_gguf_ggml_dtype(g.type, &info->dtype);
        info->ggml_type = (int)g.type;
        info->ndim = (int)g.ndim;
        for (int d = 0; d < info->ndim; d++) info->shape[d] = (int64_t)g.dims[info->ndim - 1 - d];
        info->elements = g.elements;
        info->bytes = g.bytes;
    } else {
        mlxc_st_tensor_info s;
        mlxc_safetensors_tensor_at(w->st[t->file], t->local, &s);
        info->dtype_name = mlxc_st_dtype_name(s.dtype);
        info->dtype = s.mlxc_dtype;
        info->dtype_exact = s.dtype_exact;
        info->ggml_type = -1;
        info->ndim = s.ndim;
        memcpy(info->shape, s.shape, sizeof s.shape);
        info->elements = s.elements;
        info->bytes = s.bytes;
    }
    return MLXC_OK;
}

mlxc_status mlxc_weights_find(const mlxc_weights *w, const char *name, size_t *index) {
    MLXC_CHECK_ARG(w && name, "mlxc_weights_find: NULL argument");
    size_t i;
    if (!find_name(w, name, &i)) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "missing tensor \"%.128s\"", name);
    if (index) *index = i;
    return MLXC_OK;
}

static mlxc_status load_one(mlxc_weights *w, size_t i, mlxc_device *dev, unsigned flags, mlxc_io_progress *p,
                            mlxc_buffer **out) {
    const w_tensor *t = &w->t[i];
    if (w->fmt == MLXC_FORMAT_GGUF) return mlxc_gguf_tensor_buffer_ex(w->gguf, t->local, dev, flags, p, out);
    return mlxc_safetensors_tensor_buffer_ex(w->st[t->file], t->local, dev, flags, p, out);
}

mlxc_status mlxc_weights_load(mlxc_weights *w, size_t i, mlxc_device *dev, const mlxc_load_options *opt,
                              mlxc_buffer **out) {
    MLXC_CHECK_ARG(w && dev && out, "mlxc_weights_load: NULL argument");
    *out = NULL;
    if (i >= w->n) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "tensor index %zu of %zu", i, w->n);
    mlxc_tensor_info ti;
    mlxc_weights_info(w, i, &ti);
    mlxc_io_progress p = {.fn = opt ? opt->progress : NULL, .user = opt ? opt->user : NULL, .total = ti.bytes};
    return load_one(w, i, dev, opt ? opt->flags : 0, &p, out);
}

mlxc_status mlxc_weights_load_all(mlxc_weights *w, mlxc_device *dev, const mlxc_load_options *opt,
                                  mlxc_buffer **out) {
    MLXC_CHECK_ARG(w && dev && (out || w->n == 0), "mlxc_weights_load_all: NULL argument");
    for (size_t i = 0; i < w->n; i++) out[i] = NULL;
    mlxc_io_progress p = {.fn = opt ? opt->progress : NULL, .user = opt ? opt->user : NULL, .total = w->total_bytes};
    for (size_t i = 0; i < w->n; i++) {
        mlxc_status st = load_one(w, i, dev, opt ? opt->flags : 0, &p, &out[i]);
        if (st) {
            for (size_t j = 0; j < i; j++) { mlxc_buffer_release(out[j]); out[j] = NULL; }
            return st;
        }
    }
    return MLXC_OK;
}

size_t mlxc_weights_quant_count(const mlxc_weights *w) { return w ? w->nq : 0; }

mlxc_status mlxc_weights_quant_at(const mlxc_weights *w, size_t i, mlxc_quant_triple *out) {
    MLXC_CHECK_ARG(w && out, "mlxc_weights_quant_at: NULL argument");
    if (i >= w->nq) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "quantized triple %zu of %zu", i, w->nq);
    *out = w->q[i];
    return MLXC_OK;
}

mlxc_status mlxc_weights_quant_find(const mlxc_weights *w, const char *name, mlxc_quant_triple *out) {
    MLXC_CHECK_ARG(w && name && out, "mlxc_weights_quant_find: NULL argument");
    size_t ti = SIZE_MAX;
    find_name(w, name, &ti);
    for (size_t i = 0; i < w->nq; i++) {
        const mlxc_quant_triple *q = &w->q[i];
        if (strcmp(q->stem, name) == 0 || ti == q->weight || ti == q->scales || (ti != SIZE_MAX && ti == q->biases)) {
            *out = *q;
            return MLXC_OK;
        }
    }
    return mlxc_set_error(MLXC_ERR_NOT_FOUND, "\"%.128s\" is not part of a quantized triple", name);
}
