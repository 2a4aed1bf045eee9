#!/usr/bin/env python3
"""Writes the example's bundled data and its float64 reference outputs (pure Python, seeded)."""
import math, os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261205)
stays = {
    "north": [round(rng.lognormvariate(1.3, 0.5), 2) for _ in range(35)],
    "south": [round(rng.lognormvariate(1.5, 0.6), 2) for _ in range(52)],
    "east": [round(rng.lognormvariate(1.1, 0.4), 2) for _ in range(27)],
}

def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for v in rows:
            f.write((str(v) if isinstance(v, (int, bool)) and not isinstance(v, bool) else ("1" if v is True else "0" if v is False else repr(float(v)))) + "\n")

for p, v in stays.items():
    write(f"{here}/data/{p}.stays.csv", v)
everything = [s for v in stays.values() for s in v]
count = len(everything)
mean = sum(everything) / count
std = math.sqrt(sum((s - mean) ** 2 for s in everything) / count)
for p, v in stays.items():
    write(f"{here}/expected/{p}/patients.csv", [count])
    write(f"{here}/expected/{p}/mean.csv", [mean])
    write(f"{here}/expected/{p}/std.csv", [std])
    write(f"{here}/expected/{p}/longest.csv", [max(everything)])
    write(f"{here}/expected/{p}/above_mean.csv", [sum(v) / len(v) > mean])
