/* Quantized formats against their own reference packages: every byte that
 * mlxc's CPU quantize writes and every float its dequantize returns equals
 * what mlx (CPU stream) and gguf.quants produce on the same input.  The data
 * comes from scripts/make_quant_fixtures.py (run by ctest first, see
 * tests/quant.cmake); the round-trip error bounds and the bad-input cases
 * need no data. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "read_file.h"
#include "mlxc/mlxc.h"

static const char *g_dir;
static int g_cases;

static void *part(const char *name, const char *ext, size_t want) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", g_dir, name, ext);
    size_t len = 0;
    char *b = read_file(path, &len);
    if (!b || len != want) {
        fprintf(stderr, "  %s: %zu bytes, want %zu\n", path, b ? len : 0, want);
        free(b);
        return NULL;
    }
    return b;
}

/* Bitwise, so that -0.0 against 0.0 counts as a difference. */
static size_t first_diff(const void *a, const void *b, size_t n, size_t elem) {
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)a + i * elem, (const char *)b + i * elem, elem)) return i;
    return SIZE_MAX;
}

#define CHECK_SAME(name, what, a, b, n, elem)                                              \
    do {                                                                                   \
        size_t d_ = first_diff(a, b, n, elem);                                             \
        CHECK_MSG(d_ == SIZE_MAX, "%s: %s differs at element %zu", name, what, d_);        \
    } while (0)

static mlxc_dtype dtype_of(const char *s) {
    return !strcmp(s, "f16") ? MLXC_F16 : !strcmp(s, "bf16") ? MLXC_BF16 : MLXC_F32;
}

static void affine_case(const char *name, const char *dts, size_t rows, size_t cols, uint32_t bits, uint32_t group) {
    mlxc_dtype dt = dtype_of(dts);
    size_t es = mlxc_dtype_size(dt), nq = rows * cols * bits / 32, ns = rows * cols / group;
    void *in = part(name, "in", rows * cols * es), *q = part(name, "q", nq * 4), *s = part(name, "s", ns * es),
         *b = part(name, "b", ns * es), *deq = part(name, "deq", rows * cols * 4);
    uint32_t *mq = calloc(nq, 4);
    void *ms = calloc(ns, es), *mb = calloc(ns, es);
    float *mdeq = calloc(rows * cols, 4);
    CHECK_MSG(in && q && s && b && deq, "%s: fixture missing", name);
    if (in && q && s && b && deq) {
        CHECK_OK(mlxc_mlx_affine_quantize(in, dt, rows, cols, bits, group, mq, ms, mb));
        CHECK_SAME(name, "codes", q, mq, nq, 4);
        CHECK_SAME(name, "scales", s, ms, ns, es);
        CHECK_SAME(name, "biases", b, mb, ns, es);
        CHECK_OK(mlxc_mlx_affine_dequantize(q, s, b, dt, rows, cols, bits, group, mdeq));
        CHECK_SAME(name, "dequantized", deq, mdeq, rows * cols, 4);
        /* the same through the descriptor */
        mlxc_qweight w = {.format = MLXC_QF_MLX_AFFINE, .bits = bits, .group_size = group, .scale_dtype = dt,
                          .rows = (int64_t)rows, .cols = (int64_t)cols, .data = q, .scales = s, .biases = b,
                          .data_bytes = nq * 4, .scales_bytes = ns * es, .biases_bytes = ns * es};
        memset(mdeq, 0, rows * cols * 4);
        CHECK_OK(mlxc_qweight_dequantize(&w, mdeq, rows * cols));
        CHECK_SAME(name, "descriptor dequantized", deq, mdeq, rows * cols, 4);
    }
    free(in), free(q), free(s), free(b), free(deq), free(mq), free(ms), free(mb), free(mdeq);
    g_cases++;
}

static mlxc_qformat mode_of(const char *m) {
    mlxc_qformat f = MLXC_QF_INVALID;
    if (mlxc_qformat_from_mlx_mode(m, &f)) return MLXC_QF_INVALID;
    return f;
}

