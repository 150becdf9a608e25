#!/usr/bin/env python3
"""Random-weight Llama models as GGUF files, for speed measurements at real
shapes (the weights are valid blocks of random codes with sane scales, so
the activations stay finite; the text they produce means nothing).

    python3 scripts/make_random_models.py SHAPE TYPE OUT.gguf [--vocab V.gguf]

    SHAPE   1b: hidden 2048, 16 layers, FFN 8192, 32 heads, 8 KV heads
            7b: hidden 4096, 32 layers, FFN 11008, 32 heads, 32 KV heads
            30b-a3b: Qwen3-30B-A3B's shape as llama.cpp's qwen3moe: hidden 2048,
                48 layers, 32 heads, 4 KV heads, head dim 128, 128 experts of
                FFN 768, 8 a token (the router F32, the experts in TYPE);
                small-moe the same layout at hidden 1024, 4 layers, 64
                experts of 512, 4 a token, for CPU timings
            smollm2: SmolLM2-135M as its GGUF has it: hidden 576, 30 layers,
                FFN 1536, 9 heads, 3 KV heads (head dim 64), rope theta
                100000, context 8192, output head tied to the token
                embedding (no output.weight).  Random weights of the real
                shape; the vocabulary is --vocab's (pass a GGUF with
                SmolLM2's tokenizer for its 49152 tokens)
    TYPE    q4_0, q4_1, q8_0, q4_k_m, q5_k_m or f16 (the tensor types llama.cpp's
            quantize gives: Q4_0, Q4_1 and Q4_K_M / Q5_K_M keep the output head in
            Q6_K, or Q8_0 where the hidden size is no multiple of 256 (the
            head is the token embedding when tied, so SmolLM2 Q4_1 has
            Q4_1 layers and a Q8_0 embedding, as the real file); Q4_K_M and
            Q5_K_M (Q4_K or Q5_K layers) put attn_v and ffn_down of some
            layers in Q6_K as llama.cpp does and need a hidden size that
            is a multiple of 256)
    --vocab a GGUF whose tokenizer.* metadata is copied (default: the
            llama SentencePiece vocabulary of ../shared/data/vocab)

    python3 scripts/make_random_models.py tiny books OUT.gguf --deq TWIN.gguf

    books   for tests: every GGML type that llama.cpp's recipes do not name
            here, one per tensor in turn (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
            IQ3_S, IQ1_S, IQ1_M, TQ1_0, TQ2_0, NVFP4; the embedding TQ2_0,
            the output head IQ3_S), and with --deq a twin holding the same
            values dequantized by gguf.quants.dequantize as F32

    python3 scripts/make_random_models.py SHAPE mlx4 OUT_DIR --tokenizer DIR

    mlx4    an MLX directory as mlx-lm's convert -q writes it (affine 4-bit,
            group 64, f16 scales and biases, every linear layer and the
            embedding quantized): model.safetensors, config.json and the
            tokenizer files of DIR (tokenizer.json, tokenizer_config.json;
            the vocabulary is its size), for MLX's CUDA backend (mlx-lm)
            and mlxc on the same weights.  Needs safetensors.

Needs numpy and gguf.  Writes tensors one at a time (about the file size in
memory at most for one tensor).
"""
import argparse
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

SHAPES = {
    "1b": dict(hidden=2048, layers=16, ffn=8192, heads=32, kv=8),
    "7b": dict(hidden=4096, layers=32, ffn=11008, heads=32, kv=32),
    "smollm2": dict(hidden=576, layers=30, ffn=1536, heads=9, kv=3, rope=100000.0, ctx=8192, tied=True),
    "tiny": dict(hidden=256, layers=2, ffn=768, heads=4, kv=2),  # for checking the script
    # Qwen3-30B-A3B's shape (llama.cpp's qwen3moe): 128 experts of width 768,
    # 8 a token, head_dim 128 (q is 4096 wide on a 2048 residual), q/k norms
    "30b-a3b": dict(hidden=2048, layers=48, ffn=6144, heads=32, kv=4, head_dim=128, experts=128, used=8,
                    expert_ffn=768, rope=1000000.0, arch="qwen3moe"),
    "tiny-moe": dict(hidden=256, layers=2, ffn=768, heads=4, kv=2, experts=8, used=2, expert_ffn=256,
                     arch="qwen3moe"),  # for checking the script
    # a small mixture of experts for CPU timings: 64 experts of 512, 4 a token
    "small-moe": dict(hidden=1024, layers=4, ffn=3072, heads=8, kv=2, experts=64, used=4, expert_ffn=512,
                      arch="qwen3moe"),
}
# the code-book, ternary and NVFP4 types: (offset of the f16 d, its range),
# chosen so that a weight is about 0.02 to 0.05 as in the types above
BOOKS = [T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M, T.TQ1_0, T.TQ2_0, T.NVFP4]
BOOK_D = {T.IQ2_XXS: (0, 4e-4, 6e-4), T.IQ2_XS: (0, 4e-4, 6e-4), T.IQ2_S: (0, 4e-4, 6e-4),
          T.IQ3_XXS: (0, 2e-4, 3e-4), T.IQ3_S: (0, 2e-4, 3e-4), T.IQ1_S: (0, 3e-3, 5e-3),
          T.IQ1_M: (None, 3e-3, 5e-3), T.TQ1_0: (52, 0.02, 0.04), T.TQ2_0: (64, 0.02, 0.04)}


