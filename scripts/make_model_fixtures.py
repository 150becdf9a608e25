#!/usr/bin/env python3
"""Tiny random-weight language models and their reference logits, made with
Hugging Face transformers (the oracle of the model tests).

    python3 scripts/make_model_fixtures.py tests/fixtures/models
        needs torch, transformers, tokenizers, safetensors, numpy, gguf.
        Writes, per model, <out>/<name>/ (config.json, model.safetensors,
        tokenizer.json, ref.json, ref_prefill.f32, ref_decode.f32): the
        fp32 logits of a fixed prompt (every position) and of a few greedy
        decode steps.  These are committed.

    python3 scripts/make_model_fixtures.py [FIXTURES] --test-data <out dir>
        every committed fixture as GGUF into <out dir>, and broken copies
        for the error tests (what ctest runs).

        Also llama-tiny quantized: GGUF Q8_0 and Q4_0 (gguf.quants) and an
        MLX 4-bit group-64 directory (mlx's mx.quantize; skipped with a
        message when mlx cannot be imported), each beside a "-deq" twin
        holding the same values dequantized to f32; phi3-tiny likewise as
        Q8_0 and MLX 4-bit.

    python3 scripts/make_model_fixtures.py --gguf <hf dir> <out.gguf>
        needs numpy, safetensors, gguf only (run by ctest): the same model
        as an F32 GGUF file in llama.cpp's layout (q/k rows of llama
        permuted for adjacent-pair rope, rope_freqs for llama3 scaling, the
        tokenizer as tokenizer.ggml.* metadata).
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np

VOCAB = 517
PROMPT_LEN = 11
DECODE_STEPS = 6
TEXT_PROMPT = "Hello world, the quick brown fox"
TEXT_STEPS = 8

# Every fixture: GQA (4 query heads on 2 KV heads), an odd vocabulary.
MODELS = {
    # Llama 3 style: llama3 rope scaling with a short original context so
    # that the prompt positions reach the scaled band; untied head.
    "llama-tiny": dict(arch="LlamaForCausalLM", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0,
                       rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                       tie_word_embeddings=False),
    # Mistral: a sliding window of 4 (shorter than the prompt), head_dim 64
    # (the attention ops with a 16-bit cache, the composed one with f32).
    # Not written as GGUF: llama.cpp's llama layout has no window.
    "mistral-tiny": dict(arch="MistralForCausalLM", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=64, rope_theta=10000.0,
                         sliding_window=4, tie_word_embeddings=False),
    # Qwen2: q/k/v biases, tied embeddings.
    "qwen2-tiny": dict(arch="Qwen2ForCausalLM", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0,
                       tie_word_embeddings=True),
    # Qwen3: q/k norms, head_dim 64 (wider than hidden/heads), so the
    # attention ops (head sizes 64..256) run on it with an f16 cache.
    "qwen3-tiny": dict(arch="Qwen3ForCausalLM", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=64, rope_theta=1000000.0,
                       tie_word_embeddings=True),
    # Gemma 2: local (window 4) and global layers alternating, attention and
    # final logit softcaps small enough to bite, query_pre_attn_scalar other
    # than head_dim (GGUF: as llama.cpp's <arch>.attention.scale).
    "gemma2-tiny": dict(arch="Gemma2ForCausalLM", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24,
                        sliding_window=4, attn_logit_softcapping=3.0, final_logit_softcapping=2.0,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                        tie_word_embeddings=True),
    # Gemma 3: six layers (five local with window 4 and rope base 10000, the
    # sixth global with base 1e6 and linear scaling), q/k norms, head_dim 64
    # (the attention ops with a 16-bit cache).
    "gemma3-tiny": dict(arch="Gemma3ForCausalLM", config="Gemma3TextConfig", hidden_size=64, intermediate_size=160,
                        num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                        query_pre_attn_scalar=64, sliding_window=4,
                        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0,
                                                            "rope_theta": 1000000.0},
                                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
                        tie_word_embeddings=True),
    # Phi-3: fused qkv_proj and gate_up_proj, half the head rotated
    # (partial_rotary_factor 0.5: rope_dim 8 of 16), LongRoPE with a 4x
    # extension (its attention factor then scales cos and sin), a sliding
    # window of 6.  The references run on the short factors (every sequence
    # stays within the original 256 positions); ref_prefill_long.f32 is the
    # prompt with the long ones, as a context past 256 positions uses them.
    "phi3-tiny": dict(arch="Phi3ForCausalLM", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      original_max_position_embeddings=256, sliding_window=6, pad_token_id=None,
                      rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                                       "original_max_position_embeddings": 256,
                                       "short_factor": [1.0, 1.1, 1.4, 2.2], "long_factor": [1.3, 3.1, 7.9, 19.5]},
                      tie_word_embeddings=False),
}

# Gemma's norms scale by 1 + w (the weights hold w; GGUF holds 1 + w)
GEMMA = ("gemma2", "gemma3_text")

TRAIN_TEXT = """The quick brown fox jumps over the lazy dog. A tiny model speaks in random words,
but its numbers must match the reference to the last digit that matters. Hello world!
Once upon a time, there was a small language model that lived on a CPU and dreamed of GPUs.
1234567890 + - * / = ( ) [ ] { } < > , . ; : ' " ! ? @ # $ % ^ & _ ~ `
"""


def make_tokenizer(path):
    """A byte-level BPE of exactly VOCAB tokens: <s>, </s>, <unk>, 256 bytes, merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # made-up words on top of the text, so that the merges fill the vocabulary
    import random
    rnd = random.Random(0)
    syl = ["ka", "lo", "mi", "ne", "tu", "ra", "shi", "po", "ve", "dun", "gre", "fal", "ish", "ton", "ber", "qu"]
    words = [" " + "".join(rnd.choice(syl) for _ in range(rnd.randint(1, 4))) for _ in range(3000)]
    tok.train_from_iterator([TRAIN_TEXT] * 4 + ["".join(words)], trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    tok.save(path)


def randomize(model, seed, emb_scale, norm_base=1.0):
    """Weights with unit-scale activations, so logits differ clearly.  A tied
    head gets a small embedding: else the residual stream is mostly the input
    token's own row and greedy decoding just repeats it.  Norm weights are
    norm_base + noise (Gemma's norms add the 1 themselves: base 0)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(norm_base + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(emb_scale * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))


def make_model(out, name, spec):
    import torch
    import transformers
    torch.manual_seed(0)
    spec = dict(spec)
    arch = spec.pop("arch")
    cls = getattr(transformers, arch)
    cfg_cls = getattr(transformers, spec.pop("config", arch.replace("ForCausalLM", "Config")))
    base = dict(vocab_size=VOCAB, max_position_embeddings=256, rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=1,
                attn_implementation="eager")
    base.update(spec)
    cfg = cfg_cls(**base)
    model = cls(cfg).float().eval()
    randomize(model, seed=sum(map(ord, name)), emb_scale=0.1 if cfg.tie_word_embeddings else 1.0,
              norm_base=0.0 if cfg.model_type in GEMMA else 1.0)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    make_tokenizer(os.path.join(d, "tokenizer.json"))
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)

    rng = np.random.default_rng(1234)
    prompt = [0] + [int(t) for t in rng.integers(3, VOCAB, PROMPT_LEN - 1)]
    with torch.no_grad():
        ids = torch.tensor([prompt])
        out_ = model(ids, use_cache=True)
        prefill = out_.logits[0].float().numpy()                  # (PROMPT_LEN, VOCAB)
        past = out_.past_key_values
        tok = int(np.argmax(prefill[-1]))
        greedy, decode = [], []
        for _ in range(DECODE_STEPS):
            greedy.append(tok)
            o = model(torch.tensor([[tok]]), past_key_values=past, use_cache=True)
            past = o.past_key_values
            row = o.logits[0, -1].float().numpy()
            decode.append(row)
            tok = int(np.argmax(row))
        greedy.append(tok)
        # a text prompt through the fixture's tokenizer, for `mlxc run`
        from tokenizers import Tokenizer
        text_ids = Tokenizer.from_file(os.path.join(d, "tokenizer.json")).encode(TEXT_PROMPT).ids
        tl = torch.log_softmax(model(torch.tensor([text_ids])).logits[0].double(), dim=-1)
        text_ppl = float(torch.exp(-tl[torch.arange(len(text_ids) - 1), torch.tensor(text_ids[1:])].mean()))
        past, cur, text_greedy = None, torch.tensor([text_ids]), []
        for _ in range(TEXT_STEPS):
            o = model(cur, past_key_values=past, use_cache=True)
            past = o.past_key_values
            t_ = int(torch.argmax(o.logits[0, -1]))
            text_greedy.append(t_)
            cur = torch.tensor([[t_]])
    prefill.astype("<f4").tofile(os.path.join(d, "ref_prefill.f32"))
    np.stack(decode).astype("<f4").tofile(os.path.join(d, "ref_decode.f32"))
    extra = {}
    rp = cfg.rope_parameters or {}
    if rp.get("rope_type") == "longrope":
        # The prompt on LongRoPE's long factors: transformers takes them
        # once a sequence passes the original length; here the stored short
        # set is swapped for the long one, so the same short prompt runs on
        # them (what a context longer than that length gives in mlxc).
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
        orig = rp["original_max_position_embeddings"]
        rot = model.model.rotary_emb
        long_inv, _ = ROPE_INIT_FUNCTIONS["longrope"](model.config, None, seq_len=orig + 1)
        with torch.no_grad():
            rot.original_inv_freq.copy_(long_inv)
            rot.inv_freq.copy_(long_inv)
            long_logits = model(torch.tensor([prompt])).logits[0].float().numpy()
        long_logits.astype("<f4").tofile(os.path.join(d, "ref_prefill_long.f32"))
        extra["long_rope"] = {"n_ctx": orig + 1, "attention_factor": rot.attention_scaling}
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump({"model": name, "architecture": arch, "vocab": VOCAB, "prompt": prompt,
                   "greedy": greedy, "decode_steps": DECODE_STEPS,
                   "text": {"prompt": TEXT_PROMPT, "ids": text_ids, "greedy": text_greedy, "ppl": text_ppl},
                   **extra,
                   "made_with": {"transformers": transformers.__version__, "torch": torch.__version__}},
                  f, indent=1)
        f.write("\n")
    print(f"{name}: prompt {prompt} greedy {greedy}")
    return d


# ---- GGUF (numpy, safetensors and gguf only) -------------------------------------

def _permute(w, n_head):
    """llama.cpp's converter: rows of each head reordered from NeoX halves to adjacent pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _llama3_factors(cfg, head_dim):
    rs = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return None
    base = cfg.get("rope_theta") or rs.get("rope_theta", 10000.0)
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    out = []
    for fr in freqs:
        wl = 2 * math.pi / fr
        if wl < old / hi:
            out.append(1.0)
        elif wl > old / lo:
            out.append(factor)
        else:
            smooth = (old / wl - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def add_tokenizer(w, hf_dir, cfg):
    """The directory's byte-level BPE tokenizer.json as tokenizer.ggml.* keys."""
    import gguf
    tj = json.load(open(os.path.join(hf_dir, "tokenizer.json")))
    vocab = tj["model"]["vocab"]
    added = {a["content"]: a["id"] for a in tj.get("added_tokens", [])}
    n = cfg["vocab_size"]
    toks, types = [""] * n, [gguf.TokenType.UNUSED] * n
    for s, i in list(vocab.items()) + list(added.items()):
        if i < n:
            toks[i] = s
            types[i] = gguf.TokenType.CONTROL if s in added else gguf.TokenType.NORMAL
    for i in range(n):
        if not toks[i]:
            toks[i] = f"[PAD{i}]"
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(added["<s>"])
    w.add_eos_token_id(added["</s>"])
    w.add_add_bos_token(True)


def write_gguf(hf_dir, path, qtype=None, dequantized=False, drop=None, arch_name=None, mix=None):
    """qtype (a gguf.GGMLQuantizationType name, e.g. "Q8_0"): the 2-D weights
    (embedding, output, every linear layer) quantized with gguf.quants, norms
    kept F32.  mix: {tensor name suffix: type name} overriding qtype for
    those tensors (as llama.cpp's mixes keep attn_v and ffn_down in more
    bits).  dequantized: the same quantized values written back as F32
    (the exact reference of the quantized file).  For the error tests: drop
    leaves out the tensor of that name, arch_name writes another
    general.architecture."""
    import gguf
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    t = load_file(os.path.join(hf_dir, "model.safetensors"))
    qt = getattr(gguf.GGMLQuantizationType, qtype) if qtype else None
    arch = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2",
            "gemma3_text": "gemma3", "phi3": "phi3"}[cfg["model_type"]]
    gemma = cfg["model_type"] in GEMMA
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    rp = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    rp_local = rp.get("sliding_attention")
    rp = rp.get("full_attention", rp)   # transformers 5 keys them by layer type where they differ
    theta = cfg.get("rope_theta") or rp.get("rope_theta", 10000.0)
    rope_dims = int(hd * rp.get("partial_rotary_factor", cfg.get("partial_rotary_factor", 1.0)))   # partial rotary
    w = gguf.GGUFWriter(path, arch_name or arch)
    w.add_name(os.path.basename(os.path.normpath(hf_dir)))
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(rope_dims)
    w.add_rope_freq_base(float(theta))
    if arch == "phi3":
        # llama.cpp's Phi-3 keys: the pretraining context, LongRoPE's
        # attention factor (its lists are tensors, below), the window (0: none)
        orig = rp.get("original_max_position_embeddings") or cfg["original_max_position_embeddings"]
        w.add_rope_scaling_orig_ctx_len(orig)
        scale = cfg["max_position_embeddings"] / orig
        if rp.get("long_factor"):
            w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1 else 1.0)
        w.add_sliding_window(cfg.get("sliding_window") or 0)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    if gemma:
        # llama.cpp's converter: the window, Gemma 2's softcaps; the layer
        # pattern (2 / 6) and Gemma 3's local rope base (10000) are its
        # defaults, written here only where they differ
        w.add_sliding_window(cfg["sliding_window"])
        if cfg.get("attn_logit_softcapping"):
            w.add_attn_logit_softcapping(cfg["attn_logit_softcapping"])
        if cfg.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(cfg["final_logit_softcapping"])
        if cfg.get("query_pre_attn_scalar", hd) != hd:
            w.add_attention_scale(1.0 / math.sqrt(cfg["query_pre_attn_scalar"]))
        if rp_local and rp_local.get("rope_theta", 10000.0) != 10000.0:
            w.add_rope_freq_base_swa(rp_local["rope_theta"])
        if rp.get("rope_type") == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(rp["factor"])
    w.add_file_type(getattr(gguf.LlamaFileType, "MOSTLY_" + qtype) if qt is not None and not dequantized
                    else gguf.LlamaFileType.ALL_F32)
    add_tokenizer(w, hf_dir, cfg)

    def put(name, a):
        if name == drop:
            return
        a = np.ascontiguousarray(a, dtype=np.float32)
        if gemma and name.endswith("norm.weight"):
            a = a + 1.0   # llama.cpp stores Gemma's 1 + w
        qn = next((getattr(gguf.GGMLQuantizationType, v) for k, v in (mix or {}).items() if name.endswith(k)), qt)
        if qn is not None and a.ndim == 2:
            q = gguf.quants.quantize(a, qn)
            if dequantized:
                w.add_tensor(name, np.ascontiguousarray(gguf.quants.dequantize(q, qn), dtype=np.float32))
            else:
                w.add_tensor(name, q, raw_dtype=qn)
            return
        w.add_tensor(name, a)

    put("token_embd.weight", t["model.embed_tokens.weight"])
    put("output_norm.weight", t["model.norm.weight"])
    if "lm_head.weight" in t and not cfg.get("tie_word_embeddings", False):
        put("output.weight", t["lm_head.weight"])
    rf = _llama3_factors(cfg, hd)
    if rf is not None:
        put("rope_freqs.weight", rf)
    if arch == "phi3" and rp.get("long_factor"):
        put("rope_factors_long.weight", np.array(rp["long_factor"], dtype=np.float32))
        put("rope_factors_short.weight", np.array(rp["short_factor"], dtype=np.float32))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        if arch == "phi3":   # fused as in the HF file; ffn_up holds gate then up
            put(f"blk.{i}.attn_norm.weight", t[p + "input_layernorm.weight"])
            put(f"blk.{i}.attn_qkv.weight", t[p + "self_attn.qkv_proj.weight"])
            put(f"blk.{i}.attn_output.weight", t[p + "self_attn.o_proj.weight"])
            put(f"blk.{i}.ffn_norm.weight", t[p + "post_attention_layernorm.weight"])
            put(f"blk.{i}.ffn_up.weight", t[p + "mlp.gate_up_proj.weight"])
            put(f"blk.{i}.ffn_down.weight", t[p + "mlp.down_proj.weight"])
            continue
        q, k = t[p + "self_attn.q_proj.weight"], t[p + "self_attn.k_proj.weight"]
        if arch == "llama":
            q, k = _permute(q, nh), _permute(k, nkv)
        put(f"blk.{i}.attn_norm.weight", t[p + "input_layernorm.weight"])
        put(f"blk.{i}.attn_q.weight", q)
        put(f"blk.{i}.attn_k.weight", k)
        put(f"blk.{i}.attn_v.weight", t[p + "self_attn.v_proj.weight"])
        put(f"blk.{i}.attn_output.weight", t[p + "self_attn.o_proj.weight"])
        for b in ("q", "k", "v"):
            if p + f"self_attn.{b}_proj.bias" in t:
                put(f"blk.{i}.attn_{b}.bias", t[p + f"self_attn.{b}_proj.bias"])
        if p + "self_attn.q_norm.weight" in t:
            put(f"blk.{i}.attn_q_norm.weight", t[p + "self_attn.q_norm.weight"])
            put(f"blk.{i}.attn_k_norm.weight", t[p + "self_attn.k_norm.weight"])
        if gemma:
            put(f"blk.{i}.post_attention_norm.weight", t[p + "post_attention_layernorm.weight"])
            put(f"blk.{i}.ffn_norm.weight", t[p + "pre_feedforward_layernorm.weight"])
            put(f"blk.{i}.post_ffw_norm.weight", t[p + "post_feedforward_layernorm.weight"])
        else:
            put(f"blk.{i}.ffn_norm.weight", t[p + "post_attention_layernorm.weight"])
        put(f"blk.{i}.ffn_gate.weight", t[p + "mlp.gate_proj.weight"])
        put(f"blk.{i}.ffn_up.weight", t[p + "mlp.up_proj.weight"])
        put(f"blk.{i}.ffn_down.weight", t[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_mlx(hf_dir, out, bits=4, group_size=64, dequantized=False, bf16=False):
    """The model as an MLX directory quantized with mlx itself
    (mx.quantize, affine mode): every linear layer and the embedding whose
    input width the group divides becomes a (weight, scales, biases) triple,
    the others stay dense, as mlx_lm converts.  dequantized: the same values
    through mx.dequantize as a plain f32 directory (the exact reference).
    bf16: the weights quantized from bf16, so the scales and biases are bf16
    (as mlx_lm converts a bf16 model).  False when mlx cannot be imported."""
    import shutil
    try:
        import mlx.core as mx
    except Exception as e:  # noqa: BLE001 - the caller reports the skip
        print(f"  mlx is not importable ({e}); skipping the MLX fixture {out}")
        return False
    from safetensors.numpy import load_file, save_file
    t = load_file(os.path.join(hf_dir, "model.safetensors"))
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    res = {}
    for n, a in t.items():
        if a.ndim == 2 and a.shape[1] % group_size == 0 and n.endswith(".weight"):
            src = mx.array(a.astype(np.float32))
            wq, sc, bi = mx.quantize(src.astype(mx.bfloat16) if bf16 else src, group_size=group_size, bits=bits)
            if dequantized:
                res[n] = np.array(mx.dequantize(wq, sc, bi, group_size=group_size, bits=bits), dtype=np.float32)
            else:
                stem = n[: -len(".weight")]
                res[n] = np.array(wq, dtype=np.uint32)
                for suf, v in ((".scales", sc), (".biases", bi)):
                    f = np.array(v.astype(mx.float32), dtype=np.float32)
                    # bf16 values exactly: their top 16 bits, tagged BF16 below
                    res[stem + suf] = (f.view(np.uint32) >> 16).astype(np.uint16) if bf16 else f
        else:
            res[n] = a
    os.makedirs(out, exist_ok=True)
    save_file(res, os.path.join(out, "model.safetensors"))
    if bf16:
        _retag_bf16(os.path.join(out, "model.safetensors"))
    if not dequantized:
        cfg["quantization"] = {"group_size": group_size, "bits": bits, "mode": "affine"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    shutil.copy(os.path.join(hf_dir, "tokenizer.json"), out)
    return True


def write_variant(src, out, name, tensors, config):
    """A broken copy of the fixture src in out/name: these tensors and
    config, src's tokenizer."""
    from safetensors.numpy import save_file
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    save_file(tensors, os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    shutil.copy(os.path.join(src, "tokenizer.json"), d)


def write_bad(src, out):
    """Broken copies of a fixture for the error tests: a missing tensor, a
    misshapen one, an unknown architecture."""
    from safetensors.numpy import load_file
    t = load_file(os.path.join(src, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))

    write_variant(src, out, "bad-missing", {k: v for k, v in t.items() if k != "model.layers.1.mlp.up_proj.weight"},
                  cfg)
    write_variant(src, out, "bad-shape", dict(t, **{"model.layers.0.self_attn.k_proj.weight":
                                                    np.zeros((48, cfg["hidden_size"]), dtype=np.float32)}), cfg)
    write_variant(src, out, "bad-arch", t, dict(cfg, architectures=["FooForCausalLM"], model_type="foo"))


def write_bad_gemma(src, out):
    """gemma3-tiny without a norm only Gemma has, for the error tests."""
    from safetensors.numpy import load_file, save_file
    t = load_file(os.path.join(src, "model.safetensors"))
    d = os.path.join(out, "bad-gemma-missing")
    os.makedirs(d, exist_ok=True)
    save_file({k: v for k, v in t.items() if k != "model.layers.5.post_feedforward_layernorm.weight"},
              os.path.join(d, "model.safetensors"))
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(os.path.join(src, f), d)


def write_bad_phi3(src, out):
    """Broken copies of phi3-tiny: a fused tensor missing or misshapen, and
    LongRoPE lists shorter than half the rotated dimensions."""
    from safetensors.numpy import load_file
    t = load_file(os.path.join(src, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))

    write_variant(src, out, "bad-phi3-missing",
                  {k: v for k, v in t.items() if k != "model.layers.1.mlp.gate_up_proj.weight"}, cfg)
    write_variant(src, out, "bad-phi3-shape", dict(t, **{"model.layers.0.self_attn.qkv_proj.weight":
                                                         np.zeros((96, cfg["hidden_size"]), dtype=np.float32)}), cfg)
    rp = dict(cfg["rope_parameters"], short_factor=[1.0, 1.0, 1.0], long_factor=[2.0, 2.0, 2.0])
    write_variant(src, out, "bad-phi3-rope", t, dict(cfg, rope_parameters=rp))


def write_bad_moe(src, out):
    """Broken copies of qwen3moe-tiny for the error tests: more experts a
    token than experts; a dense layer between the MoE ones
    (decoder_sparse_step 2); an expert stack missing; a dense expert stack
    of the wrong shape."""
    from safetensors.numpy import load_file
    t = load_file(os.path.join(src, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))
    write_variant(src, out, "bad-moe-topk", t, dict(cfg, num_experts_per_tok=9))
    write_variant(src, out, "bad-moe-step", t, dict(cfg, decoder_sparse_step=2))
    up = "model.layers.1.mlp.switch_mlp.up_proj."
    write_variant(src, out, "bad-moe-missing", {k: v for k, v in t.items() if not k.startswith(up)}, cfg)
    dense = {k: v for k, v in t.items() if not k.startswith("model.layers.0.mlp.switch_mlp.")}
    E, eff, d = cfg["num_experts"], cfg["moe_intermediate_size"], cfg["hidden_size"]
    for n_, shape in (("gate_proj", (E, eff + 1, d)), ("up_proj", (E, eff, d)), ("down_proj", (E, d, eff))):
        dense[f"model.layers.0.mlp.switch_mlp.{n_}.weight"] = np.full(shape, 0.01, dtype=np.float32)
    q = dict(cfg["quantization"])
    for n_ in ("gate_proj", "up_proj", "down_proj"):
        q[f"model.layers.0.mlp.switch_mlp.{n_}"] = False   # mlx's per-layer "not quantized"
    write_variant(src, out, "bad-moe-shape", dense, dict(cfg, quantization=q))


def write_moe_dense_variants(src, out):
    """qwen3moe-tiny-f32 (a Hugging Face directory, one f32 tensor per
    expert) with its experts stacked (experts, rows, cols) as an MLX
    directory not quantized names them (switch_mlp), and as a GGUF F32 file
    (write_moe_gguf)."""
    from safetensors.numpy import load_file
    t = load_file(os.path.join(src, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))
    stacked = {k: v for k, v in t.items() if ".mlp.experts." not in k}
    for i in range(cfg["num_hidden_layers"]):
        for n_ in ("gate_proj", "up_proj", "down_proj"):
            stacked[f"model.layers.{i}.mlp.switch_mlp.{n_}.weight"] = np.stack(
                [t[f"model.layers.{i}.mlp.experts.{e}.{n_}.weight"] for e in range(cfg["num_experts"])])
    write_variant(src, out, "qwen3moe-tiny-f32-stacked", stacked, cfg)
    write_moe_gguf(os.path.join(out, "qwen3moe-tiny-f32-stacked"), os.path.join(out, "qwen3moe-tiny-f32.gguf"))


def write_phi3_split(src, out):
    """phi3-tiny with q/k/v and gate/up as separate tensors (Llama's names),
    a layout llama.cpp's Phi-3 also reads: the same model."""
    from safetensors.numpy import load_file, save_file
    t = load_file(os.path.join(src, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))
    nh, nkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    qd, kvd, ff = d, d // nh * nkv, cfg["intermediate_size"]
    res = {}
    for n, a in t.items():
        if n.endswith("self_attn.qkv_proj.weight"):
            p = n[: -len("qkv_proj.weight")]
            res[p + "q_proj.weight"], res[p + "k_proj.weight"], res[p + "v_proj.weight"] = \
                a[:qd].copy(), a[qd:qd + kvd].copy(), a[qd + kvd:].copy()
        elif n.endswith("mlp.gate_up_proj.weight"):
            p = n[: -len("gate_up_proj.weight")]
            res[p + "gate_proj.weight"], res[p + "up_proj.weight"] = a[:ff].copy(), a[ff:].copy()
        else:
            res[n] = a
    os.makedirs(out, exist_ok=True)
    save_file(res, os.path.join(out, "model.safetensors"))
    shutil.copy(os.path.join(src, "config.json"), out)
    shutil.copy(os.path.join(src, "tokenizer.json"), out)


def write_moe_gguf(mlx_dir, path):
    """An MLX 4-bit group-32 mixture-of-experts directory (Qwen3-MoE, Mixtral
    or Qwen2-MoE) whose scales and biases are f16 values, or one not
    quantized (then every weight F32),
    (scripts/make_moe_model_fixture.py) as a GGUF file of the same weights:
    each group of 32 codes with its scale d and bias m is a Q4_1 block
    (d * q + m), the experts stacked (experts, rows, cols), under llama.cpp's
    names: qwen3moe, qwen2moe (q/k/v biases F32, the shared expert and its
    gate), or Mixtral as "llama" with experts (q and k rows permuted for its
    adjacent-pair rope, no expert_feed_forward_length: the experts are
    feed_forward_length wide); norms F32."""
    import gguf
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(mlx_dir, "config.json")))
    t = load_file(os.path.join(mlx_dir, "model.safetensors"))
    quant = "quantization" in cfg
    assert not quant or (cfg["quantization"]["bits"] == 4 and cfg["quantization"]["group_size"] == 32)
    mixtral, qwen2 = cfg["model_type"] == "mixtral", cfg["model_type"] == "qwen2_moe"
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]

    def q4_1(prefix):
        wq, sc, bi = t[prefix + ".weight"], t[prefix + ".scales"], t[prefix + ".biases"]
        lead, words = wq.shape[:-1], wq.shape[-1]
        codes = (wq.reshape(-1, words, 1) >> (4 * np.arange(8, dtype=np.uint32))) & 15   # LSB first
        codes = codes.reshape(-1, words * 8 // 32, 32).astype(np.uint8)
        d = sc.reshape(-1, codes.shape[1], 1).astype(np.float16)
        m = bi.reshape(-1, codes.shape[1], 1).astype(np.float16)
        assert np.array_equal(d.astype(np.float32).ravel(), sc.ravel()), prefix
        qs = codes[..., :16] | (codes[..., 16:] << 4)
        blk = np.concatenate([d.view(np.uint8), m.view(np.uint8), qs], axis=-1)   # 20 bytes a block
        return blk.reshape(*lead, -1)

    def put(name, prefix, heads=0):
        """prefix's weight: Q4_1 blocks, or F32 where the directory is not
        quantized; q or k rows permuted (Mixtral) where heads is given."""
        a = q4_1(prefix) if quant else t[prefix + ".weight"]
        if heads:
            a = _permute(a, heads)
        if quant:
            w.add_tensor(name, np.ascontiguousarray(a), raw_dtype=gguf.GGMLQuantizationType.Q4_1)
        else:
            w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))

    arch = "llama" if mixtral else "qwen2moe" if qwen2 else "qwen3moe"
    w = gguf.GGUFWriter(path, arch)
    w.add_name(os.path.basename(os.path.normpath(mlx_dir)))
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    if not mixtral:
        w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    if qwen2:
        w.add_expert_shared_feed_forward_length(cfg["shared_expert_intermediate_size"])
    w.add_expert_count(cfg.get("num_experts") or cfg["num_local_experts"])
    w.add_expert_used_count(cfg["num_experts_per_tok"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(float(cfg["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1 if quant else gguf.LlamaFileType.ALL_F32)
    add_tokenizer(w, mlx_dir, cfg)
    put("token_embd.weight", "model.embed_tokens")
    w.add_tensor("output_norm.weight", t["model.norm.weight"])
    put("output.weight", "lm_head")
    moe = "block_sparse_moe." if mixtral else "mlp."
    for i in range(cfg["num_hidden_layers"]):
        hf, gg = f"model.layers.{i}.", f"blk.{i}."
        w.add_tensor(gg + "attn_norm.weight", t[hf + "input_layernorm.weight"])
        w.add_tensor(gg + "ffn_norm.weight", t[hf + "post_attention_layernorm.weight"])
        if qwen2:
            for a_, b_ in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v")):
                w.add_tensor(gg + b_ + ".bias", t[hf + "self_attn." + a_ + ".bias"])
            for a_, b_ in (("gate_proj", "ffn_gate_shexp"), ("up_proj", "ffn_up_shexp"), ("down_proj", "ffn_down_shexp")):
                put(gg + b_ + ".weight", hf + "mlp.shared_expert." + a_)
            put(gg + "ffn_gate_inp_shexp.weight", hf + "mlp.shared_expert_gate")
        elif not mixtral:
            w.add_tensor(gg + "attn_q_norm.weight", t[hf + "self_attn.q_norm.weight"])
            w.add_tensor(gg + "attn_k_norm.weight", t[hf + "self_attn.k_norm.weight"])
        for a_, b_, heads in (("q_proj", "attn_q", nh), ("k_proj", "attn_k", nkv), ("v_proj", "attn_v", 0),
                              ("o_proj", "attn_output", 0)):
            put(gg + b_ + ".weight", hf + "self_attn." + a_, heads if mixtral else 0)
        put(gg + "ffn_gate_inp.weight", hf + moe + "gate")
        for a_, b_ in (("gate_proj", "ffn_gate_exps"), ("up_proj", "ffn_up_exps"), ("down_proj", "ffn_down_exps")):
            put(gg + b_ + ".weight", hf + moe + "switch_mlp." + a_)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_half(src, out, dtype):
    """The fixture with f16 or bf16 weights, in two shards with an index (as
    transformers writes large models)."""
    import shutil
    from safetensors.numpy import load_file, save_file
    t = load_file(os.path.join(src, "model.safetensors"))
    os.makedirs(out, exist_ok=True)
    names = sorted(t)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    wmap = {}
    for i, part in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        conv = {}
        for n in part:
            a = t[n].astype(np.float32)
            if dtype == "bf16":   # round to nearest even, kept as the raw 16 bits
                u = a.view(np.uint32).astype(np.uint64)
                u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
                conv[n] = u
            else:
                conv[n] = a.astype(np.float16)
            wmap[n] = fn
        save_file(conv, os.path.join(out, fn))
        if dtype == "bf16":   # safetensors.numpy has no bfloat16: patch the header's dtype
            _retag_bf16(os.path.join(out, fn))
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wmap}, f, indent=1)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["dtype"] = {"bf16": "bfloat16", "f16": "float16"}[dtype]
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    shutil.copy(os.path.join(src, "tokenizer.json"), out)


def _retag_bf16(path):
    import struct
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    for k, v in h.items():
        if k != "__metadata__" and v["dtype"] == "U16":
            v["dtype"] = "BF16"
    hdr = json.dumps(h, separators=(",", ":")).encode()
    hdr += b" " * (-len(hdr) % 8)   # data offsets are relative to the end of the header
    open(path, "wb").write(struct.pack("<Q", len(hdr)) + hdr + raw[8 + n:])


def check_gguf_with_transformers(d, gguf_path):
    """transformers reading the GGUF (un-permuting q/k) must give the HF
    logits.  Two known gaps on its side: its GGUF reader ignores rope_freqs
    (llama3 scaling) and key_length (Qwen3's wider heads), so those models
    differ or fail to load there; without llama3 scaling the llama error is 0,
    which checks the q/k permutation."""
    import torch
    from transformers import AutoModelForCausalLM
    ref = json.load(open(os.path.join(d, "ref.json")))
    try:
        m = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path),
                                                 dtype=torch.float32).eval()
    except Exception as e:  # noqa: BLE001 - report, the C test is the real check
        print(f"  transformers could not load {gguf_path}: {e}")
        return
    with torch.no_grad():
        got = m(torch.tensor([ref["prompt"]])).logits[0].numpy()
    want = np.fromfile(os.path.join(d, "ref_prefill.f32"), dtype="<f4").reshape(got.shape)
    err = np.abs(got - want).max() / np.abs(want).max()
    print(f"  transformers(gguf) vs transformers(safetensors): max rel err {err:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="tests/fixtures/models")
    ap.add_argument("--gguf", nargs=2, metavar=("HF_DIR", "OUT_GGUF"))
    ap.add_argument("--bad", nargs=2, metavar=("HF_DIR", "OUT_DIR"), help="broken copies for the error tests")
    ap.add_argument("--test-data", metavar="OUT_DIR",
                    help="what ctest needs beside the committed fixtures: every fixture as GGUF, the broken copies")
    ap.add_argument("--only", help="one model name")
    a = ap.parse_args()
    if a.test_data:
        os.makedirs(a.test_data, exist_ok=True)
        for name in MODELS:
            if name != "mistral-tiny":
                write_gguf(os.path.join(a.out, name), os.path.join(a.test_data, name + ".gguf"))
        write_bad(os.path.join(a.out, "llama-tiny"), a.test_data)
        write_bad_moe(os.path.join(a.out, "qwen3moe-tiny"), a.test_data)
        write_moe_dense_variants(os.path.join(a.out, "qwen3moe-tiny-f32"), a.test_data)
        for name in ("qwen3moe-tiny", "mixtral-tiny", "qwen2moe-tiny"):
            write_moe_gguf(os.path.join(a.out, name), os.path.join(a.test_data, name + "-q4_1.gguf"))
        write_bad_gemma(os.path.join(a.out, "gemma3-tiny"), a.test_data)
        write_bad_phi3(os.path.join(a.out, "phi3-tiny"), a.test_data)
        write_phi3_split(os.path.join(a.out, "phi3-tiny"), os.path.join(a.test_data, "phi3-tiny-split"))
        write_gguf(os.path.join(a.out, "llama-tiny"), os.path.join(a.test_data, "bad-missing.gguf"),
                   drop="blk.1.ffn_down.weight")
        write_gguf(os.path.join(a.out, "phi3-tiny"), os.path.join(a.test_data, "bad-phi3-missing.gguf"),
                   drop="blk.0.attn_qkv.weight")
        write_gguf(os.path.join(a.out, "llama-tiny"), os.path.join(a.test_data, "bad-arch.gguf"), arch_name="foo")
        # quantized forms of llama-tiny and phi3-tiny (its fused weights
        # split by rows of blocks) and their dequantized twins
        for name, qts in (("llama-tiny", ("Q8_0", "Q4_0")), ("phi3-tiny", ("Q8_0",))):
            src = os.path.join(a.out, name)
            for qt in qts:
                base = os.path.join(a.test_data, f"{name}-{qt.lower()}")
                write_gguf(src, base + ".gguf", qt)
                write_gguf(src, base + "-deq.gguf", qt, dequantized=True)
            if name == "llama-tiny":
                # a mix (Q4_K_M's layout in block-32 types): q, k stack
                # into one fused mat-vec, v and down are fused apart
                write_gguf(src, os.path.join(a.test_data, "llama-tiny-q4_0-mix.gguf"), "Q4_0",
                           mix={"attn_v.weight": "Q8_0", "ffn_down.weight": "Q8_0"})
            mlx_dir = os.path.join(a.test_data, name + "-mlx4")
            if write_mlx(src, mlx_dir):
                write_mlx(src, mlx_dir + "-deq", dequantized=True)
                write_mlx(src, mlx_dir + "-bf16", bf16=True)
            else:
                for d in (mlx_dir, mlx_dir + "-deq", mlx_dir + "-bf16"):
                    shutil.rmtree(d, ignore_errors=True)
        for name in MODELS:
            for dt in ("f16", "bf16"):
                write_half(os.path.join(a.out, name), os.path.join(a.test_data, f"{name}-{dt}"), dt)
        return 0
    if a.gguf:
        write_gguf(*a.gguf)
        return 0
    if a.bad:
        write_bad(*a.bad)
        return 0
    import tempfile
    for name, spec in MODELS.items():
        if a.only and name != a.only:
            continue
        d = make_model(a.out, name, spec)
        if name == "mistral-tiny":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            g = os.path.join(tmp, name + ".gguf")
            write_gguf(d, g)
            check_gguf_with_transformers(d, g)
    return 0


if __name__ == "__main__":
    sys.exit(main())
