#!/usr/bin/env python3
"""Reference for Gemma 3 270M Q4_K_M (scripts/fetch_models.sh).

transformers loads the GGUF (dequantizing every tensor to f32) and its
tokenizer.  Over a real text of N_POS tokens (<bos> included) this records
the ids, the argmax of the logits at every position (top-1), the
perplexity of the text (the mean negative log-likelihood of ids[1:]), and
the greedy continuation of N_GEN tokens after it, with the smallest
top-1/top-2 logit gap along it.  mlxc on the same file must agree
(tests/test_model_real.c).  mlxc's own figures, as that test prints them,
are recorded by hand under "mlxc"; a rerun keeps them.

    python3 scripts/make_gemma3_reference.py GGUF OUT.json
"""
import json
import math
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

N_POS = 256
N_GEN = 32
# Plain prose written for this test, long enough for N_POS tokens.
TEXT = (
    "The harbour town woke slowly that morning. Fishing boats rocked against the old stone pier while gulls "
    "circled above the market, where traders were already stacking crates of apples, onions and fresh bread. "
    "A baker in a flour-dusted apron argued cheerfully with a customer about the price of rye, and two children "
    "chased a ball between the stalls until their mother called them back. Down by the water, an elderly "
    "fisherman mended his nets with quick, practised fingers. He had worked the same stretch of coast for "
    "forty years, and he could read the weather in the colour of the sky and the shape of the waves. Today, "
    "he said to anyone who would listen, the wind would turn before noon, and the sensible boats would stay "
    "in the harbour. Most of the younger crews laughed and set out anyway, their engines coughing blue smoke "
    "into the cold air. By eleven o'clock the clouds had gathered over the headland, dark and heavy with rain. "
    "The first gusts tore the paper signs from the market stalls and sent them spinning across the square. "
    "One by one, the boats came back, their crews soaked and quiet, and tied up along the pier. The old "
    "fisherman did not say a word. He simply finished his nets, packed his tools into a canvas bag, and walked "
    "home for lunch, whistling a tune that nobody else in the town seemed to know. In the afternoon the storm "
    "passed over the hills, and the sun returned to the wet streets."
)


def main():
    gguf, out = sys.argv[1], sys.argv[2]
    d, f = os.path.split(os.path.abspath(gguf))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    ids = tok(TEXT)["input_ids"]                     # <bos> first
    assert len(ids) >= N_POS, len(ids)
    ids = ids[:N_POS]
    text = tok.decode(ids[1:])
    with torch.no_grad():
        o = model(torch.tensor([ids]), use_cache=True)
        logits = o.logits[0].double()
        top1 = logits.argmax(-1).tolist()
        lp = torch.log_softmax(logits, dim=-1)
        nll = -lp[torch.arange(N_POS - 1), torch.tensor(ids[1:])].mean()
        ppl = float(torch.exp(nll))
        past, nxt, greedy, margins = o.past_key_values, top1[-1], [], []
        for _ in range(N_GEN):
            greedy.append(nxt)
            o = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past = o.past_key_values
            lg = o.logits[0, -1]
            two = torch.topk(lg, 2).values
            margins.append(float(two[0] - two[1]))
            nxt = int(lg.argmax())
    ref = {"model": f, "n_pos": N_POS, "n_gen": N_GEN, "text": text, "ids": ids, "top1": top1,
           "ppl": ppl, "greedy": greedy, "greedy_text": tok.decode(greedy), "min_greedy_margin": min(margins)}
    if os.path.exists(out):   # keep mlxc's recorded figures
        old = json.load(open(out))
        if "mlxc" in old:
            ref["mlxc"] = old["mlxc"]
    print(f"ppl {ppl:.4f}; greedy {tok.decode(greedy)!r}; min margin {min(margins):.3f}")
    with open(out, "w") as fh:
        json.dump(ref, fh, indent=1)
        fh.write("\n")
    return 0 if math.isfinite(ppl) else 1


if __name__ == "__main__":
    sys.exit(main())
