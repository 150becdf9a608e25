#!/usr/bin/env python3
"""Make tests/fixtures/tokenizer/added/ (committed): a small byte-level BPE
vocabulary whose non-special added tokens are runs of spaces and tabs and a
code keyword, as code models have, and the ids Hugging Face `tokenizers`
gives a set of texts with it.

    pip install tokenizers gguf
    python3 scripts/make_added_tokens_fixture.py

Writes:
  tokenizer.json   trained here with `tokenizers` (GPT-2 regex + ByteLevel),
                   then tokens added: non-special "    ", "  ", "\\t\\t",
                   "def ", " = ", and special "<|fim_middle|>"
  vocab.gguf       the same vocabulary as llama.cpp's converter writes it:
                   tokenizer.ggml.model gpt2, pre gpt-2, the added tokens
                   with their raw text and token type 4 (user-defined), the
                   special ones type 3 (control)
  cases.txt        'hex-of-input<TAB>flags<TAB>ids': flags 'plain' (special
                   text not parsed; `tokenizers` with the special tokens
                   marked split_special_tokens), 'special' (parsed)
"""
import os

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "tokenizer", "added")

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)\n",
    "The quick brown fox jumps over the lazy dog. It's 12 o'clock.",
    "x = 1\ny = 2\nz = x + y  # a comment\n",
] * 4

TEXTS = [
    "def f(x):\n    return x",
    "        deep = 8",
    "a  b   c    d     e",
    "\t\tindented\twith tabs\t\t\t",
    "x = 1;  y  =  2",
    "no added tokens here",
    "<|fim_middle|>    pass",
    "    <|fim_middle|>  def g():",
    "undef  define  defdef ",
    "    ",
    " ",
    "",
    "caf\u00e9    \u00fcber  na\u00efve",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    added = ["    ", "  ", "\t\t", "def ", " = "]
    tok.add_tokens([AddedToken(a, normalized=False) for a in added])
    tok.add_special_tokens([AddedToken("<|fim_middle|>", special=True)])
    tok.save(os.path.join(OUT, "tokenizer.json"))

    # the GGUF form
    n = tok.get_vocab_size(with_added_tokens=True)
    inv = {i: s for s, i in tok.get_vocab(with_added_tokens=True).items()}
    tokens = [inv[i] for i in range(n)]
    types = [1] * n
    for i, a in tok.get_added_tokens_decoder().items():
        types[i] = 3 if a.special else 4
    import json
    merges = json.load(open(os.path.join(OUT, "tokenizer.json")))["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    w = gguf.GGUFWriter(os.path.join(OUT, "vocab.gguf"), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        for text in TEXTS:
            ids = tok.encode(text, add_special_tokens=False).ids
            f.write("%s\tspecial\t%s\n" % (text.encode().hex(), " ".join(map(str, ids))))
        tok.encode_special_tokens = True   # special-token text as ordinary text
        for text in TEXTS:
            ids = tok.encode(text, add_special_tokens=False).ids
            f.write("%s\tplain\t%s\n" % (text.encode().hex(), " ".join(map(str, ids))))
    print("wrote", OUT, n, "tokens")


if __name__ == "__main__":
    main()
