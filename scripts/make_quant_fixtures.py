#!/usr/bin/env python3
"""Reference data for tests/test_quant_formats.c, made with the formats' own
packages: mlx (mx.quantize / mx.dequantize on the CPU stream) and gguf
(gguf.quants.quantize / dequantize).

Usage: make_quant_fixtures.py OUTDIR

Writes raw little-endian files OUTDIR/<case>.<part> and a manifest
OUTDIR/cases.txt, one case a line:
  affine NAME DTYPE ROWS COLS BITS GROUP   parts: in q s b deq
  fp     NAME MODE DTYPE ROWS COLS QUANT   parts: in(DTYPE, QUANT=1) q s deq
  ggml   NAME TYPE N QUANT                 parts: in(f32, QUANT=1) q deq
Exits 77 (skip) when mlx or gguf is not importable.
"""
import os
import sys

try:
    import numpy as np
    import mlx.core as mx
    import gguf
    from gguf.constants import GGMLQuantizationType as T
except Exception as e:  # the test skips, it does not fail, without the packages
    print(f"skip: {e}", file=sys.stderr)
    sys.exit(77)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
mx.set_default_device(mx.cpu)
rng = np.random.default_rng(1234)
lines = []


def save(name, part, arr):
    np.ascontiguousarray(arr).tofile(os.path.join(out, f"{name}.{part}"))


def mx_bytes(a):
    """The raw bytes of an mlx array (bf16 has no numpy dtype)."""
    if a.dtype in (mx.bfloat16, mx.float16):
        return np.array(a.view(mx.uint16))
    return np.array(a)


