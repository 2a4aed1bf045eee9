#!/usr/bin/env python3
"""Writes the example's bundled data and its float64 reference outputs (pure Python, seeded)."""
import math, os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261202)
n = 200
true_w = [0.9, -1.4, 0.3, 1.1, -0.6]
rows, labels = [], []
for _ in range(n):
    x = [round(rng.gauss(0, 1), 4) for _ in range(5)]
    z = sum(a * b for a, b in zip(x, true_w)) + rng.gauss(0, 0.5)
    rows.append(x)
    labels.append(1.0 if z > 0 else 0.0)

def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(",".join(repr(float(v)) for v in (r if isinstance(r, list) else [r])) + "\n")

write(f"{here}/data/bank.features.csv", [r[:3] for r in rows])
write(f"{here}/data/telco.features.csv", [r[3:] for r in rows])
write(f"{here}/data/telco.defaulted.csv", labels)

sig = lambda t: 1.0 / (1.0 + math.exp(-t))
w = [0.0] * 5
for _ in range(20):
    p = [sig(sum(a * b for a, b in zip(r, w))) for r in rows]
    grad = [sum(rows[i][j] * (p[i] - labels[i]) for i in range(n)) for j in range(5)]
    w = [w[j] - 0.5 * grad[j] / n for j in range(5)]
p = [sig(sum(a * b for a, b in zip(r, w))) for r in rows]
loss = -sum(y * math.log(q) + (1 - y) * math.log(1 - q) for y, q in zip(labels, p)) / n
write(f"{here}/expected/bank/weights.csv", w)
write(f"{here}/expected/bank/loss.csv", [loss])
write(f"{here}/expected/telco/loss.csv", [loss])
