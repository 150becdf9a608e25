#!/usr/bin/env python3
"""Tiny random-weight mixture-of-experts models (Qwen3-MoE, Mixtral, Qwen2-MoE) as MLX
4-bit directories, and their reference logits made by mlx-lm itself (the
oracle of the MoE model test).

    python3 scripts/make_moe_model_fixture.py tests/fixtures/models

Needs mlx (the CPU build, 0.32.4) and mlx-lm 0.32.2, installed without its
dependencies (pip install --no-deps mlx-lm==0.32.2): only its model code is
used, imported without the package's __init__ (which wants transformers and
huggingface_hub).  Writes <out>/qwen3moe-tiny/, mixtral-tiny/ and
qwen2moe-tiny/ as mlx-lm saves a quantized model (config.json and
model.safetensors: every linear layer, the router, the stacked experts and
the embedding in affine 4-bit, group 32, f32 scales and biases holding f16
values), and qwen3moe-tiny-f32/ not quantized, in Hugging Face's layout
(one f32 tensor per expert); each with tokenizer.json (qwen3-tiny's),
ref.json, ref_prefill.f32 (the f32 logits of every prompt position) and
ref_decode.f32 (those of six greedy steps), the layout the model tests read.
These are committed.
"""
import importlib.util
import json
import os
import shutil
import sys
import types

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

ROOT = os.path.dirname(importlib.util.find_spec("mlx").submodule_search_locations[0])
pkg = types.ModuleType("mlx_lm")
pkg.__path__ = [os.path.join(ROOT, "mlx_lm")]
sys.modules["mlx_lm"] = pkg
from mlx_lm.models import mixtral, qwen2_moe, qwen3_moe  # noqa: E402

QWEN3MOE = dict(model_type="qwen3_moe", architectures=["Qwen3MoeForCausalLM"], hidden_size=64, num_hidden_layers=2,
              intermediate_size=160, num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=8,
              num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[], moe_intermediate_size=32,
              rms_norm_eps=1e-6, vocab_size=517, rope_theta=1000000.0, tie_word_embeddings=False,
              max_position_embeddings=256, norm_topk_prob=True)
# Mixtral: the experts are intermediate_size wide; its top 2 of the router's
# logits, softmax over those two
MIXTRAL = dict(model_type="mixtral", architectures=["MixtralForCausalLM"], hidden_size=64, num_hidden_layers=2,
               intermediate_size=32, num_attention_heads=4, num_key_value_heads=2, num_local_experts=8,
               num_experts_per_tok=2, rms_norm_eps=1e-5, vocab_size=517, rope_theta=1000000.0,
               tie_word_embeddings=False, max_position_embeddings=256)
# Qwen2-MoE: q/k/v biases, no renormalizing, a shared expert (width 64)
# scaled by the sigmoid of its own gate
QWEN2MOE = dict(model_type="qwen2_moe", architectures=["Qwen2MoeForCausalLM"], hidden_size=64, num_hidden_layers=2,
                intermediate_size=160, num_attention_heads=4, num_key_value_heads=2, num_experts=8,
                num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=64,
                rms_norm_eps=1e-6, vocab_size=517, rope_theta=1000000.0, tie_word_embeddings=False,
                max_position_embeddings=256)
MODELS = {"qwen3moe-tiny": (qwen3_moe, QWEN3MOE, 7), "mixtral-tiny": (mixtral, MIXTRAL, 8),
          "qwen2moe-tiny": (qwen2_moe, QWEN2MOE, 9), "qwen3moe-tiny-f32": (qwen3_moe, QWEN3MOE, 10)}
# not quantized, in Hugging Face's layout: one f32 tensor per expert
DENSE = {"qwen3moe-tiny-f32"}
QUANT = {"group_size": 32, "bits": 4, "mode": "affine"}
DECODE_STEPS = 6


def write(out_root, name):
    module, config, seed = MODELS[name]
    out = os.path.join(out_root, name)
    here = os.path.dirname(os.path.abspath(__file__))
    src_tok = os.path.join(here, "..", "tests", "fixtures", "models", "qwen3-tiny")
    os.makedirs(out, exist_ok=True)
    mx.random.seed(seed)
    args = module.ModelArgs.from_dict(config)
    model = module.Model(args)
    # norms away from 1, so that a norm read wrongly shows; biases away from 0
    params = dict(tree_flatten(model.parameters()))
    for k, v in params.items():
        if k.endswith("norm.weight"):
            params[k] = 1.0 + 0.2 * mx.random.normal(v.shape)
        elif k.endswith("proj.bias"):
            params[k] = 0.2 * mx.random.normal(v.shape)
    model.load_weights(list(params.items()))
    if name in DENSE:
        mx.eval(model.parameters())
        weights = {}
        for k, v in tree_flatten(model.parameters()):
            if ".switch_mlp." in k:   # (experts, rows, cols) -> experts.E.*_proj.weight
                for e in range(v.shape[0]):
                    weights[k.replace("switch_mlp.", f"experts.{e}.")] = v[e]
            else:
                weights[k] = v
        mx.save_safetensors(os.path.join(out, "model.safetensors"), weights)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
    else:
        nn.quantize(model, group_size=QUANT["group_size"], bits=QUANT["bits"])
        # scales and biases made f16 values (kept in f32), so that GGUF Q4_1
        # (d * q + m, f16 d and m, groups of 32) holds the same weights
        # exactly (make_model_fixtures.py writes that form at test time)
        weights = dict(tree_flatten(model.parameters()))
        for k, v in weights.items():
            if k.endswith(".scales") or k.endswith(".biases"):
                weights[k] = v.astype(mx.float16).astype(mx.float32)
        model.load_weights(list(weights.items()))
        mx.eval(model.parameters())
        mx.save_safetensors(os.path.join(out, "model.safetensors"), weights)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(dict(config, quantization=QUANT), f, indent=1)
    shutil.copy(os.path.join(src_tok, "tokenizer.json"), os.path.join(out, "tokenizer.json"))

    prompt = json.load(open(os.path.join(src_tok, "ref.json")))["prompt"]
    logits = model(mx.array([prompt]))[0].astype(mx.float32)
    mx.eval(logits)
    prefill = np.array(logits)
    greedy = [int(np.argmax(prefill[-1]))]
    decode = []
    toks = list(prompt)
    for _ in range(DECODE_STEPS):
        toks.append(greedy[-1])
        row = np.array(model(mx.array([toks]))[0, -1].astype(mx.float32))
        decode.append(row)
        greedy.append(int(np.argmax(row)))
    prefill.astype(np.float32).tofile(os.path.join(out, "ref_prefill.f32"))
    np.stack(decode).astype(np.float32).tofile(os.path.join(out, "ref_decode.f32"))
    from importlib.metadata import version
    ref = {"model": name, "architecture": config["architectures"][0], "vocab": config["vocab_size"],
           "prompt": prompt, "greedy": greedy, "decode_steps": DECODE_STEPS,
           "oracle": f"mlx-lm {version('mlx-lm')}, mlx {mx.__version__} (CPU, f32)"}
    with open(os.path.join(out, "ref.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print(f"{out}: greedy {greedy}; tensors {len(weights)}", file=sys.stderr)


def main():
    mx.set_default_device(mx.cpu)
    for name in MODELS:
        write(sys.argv[1], name)


if __name__ == "__main__":
    main()
