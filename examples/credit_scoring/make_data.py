#!/usr/bin/env python3
"""Writes the example's bundled data and its float64 reference outputs (pure Python, seeded)."""
import os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261122)
n = 24
x = [[round(rng.gauss(0, 1) * s, 4) for s in (1.0, 2.0, 0.5, 3.0)] for _ in range(n)]
w = [0.8, -0.35, 1.7, 0.12]
b = -0.25

def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(",".join(repr(float(v)) for v in (r if isinstance(r, list) else [r])) + "\n")

write(f"{here}/data/bank.features.csv", x)
write(f"{here}/data/vendor.weights.csv", w)
write(f"{here}/data/vendor.bias.csv", [b])
score = [sum(xi * wi for xi, wi in zip(row, w)) + b for row in x]
gram = [[sum(x[k][i] * x[k][j] for k in range(n)) for j in range(4)] for i in range(4)]
write(f"{here}/expected/bank/score.csv", score)
write(f"{here}/expected/bank/total.csv", [sum(score)])
write(f"{here}/expected/vendor/total.csv", [sum(score)])
write(f"{here}/expected/bank/gram.csv", gram)