static void fp_case(const char *name, const char *mode, const char *dts, size_t rows, size_t cols, int quant) {
    mlxc_qformat f = mode_of(mode);
    mlxc_dtype dt = dtype_of(dts);
    uint32_t bits = f == MLXC_QF_MLX_MXFP8 ? 8 : 4, group = f == MLXC_QF_MLX_NVFP4 ? 16 : 32;
    size_t nq = rows * cols * bits / 32, ns = rows * cols / group;
    uint32_t *q = part(name, "q", nq * 4), *mq = calloc(nq, 4);
    uint8_t *s = part(name, "s", ns), *ms = calloc(ns, 1);
    float *deq = part(name, "deq", rows * cols * 4), *mdeq = calloc(rows * cols, 4);
    CHECK_MSG(q && s && deq, "%s: fixture missing", name);
    if (q && s && deq) {
        if (quant) {
            void *in = part(name, "in", rows * cols * mlxc_dtype_size(dt));
            CHECK(in != NULL);
            if (in) {
                CHECK_OK(mlxc_mlx_fp_quantize(f, in, dt, rows, cols, mq, ms));
                CHECK_SAME(name, "codes", q, mq, nq, 4);
                CHECK_SAME(name, "scales", s, ms, ns, 1);
            }
            free(in);
        }
        CHECK_OK(mlxc_mlx_fp_dequantize(f, q, s, rows, cols, mdeq));
        CHECK_SAME(name, "dequantized", deq, mdeq, rows * cols, 4);
    }
    free(q), free(mq), free(s), free(ms), free(deq), free(mdeq);
    g_cases++;
}

static void ggml_case(const char *name, uint32_t type, size_t n, int quant) {
    uint32_t blk = 1, tsz = 1;
    CHECK(mlxc_ggml_type_info(type, &blk, &tsz));
    size_t nb = n / blk * tsz;
    uint8_t *q = part(name, "q", nb), *mq = calloc(nb, 1);
    float *deq = part(name, "deq", n * 4), *mdeq = calloc(n, 4);
    CHECK_MSG(q && deq, "%s: fixture missing", name);
    if (q && deq) {
        if (quant) {
            float *in = part(name, "in", n * 4);
            CHECK(in != NULL);
            CHECK_MSG(mlxc_ggml_can_quantize(type), "%s: the gguf package quantizes it, mlxc does not", name);
            if (in) {
                CHECK_OK(mlxc_ggml_quantize(type, in, n, mq, nb));
                CHECK_SAME(name, "blocks", q, mq, nb, 1);
            }
            free(in);
        }
        CHECK_OK(mlxc_ggml_dequantize(type, q, nb, n, mdeq));
        CHECK_SAME(name, "dequantized", deq, mdeq, n, 4);
        mlxc_qformat f = MLXC_QF_INVALID;
        CHECK_OK(mlxc_qformat_from_ggml(type, &f));
        mlxc_qweight w = {.format = f, .group_size = blk, .block_bytes = tsz, .rows = (int64_t)(n / 256),
                          .cols = 256, .data = q, .data_bytes = nb};
        memset(mdeq, 0, n * 4);
        CHECK_OK(mlxc_qweight_dequantize(&w, mdeq, n));
        CHECK_SAME(name, "descriptor dequantized", deq, mdeq, n, 4);
    }
    free(q), free(mq), free(deq), free(mdeq);
    g_cases++;
}

