#!/usr/bin/env bash
# kill -9 of one rank during a 2-rank pretraining, N times: each time the job must end within 30 s with a non-zero
# exit, and rerunning the run folder must resume from the last complete checkpoint (alternately with 1 and 2 ranks)
# and reach the end. Usage: tools/mpi/kill-test.sh [N=3] [STEPS=80]
set -uo pipefail
cd "$(dirname "$0")/../.."
n=${1:-3}; steps=${2:-80}
cli=src/BertSharp.Cli/bin/Release/net10.0/BertSharp.Cli.dll
[ -f "$cli" ] || dotnet build src/BertSharp.Cli -c Release -v q -nologo >/dev/null || exit 1
mpi=(mpirun --allow-run-as-root --oversubscribe)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
for i in $(seq 1 "$n"); do
  run="$work/run$i"; tag="kill-test-$$-$i"
  args=(pretrain --run-dir "$run" --steps "$steps" --dropout 0.1 --eval-every 20 --checkpoint-every 10 --eval-batches 2 --threads 1)
  "${mpi[@]}" -np 2 -x BERTSHARP_TEST_TAG="$tag" dotnet "$cli" "${args[@]}" >"$work/out$i" 2>&1 &
  job=$!
  # Kill at a random point after the first checkpoint: rank 0 or rank 1, chosen by the iteration.
  until [ -d "$run/checkpoints/checkpoint-10" ] || ! kill -0 $job 2>/dev/null; do sleep 0.1; done
  sleep "0.$((RANDOM % 10))"
  victim_rank=$(( i % 2 ))
  victim=$(grep -lz "^BERTSHARP_TEST_TAG=$tag\$" /proc/[0-9]*/environ 2>/dev/null | while read -r f; do
             d=${f%/environ}; grep -qz "^OMPI_COMM_WORLD_RANK=$victim_rank\$" "$f" && echo "${d#/proc/}"; done | head -1)
  if [ -z "$victim" ]; then echo "run $i: rank $victim_rank not found (job already over?)"; fail=1; wait $job; continue; fi
  t0=$(date +%s.%N); kill -9 "$victim"
  for _ in $(seq 1 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
  if kill -0 $job 2>/dev/null; then echo "run $i: job still running 30 s after kill -9 of rank $victim_rank"; kill -9 $job; fail=1; continue; fi
  wait $job; rc=$?; t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  last=$(ls -d "$run"/checkpoints/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1)
  [ "$rc" -ne 0 ] || { echo "run $i: exit 0 after a kill"; fail=1; }
  ranks=$(( i % 2 + 1 ))
  if [ "$ranks" -eq 1 ]; then dotnet "$cli" "${args[@]}" >"$work/resume$i" 2>&1; rrc=$?
  else "${mpi[@]}" -np 2 dotnet "$cli" "${args[@]}" >"$work/resume$i" 2>&1; rrc=$?; fi
  from=$(grep -ao "resuming from [^ ]*" "$work/resume$i" | head -1)
  if [ "$rrc" -ne 0 ] || ! grep -q "done: $steps steps" "$work/resume$i" || [ "$from" != "resuming from $last" ]; then
    echo "run $i: resume with $ranks rank(s) failed (exit $rrc, '$from', expected 'resuming from $last')"; tail -5 "$work/resume$i"; fail=1
  else
    printf 'run %d: killed rank %d, job ended in %.1f s with exit %d; resumed from %s with %d rank(s) to step %d\n' \
      "$i" "$victim_rank" "$t" "$rc" "${last##*/}" "$ranks" "$steps"
  fi
done
[ $fail -eq 0 ] && echo "kill test: $n of $n passed" || echo "kill test: FAILED"
exit $fail