def test_matrix(cols, tie_row, rows_random=4):
    """Rows: random normal (several scales), constant, all zero, one huge
    outlier, negative only, and a row of rounding ties."""
    rs = [rng.standard_normal(cols) * s for s in (1.0, 0.02, 30.0)][:rows_random]
    rs.append(np.full(cols, 0.37))
    rs.append(np.zeros(cols))
    r = rng.standard_normal(cols) * 0.1
    r[cols // 3] = 1.0e4
    rs.append(r)
    rs.append(-np.abs(rng.standard_normal(cols)) - 0.5)
    rs.append(np.resize(np.array(tie_row, dtype=np.float64), cols))
    return np.stack(rs).astype(np.float32)


# Ties for MLX affine at 4 bits: min 0, max 15 gives scale -1, bias 15, so
# every k + 0.5 is a tie (rint: half to even; MLX's GPU: away from zero).
AFFINE_TIES = [0.0, 15.0] + [k + 0.5 for k in range(15)] + [float(k) for k in range(1, 16)]
# Ties for e2m1 with scale 1 (amax 6): midpoints between neighbours.
FP4_TIES = ([6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, 0.1] * 2)
# Ties for Q8_0 (amax 127 gives d = 1): round half away from zero.
Q8_TIES = [127.0] + [k + 0.5 for k in range(-15, 16)]

# ---- MLX affine --------------------------------------------------------------------
cols = 256
for dt_name, dt in (("f32", mx.float32), ("f16", mx.float16), ("bf16", mx.bfloat16)):
    w32 = test_matrix(cols, AFFINE_TIES)
    w = mx.array(w32).astype(dt)
    for bits in (2, 3, 4, 5, 6, 8):
        for group in (32, 64, 128):
            name = f"affine_{dt_name}_b{bits}_g{group}"
            q, s, b = mx.quantize(w, group, bits)
            deq = mx.dequantize(q, s, b, group, bits)
            save(name, "in", mx_bytes(w))
            save(name, "q", np.array(q))
            save(name, "s", mx_bytes(s))
            save(name, "b", mx_bytes(b))
            save(name, "deq", np.array(deq.astype(mx.float32)))
            lines.append(f"affine {name} {dt_name} {w.shape[0]} {cols} {bits} {group}")

# ---- MLX microscaling ---------------------------------------------------------------
for mode, bits, group in (("mxfp4", 4, 32), ("nvfp4", 4, 16), ("mxfp8", 8, 32)):
    for dt_name, dt in (("f32", mx.float32), ("f16", mx.float16), ("bf16", mx.bfloat16)):
        w = mx.array(test_matrix(cols, FP4_TIES)).astype(dt)
        q, s = mx.quantize(w, mode=mode)
        deq = mx.dequantize(q, s, mode=mode, dtype=mx.float32)
        name = f"fp_{mode}_{dt_name}_quant"
        save(name, "in", mx_bytes(w))
        save(name, "q", np.array(q))
        save(name, "s", np.array(s))
        save(name, "deq", np.array(deq))
        lines.append(f"fp {name} {mode} {dt_name} {w.shape[0]} {cols} 1")
    # every code and a wide range of scales, straight from random bytes
    rows = 16
    qr = rng.integers(0, 2**32, size=(rows, cols * bits // 32), dtype=np.uint32)
    hi = 255 if mode == "nvfp4" else 254   # e8m0 255 is NaN: inf * 0
    sr = rng.integers(0, hi + 1, size=(rows, cols // group), dtype=np.uint8)
    deq = mx.dequantize(mx.array(qr), mx.array(sr), mode=mode, dtype=mx.float32)
    name = f"fp_{mode}_bytes"
    save(name, "q", qr)
    save(name, "s", sr)
    save(name, "deq", np.array(deq))
    lines.append(f"fp {name} {mode} f32 {rows} {cols} 0")

# ---- GGML blocks -------------------------------------------------------------------
# byte offsets of each block's f16 fields, kept finite in the random-byte cases
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0], "IQ4_XS": [0], "MXFP4": [], "NVFP4": [],
    "IQ2_XXS": [0], "IQ2_XS": [0], "IQ2_S": [0], "IQ3_XXS": [0], "IQ3_S": [0], "IQ1_S": [0],
    "IQ1_M": [], "TQ1_0": [52], "TQ2_0": [64],
}
for tname, fields in F16_FIELDS.items():
    if tname not in T.__members__:   # older gguf packages lack NVFP4
        continue
    t = T[tname]
    blk, tsz = gguf.GGML_QUANT_SIZES[t]
    nblocks = 64
    raw = rng.integers(0, 256, size=(nblocks, tsz), dtype=np.uint8)
    for off in fields:
        raw[:, off:off + 2] = (rng.standard_normal(nblocks) * 0.05).astype(np.float16).view(np.uint8).reshape(nblocks, 2)
    if tname == "IQ1_M":   # its f16 d is the top nibbles of the scale words at bytes 48..55
        d = (rng.standard_normal(nblocks) * 0.05).astype(np.float16).view(np.uint16)
        for i in range(4):
            raw[:, 49 + 2 * i] = (raw[:, 49 + 2 * i] & 0x0F) | (((d >> (4 * i)) & 0xF) << 4).astype(np.uint8)
    deq = gguf.quants.dequantize(raw, t)
    name = f"ggml_{tname}_bytes"
    save(name, "q", raw)
    save(name, "deq", deq.astype(np.float32))
    lines.append(f"ggml {name} {int(t)} {nblocks * blk} 0")
    # quantize where the package implements it
    ties = Q8_TIES if tname == "Q8_0" else FP4_TIES if tname == "MXFP4" else AFFINE_TIES
    w = test_matrix(512, ties)
    try:
        q = gguf.quants.quantize(w, t)
    except NotImplementedError:
        continue
    deq = gguf.quants.dequantize(q, t)
    name = f"ggml_{tname}_quant"
    save(name, "in", w)
    save(name, "q", q)
    save(name, "deq", deq.astype(np.float32))
    lines.append(f"ggml {name} {int(t)} {w.size} 1")

# ---- an MLX model directory mixing modes per layer -------------------------------------
# (read back through mlxc_weights_open + mlxc_weights_qweight)
d = os.path.join(out, "mlx_modes")
os.makedirs(d, exist_ok=True)
tensors = {}
wa = mx.array(rng.standard_normal((16, 128)).astype(np.float32)).astype(mx.bfloat16)
qa, sa, ba = mx.quantize(wa, 64, 4)
tensors.update({"a.weight": qa, "a.scales": sa, "a.biases": ba})
save("dir_a", "deq", np.array(mx.dequantize(qa, sa, ba, 64, 4).astype(mx.float32)))
for mode in ("mxfp4", "nvfp4", "mxfp8"):
    q, s_ = mx.quantize(mx.array(rng.standard_normal((8, 64)).astype(np.float32)), mode=mode)
    tensors.update({f"{mode}.weight": q, f"{mode}.scales": s_})
    save(f"dir_{mode}", "deq", np.array(mx.dequantize(q, s_, mode=mode, dtype=mx.float32)))
mx.save_safetensors(os.path.join(d, "model.safetensors"), tensors)
with open(os.path.join(d, "config.json"), "w") as f:
    f.write('{"model_type": "llama", "quantization": {"group_size": 64, "bits": 4, "mode": "affine",'
            ' "mxfp4": {"mode": "mxfp4"}, "nvfp4": {"mode": "nvfp4", "group_size": 16, "bits": 4},'
            ' "mxfp8": {"mode": "mxfp8"}}}\n')

with open(os.path.join(out, "cases.txt"), "w") as f:
    from importlib.metadata import version
    f.write(f"# mlx {mx.__version__}, gguf {version('gguf')}\n")
    f.write("\n".join(lines) + "\n")
print(f"{len(lines)} cases in {out}")