static void test_against_reference_packages(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/cases.txt", g_dir);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "%s missing", path);
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char kind[16], name[128], a[16], b[16];
        size_t r, c;
        unsigned x, y;
        if (line[0] == '#') { printf("       reference: %s", line + 2); continue; }
        if (sscanf(line, "%15s %127s", kind, name) != 2) continue;
        if (!strcmp(kind, "affine") && sscanf(line, "%*s %*s %15s %zu %zu %u %u", a, &r, &c, &x, &y) == 5)
            affine_case(name, a, r, c, x, y);
        else if (!strcmp(kind, "fp") && sscanf(line, "%*s %*s %15s %15s %zu %zu %u", a, b, &r, &c, &x) == 5)
            fp_case(name, a, b, r, c, (int)x);
        else if (!strcmp(kind, "ggml") && sscanf(line, "%*s %*s %u %zu %u", &x, &r, &y) == 3)
            ggml_case(name, x, r, (int)y);
        else CHECK_MSG(0, "bad manifest line: %s", line);
    }
    fclose(f);
    printf("       %d cases compared\n", g_cases);
    CHECK(g_cases > 60);
}

/* ---- round trip against a double-precision bound -------------------------------------- */

static double urand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Affine: each element is within one step of its value.  Not half a step:
 * MLX stretches the scale so that the larger-magnitude edge is hit exactly
 * (0.0 then has a code), and the other edge may then clip by up to a step. */
static void test_affine_round_trip_bound(void) {
    enum { R = 4, C = 256 };
    static float w[R * C], out[R * C], s[R * C / 32], b[R * C / 32];
    static uint32_t q[R * C];
    uint64_t seed = 7;
    for (int i = 0; i < R * C; i++) w[i] = (float)(urand(&seed) * (1 + i % 7));
    for (uint32_t bits = 2; bits <= 8; bits++) {
        if (bits == 7) continue;
        for (uint32_t g = 32; g <= 128; g *= 2) {
            CHECK_OK(mlxc_mlx_affine_quantize(w, MLXC_F32, R, C, bits, g, q, s, b));
            CHECK_OK(mlxc_mlx_affine_dequantize(q, s, b, MLXC_F32, R, C, bits, g, out));
            double worst = 0;
            for (int i = 0; i < R * C; i++) {
                size_t grp = (size_t)i / g;
                double lo = INFINITY, hi = -INFINITY;
                for (uint32_t j = 0; j < g; j++) {
                    lo = fmin(lo, w[grp * g + j]);
                    hi = fmax(hi, w[grp * g + j]);
                }
                /* the scale may be stretched so that the edge is hit exactly:
                 * at most range / (2^bits - 2) */
                double step = (hi - lo) / ((1u << bits) - 2), err = fabs((double)out[i] - w[i]);
                double bound = step + (hi - lo) * 1e-6;
                if (err / bound > worst) worst = err / bound;
            }
            CHECK_MSG(worst <= 1.0, "bits %u group %u: error %.3f of the bound", bits, g, worst);
        }
    }
}

/* GGML: the error per block is bounded by half a step of the block's scale
 * (Q8_0 amax/127/2, Q4_1 range/15/2, Q5_1 range/31/2, plus the f16 rounding
 * of d and m), a whole step for Q4_0 and Q5_0 (codes -8..7 and -16..15: the
 * side opposite the absmax value clips at +7 or +15), and for MXFP4 half the
 * widest gap of the e2m1 grid (2 units of a scale <= amax/4). */
