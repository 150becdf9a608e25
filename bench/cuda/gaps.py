#!/usr/bin/env python3
"""Where a decode step's time goes between kernels, from an Nsight Systems
trace of `mlxc bench -n N` (nsys profile --cuda-graph-trace=node; then
`nsys stats --report cuda_gpu_trace --format csv`): per kernel the time it
ran and the gap before it, summed over the kernels of the last N steps.

    python3 bench/cuda/gaps.py TRACE.csv STEPS
"""
import csv
import sys


def main():
    path, steps = sys.argv[1], int(sys.argv[2])
    rows = []
    with open(path, newline="") as f:
        lines = [l for l in f if "," in l]
    for r in csv.DictReader(lines):
        name = r.get("Name") or r.get("Kernel Name") or ""
        start = r.get("Start (ns)") or r.get("Start")
        dur = r.get("Duration (ns)") or r.get("Duration")
        if not start or not dur or "memcpy" in name.lower() or "memset" in name.lower():
            continue
        rows.append((int(float(start)), int(float(dur)), name))
    rows.sort()
    # a step ends with the sampler's kernel; take the last `steps` of them
    ends = [i for i, r in enumerate(rows) if r[2].startswith("sample_")]
    if len(ends) < steps + 1:
        sys.exit("gaps.py: %d steps in the trace, %d asked" % (len(ends) - 1, steps))
    lo, hi = ends[-steps - 1] + 1, ends[-1] + 1
    sel = rows[lo:hi]
    busy = sum(d for _, d, _ in sel)
    gaps = [sel[i][0] - (sel[i - 1][0] + sel[i - 1][1]) for i in range(1, len(sel))]
    span = sel[-1][0] + sel[-1][1] - sel[0][0]
    per = {}
    for i, (s, d, n) in enumerate(sel):
        k = n.split("(")[0]
        e = per.setdefault(k, [0, 0, 0])
        e[0] += 1
        e[1] += d
        e[2] += gaps[i - 1] if i else 0
    print("%d steps, %d kernels a step: %.1f us a step, kernels running %.1f us, gaps %.1f us (median gap %.2f us)"
          % (steps, len(sel) // steps, span / 1e3 / steps, busy / 1e3 / steps, sum(gaps) / 1e3 / steps,
             sorted(gaps)[len(gaps) // 2] / 1e3 if gaps else 0))
    print("%-36s %6s %10s %10s" % ("kernel", "n/step", "us/step", "gap us/step"))
    for k, (n, d, g) in sorted(per.items(), key=lambda kv: -kv[1][1]):
        print("%-36s %6.0f %10.1f %10.1f" % (k[:36], n / steps, d / 1e3 / steps, g / 1e3 / steps))


if __name__ == "__main__":
    main()
