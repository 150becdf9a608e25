#!/usr/bin/env python3
"""Reference outputs for tests/test_ops_linear_attn.c, computed by the
transformers Qwen3-Next functions themselves (torch, CPU, f32):
torch_recurrent_gated_delta_rule, torch_chunk_gated_delta_rule,
causal_conv1d_update, Qwen3NextRMSNormGated and the gate formula of
Qwen3NextGatedDeltaNet.forward.

Usage: make_linear_attn_fixtures.py [OUTDIR]   (default tests/fixtures/linear_attn)

The inputs are not stored: both sides draw them from the same generator
(la_rand in the test), a xorshift64 whose 24 high-ish bits scale to
[lo, hi) in double and round to f32.  Each file is little-endian u32
header words, then f32 arrays:

  gdn_NAME.bin   seed T HK HV DK DV l2norm has_state nt nr, f32 qk_amp,
                 u32 tokens[nt], u32 rows[nr]; then for the recurrent and
                 the chunked function in turn: out[nt][HV][DV] (the kept
                 tokens) and state[HV][nr][DV] (the kept k rows).
                 Inputs in order: q, k (T,HK,DK) U(-qk_amp, qk_amp),
                 v (T,HV,DV) U(-1,1), g (T,HV) U(-1.2,-0.01),
                 beta (T,HV) U(0.05,0.95), state (HV,DK,DV) U(-0.5,0.5)
                 when has_state (else zeros).
  conv_NAME.bin  seed T C W; x (T,C) U(-1,1), w (C,W) U(-0.6,0.6),
                 state (W-1,C) U(-1,1); stored: out (T,C) after SiLU,
                 state (W-1,C) after the T tokens.
  norm_NAME.bin  seed rows dim, f32 eps; x, z (rows,dim) U(-2,2), w (dim)
                 U(0.5,1.5); stored: out (rows,dim) f32.
  gate_NAME.bin  seed rows heads; a, b (rows,heads) U(-4,4), a_log (heads)
                 U(-2,2), dt_bias (heads) U(-1,1); stored: g, beta.
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from transformers.models.qwen3_next import modeling_qwen3_next as qn

MASK = (1 << 64) - 1


class Rand:
    """The test's la_rand: xorshift64 (13, 7, 17), value = lo + (hi - lo) *
    ((x >> 16) & 0xffffff) / 2^24 in double, rounded to f32."""

    def __init__(self, seed):
        self.x = seed & MASK

    def u24(self, n):
        out = np.empty(n, dtype=np.float64)
        x = self.x
        for i in range(n):
            x ^= (x << 13) & MASK
            x ^= x >> 7
            x ^= (x << 17) & MASK
            out[i] = (x >> 16) & 0xFFFFFF
        self.x = x
        return out

    def uniform(self, shape, lo, hi):
        n = int(np.prod(shape))
        u = self.u24(n)
        return ((lo + (hi - lo) * u / 16777216.0).astype(np.float32)).reshape(shape)


def u32s(*v):
    return struct.pack(f"<{len(v)}I", *v)


def gdn_case(outdir, name, seed, T, HK, HV, DK, DV, l2norm, has_state, qk_amp, tokens=None, rows=None):
    r = Rand(seed)
    q = r.uniform((T, HK, DK), -qk_amp, qk_amp)
    k = r.uniform((T, HK, DK), -qk_amp, qk_amp)
    v = r.uniform((T, HV, DV), -1.0, 1.0)
    g = r.uniform((T, HV), -1.2, -0.01)
    beta = r.uniform((T, HV), 0.05, 0.95)
    s0 = r.uniform((HV, DK, DV), -0.5, 0.5) if has_state else np.zeros((HV, DK, DV), np.float32)
    tokens = list(range(T)) if tokens is None else tokens
    rows = list(range(DK)) if rows is None else rows
    t = lambda a: torch.from_numpy(a).unsqueeze(0)  # batch of 1
    results = []
    for fn in (qn.torch_recurrent_gated_delta_rule, qn.torch_chunk_gated_delta_rule):
        with torch.no_grad():
            o, s = fn(t(q), t(k), t(v), g=t(g), beta=t(beta), initial_state=t(s0).clone(),
                      output_final_state=True, use_qk_l2norm_in_kernel=bool(l2norm))
        results.append((o[0].numpy(), s[0].numpy()))
    (o_r, s_r), (o_c, s_c) = results
    # The two transformers functions agree with each other far inside the
    # bound the test uses against them.
    d = np.linalg.norm(o_r - o_c) / np.linalg.norm(o_r)
    assert d < 1e-5, (name, d)
    with open(os.path.join(outdir, f"gdn_{name}.bin"), "wb") as f:
        f.write(u32s(seed, T, HK, HV, DK, DV, l2norm, has_state, len(tokens), len(rows)))
        f.write(struct.pack("<f", qk_amp))
        f.write(u32s(*tokens))
        f.write(u32s(*rows))
        for o, s in results:
            f.write(np.ascontiguousarray(o[tokens], dtype="<f4").tobytes())
            f.write(np.ascontiguousarray(s[:, rows, :], dtype="<f4").tobytes())
    print(f"gdn_{name}: T={T} HK={HK} HV={HV} DK={DK} DV={DV} recurrent vs chunked {d:.2e}")


def conv_case(outdir, name, seed, T, C, W):
    r = Rand(seed)
    x = r.uniform((T, C), -1.0, 1.0)
    w = r.uniform((C, W), -0.6, 0.6)
    st = r.uniform((W - 1, C), -1.0, 1.0)
    # transformers keeps W inputs per channel; the oldest is never read.
    hf_state = torch.zeros(1, C, W)
    hf_state[0, :, 1:] = torch.from_numpy(st.T.copy())
    with torch.no_grad():
        out = qn.causal_conv1d_update(torch.from_numpy(x.T.copy()).unsqueeze(0), hf_state, torch.from_numpy(w),
                                      None, activation="silu")
    with open(os.path.join(outdir, f"conv_{name}.bin"), "wb") as f:
        f.write(u32s(seed, T, C, W))
        f.write(np.ascontiguousarray(out[0].numpy().T, dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(hf_state[0, :, 1:].numpy().T, dtype="<f4").tobytes())
    print(f"conv_{name}: T={T} C={C} W={W}")


def norm_case(outdir, name, seed, rows, dim, eps):
    r = Rand(seed)
    x = r.uniform((rows, dim), -2.0, 2.0)
    z = r.uniform((rows, dim), -2.0, 2.0)
    w = r.uniform((dim,), 0.5, 1.5)
    m = qn.Qwen3NextRMSNormGated(dim, eps=eps)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
        out = m(torch.from_numpy(x), torch.from_numpy(z))
    with open(os.path.join(outdir, f"norm_{name}.bin"), "wb") as f:
        f.write(u32s(seed, rows, dim))
        f.write(struct.pack("<f", eps))
        f.write(np.ascontiguousarray(out.numpy(), dtype="<f4").tobytes())
    print(f"norm_{name}: rows={rows} dim={dim}")


def gate_case(outdir, name, seed, rows, heads):
    r = Rand(seed)
    a = r.uniform((rows, heads), -4.0, 4.0)
    b = r.uniform((rows, heads), -4.0, 4.0)
    a_log = r.uniform((heads,), -2.0, 2.0)
    dt_bias = r.uniform((heads,), -1.0, 1.0)
    ta, tb, tl, td = (torch.from_numpy(v) for v in (a, b, a_log, dt_bias))
    # Qwen3NextGatedDeltaNet.forward, as written there
    beta = tb.sigmoid()
    g = -tl.float().exp() * F.softplus(ta.float() + td)
    with open(os.path.join(outdir, f"gate_{name}.bin"), "wb") as f:
        f.write(u32s(seed, rows, heads))
        f.write(np.ascontiguousarray(g.numpy(), dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(beta.numpy(), dtype="<f4").tobytes())
    print(f"gate_{name}: rows={rows} heads={heads}")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                                "linear_attn")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    # Head dim 128, 2 key heads serving 4 value heads, 130 tokens: two full
    # chunks and a partial one.  Kept: the tokens around each chunk edge and
    # 8 rows of the final state (the whole of it would be 256 KB a function).
    edges = [0, 1, 2, 62, 63, 64, 65, 100, 126, 127, 128, 129]
    gdn_case(outdir, "hd128", 11, 130, 2, 4, 128, 128, 1, 1, 1.0, edges, [0, 1, 2, 3, 64, 65, 126, 127])
    # k_dim != v_dim, fresh state, whole output kept.
    gdn_case(outdir, "hd32x48", 12, 70, 1, 3, 32, 48, 1, 0, 1.0)
    # No L2 norm (small keys keep the delta rule contractive), 1 chunk.
    gdn_case(outdir, "nonorm", 13, 9, 2, 2, 16, 8, 0, 1, 0.3)
    conv_case(outdir, "w4", 21, 9, 40, 4)
    conv_case(outdir, "w2", 22, 5, 17, 2)
    norm_case(outdir, "d64", 31, 6, 64, 1e-6)
    gate_case(outdir, "h8", 41, 5, 8)


if __name__ == "__main__":
    main()
