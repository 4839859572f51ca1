#!/usr/bin/env bash
# Stops a sample pretraining at random moments N times -- kill -9 (a crash, a power cut) or SIGTERM (Ctrl+C: the run
# checkpoints and prints how to resume), alternately -- and after each stop continues it the way the user would (the
# printed resume command, else the same command again), then checks that the final checkpoint equals, bit for bit, that
# of an uninterrupted run. A stop may land anywhere: while the vocabulary or the tokenized store is built, during the
# first evaluation, mid-step, while a checkpoint is written; a killed run's lock and temporary folders must not get in
# the way. Usage: tools/safety/kill-test.sh [N=10] [STEPS=60]
set -uo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10}; steps=${2:-60}
cli=src/BertSharp.Cli/bin/Release/net10.0/BertSharp.Cli.dll
[ -f "$cli" ] || dotnet build src/BertSharp.Cli -c Release -v q -nologo >/dev/null || exit 1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
args=(pretrain --steps "$steps" --dropout 0.1 --eval-every 20 --checkpoint-every 10 --eval-batches 2 --threads 1)
files=(model.safetensors optimizer.safetensors trainer_state.json)

t0=$(date +%s.%N)
dotnet "$cli" "${args[@]}" --run-dir "$work/reference" >"$work/reference.out" 2>&1 || { echo "reference run failed"; tail -5 "$work/reference.out"; exit 1; }
whole=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
echo "reference: $steps steps in ${whole} s"

fail=0
for i in $(seq 1 "$n"); do
  run="$work/run$i"; signal=$([ $((i % 2)) -eq 1 ] && echo KILL || echo TERM)
  dotnet "$cli" "${args[@]}" --run-dir "$run" >"$work/out$i" 2>&1 &
  job=$!
  # A random moment within the uninterrupted run's wall time (startup and stages included).
  delay=$(awk -v w="$whole" -v r="$RANDOM" 'BEGIN { printf "%.2f", w * r / 32768 }')
  sleep "$delay"
  if kill -0 $job 2>/dev/null; then kill -"$signal" $job; fi
  { wait $job; } 2>/dev/null; rc=$?
  # Continue as printed (after SIGTERM), else the same command again; a second stop is not made.
  resume=$(grep -a "^resume with: bertsharp " "$work/out$i" | head -1 | sed 's/^resume with: bertsharp //; s/   (.*//')
  if [ -n "$resume" ]; then eval "set -- $resume"; dotnet "$cli" "$@" >"$work/resume$i" 2>&1; rrc=$?
  else dotnet "$cli" "${args[@]}" --run-dir "$run" >"$work/resume$i" 2>&1; rrc=$?; fi
  ok=1
  [ "$rrc" -eq 0 ] || { echo "run $i: SIG$signal after ${delay} s (exit $rc), resume failed with exit $rrc"; tail -3 "$work/resume$i"; ok=0; }
  for f in "${files[@]}"; do
    [ $ok -eq 1 ] || break
    cmp -s "$work/reference/checkpoints/checkpoint-$steps/$f" "$run/checkpoints/checkpoint-$steps/$f" \
      || { echo "run $i: SIG$signal after ${delay} s: $f differs from the uninterrupted run"; ok=0; }
  done
  leftovers=$(find "$run" -name '*.tmp*' -o -name '.bertsharp.lock' -o -name '*.building' | head -3)
  [ -z "$leftovers" ] || { echo "run $i: left behind: $leftovers"; ok=0; }
  if [ $ok -eq 1 ]; then
    printf 'run %d: SIG%s after %s s (exit %d), resumed%s: bit-exact\n' "$i" "$signal" "$delay" "$rc" "$([ -n "$resume" ] && echo " as printed" || echo " by the same command")"
  else fail=1; fi
done
[ $fail -eq 0 ] && echo "kill test: $n of $n bit-exact" || echo "kill test: FAILED"
exit $fail
