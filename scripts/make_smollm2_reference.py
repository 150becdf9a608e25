#!/usr/bin/env python3
"""Reference token ids for SmolLM2-135M-Instruct Q4_1 (scripts/fetch_models.sh).

transformers loads the GGUF (dequantizing every tensor to f32) and its
tokenizer; for each case this records the prompt's ids, the argmax of the
logits at every prompt position (top-1) and the greedy continuation of
N tokens (the end-of-sequence token not stopping it).  mlxc's run on the
same file must agree (tests/test_model_real.c).

    python3 scripts/make_smollm2_reference.py GGUF OUT.json
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

N_GEN = 32
CASES = {
    # a short real text: top-1 at every position, then the continuation
    "text": "The sky appears blue because sunlight is scattered by the molecules of the air. "
            "Blue light has a shorter wavelength than red light, so",
    # a ChatML user turn with no system turn
    "chat": "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n",
    # what `mlxc run --chat` builds: the model's own chat template (its
    # default system turn included) for one user message, rendered by
    # transformers (filled in by main)
    "chat_template": None,
}
CHAT_QUESTION = "Why is the sky blue?"


def main():
    gguf, out = sys.argv[1], sys.argv[2]
    d, f = os.path.split(os.path.abspath(gguf))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
    model.eval()
    ref = {"model": f, "n_gen": N_GEN}
    for name, text in CASES.items():
        if text is None:
            text = tok.apply_chat_template([{"role": "user", "content": CHAT_QUESTION}], tokenize=False,
                                           add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            x = torch.tensor([ids])
            o = model(x, use_cache=True)
            top1 = o.logits[0].argmax(-1).tolist()
            past, nxt, greedy, margins = o.past_key_values, top1[-1], [], []
            for _ in range(N_GEN):
                greedy.append(nxt)
                o = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = o.past_key_values
                lg = o.logits[0, -1]
                two = torch.topk(lg, 2).values
                margins.append(float(two[0] - two[1]))
                nxt = int(lg.argmax())
        ref[name] = {"prompt": text, "ids": ids, "top1": top1, "greedy": greedy,
                     "text": tok.decode(greedy), "min_greedy_margin": min(margins)}
        print(name, repr(tok.decode(greedy)))
    with open(out, "w") as fh:
        json.dump(ref, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
