"""Summarise the last tokens of a decode from kernel_trace.c's CSV.

    python3 bench/cuda/kernel_trace.py trace.csv PER_TOKEN [TOKENS]

PER_TOKEN: kernels a decode token runs (mlxc bench prints it); TOKENS: how
many tokens to take, those before the run's last (default 4).  Prints a token's span on
the device, the time some kernel was running (the union of the kernels'
intervals) and the idle rest, then per kernel name the count, summed and
mean duration, the time it adds to the chain (its end past the latest end
before it), and the gaps between consecutive kernels (negative: the
next one started before the last ended, as programmatic dependent launch
allows).
"""
import collections
import sys


def main():
    path, per, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 4
    ks, api = [], []
    with open(path) as f:
        next(f)
        for line in f:
            p = line.rstrip("\n").split(",", 6)
            (api if p[6].startswith("api:") else ks).append((int(p[0]), int(p[1]), p[6]))
    ks.sort()
    api.sort()
    ks = ks[-per * (tokens + 1):-per]  # the very last token ends the run: left out
    t0, t1 = ks[0][0], max(e for _, e, _ in ks)
    busy, cs, ce = 0, None, None
    for s, e, _ in ks:
        if ce is None or s > ce:
            if ce is not None:
                busy += ce - cs
            cs, ce = s, e
        else:
            ce = max(ce, e)
    busy += ce - cs
    n = len(ks) / per
    print(f"{len(ks)} kernels, {n:.0f} tokens: a token {(t1 - t0) / n / 1e3:.1f} us on the device, "
          f"kernels running {busy / n / 1e3:.1f} us, nothing running {(t1 - t0 - busy) / n / 1e3:.1f} us")
    # "added": how much later the chain ends for each kernel, its end past
    # the latest end before it (a kernel that starts early under
    # programmatic dependent launch waits for the one before it, so its
    # duration counts that wait too; the added times sum to the span)
    agg = collections.defaultdict(lambda: [0, 0, 0])
    last_end = ks[0][0]
    for s, e, name in ks:
        a = agg[name.split("(")[0][:48]]
        a[0] += 1
        a[1] += e - s
        a[2] += max(0, e - last_end)
        last_end = max(last_end, e)
    print("\n| kernel | a token | us a token | us each | added a token | added each |\n|---|---:|---:|---:|---:|---:|")
    for name, (c, d, x) in sorted(agg.items(), key=lambda x: -x[1][2]):
        print(f"| {name} | {c / n:.0f} | {d / n / 1e3:.1f} | {d / c / 1e3:.2f} | {x / n / 1e3:.1f} | {x / c / 1e3:.2f} |")
    gaps = sorted(b[0] - a[1] for a, b in zip(ks, ks[1:]))
    print(f"\ngaps between consecutive kernels: median {gaps[len(gaps) // 2] / 1e3:.2f} us, "
          f"positive {sum(g for g in gaps if g > 0) / n / 1e3:.1f} us a token, "
          f"{sum(1 for g in gaps if g < 0) / n:.0f} overlaps a token")
    if api:
        # the host's driver calls between one token's last kernel and the next one's first
        ends = [max(e for _, e, _ in ks[i * per:(i + 1) * per]) for i in range(tokens)]
        calls = collections.defaultdict(lambda: [0, 0])
        idle = 0
        for i in range(tokens - 1):
            g0, g1 = ends[i], ks[(i + 1) * per][0]
            idle += g1 - g0
            for s, e, name in api:
                if e > g0 and s < g1:
                    c = calls[name[4:]]
                    c[0] += 1
                    c[1] += min(e, g1) - max(s, g0)
        print(f"\nbetween tokens (last kernel of one to the first of the next): {idle / (tokens - 1) / 1e3:.1f} us; "
              "the driver calls in it, a token:")
        print("| call | calls | us inside the gap |\n|---|---:|---:|")
        for name, (c, d) in sorted(calls.items(), key=lambda x: -x[1][1]):
            print(f"| {name} | {c / (tokens - 1):.1f} | {d / (tokens - 1) / 1e3:.1f} |")
    print("\nthe last token's first kernels (start, duration, us):")
    last = ks[-per:]
    for s, e, name in last[:16]:
        print(f"  +{(s - last[0][0]) / 1e3:8.2f} {(e - s) / 1e3:7.2f}  {name.split('(')[0][:48]}")


if __name__ == "__main__":
    main()
