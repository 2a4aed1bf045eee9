#!/usr/bin/env python3
"""Writes each case's data and its float64 reference outputs, computed here in plain Python,
independently of the compiler and VM. Run it after changing a case; the results are committed."""
import os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(7)


def write(case, rel, rows):
    path = os.path.join(here, case, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            r = r if isinstance(r, list) else [r]
            f.write(",".join(repr(v) if isinstance(v, float) else str(v) for v in r) + "\n")


def vec(n, lo=-3.0, hi=3.0):
    return [round(rng.uniform(lo, hi), 4) for _ in range(n)]


def mat(n, m, lo=-3.0, hi=3.0):
    return [vec(m, lo, hi) for _ in range(n)]


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


# loops: carried secrets that start public, public accumulators, a run-time bound.
n = 6
x, y = vec(n), vec(n)
write("loops", "data/alice.x.csv", x)
write("loops", "data/bob.y.csv", y)
acc = [0.0] * n
for _ in range(5):
    acc = [a + xi * yi for a, xi, yi in zip(acc, x, y)]
nested = 0.0
for i in range(3):
    for j in range(4):
        nested += i * j
write("loops", "expected/alice/acc.csv", acc)
write("loops", "expected/alice/total.csv", [7.5])
write("loops", "expected/bob/s.csv", [n * (n - 1) // 2])
write("loops", "expected/bob/nested.csv", [nested])
write("loops", "expected/alice/dot.csv", [sum(xi * yi for xi, yi in zip(x, y)) * 3])

# functions: one definition used on secrets and on private values, with shape symbols.
n = 5
x, w, b = mat(n, 3), mat(3, 2), vec(2)
write("functions", "data/alice.x.csv", x)
write("functions", "data/bob.w.csv", w)
write("functions", "data/bob.b.csv", b)
yv = [[v + b[j] for j, v in enumerate(row)] for row in matmul(x, w)]
z = matmul(x, [list(c) for c in zip(*x)])
rows = [sum(r) for r in yv]
mean = sum(rows) / len(rows)
write("functions", "expected/alice/y.csv", yv)
write("functions", "expected/alice/z.csv", z)
write("functions", "expected/bob/c.csv", [r - mean for r in rows])
write("functions", "expected/alice/sq.csv", [[v * v * 2.0 for v in r] for r in yv])

# indexing: slices, gathers, reshape, send, selects (private, and secret by a private bool).
n = 5
x = mat(n, 4)
idx = [3, 0, 3]
v = vec(n)
write("indexing", "data/alice.x.csv", x)
write("indexing", "data/alice.idx.csv", idx)
write("indexing", "data/bob.v.csv", v)
col = [r[1] for r in x]
write("indexing", "expected/alice/head.csv", x[0:2])
write("indexing", "expected/alice/picked.csv", [x[i] for i in idx])
write("indexing", "expected/alice/flat.csv", [e for r in x[0:2] for e in r])
write("indexing", "expected/alice/part.csv", v[1:3])
write("indexing", "expected/bob/big.csv", [c if c > 0 else vi for c, vi in zip(col, v)])
write("indexing", "expected/alice/mix.csv", [c if c > 0 else vi for c, vi in zip(col, v)])
write("indexing", "expected/bob/ar.csv", list(range(n)))
write("indexing", "expected/bob/mean_v.csv", [sum(v) / n])
write("indexing", "expected/alice/max_col.csv", [max(col)])
write("indexing", "expected/alice/argmax_col.csv", [col.index(max(col))])
write("indexing", "expected/alice/scaled.csv", [e / 4.0 for e in v])
write("indexing", "expected/alice/clipped.csv", [min(max(c, -1.0), 1.0) for c in col])

# branches: `if` on public values known only at run time, alone and inside a loop.
n = 5
x, y = vec(n), vec(n)
write("branches", "data/alice.x.csv", x)
write("branches", "data/bob.y.csv", y)
s = sum(a * b for a, b in zip(x, y))
z = [a * b * 2.0 for a, b in zip(x, y)] if s > 0 else [a * b for a, b in zip(x, y)]
write("branches", "expected/alice/scale.csv", [2.0 if s > 0 else -1.0])
write("branches", "expected/alice/z.csv", z)
write("branches", "expected/bob/big.csv", [1 if n > 3 else 0])
write("branches", "expected/bob/count.csv", [sum(i for i in range(n) if i > 1)])
write("branches", "expected/alice/sign.csv", [1 if s > 0 else (0 if s == 0 else -1)])


def write_npy(case, rel, shape, values, descr):
    """An .npy file, version 1.0, written by hand so that numpy is not needed."""
    import struct
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join(f"{d}, " for d in shape))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    fmt = {"<f8": "<d", "<f4": "<f", "<i8": "<q"}[descr]
    path = os.path.join(here, case, rel)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for v in values:
            f.write(struct.pack(fmt, v))


# constants: public constants loaded at compile time, used on private and secret values.
n = 4
w = mat(3, 2)
b = vec(2)
idx = [2, 0]
x, y = mat(n, 3), mat(n, 3)
os.makedirs(os.path.join(here, "constants"), exist_ok=True)
write_npy("constants", "w.npy", (3, 2), [v for r in w for v in r], "<f8")
write_npy("constants", "scale.npy", (2,), [0.5, 4.0], "<f4")
write_npy("constants", "idx.npy", (2,), idx, "<i8")
write("constants", "b.csv", b)
write("constants", "data/alice.x.csv", x)
write("constants", "data/bob.y.csv", y)
xy = [[a + c for a, c in zip(r1, r2)] for r1, r2 in zip(x, y)]
s = [[v + b[j] for j, v in enumerate(r)] for r in matmul(xy, w)]
write("constants", "expected/alice/s.csv", [[v * sc for v, sc in zip(r, [0.5, 4.0])] for r in s])
write("constants", "expected/bob/gram.csv", matmul([list(c) for c in zip(*w)], w))
write("constants", "expected/alice/picked.csv", [x[i] for i in idx])
write("constants", "expected/bob/k.csv", [3])

# stdlib: std::nn on a party's own data (plaintext), boolean operators, functions calling functions.
import math
n = 4
x = mat(n, 3)
write("stdlib", "data/alice.x.csv", x)
write("stdlib", "expected/alice/relu.csv", [[max(v, 0.0) for v in r] for r in x])
write("stdlib", "expected/alice/sigmoid.csv", [[1 / (1 + math.exp(-v)) for v in r] for r in x])
def softmax(r):
    m = max(r)
    e = [math.exp(v - m) for v in r]
    return [v / sum(e) for v in e]
write("stdlib", "expected/alice/softmax.csv", [softmax(r) for r in x])
col = [r[0] for r in x]
write("stdlib", "expected/alice/band.csv", [1 if (c > -1.0 and c < 1.0) or not (c != 2.0) else 0 for c in col])
write("stdlib", "expected/alice/nested.csv", [[2.0 * max(v, 0.0) + 1.0 for v in r] for r in x])

# compare: the comparison family on secrets.
n = 6
x, y = vec(n), vec(n)
y[0] = x[0]
y[3] = x[3] + 2 ** -30
write("compare", "data/alice.x.csv", x)
write("compare", "data/bob.y.csv", y)
for name, f in [("lt", lambda a, b: a < b), ("le", lambda a, b: a <= b), ("gt", lambda a, b: a > b),
                ("ge", lambda a, b: a >= b), ("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b)]:
    write("compare", f"expected/alice/{name}.csv", [int(f(a, b)) for a, b in zip(x, y)])
s = [a + b for a, b in zip(x, y)]
write("compare", "expected/alice/relu.csv", [max(v, 0.0) for v in s])
write("compare", "expected/alice/abs.csv", [abs(a - b) for a, b in zip(x, y)])
write("compare", "expected/alice/clip.csv", [min(max(v, -1.0), 1.0) for v in s])
write("compare", "expected/alice/emax.csv", [max(a, b) for a, b in zip(x, y)])
write("compare", "expected/alice/emin.csv", [min(a, b) for a, b in zip(x, y)])
write("compare", "expected/alice/logic.csv", [a if (a > 0 and b < 0) or not (a < 1) else b for a, b in zip(x, y)])
m = [[x[i], y[i], s[i]] for i in range(n)]
write("compare", "expected/bob/max0.csv", [max(r[j] for r in m) for j in range(3)])
write("compare", "expected/bob/argmax0.csv", [max(range(n), key=lambda i: (m[i][j], -i)) for j in range(3)])
write("compare", "expected/bob/min1.csv", [min(r) for r in m])
write("compare", "expected/bob/argmin1.csv", [min(range(3), key=lambda j: (r[j], j)) for r in m])

# masks: one secret matrix in several products, as itself and transposed, in a loop.
n = 5
xa, xb, v = mat(n, 2, -1.0, 1.0), mat(n, 2, -1.0, 1.0), vec(4, -1.0, 1.0)
write("masks", "data/alice.xa.csv", xa)
write("masks", "data/bob.xb.csv", xb)
write("masks", "data/carol.v.csv", v)
x = [a + b for a, b in zip(xa, xb)]
xt = [list(c) for c in zip(*x)]
w = v[:]
for _ in range(3):
    p = [sum(r[j] * w[j] for j in range(4)) for r in x]
    g = [sum(xt[i][k] * p[k] for k in range(n)) for i in range(4)]
    w = [wi - 0.1 * gi for wi, gi in zip(w, g)]
write("masks", "expected/alice/w.csv", w)
write("masks", "expected/bob/gram.csv", matmul(xt, x))
write("masks", "expected/carol/s.csv", [sum(w)])