static void test_ggml_round_trip_bound(void) {
    enum { N = 1024 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    uint64_t seed = 11;
    for (int i = 0; i < N; i++) x[i] = (float)(urand(&seed) * (1 + i % 5));
    const struct { uint32_t t; double steps; bool range; } k[] = {
        {MLXC_GGML_Q4_0, 4, false}, {MLXC_GGML_Q4_1, 15, true}, {MLXC_GGML_Q5_0, 8, false},
        {MLXC_GGML_Q5_1, 31, true}, {MLXC_GGML_Q8_0, 127, false}, {MLXC_GGML_MXFP4, 1, false},
    };
    for (size_t c = 0; c < sizeof k / sizeof k[0]; c++) {
        uint32_t blk, tsz;
        CHECK(mlxc_ggml_type_info(k[c].t, &blk, &tsz));
        size_t nb = N / blk * tsz;
        CHECK_OK(mlxc_ggml_quantize(k[c].t, x, N, q, nb));
        CHECK_OK(mlxc_ggml_dequantize(k[c].t, q, nb, N, y));
        double worst = 0;
        for (int i = 0; i < N; i++) {
            size_t b0 = (size_t)i / blk * blk;
            double amax = 0, lo = INFINITY, hi = -INFINITY;
            for (uint32_t j = 0; j < blk; j++) {
                amax = fmax(amax, fabs(x[b0 + j]));
                lo = fmin(lo, x[b0 + j]);
                hi = fmax(hi, x[b0 + j]);
            }
            double bound;
            if (k[c].t == MLXC_GGML_MXFP4) bound = amax / 4;   /* gap 2 units of a scale <= amax/4, halved: amax/4 */
            else bound = (k[c].range ? hi - lo : amax) / k[c].steps / 2 * 1.01 + amax * 2e-3;
            double err = fabs((double)y[i] - x[i]);
            if (err / bound > worst) worst = err / bound;
        }
        CHECK_MSG(worst <= 1.0, "%s: error %.3f of the bound", mlxc_ggml_type_name(k[c].t), worst);
    }
}

/* ---- GGML restated as MLX affine --------------------------------------------------------- */

/* Q4_0 and Q8_0 as MLX affine (mlxc_ggml_to_affine): every value the MLX
 * layout gives (codes unpacked LSB first, scale * q + bias in f32, with and
 * without fma) equals gguf's dequantized value (bit for bit but where
 * gguf's zero is -0: d (q - 8) with d < 0 and q = 8), over random
 * blocks and the edge scales (0, -0, subnormal, the largest whose bias is
 * an f16); a d whose bias overflows, or a non-finite d, is refused. */
static void test_ggml_to_affine(void) {
    enum { ROWS = 3, COLS = 256, NB = ROWS * COLS / 32 };
    static const uint16_t edge[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x3c00, 0xefff /* -8188 */,
                                    0x6fff /* 8188 */, 0x5fff /* 511.75 */};
    uint64_t seed = 5;
    for (int t = 0; t < 2; t++) {
        const bool q4 = t == 0;
        const size_t bb = q4 ? 18 : 34, bits = q4 ? 4 : 8;
        static uint8_t blocks[NB * 34];
        static uint32_t wq[ROWS * COLS * 8 / 32];
        static uint16_t sc[NB], bi[NB];
        static float want[ROWS * COLS];
        for (size_t i = 0; i < sizeof blocks; i++) blocks[i] = (uint8_t)(urand(&seed) * 256 + 256);
        for (int b = 0; b < NB; b++) {
            uint16_t d = b < 8 ? edge[b] : mlxc_f32_to_f16((float)(urand(&seed) * 0.1));
            if (!q4 && (d == 0xefff || d == 0x6fff)) d = 0xdfff; /* Q8_0's largest: -511.75 */
            blocks[b * bb] = (uint8_t)d, blocks[b * bb + 1] = (uint8_t)(d >> 8);
        }
        mlxc_qweight w = {.format = q4 ? MLXC_QF_Q4_0 : MLXC_QF_Q8_0, .bits = (uint32_t)bits, .group_size = 32,
                          .block_bytes = (uint32_t)bb, .rows = ROWS, .cols = COLS, .data = blocks,
                          .data_bytes = NB * bb};
        CHECK_OK(mlxc_ggml_dequantize(q4 ? MLXC_GGML_Q4_0 : MLXC_GGML_Q8_0, blocks, NB * bb, ROWS * COLS, want));
        CHECK_OK(mlxc_ggml_to_affine(&w, wq, sc, bi));
        size_t bad = 0;
        for (size_t i = 0; i < ROWS * COLS; i++) {
            const uint32_t q = (wq[i * bits / 32] >> (i * bits % 32)) & ((1u << bits) - 1);
            const float s = mlxc_f16_to_f32(sc[i / 32]), b = mlxc_f16_to_f32(bi[i / 32]);
            volatile float prod = s * (float)q;
            const float plain = prod + b, fused = fmaf(s, (float)q, b);
            if (plain != want[i] || fused != want[i]) bad++; /* equal, so bitwise but for a zero's sign */
        }
        CHECK_MSG(bad == 0, "%s as affine: %zu values differ", q4 ? "Q4_0" : "Q8_0", bad);
        /* a scale whose bias is no f16, and one that is not finite */
        const uint16_t refuse[] = {q4 ? 0x7000 : 0x6000 /* 512 */, 0x7c00, 0x7e00};
        for (size_t r = 0; r < sizeof refuse / sizeof *refuse; r++) {
            uint8_t keep[2] = {blocks[bb], blocks[bb + 1]};
            blocks[bb] = (uint8_t)refuse[r], blocks[bb + 1] = (uint8_t)(refuse[r] >> 8);
            CHECK_ERR(mlxc_ggml_to_affine(&w, wq, sc, bi), MLXC_ERR_UNSUPPORTED);
            blocks[bb] = keep[0], blocks[bb + 1] = keep[1];
        }
        mlxc_qweight wrong = w;
        wrong.data_bytes--;
        CHECK_ERR(mlxc_ggml_to_affine(&wrong, wq, sc, bi), MLXC_ERR_INVALID_ARGUMENT);
        wrong = w;
        wrong.format = MLXC_QF_Q4_1;
        CHECK_ERR(mlxc_ggml_to_affine(&wrong, wq, sc, bi), MLXC_ERR_UNSUPPORTED);
        CHECK_ERR(mlxc_ggml_to_affine(&w, NULL, sc, bi), MLXC_ERR_INVALID_ARGUMENT);
    }
}

/* ---- GGML Q4_0 in 16-row tiles ----------------------------------------------------------- */

/* mlxc_ggml_to_tiles: every value read from the tiles by the layout that
 * mlxc/quant.h documents (record, slot, word, scale offsets) is the
 * block's; mlxc_tiles_to_ggml gives the blocks back bit for bit;
 * mlxc_qweight_dequantize of the tiles equals gguf's Q4_0 values; shapes
 * the tiles do not take are refused. */
static void test_ggml_to_tiles(void) {
    enum { ROWS = 48, COLS = 384, NB = ROWS * COLS / 32, BYTES = NB * 18 };
    static uint8_t blocks[BYTES], tiles[BYTES], back[BYTES];
    static float want[ROWS * COLS], got[ROWS * COLS];
    uint64_t seed = 11;
    for (size_t i = 0; i < BYTES; i++) blocks[i] = (uint8_t)(urand(&seed) * 256 + 256);
    for (int b = 0; b < NB; b++) {
        const uint16_t d = mlxc_f32_to_f16((float)(urand(&seed) * 0.1));
        blocks[b * 18] = (uint8_t)d, blocks[b * 18 + 1] = (uint8_t)(d >> 8);
    }
    mlxc_qweight w = {.format = MLXC_QF_Q4_0, .bits = 4, .group_size = 32, .block_bytes = 18, .rows = ROWS,
                      .cols = COLS, .data = blocks, .data_bytes = BYTES};
    CHECK_OK(mlxc_ggml_to_tiles(&w, tiles, BYTES));
    size_t bad = 0;
    for (size_t r = 0; r < ROWS; r++)
        for (size_t e = 0; e < COLS; e++) {
            const uint8_t *blk = blocks + (r * (COLS / 32) + e / 32) * 18;
            const size_t j = e % 32, byte = j % 16;
            const int q_blk = j < 16 ? blk[2 + byte] & 15 : blk[2 + byte] >> 4;
            /* the documented place: record (r / 16, e / 128), rows 16t + 8h2 .. at 512 h2, slot byte / 4 of row
             * r % 8 at 16 (4 (r % 8) + slot), word (e % 128) / 32, byte byte % 4 of it */
            const size_t h = r % 16, i = (e % 128) / 32;
            const uint8_t *rec = tiles + ((r / 16) * (COLS / 128) + e / 128) * 1152;
            const uint8_t code = rec[512 * (h / 8) + 16 * (4 * (h % 8) + byte / 4) + 4 * i + byte % 4];
            const int q_til = j < 16 ? code & 15 : code >> 4;
            const uint16_t d_blk = (uint16_t)(blk[0] | blk[1] << 8);
            const uint16_t d_til = (uint16_t)(rec[1024 + 8 * h + 2 * i] | rec[1024 + 8 * h + 2 * i + 1] << 8);
            if (q_blk != q_til || d_blk != d_til) bad++;
        }
    CHECK_MSG(bad == 0, "tiles: %zu values not where the layout says", bad);
    mlxc_qweight t = w;
    t.format = MLXC_QF_Q4_0_TILES, t.block_bytes = 0, t.data = tiles;
    CHECK_OK(mlxc_tiles_to_ggml(&t, back, BYTES));
    CHECK_MSG(memcmp(back, blocks, BYTES) == 0, "tiles: the blocks do not come back");
    CHECK_OK(mlxc_ggml_dequantize(MLXC_GGML_Q4_0, blocks, BYTES, ROWS * COLS, want));
    CHECK_OK(mlxc_qweight_dequantize(&t, got, ROWS * COLS));
    CHECK_MSG(memcmp(want, got, sizeof want) == 0, "tiles: dequantized values differ from Q4_0's");
    CHECK(mlxc_qformat_can_dequantize(MLXC_QF_Q4_0_TILES));
    CHECK(strcmp(mlxc_qformat_name(MLXC_QF_Q4_0_TILES), "Q4_0-tiles") == 0);
    /* refused: another format, rows or columns off the tile, sizes, NULL */
    mlxc_qweight bad_w = w;
    bad_w.format = MLXC_QF_Q8_0;
    CHECK_ERR(mlxc_ggml_to_tiles(&bad_w, tiles, BYTES), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_tiles_to_ggml(&w, back, BYTES), MLXC_ERR_UNSUPPORTED);
    bad_w = w, bad_w.rows = 40, bad_w.data_bytes = 40 * (COLS / 32) * 18;
    CHECK_ERR(mlxc_ggml_to_tiles(&bad_w, tiles, (size_t)bad_w.data_bytes), MLXC_ERR_UNSUPPORTED);
    bad_w = w, bad_w.cols = 320, bad_w.data_bytes = ROWS * 10 * 18;
    CHECK_ERR(mlxc_ggml_to_tiles(&bad_w, tiles, (size_t)bad_w.data_bytes), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_ggml_to_tiles(&w, tiles, BYTES - 18), MLXC_ERR_SHAPE);
    bad_w = w, bad_w.data_bytes = BYTES + 18;
    CHECK_ERR(mlxc_ggml_to_tiles(&bad_w, tiles, BYTES), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_ggml_to_tiles(&w, NULL, BYTES), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_ggml_to_tiles(NULL, tiles, BYTES), MLXC_ERR_INVALID_ARGUMENT);
}

/* ---- bad input: a status and a message, never a crash ---------------------------------- */

static void test_bad_input(void) {
    static float w[4 * 256], out[4 * 256];
    static uint32_t q[4 * 256];
    static uint16_t s[64], b[64];
    static uint8_t s8[64], blocks[4096];
    /* affine */
    CHECK_ERR(mlxc_mlx_affine_quantize(NULL, MLXC_F32, 4, 256, 4, 64, q, s, b), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_mlx_affine_quantize(w, MLXC_F32, 4, 256, 7, 64, q, w, w), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_mlx_affine_quantize(w, MLXC_F32, 4, 256, 1, 64, q, w, w), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_mlx_affine_quantize(w, MLXC_F32, 4, 256, 4, 16, q, w, w), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_mlx_affine_quantize(w, MLXC_F32, 4, 96, 4, 64, q, w, w), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_mlx_affine_quantize(w, MLXC_F32, 0, 256, 4, 64, q, w, w), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_mlx_affine_quantize(w, MLXC_I32, 4, 256, 4, 64, q, w, w), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_mlx_affine_dequantize(q, s, NULL, MLXC_F16, 4, 256, 4, 64, out), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_mlx_affine_dequantize(q, s, b, MLXC_F16, 4, 200, 4, 64, out), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_mlx_affine_dequantize(q, s, b, MLXC_U8, 4, 256, 4, 64, out), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_mlx_affine_dequantize(q, s, b, MLXC_F16, 4, 256, 9, 64, out), MLXC_ERR_UNSUPPORTED);
    /* microscaling */
    CHECK_ERR(mlxc_mlx_fp_quantize(MLXC_QF_MLX_AFFINE, w, MLXC_F32, 4, 256, q, s8), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_mlx_fp_quantize(MLXC_QF_MLX_MXFP4, w, MLXC_F32, 4, 48, q, s8), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_mlx_fp_quantize(MLXC_QF_MLX_NVFP4, NULL, MLXC_F32, 4, 256, q, s8), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_mlx_fp_quantize(MLXC_QF_MLX_NVFP4, w, MLXC_I8, 4, 256, q, s8), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_mlx_fp_dequantize(MLXC_QF_Q4_0, q, s8, 4, 256, out), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_mlx_fp_dequantize(MLXC_QF_MLX_MXFP8, q, s8, 4, 40, out), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_mlx_fp_dequantize(MLXC_QF_MLX_MXFP8, q, NULL, 4, 256, out), MLXC_ERR_INVALID_ARGUMENT);
    /* ggml */
    CHECK_ERR(mlxc_ggml_quantize(MLXC_GGML_Q4_0, w, 48, blocks, 27), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_ggml_quantize(MLXC_GGML_Q4_0, w, 64, blocks, 35), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_ggml_quantize(MLXC_GGML_Q4_K, w, 256, blocks, 144), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_ggml_quantize(4, w, 256, blocks, 144), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_ggml_quantize(MLXC_GGML_Q8_0, NULL, 32, blocks, 34), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_ggml_dequantize(MLXC_GGML_Q6_K, blocks, 209, 256, out), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_ggml_dequantize(MLXC_GGML_Q6_K, blocks, 210, 0, out), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_ggml_dequantize(MLXC_GGML_Q1_0, blocks, 18, 128, out), MLXC_ERR_UNSUPPORTED); /* no reference */
    CHECK_ERR(mlxc_ggml_dequantize(MLXC_GGML_TYPE_LIMIT, blocks, 66, 256, out), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_ggml_dequantize(MLXC_GGML_Q8_0, blocks, 34, 32, NULL), MLXC_ERR_INVALID_ARGUMENT);
    /* formats and the descriptor */
    mlxc_qformat f;
    CHECK_ERR(mlxc_qformat_from_ggml(MLXC_GGML_I32, &f), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_qformat_from_ggml(5, &f), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qformat_from_ggml(MLXC_GGML_Q4_K, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qformat_from_mlx_mode("fp4", &f), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_qformat_from_mlx_mode(NULL, &f), MLXC_ERR_INVALID_ARGUMENT);
    CHECK(mlxc_qformat_name(MLXC_QF_INVALID) == NULL);
    CHECK(mlxc_qformat_name(MLXC_QF_Q4_K) && !strcmp(mlxc_qformat_name(MLXC_QF_Q4_K), "Q4_K"));
    CHECK(!strcmp(mlxc_qformat_name(MLXC_QF_MLX_NVFP4), "mlx-nvfp4"));
    mlxc_qweight d = {.format = MLXC_QF_Q4_0, .rows = 2, .cols = 64, .data = blocks, .data_bytes = 72};
    CHECK_ERR(mlxc_qweight_dequantize(NULL, out, 128), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 100), MLXC_ERR_SHAPE);
    d.data_bytes = 70;
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 128), MLXC_ERR_SHAPE);
    d.cols = 48, d.rows = 1, d.data_bytes = 27;
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 48), MLXC_ERR_SHAPE);
    d = (mlxc_qweight){.format = MLXC_QF_MLX_AFFINE, .bits = 4, .group_size = 64, .scale_dtype = MLXC_F16,
                       .rows = 4, .cols = 256, .data = q, .scales = s, .biases = NULL};
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 1024), MLXC_ERR_INVALID_ARGUMENT);
    d.biases = b, d.data_bytes = 512, d.scales_bytes = d.biases_bytes = 31;
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 1024), MLXC_ERR_SHAPE);
    d.format = MLXC_QF_GGML + MLXC_GGML_Q1_0, d.data_bytes = 144;
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 1024), MLXC_ERR_UNSUPPORTED);
    d.format = (mlxc_qformat)99999;
    CHECK_ERR(mlxc_qweight_dequantize(&d, out, 1024), MLXC_ERR_UNSUPPORTED);
}

