#!/usr/bin/env python3
"""Writes the example's bundled data and its float64 reference outputs (pure Python, seeded)."""
import os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261204)
common = rng.sample(range(100000, 999999), 60)
only_r = rng.sample(range(1000000, 1999999), 40)
only_b = rng.sample(range(2000000, 2999999), 90)
r_ids = common + only_r
b_ids = common[::-1] + only_b
rng.shuffle(r_ids)
rng.shuffle(b_ids)
spend = {i: round(rng.uniform(20, 900), 2) for i in r_ids}
limit = {i: round(rng.uniform(500, 8000), 2) for i in b_ids}

def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for v in rows:
            f.write((str(v) if isinstance(v, int) else repr(float(v))) + "\n")

write(f"{here}/data/retailer.customer_id.csv", r_ids)
write(f"{here}/data/retailer.spend.csv", [spend[i] for i in r_ids])
write(f"{here}/data/bank.customer_id.csv", b_ids)
write(f"{here}/data/bank.credit_limit.csv", [limit[i] for i in b_ids])
k = len(common)
s = sum(spend[i] for i in common)
l = sum(limit[i] for i in common)
u = sum(spend[i] / limit[i] for i in common) / k
write(f"{here}/expected/retailer/mean_spend.csv", [s / k])
write(f"{here}/expected/bank/mean_limit.csv", [l / k])
for p in ("retailer", "bank"):
    write(f"{here}/expected/{p}/matched.csv", [k])
    write(f"{here}/expected/{p}/mean_utilisation.csv", [u])
    write(f"{here}/expected/{p}/spend_to_limit.csv", [s / l])
