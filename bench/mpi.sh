#!/usr/bin/env bash
# Data-parallel throughput, side by side in one run: 1 process x T threads vs N ranks x T/N threads (mpirun, shared
# memory) vs the same over TCP loopback (--mca btl tcp,self), the mini preset at batch 32 x 128 on the bundled sample.
# Prints tokens/s (median over the steps after the first 3), the scaling efficiency against the 1-process run, and
# the allreduce time and bytes per update. Usage: bench/mpi.sh [STEPS=16] [RANKS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-16}; ranks=${2:-2}; cores=$(nproc); per=$(( cores / ranks > 0 ? cores / ranks : 1 ))
dotnet build -c Release src/BertSharp.Cli -v q -nologo >/dev/null
cli=src/BertSharp.Cli/bin/Release/net10.0/BertSharp.Cli.dll
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
base=(pretrain --preset mini --seq-length 128 --batch-size 32 --warmup 0 --eval-batches 1)
common=("${base[@]}" --steps "$steps" --eval-every "$steps" --checkpoint-every "$steps")
median() { python3 -c 'import json,sys,statistics
r=[json.loads(l) for l in open(sys.argv[1])]
t=[x["tokens_per_s"] for x in r if x["split"]=="train" and x["step"]>3]
print(f"{statistics.median(t):.0f}")' "$1/metrics.jsonl"; }
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
# Prepare the vocabulary and store once (copied), so every configuration times training only.
dotnet "$cli" "${base[@]}" --steps 1 --run-dir "$work/prep" >/dev/null
prep() { mkdir -p "$1"; cp -r "$work/prep/vocab.txt" "$work/prep/corpus" "$1/"; }
prep "$work/one";  dotnet "$cli" "${common[@]}" --threads "$cores" --run-dir "$work/one" >/dev/null 2>"$work/one.err"
prep "$work/sm";   mpirun --allow-run-as-root --oversubscribe -np "$ranks" dotnet "$cli" "${common[@]}" --threads "$per" --run-dir "$work/sm" >/dev/null 2>"$work/sm.err"
prep "$work/tcp";  mpirun --allow-run-as-root --oversubscribe -np "$ranks" --mca btl tcp,self dotnet "$cli" "${common[@]}" --threads "$per" --run-dir "$work/tcp" >/dev/null 2>"$work/tcp.err"
one=$(median "$work/one")
printf '%-34s %10s %11s  %s\n' configuration tokens/s efficiency allreduce
printf '%-34s %10s %11s  %s\n' "1 process x $cores threads" "$one" "1.00" "-"
for c in sm tcp; do
  t=$(median "$work/$c"); label="$ranks ranks x $per thread(s), $([ $c = sm ] && echo shared memory || echo TCP loopback)"
  printf '%-34s %10s %11.2f  %s\n' "$label" "$t" "$(awk -v a="$t" -v b="$one" 'BEGIN{print a/b}')" "$(grep -ao 'allreduce: .*' "$work/$c.err" | tr -d '\r' | cut -d' ' -f2-)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