/* An MLX directory whose config names a mode per layer: the loader's
 * descriptor carries the mode, and dequantizing it gives mlx's floats. */
static void test_mlx_directory_modes(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/mlx_modes", g_dir);
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(dir, &w));
    if (!w) return;
    const struct { const char *name; mlxc_qformat f; uint32_t bits, group; int64_t rows, cols; } k[] = {
        {"a", MLXC_QF_MLX_AFFINE, 4, 64, 16, 128},     {"mxfp4", MLXC_QF_MLX_MXFP4, 4, 32, 8, 64},
        {"nvfp4", MLXC_QF_MLX_NVFP4, 4, 16, 8, 64},    {"mxfp8", MLXC_QF_MLX_MXFP8, 8, 32, 8, 64},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        mlxc_qweight d;
        CHECK_OK(mlxc_weights_qweight(w, k[i].name, &d));
        CHECK_MSG(d.format == k[i].f && d.bits == k[i].bits && d.group_size == k[i].group && d.rows == k[i].rows &&
                      d.cols == k[i].cols, "%s: %s %u bits group %u [%lld, %lld]", k[i].name,
                  mlxc_qformat_name(d.format), d.bits, d.group_size, (long long)d.rows, (long long)d.cols);
        CHECK(i == 0 ? d.scale_dtype == MLXC_BF16 && d.biases != NULL : d.scale_dtype == MLXC_U8 && !d.biases);
        size_t n = (size_t)(k[i].rows * k[i].cols);
        char nm[64];
        snprintf(nm, sizeof nm, "dir_%s", i == 0 ? "a" : k[i].name);
        float *ref = part(nm, "deq", n * 4), *got = calloc(n, 4);
        CHECK(ref != NULL);
        if (ref && d.format == k[i].f) {
            CHECK_OK(mlxc_qweight_dequantize(&d, got, n));
            CHECK_SAME(k[i].name, "dequantized through the loader", ref, got, n, 4);
        }
        free(ref), free(got);
    }
    mlxc_weights_close(w);
}

int main(void) {
    RUN(test_bad_input);
    RUN(test_affine_round_trip_bound);
    RUN(test_ggml_round_trip_bound);
    RUN(test_ggml_to_affine);
    RUN(test_ggml_to_tiles);
    g_dir = getenv("MLXC_QUANT_FIXTURES");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/cases.txt", g_dir ? g_dir : ".");
    FILE *f = g_dir ? fopen(probe, "r") : NULL;
    if (f) {
        fclose(f);
        RUN(test_against_reference_packages);
        RUN(test_mlx_directory_modes);
    } else {
        printf("skip   test_against_reference_packages (no fixtures: python with mlx and gguf unavailable)\n");
    }
    HARNESS_END();
}
