#!/usr/bin/env bash
# Training-step throughput of two builds side by side: bench/compare.sh OLD_REF [presets] [rounds] [steps]
# Builds OLD_REF (a commit) in a temporary worktree and this working tree, then runs the train suite's child
# (one process per measurement: batch 32 x 128, 20 predictions, vocab 30,522, dropout 0.1, 2 threads) for each
# preset, alternating old and new in every round so that machine load hits both alike. Prints per round and
# the median of the new/old tokens/s ratios (and of the fastest steps' ratios, which intermittent load disturbs
# least), peak RSS and bytes allocated per step.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/compare.sh OLD_REF [presets] [rounds] [steps]}
presets=${2:-tiny,mini,small}
rounds=${3:-5}
steps=${4:-8}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/old" "$old"
dotnet build -c Release "$tmp/old/bench/BertSharp.Bench" -v q -nologo >/dev/null
dotnet build -c Release bench/BertSharp.Bench -v q -nologo >/dev/null
OLD="$tmp/old/bench/BertSharp.Bench/bin/Release/net10.0/BertSharp.Bench.dll"
NEW="bench/BertSharp.Bench/bin/Release/net10.0/BertSharp.Bench.dll"
# One round's line: both sides' tokens/s and their ratio.
round_py='
import sys, json
lines = sys.stdin.readlines()
t = {l.split(" ", 1)[0]: json.loads(l.split(" ", 1)[1])["tokens_per_s"] for l in lines}
f = {l.split(" ", 1)[0]: json.loads(l.split(" ", 1)[1])["min_step_s"] for l in lines}
print("old %.0f tok/s, new %.0f tok/s, ratio %.3f (fastest steps %.3f)" % (t["old"], t["new"], t["new"] / t["old"], f["old"] / f["new"]))'
echo "old $(git rev-parse --short "$old"), new $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + changes'); $(nproc) processors"
for preset in ${presets//,/ }; do
  : > "$tmp/$preset.txt"
  for r in $(seq 1 "$rounds"); do
    for side in old new; do
      dll=$OLD; [ "$side" = new ] && dll=$NEW
      json=$(dotnet "$dll" train --child "$preset" --steps "$steps" --warmup 3 --threads 2 | tail -1)
      echo "$side $json" >> "$tmp/$preset.txt"
    done
    echo "  $preset round $r (load $(cut -d' ' -f1 /proc/loadavg)): $(tail -2 "$tmp/$preset.txt" | python3 -c "$round_py")"
  done
  python3 - "$tmp/$preset.txt" "$preset" <<'PY'
import sys, json, statistics as st
rows = [l.split(" ", 1) for l in open(sys.argv[1])]
old = [json.loads(j) for s, j in rows if s == "old"]; new = [json.loads(j) for s, j in rows if s == "new"]
ratios = [n["tokens_per_s"] / o["tokens_per_s"] for o, n in zip(old, new)]
fastest = [o["min_step_s"] / n["min_step_s"] for o, n in zip(old, new)]
med = lambda xs, k: st.median(x[k] for x in xs)
print(f"{sys.argv[2]}: new/old tokens/s median {st.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}), "
      f"fastest-step ratio median {st.median(fastest):.3f}; "
      f"old {med(old, 'tokens_per_s'):.0f}, new {med(new, 'tokens_per_s'):.0f} tok/s; peak RSS old {max(o['peak_rss_mb'] for o in old):.0f} MB, "
      f"new {max(n['peak_rss_mb'] for n in new):.0f} MB; allocated/step old {max(o['alloc_bytes_per_step'] for o in old):.0f} B, "
      f"new {max(n['alloc_bytes_per_step'] for n in new):.0f} B")
PY
done
