#!/usr/bin/env python3
"""SPU and sfvm side by side, in one run, on the same machine.

For every workload, SPU 0.9.5 (../shared/peers/spu_bench.py: its simulator, SEMI2K over FM128,
default settings, 2 parties) runs first and sfvm right after it, so both meet the same load; then
one table: workload, SPU time, sfvm time, SPU / sfvm, and both errors against float64.

    python3 benches/spu_compare.py [--env DIR] [--only mul,matmul,...] [--out results.jsonl]

--env is SPU's virtual environment: made there (python3 -m venv, pip install -r
../shared/peers/spu-requirements.txt) when it does not exist yet, reused when it does. The
default is ../spu-env beside the repository, or $SPU_ENV.

What is timed:
- kernels (mul, matmul, comparisons, nonlinear functions): SPU's run_s (shares already set; the
  best of 3 runs where spu_bench.py repeats a task, mul up to 1e6 and matmul up to 256, else one),
  and sfvm's benches/examples/kernels.rs, which shares first and times the kernel alone: the best
  of as many runs as SPU's, and of at least 2, after one untimed run (a fresh process's first runs
  pay for taking memory from the system; SPU's worker has compiled and set its inputs before it
  times a run). This leans towards sfvm where SPU runs once, and is stated beside the table;
- logistic regression and the MLP run: SPU's e2e_incl_sharing_s, and the whole `sfvm run` process
  (loading the module, reading the .npy inputs, sharing, the run, opening, writing the outputs),
  which is what a user waits for, timed after one untimed run (SPU's worker is warm too); the data and the float64 references are SPU's own
  (spu_bench._lr_data, _lr_numpy), so both systems train on the same rows;
- MLP compile: SPU's first compile (first_compile_wall_s: trace, lower, compile), and the whole
  `sfc compile` process.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS = os.environ.get("SF_PEERS_DIR", os.path.join(REPO, "..", "shared", "peers"))
RELEASE = os.path.join(REPO, "target", "release")

# (key, label, SPU arguments, how to pick SPU's record, sfvm runner, error kind)
# error kinds: abs (max abs), rel (max rel where |ref| >= 1e-2), bits (mismatches), lr, none


def spu_repeats(case, n):
    """How many runs spu_bench.py times with --repeats 3 (it repeats only its small tasks)."""
    return 3 if (case == "mul" and n <= 1_000_000) or (case == "matmul" and n <= 256) else 1


def kernel(name, size, repeats):
    def run(_work):
        cmd = [os.path.join(RELEASE, "examples", "kernels"), name, str(size), str(repeats)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    return run


def spu_filter(**want):
    return lambda rec: all(rec.get(k) == v for k, v in want.items())


def workloads(args):
    nonlin = [("exp", "uniform", "rel"), ("log", "uniform", "rel"), ("reciprocal", "uniform", "rel"),
              ("sqrt", "uniform", "rel"), ("rsqrt", "loguniform", "rel"), ("sigmoid", "uniform", "abs"),
              ("tanh", "uniform", "abs"), ("div", "mixed", "rel")]
    w = []
    for n in args.mul_sizes:
        w.append(("mul", f"secret multiply {n:.0e}", ["--cases", "mul", "--mul-sizes", str(n)],
                  spu_filter(case="mul", n=n), kernel("mul", n, max(2, spu_repeats("mul", n))), "abs"))
    for n in args.matmul_sizes:
        w.append(("matmul", f"matmul {n}", ["--cases", "matmul", "--matmul-sizes", str(n)],
                  spu_filter(case="matmul", n=n), kernel("matmul", n, max(2, spu_repeats("matmul", n))), "rel"))
    for op in ["greater", "less_equal", "relu", "maximum"]:
        w.append(("cmp", f"{op} 1e6", ["--cases", "cmp", "--n", "1e6"],
                  spu_filter(case="cmp", op=op), kernel(op, 1_000_000, 2), "bits" if op in ("greater", "less_equal") else "abs"))
    for op, dist, err in nonlin:
        w.append(("nonlin", f"{op} 1e6", ["--cases", "nonlin", "--n", "1e6", "--no-variants", "--nonlin-ops", op],
                  lambda rec, op=op, dist=dist: rec.get("case") == "nonlin" and rec.get("op") == op
                  and (rec.get("dist") == dist or dist == "mixed"), kernel(op, 1_000_000, 2), err))
    w.append(("lr", "logistic regression 10k x 100, 10 epochs", ["--cases", "lr"],
              spu_filter(case="lr"), lr_run, "lr"))
    w.append(("mlp", "MLP 100 layers: compile", ["--cases", "compile", "--mlp-layers", "100"],
              spu_filter(case="compile", layers=100), mlp_run, "mlp"))
    return w


# --- sfvm programs ------------------------------------------------------------------------------


def timed(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return time.perf_counter() - t0


def compile_and_run(work, name, source, inputs):
    import numpy as np

    src = os.path.join(work, f"{name}.sf")
    with open(src, "w") as f:
        f.write(source)
    module = os.path.join(work, f"{name}.sfbc")
    compile_s = timed([os.path.join(RELEASE, "sfc"), "compile", src, "-o", module])
    cmd = [os.path.join(RELEASE, "sfvm"), "run", module, "--mode", "sim", "--out", os.path.join(work, "out")]
    for key, value in inputs.items():
        path = os.path.join(work, key + ".npy")
        np.save(path, np.ascontiguousarray(value, dtype=np.float64))
        cmd += ["--input", f"{key}={path}"]
    # One run first, untimed, as SPU's worker is warm when it times its run: the first start of
    # a fresh binary pays for reading it and its inputs from disk.
    timed(cmd)
    run_s = timed(cmd)
    return compile_s, run_s


def read_output(work, party, name):
    import numpy as np

    return np.loadtxt(os.path.join(work, "out", party, f"{name}.csv"), delimiter=",", ndmin=1)


def lr_run(work):
    import numpy as np
    import spu_bench

    rows, cols, epochs, rate, seed = 10000, 100, 10, 1.0, 20240601
    X, y, _, _ = spu_bench._lr_data(rows, cols, seed)
    h = cols // 2
    # The program of benches/programs.rs: 50 + 50 columns, 10 epochs at rate 1.
    with open(os.path.join(HERE, "programs", "logistic_regression.sf")) as f:
        source = f.read()
    _, run_s = compile_and_run(work, "lr", source, {"alice.xa": X[:, :h], "bob.xb": X[:, h:], "bob.y": y})
    w_ref, b_ref = spu_bench._lr_numpy(X, y, epochs, rate)
    w = read_output(work, "alice", "w")
    b = read_output(work, "alice", "b")[0]
    return {"run_s": run_s, "max_abs_weight_diff": float(np.max(np.abs(w - w_ref))), "bias_diff": float(abs(b - b_ref))}


def mlp_run(work):
    import numpy as np

    layers, width, batch, seed = 100, 256, 64, 20240601
    # The same draws, in the same order, as spu_bench.case_compile.
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (batch, width))
    Ws = [rng.normal(0, 1 / np.sqrt(width), (width, width)) for _ in range(layers)]
    bs = [rng.normal(0, 0.1, (width,)) for _ in range(layers)]
    lines = ["parties alice, bob;", "use std::nn::{relu};", f'let h0: fix[{batch}, {width}] @alice = input("x");']
    for i in range(layers):
        lines.append(f'let w{i}: fix[{width}, {width}] @bob = input("w{i}");')
        lines.append(f'let b{i}: fix[{width}] @bob = input("b{i}");')
        affine = f"h{i} @ w{i} + b{i}"
        lines.append(f"let h{i + 1} = " + (f"relu({affine});" if i + 1 < layers else f"{affine};"))
    lines.append(f'output(reveal(h{layers}, to: alice), "y");')
    inputs = {"alice.x": x}
    for i in range(layers):
        inputs[f"bob.w{i}"] = Ws[i]
        inputs[f"bob.b{i}"] = bs[i]
    compile_s, run_s = compile_and_run(work, "mlp", "\n".join(lines) + "\n", inputs)
    ref = x
    for i in range(layers):
        ref = ref @ Ws[i] + bs[i]
        if i + 1 < layers:
            ref = np.maximum(ref, 0.0)
    got = read_output(work, "alice", "y").reshape(ref.shape)
    return {"compile_s": compile_s, "run_s": run_s, "max_abs_err": float(np.max(np.abs(got - ref)))}


# --- the run ------------------------------------------------------------------------------------


def ensure_env(env):
    python = os.path.join(env, "bin", "python")
    if not os.path.exists(python):
        print(f"making SPU's environment in {env} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", env], check=True)
        subprocess.run([os.path.join(env, "bin", "pip"), "install", "-q", "-r", os.path.join(PEERS, "spu-requirements.txt")], check=True)
    return python


def spu_records(python, spu_args):
    cmd = [python, os.path.join(PEERS, "spu_bench.py"), "--parties", "2", "--repeats", "3"] + spu_args
    r = subprocess.run(cmd, capture_output=True, text=True)
    recs = []
    for line in r.stdout.splitlines():
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return recs


def error_text(kind, rec):
    if rec is None:
        return "?"
    if kind == "bits":
        return "exact" if rec.get("mismatches") == 0 else f"{rec.get('mismatches')} wrong"
    if kind == "abs":
        return f"{rec['max_abs_err']:.1e}" if "max_abs_err" in rec else "?"
    if kind == "rel":
        v = rec.get("max_rel_err_where_abs_ref_ge_1e-2", rec.get("max_rel_err"))
        return f"{v:.1e}" if v is not None else "?"
    if kind == "lr":
        v = rec.get("max_abs_weight_diff")
        return f"w {v:.1e}" if v is not None else "?"
    if kind == "mlp":
        v = rec.get("max_abs_err")
        return f"{v:.1e}" if v is not None else ""
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default=os.environ.get("SPU_ENV", os.path.join(REPO, "..", "spu-env")))
    ap.add_argument("--only", default="", help="comma list of: mul,matmul,cmp,nonlin,lr,mlp")
    ap.add_argument("--mul-sizes", default="1000000,10000000")
    ap.add_argument("--matmul-sizes", default="256,512,1024")
    ap.add_argument("--out", default=None, help="append every record (both systems) here as JSON lines")
    args = ap.parse_args()
    args.mul_sizes = [int(float(v)) for v in args.mul_sizes.split(",") if v]
    args.matmul_sizes = [int(v) for v in args.matmul_sizes.split(",") if v]
    env = os.path.abspath(args.env)
    python = ensure_env(env)
    if os.path.realpath(sys.prefix) != os.path.realpath(env):
        # numpy and spu_bench's data come from SPU's environment: go on in it.
        os.execv(python, [python] + sys.argv)
    sys.path.insert(0, PEERS)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "sfc", "-p", "sfvm"], cwd=REPO, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "sf-benches", "--example", "kernels"], cwd=REPO, check=True)
    only = set(filter(None, args.only.split(",")))
    rows = []
    spu_cache = {}
    out = open(args.out, "a") if args.out else None
    for key, label, spu_args, pick, sfvm_run, err in workloads(args):
        if only and key not in only:
            continue
        cache_key = tuple(spu_args)
        if cache_key not in spu_cache:
            spu_cache[cache_key] = spu_records(python, spu_args)
            # SPU's worker frees gigabytes as it exits; let that finish before sfvm's turn.
            time.sleep(3)
        spu = next((r for r in spu_cache[cache_key] if r.get("status") == "ok" and pick(r)), None)
        with tempfile.TemporaryDirectory(prefix="sf-compare-") as work:
            try:
                ours = sfvm_run(work)
            except Exception as e:  # a failure is a row of the table, not the end of the run
                ours = {"error": str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)}
        if out:
            out.write(json.dumps({"workload": label, "spu": spu, "sfvm": ours}) + "\n")
            out.flush()
        if key == "mlp":
            entries = [(label, spu and spu.get("first_compile_wall_s"), ours.get("compile_s"), "none"),
                       ("MLP 100 layers: run (incl. sharing)", spu and spu.get("e2e_incl_sharing_s"), ours.get("run_s"), "mlp")]
        elif key == "lr":
            entries = [(label + " (incl. sharing)", spu and spu.get("e2e_incl_sharing_s"), ours.get("run_s"), err)]
        else:
            entries = [(label, spu and spu.get("run_s"), ours.get("run_s"), err)]
        for name, spu_s, our_s, kind in entries:
            ratio = f"{spu_s / our_s:.1f}x" if spu_s and our_s else "?"
            row = (name, f"{spu_s:.3f} s" if spu_s else "?", f"{our_s:.3f} s" if our_s else ours.get("error", "?"), ratio,
                   error_text(kind, spu), error_text(kind, ours))
            rows.append(row)
            print(" | ".join(row), flush=True)
    print()
    print("| workload | SPU time | sfvm time | SPU / sfvm | SPU error | sfvm error |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
