#!/usr/bin/env bash
# Runs an example program on its bundled data.
#
#   bash examples/run.sh [EXAMPLE] [sim|debug|party]      (default: credit_scoring, sim)
#
# Builds sfc and sfvm, compiles examples/EXAMPLE/EXAMPLE.sf, binds every data/PARTY.NAME.csv
# as the input NAME of PARTY, runs it, and prints the outputs from target/examples/EXAMPLE/out.
# sim and debug run every party in this process; party starts one process per party over
# mutual TLS on this machine, with fresh certificates made by `sfvm cluster init` for the
# parties and ports of the example's cluster.toml.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:-credit_scoring}"
mode="${2:-sim}"
dir="$root/examples/$name"
[ -f "$dir/$name.sf" ] || { echo "error: no example $dir/$name.sf; examples: $(ls "$root/examples" | grep -v '\.' | tr '\n' ' ')" >&2; exit 2; }
case "$mode" in sim|debug|party) ;; *) echo "error: mode must be sim, debug or party, not $mode" >&2; exit 2 ;; esac

# SF_BIN_DIR names a folder with sfc and sfvm already built (the tests use theirs).
if [ -n "${SF_BIN_DIR:-}" ]; then
    bin="$SF_BIN_DIR"
else
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sfc --bin sfvm
    bin="$root/target/release"
fi
sfc="$bin/sfc"
sfvm="$bin/sfvm"
work="$root/target/examples/$name"
rm -rf "$work/out"
mkdir -p "$work"
"$sfc" compile "$dir/$name.sf" -o "$work/$name.sfbc"

if [ "$mode" = party ]; then
    parties=$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/cluster.toml")
    port=$(sed -n 's/^address = ".*:\([0-9]*\)"/\1/p' "$dir/cluster.toml" | head -n 1)
    rm -rf "$work/cluster"
    "$sfvm" cluster init "$work/cluster" --parties "$(echo $parties | tr ' ' ',')" --base-port "$port"
    pids=()
    for p in $parties; do
        inputs=()
        for f in "$dir"/data/"$p".*.csv; do
            [ -e "$f" ] || continue
            base=$(basename "$f" .csv)
            inputs+=(--input "${base#"$p".}=$f")
        done
        "$sfvm" run "$work/$name.sfbc" --party "$p" --cluster "$work/cluster/cluster.toml" "${inputs[@]}" --out "$work/out" &
        pids+=($!)
    done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    [ "$status" = 0 ] || { echo "error: a party failed (see above)" >&2; exit 1; }
else
    inputs=()
    for f in "$dir"/data/*.csv; do
        inputs+=(--input "$(basename "$f" .csv)=$f")
    done
    "$sfvm" run "$work/$name.sfbc" --mode "$mode" "${inputs[@]}" --out "$work/out"
fi
for f in "$work"/out/*/*.csv; do
    echo "== ${f#"$work"/out/} (first lines)"
    head -n 4 "$f"
done
