#!/usr/bin/env bash
# Runs an example program on its bundled data, every party in this process.
#
#   bash examples/run.sh [EXAMPLE] [sim|debug]      (default: credit_scoring, sim)
#
# Builds sfc and sfvm, compiles examples/EXAMPLE/EXAMPLE.sf, binds every data/PARTY.NAME.csv
# as the input NAME of PARTY, runs it, and prints the outputs from target/examples/EXAMPLE/out.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:-credit_scoring}"
mode="${2:-sim}"
dir="$root/examples/$name"
[ -f "$dir/$name.sf" ] || { echo "error: no example $dir/$name.sf; examples: $(ls "$root/examples" | grep -v '\.' | tr '\n' ' ')" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sfc --bin sfvm
work="$root/target/examples/$name"
rm -rf "$work/out"
mkdir -p "$work"
"$root/target/release/sfc" compile "$dir/$name.sf" -o "$work/$name.sfbc"
inputs=()
for f in "$dir"/data/*.csv; do
    inputs+=(--input "$(basename "$f" .csv)=$f")
done
"$root/target/release/sfvm" run "$work/$name.sfbc" --mode "$mode" "${inputs[@]}" --out "$work/out"
for f in "$work"/out/*/*.csv; do
    echo "== ${f#"$work"/out/} (first lines)"
    head -n 4 "$f"
done