def f16_bytes(rng, n, lo, hi):
    return rng.uniform(lo, hi, n).astype(np.float16).view(np.uint8).reshape(n, 2)


def random_blocks(rng, qt, rows, cols):
    vals, nb = gguf.GGML_QUANT_SIZES[qt]
    assert cols % vals == 0, (qt, cols)
    n = rows * cols // vals
    b = rng.integers(0, 256, size=(n, nb), dtype=np.uint8)
    if qt in BOOK_D:
        off, lo, hi = BOOK_D[qt]
        d = f16_bytes(rng, n, lo, hi)
        if off is not None:
            b[:, off:off + 2] = d
        else:  # IQ1_M: d is the top nibbles of the four scale words (bytes 48..55)
            dv = d.view(np.uint16).reshape(n)
            for i in range(4):
                b[:, 49 + 2 * i] = (b[:, 49 + 2 * i] & 0x0F) | (((dv >> (4 * i)) & 0xF) << 4).astype(np.uint8)
    elif qt == T.NVFP4:
        b[:, 0:4] = rng.integers(0x08, 0x10, size=(n, 4), dtype=np.uint8)  # unsigned e4m3 0.008 .. 0.015
    elif qt == T.Q4_0:
        b[:, 0:2] = f16_bytes(rng, n, 0.004, 0.006)
    elif qt == T.Q4_1:
        # d * q + m with q in 0..15: m near -7.5 d centres the values on 0 as Q4_0's do
        d = rng.uniform(0.004, 0.006, n).astype(np.float16)
        b[:, 0:2] = d.view(np.uint8).reshape(n, 2)
        b[:, 2:4] = (d.astype(np.float32) * -7.5).astype(np.float16).view(np.uint8).reshape(n, 2)
    elif qt == T.Q8_0:
        b[:, 0:2] = f16_bytes(rng, n, 0.0002, 0.0003)
    elif qt in (T.Q4_K, T.Q5_K):
        b[:, 0:2] = f16_bytes(rng, n, 0.8e-4, 1.2e-4)  # d
        b[:, 2:4] = f16_bytes(rng, n, 0.8e-4, 1.2e-4)  # dmin
    elif qt == T.Q6_K:
        b[:, 208:210] = f16_bytes(rng, n, 4e-6, 6e-6)
    return b.reshape(rows, cols // vals * nb)


def write_mlx4(s, out, tok_dir, rng, group=64):
    """The MLX 4-bit directory of shape s (see the docstring)."""
    import json
    import shutil
    from safetensors.numpy import save_file

    with open(os.path.join(tok_dir, "tokenizer.json")) as f:
        n_vocab = len(json.load(f)["model"]["vocab"])
    h, ff, L = s["hidden"], s["ffn"], s["layers"]
    hd = h // s["heads"]
    t = {}

    def linear(name, rows, cols):
        assert cols % group == 0, (name, cols)
        # random codes (eight 4-bit values a word, LSB first); w = scale q + bias
        # with the bias at -7.5 scale centres the values on 0
        t[name + ".weight"] = rng.integers(0, 2**32, size=(rows, cols // 8), dtype=np.uint32)
        sc = rng.uniform(0.004, 0.006, (rows, cols // group)).astype(np.float16)
        t[name + ".scales"] = sc
        t[name + ".biases"] = (sc.astype(np.float32) * -7.5).astype(np.float16)

    linear("model.embed_tokens", n_vocab, h)
    for i in range(L):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = np.ones(h, dtype=np.float16)
        t[p + "post_attention_layernorm.weight"] = np.ones(h, dtype=np.float16)
        linear(p + "self_attn.q_proj", h, h)
        linear(p + "self_attn.k_proj", s["kv"] * hd, h)
        linear(p + "self_attn.v_proj", s["kv"] * hd, h)
        linear(p + "self_attn.o_proj", h, h)
        linear(p + "mlp.gate_proj", ff, h)
        linear(p + "mlp.up_proj", ff, h)
        linear(p + "mlp.down_proj", h, ff)
    t["model.norm.weight"] = np.ones(h, dtype=np.float16)
    tied = s.get("tied", False)
    if not tied:
        linear("lm_head", n_vocab, h)
    os.makedirs(out, exist_ok=True)
    save_file(t, os.path.join(out, "model.safetensors"), metadata={"format": "mlx"})
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": h,
           "num_hidden_layers": L, "intermediate_size": ff, "num_attention_heads": s["heads"],
           "num_key_value_heads": s["kv"], "head_dim": hd, "rms_norm_eps": 1e-5, "vocab_size": n_vocab,
           "rope_theta": s.get("rope", 10000.0), "max_position_embeddings": s.get("ctx", 4096),
           "tie_word_embeddings": tied, "torch_dtype": "float16",
           "quantization": {"group_size": group, "bits": 4, "mode": "affine"}}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if os.path.exists(os.path.join(tok_dir, name)):
            shutil.copy(os.path.join(tok_dir, name), os.path.join(out, name))
    size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"{out}: {size / 1e9:.2f} GB", file=sys.stderr)


def write_header(w, a, s, voc, n_vocab):
    """The hyperparameters and the vocabulary's tokenizer.* keys."""
    w.add_name(f"random-{s.get('arch', 'llama')}-{a.shape}-{a.type}")
    w.add_block_count(s["layers"])
    w.add_context_length(s.get("ctx", 4096))
    w.add_embedding_length(s["hidden"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv"])
    w.add_layer_norm_rms_eps(1e-5)
    hd = s.get("head_dim", s["hidden"] // s["heads"])
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    if s.get("experts"):
        w.add_expert_count(s["experts"])
        w.add_expert_used_count(s["used"])
        w.add_expert_feed_forward_length(s["expert_ffn"])
    w.add_rope_freq_base(s.get("rope", 10000.0))
    w.add_vocab_size(n_vocab)
    for name, field in voc.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vt = field.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            et = field.types[1]
            if et == gguf.GGUFValueType.STRING:
                vals = [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
            else:
                vals = [field.parts[i].tolist()[0] for i in field.data]
            w.add_key_value(name, vals, vt, sub_type=et)
        elif vt == gguf.GGUFValueType.STRING:
            w.add_key_value(name, bytes(field.parts[field.data[0]]).decode("utf-8"), vt)
        else:
            w.add_key_value(name, field.parts[field.data[0]].tolist()[0], vt)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=SHAPES)
    ap.add_argument("type", choices=["q4_0", "q4_1", "q8_0", "q4_k_m", "q5_k_m", "f16", "mlx4", "books"])
    ap.add_argument("out")
    ap.add_argument("--vocab", default=os.path.join(here, "..", "..", "shared", "data", "vocab",
                                                    "ggml-vocab-llama-spm.gguf"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tokenizer", help="mlx4: a directory with tokenizer.json and tokenizer_config.json")
    ap.add_argument("--deq", help="books: also write the same values dequantized to F32 here")
    a = ap.parse_args()
    s = SHAPES[a.shape]
    if a.type == "mlx4":
        if not a.tokenizer:
            ap.error("mlx4 needs --tokenizer DIR")
        write_mlx4(s, a.out, a.tokenizer, np.random.default_rng(a.seed))
        return
    if a.type in ("q4_k_m", "q5_k_m") and s["hidden"] % 256:
        ap.error(f"{a.type} needs a hidden size that is a multiple of 256 ({a.shape}: {s['hidden']})")
    if a.type == "books" and (s["hidden"] % 256 or s["ffn"] % 256):
        ap.error(f"books needs hidden and FFN sizes that are multiples of 256 ({a.shape})")
    rng = np.random.default_rng(a.seed)
    voc = gguf.GGUFReader(a.vocab)
    tokens = voc.fields["tokenizer.ggml.tokens"]
    n_vocab = len(tokens.data)

    arch = s.get("arch", "llama")
    ws = [gguf.GGUFWriter(a.out, arch)] + ([gguf.GGUFWriter(a.deq, arch)] if a.deq else [])
    for w in ws:
        write_header(w, a, s, voc, n_vocab)
    w = ws[0]
    ft = gguf.LlamaFileType
    w.add_file_type({"q4_0": ft.MOSTLY_Q4_0, "q4_1": ft.MOSTLY_Q4_1, "q8_0": ft.MOSTLY_Q8_0,
                     "q4_k_m": ft.MOSTLY_Q4_K_M, "q5_k_m": ft.MOSTLY_Q5_K_M, "f16": ft.MOSTLY_F16,
                     "books": ft.GUESSED}[a.type])
    if a.deq:
        ws[1].add_file_type(ft.ALL_F32)

    h, f, L = s["hidden"], s["ffn"], s["layers"]
    hd = s.get("head_dim", h // s["heads"])
    qd = s["heads"] * hd
    base = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q8_0": T.Q8_0, "q4_k_m": T.Q4_K, "q5_k_m": T.Q5_K, "f16": T.F16,
            "books": T.IQ3_S}[a.type]
    head = T.Q6_K if a.type in ("q4_0", "q4_1", "q4_k_m", "q5_k_m") else base
    books = iter(BOOKS * 16) if a.type == "books" else None
    if head == T.Q6_K and h % 256:
        head = T.Q8_0  # llama.cpp's fallback where Q6_K's blocks do not fit a row
    tied = s.get("tied", False)

    def more_bits(i):  # llama.cpp's use_more_bits for Q4_K_M and Q5_K_M
        return i < L // 8 or i >= 7 * L // 8 or (i - L // 8) % 3 == 2

    def add(name, qt, rows, cols, experts=0):
        if books is not None and qt == base and name != "output.weight":
            qt = T.TQ2_0 if name == "token_embd.weight" else next(books)
        if qt == T.F32 and rows > 1:  # the router: random logits, so tokens pick different experts
            for x in ws:
                x.add_tensor(name, rng.standard_normal((rows, cols), dtype=np.float32) * 0.05)
        elif qt == T.F32:
            for x in ws:
                x.add_tensor(name, np.ones(cols, dtype=np.float32))
        elif experts:  # stacked (experts, rows, cols)
            w.add_tensor(name, random_blocks(rng, qt, experts * rows, cols).reshape(experts, rows, -1), raw_dtype=qt)
        elif qt == T.F16:
            w.add_tensor(name, (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16))
        else:
            b = random_blocks(rng, qt, rows, cols)
            w.add_tensor(name, b, raw_dtype=qt)
            if a.deq:
                ws[1].add_tensor(name, np.ascontiguousarray(gguf.quants.dequantize(b, qt), dtype=np.float32))

    add("token_embd.weight", head if tied else base, n_vocab, h)
    for i in range(L):
        p = f"blk.{i}."
        add(p + "attn_norm.weight", T.F32, 1, h)
        add(p + "attn_q.weight", base, qd, h)
        add(p + "attn_k.weight", base, s["kv"] * hd, h)
        qv = T.Q6_K if a.type in ("q4_k_m", "q5_k_m") and more_bits(i) else base
        add(p + "attn_v.weight", qv, s["kv"] * hd, h)
        add(p + "attn_output.weight", base, h, qd)
        if arch == "qwen3moe":
            add(p + "attn_q_norm.weight", T.F32, 1, hd)
            add(p + "attn_k_norm.weight", T.F32, 1, hd)
        add(p + "ffn_norm.weight", T.F32, 1, h)
        if s.get("experts"):
            E, ef = s["experts"], s["expert_ffn"]
            add(p + "ffn_gate_inp.weight", T.F32, E, h)
            add(p + "ffn_gate_exps.weight", base, ef, h, experts=E)
            add(p + "ffn_up_exps.weight", base, ef, h, experts=E)
            add(p + "ffn_down_exps.weight", qv, h, ef, experts=E)
            continue
        add(p + "ffn_gate.weight", base, f, h)
        add(p + "ffn_up.weight", base, f, h)
        add(p + "ffn_down.weight", qv, h, f)
    add("output_norm.weight", T.F32, 1, h)
    if not tied:
        add("output.weight", head, n_vocab, h)
    for x in ws:
        x.write_header_to_file()
        x.write_kv_data_to_file()
        x.write_tensors_to_file()
        x.close()
    print(f"{a.out}: {os.path.getsize(a.out) / 1e9:.2f} GB", file=sys.stderr)


if __name__ == "__main__":
    main()
