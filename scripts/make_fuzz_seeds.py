#!/usr/bin/env python3
"""Make the seeds of the fuzzers whose inputs are built from several files
(committed under fuzz/corpus/):

  model_dir/tiny_llama     config.json, model.safetensors and tokenizer.json
                           of a tiny random Llama (hidden 16, 1 layer, vocab
                           48), joined by "\\n--8<--\\n" as fuzz_model_dir reads
  tokenizer_gguf/*         a structured vocabulary for each tokenizer model
                           (see fuzz_tokenizer_gguf.c) and the raw GGUF of
                           tests/fixtures/tokenizer/added/vocab.gguf

    pip install numpy safetensors
    python3 scripts/make_fuzz_seeds.py
"""
import json
import os

import numpy as np
from safetensors.numpy import save

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
SEP = b"\n--8<--\n"


def model_dir():
    h, inter, v, heads, kv = 16, 32, 48, 2, 1
    hd = h // heads
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h,
           "intermediate_size": inter, "num_hidden_layers": 1, "num_attention_heads": heads,
           "num_key_value_heads": kv, "vocab_size": v, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "tie_word_embeddings": True, "torch_dtype": "float32"}
    rng = np.random.default_rng(0)
    t = lambda *s: (rng.standard_normal(s) * 0.1).astype(np.float32)
    w = {"model.embed_tokens.weight": t(v, h), "model.norm.weight": np.ones(h, np.float32),
         "model.layers.0.input_layernorm.weight": np.ones(h, np.float32),
         "model.layers.0.post_attention_layernorm.weight": np.ones(h, np.float32),
         "model.layers.0.self_attn.q_proj.weight": t(heads * hd, h),
         "model.layers.0.self_attn.k_proj.weight": t(kv * hd, h),
         "model.layers.0.self_attn.v_proj.weight": t(kv * hd, h),
         "model.layers.0.self_attn.o_proj.weight": t(h, heads * hd),
         "model.layers.0.mlp.gate_proj.weight": t(inter, h), "model.layers.0.mlp.up_proj.weight": t(inter, h),
         "model.layers.0.mlp.down_proj.weight": t(h, inter)}
    # a byte-level BPE over a few characters, with an added run of spaces
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["\u0120", "H", ",", "!", "w"]
    vocab = {c: i for i, c in enumerate(dict.fromkeys(chars))}
    for m in ["he", "ll", "hell", "\u0120w"]:
        vocab[m] = len(vocab)
    vocab["<s>"] = len(vocab)
    tok = {"version": "1.0", "model": {"type": "BPE", "vocab": vocab,
                                       "merges": ["h e", "l l", "he ll", "\u0120 w"]},
           "added_tokens": [{"id": vocab["<s>"], "content": "<s>", "special": True},
                            {"id": len(vocab), "content": "  ", "special": False}],
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
           "decoder": {"type": "ByteLevel"}}
    assert len(vocab) + 1 <= v
    os.makedirs(os.path.join(ROOT, "fuzz", "corpus", "model_dir"), exist_ok=True)
    with open(os.path.join(ROOT, "fuzz", "corpus", "model_dir", "tiny_llama"), "wb") as f:
        f.write(json.dumps(cfg).encode() + SEP + save(w) + SEP + json.dumps(tok).encode())


def tokenizer_gguf():
    d = os.path.join(ROOT, "fuzz", "corpus", "tokenizer_gguf")
    os.makedirs(d, exist_ok=True)
    # gpt2: byte-level tokens, merges, a user-defined run of spaces
    toks = [b"\x03<s>"] + [b"\x01" + c.encode() for c in "abcdefghijklmnopqrstuvwxyz\u0120"] + \
           [b"\x01ab", b"\x01\xc4\xa0a", b"\x04  ", b"\x04    "]
    merges = [b"\x08a b", b"\x08\xc4\xa0 a"]
    text = b"ab  a\tab    abc <s>ab"
    with open(os.path.join(d, "gpt2"), "wb") as f:
        f.write(bytes([0x40 | (8 << 2) | 0]) + b"\n".join(toks + merges) + b"\x00\x00" + text)
    # llama (SentencePiece): pieces with scores from their order, byte tokens
    toks = [b"\x02<unk>", b"\x03<s>", b"\x03</s>"] + [b"\x06<0x%02X>" % i for i in range(256)] + \
           [b"\x01\xe2\x96\x81", b"\x01a", b"\x01b", b"\x01\xe2\x96\x81a", b"\x01ab", b"\x04<tab>"]
    with open(os.path.join(d, "llama"), "wb") as f:
        f.write(bytes([0x40 | 1]) + b"\n".join(toks) + b"\x00\x00" + b"ab a<tab>b \xc3\xa9")
    # bert (WordPiece)
    toks = [b"\x01[PAD]", b"\x02[UNK]", b"\x03[CLS]", b"\x03[SEP]", b"\x01a", b"\x01##b", b"\x01ab", b"\x01."]
    with open(os.path.join(d, "bert"), "wb") as f:
        f.write(bytes([2]) + b"\n".join(toks) + b"\x00\x00" + b"AB ab. a")
    with open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "added", "vocab.gguf"), "rb") as g:
        raw = g.read()
    with open(os.path.join(d, "raw_added"), "wb") as f:
        f.write(b"\x80" + raw)


if __name__ == "__main__":
    model_dir()
    tokenizer_gguf()
