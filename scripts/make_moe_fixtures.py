#!/usr/bin/env python3
"""Writes tests/fixtures/moe/route.txt: router logits (with ties) and the ids
and weights PyTorch gives for each MoE scoring, read by tests/test_ops_moe.c.

Each case is one block of lines:

    case NAME SCORING DTYPE TOKENS EXPERTS K RENORM SCALE HAS_BIAS N_GROUP TOPK_GROUP
    logits  v v v ...        (tokens * experts, exact as f32 with %.9g)
    bias    v v v ...        (experts; only when HAS_BIAS)
    ids     i i i ...        (tokens * k)
    weights v v v ...        (tokens * k)

SCORING: 0 softmax then top-k (Mixtral, Qwen3-MoE), 1 sigmoid with a
selection bias (DeepSeek-V3), 2 top-k then softmax over the k (gpt-oss),
the models' own formulas in torch, in f32 (bf16 logits are upcast).
N_GROUP > 1: DeepSeek-V3's group-limited choice (its noaux_tc routing:
groups scored by the sum of their two best biased scores, the best
TOPK_GROUP groups kept, the other experts' scores set to 0).

Ties: mlxc ranks equal scores by the lower expert id (a stable descending
sort).  torch.topk on the CPU does not promise an order for ties (e.g.
topk([1, 3, 3, 2, 3, 0, 3], 3) gives indices 1, 6, 4 with torch 2.x), so
the expected ids come from torch.sort(descending=True, stable=True) and the
weights from the same formulas; each case also notes in a comment whether
torch.topk chose the same ids.

    python3 scripts/make_moe_fixtures.py     (needs torch; deterministic)
"""
import os
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "moe", "route.txt")


def topk_stable(scores, k):
    vals, idx = torch.sort(scores, dim=-1, descending=True, stable=True)
    return vals[..., :k], idx[..., :k]


def route(logits, scoring, k, renorm, scale, bias, n_group=0, topk_group=0):
    x = logits.float()
    if scoring == 1 and n_group > 1:
        s = torch.sigmoid(x)
        choice = s + (bias if bias is not None else 0.0)
        t, e = choice.shape
        group_scores = choice.view(t, n_group, e // n_group).topk(2, dim=-1)[0].sum(dim=-1)
        _, gidx = topk_stable(group_scores, topk_group)
        gmask = torch.zeros_like(group_scores).scatter_(1, gidx, 1)
        smask = gmask.unsqueeze(-1).expand(t, n_group, e // n_group).reshape(t, e)
        masked = choice.masked_fill(~smask.bool(), 0.0)
        _, ids = topk_stable(masked, k)
        ref = torch.topk(masked, k, dim=-1).indices
        w = s.gather(-1, ids)
    elif scoring == 0:
        p = torch.softmax(x, dim=-1)
        w, ids = topk_stable(p, k)
        ref = torch.topk(p, k, dim=-1).indices
    elif scoring == 1:
        s = torch.sigmoid(x)
        choice = s + (bias if bias is not None else 0.0)
        _, ids = topk_stable(choice, k)
        ref = torch.topk(choice, k, dim=-1).indices
        w = s.gather(-1, ids)
    else:
        v, ids = topk_stable(x, k)
        ref = torch.topk(x, k, dim=-1).indices
        w = torch.softmax(v, dim=-1)
    if renorm:
        w = w / w.sum(dim=-1, keepdim=True)
    w = w * scale
    return ids, w, bool(torch.equal(ids, ref))


def fmt(t):
    return " ".join("%.9g" % v for v in t.flatten().tolist())


def main():
    g = torch.Generator().manual_seed(13)
    cases = []

    def add(name, scoring, dtype, tokens, experts, k, renorm, scale, ties, with_bias, n_group=0, topk_group=0):
        if ties and n_group > 1:
            # 0, 0.5, 1, 1.5: no two different pairs of sigmoids sum alike
            x = torch.randint(0, 4, (tokens, experts), generator=g).float() * 0.5
        elif ties:
            # few distinct values: many ties, also across the k-th place
            x = torch.randint(-2, 3, (tokens, experts), generator=g).float() * 0.5
        else:
            x = torch.randn(tokens, experts, generator=g) * 2.0
        x = x.to(dtype).float()
        bias = None
        if with_bias:
            bias = (torch.randint(0, 4, (experts,), generator=g).float() * 0.25) if ties else \
                torch.randn(experts, generator=g) * 0.1
        ids, w, same = route(x, scoring, k, renorm, scale, bias, n_group, topk_group)
        cases.append((name, scoring, dtype, tokens, experts, k, renorm, scale, x, bias, ids, w, same, n_group,
                      topk_group))

    bf = torch.bfloat16
    f32 = torch.float32
    add("mixtral_ties", 0, f32, 4, 8, 2, True, 1.0, True, False)
    add("qwen3_moe", 0, bf, 3, 128, 8, True, 1.0, False, False)
    add("qwen3_moe_ties", 0, bf, 3, 128, 8, True, 1.0, True, False)
    add("softmax_topk_raw", 0, f32, 2, 60, 4, False, 1.0, False, False)
    add("deepseek_v3", 1, f32, 3, 256, 8, True, 2.5, False, True)
    add("deepseek_v3_ties", 1, bf, 3, 64, 6, True, 2.5, True, True)
    add("sigmoid_nobias_ties", 1, f32, 2, 32, 4, False, 1.0, True, False)
    add("gpt_oss", 2, bf, 3, 32, 4, False, 1.0, False, False)
    add("gpt_oss_ties", 2, f32, 4, 128, 4, False, 1.0, True, False)
    add("k64_e512", 0, f32, 1, 512, 64, True, 1.0, True, False)
    add("deepseek_v3_grouped", 1, f32, 4, 256, 8, True, 2.5, False, True, 8, 4)
    add("deepseek_v3_grouped_ties", 1, bf, 4, 256, 8, True, 2.5, True, True, 8, 4)
    add("grouped_small", 1, f32, 6, 16, 4, False, 1.0, False, True, 4, 2)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# generated by scripts/make_moe_fixtures.py with torch %s; see there for the format\n"
                % torch.__version__.split("+")[0])
        for (name, scoring, dtype, tokens, experts, k, renorm, scale, x, bias, ids, w, same, n_group,
             topk_group) in cases:
            f.write("# %s: torch.topk gives %s ids\n" % (name, "the same" if same else "other (tied)"))
            f.write("case %s %d %s %d %d %d %d %.9g %d %d %d\n" % (name, scoring, "f32" if dtype == f32 else "bf16",
                                                                tokens, experts, k, int(renorm), scale,
                                                                int(bias is not None), n_group, topk_group))
            f.write("logits " + fmt(x) + "\n")
            if bias is not None:
                f.write("bias " + fmt(bias) + "\n")
            f.write("ids " + " ".join(str(i) for i in ids.flatten().tolist()) + "\n")
            f.write("weights " + fmt(w) + "\n")


if __name__ == "__main__":
    main()
