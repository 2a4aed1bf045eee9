#!/usr/bin/env python3
"""Writes the example's bundled data and its float64 reference outputs (pure Python, seeded)."""
import math, os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261203)
n, d, h, k = 40, 6, 16, 2
x = [[round(rng.gauss(0, 1), 4) for _ in range(d)] for _ in range(n)]
w1 = [[round(rng.gauss(0, 0.5), 4) for _ in range(h)] for _ in range(d)]
b1 = [round(rng.gauss(0, 0.1), 4) for _ in range(h)]
w2 = [[round(rng.gauss(0, 0.5), 4) for _ in range(k)] for _ in range(h)]
b2 = [round(rng.gauss(0, 0.1), 4) for _ in range(k)]

def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(",".join(repr(float(v)) if not isinstance(v, int) else str(v) for v in (r if isinstance(r, list) else [r])) + "\n")

write(f"{here}/data/clinic.patients.csv", x)
write(f"{here}/data/lab.w1.csv", w1)
write(f"{here}/data/lab.b1.csv", b1)
write(f"{here}/data/lab.w2.csv", w2)
write(f"{here}/data/lab.b2.csv", b2)
probs, cls = [], []
for r in x:
    hid = [max(0.0, sum(r[i] * w1[i][j] for i in range(d)) + b1[j]) for j in range(h)]
    logits = [sum(hid[i] * w2[i][j] for i in range(h)) + b2[j] for j in range(k)]
    m = max(logits)
    e = [math.exp(v - m) for v in logits]
    probs.append([v / sum(e) for v in e])
    cls.append(max(range(k), key=lambda j: logits[j]))
write(f"{here}/expected/clinic/probabilities.csv", probs)
write(f"{here}/expected/clinic/class.csv", cls)
write(f"{here}/expected/clinic/rows_scored.csv", [n])
write(f"{here}/expected/lab/rows_scored.csv", [n])
