#!/usr/bin/env bash
# Stops a sample pretraining at random moments N times -- kill -9 (a crash, a power cut) or SIGTERM (Ctrl+C: the run
# checkpoints and prints how to resume), alternately -- and after each stop continues it the way the user would (the
# printed resume command, else the same command again), then checks that the final checkpoint equals, bit for bit, that
# of an uninterrupted run. A stop may land anywhere: while the vocabulary or the tokenized store is built, during the
# first evaluation, mid-step, while a checkpoint is written; a killed run's lock and temporary folders must not get in
# the way. Then fine-tuning's finish: a fine-tuning of the reference run is stopped by kill -9 at each file operation of
# its finish (the test hook BERTSHARP_TEST_PAUSE_FINISH=K pauses before the K-th), resumed with --resume, and its model,
# final checkpoint and finetune_results.json (wall times aside) must equal an uninterrupted fine-tuning's, with no
# temporary or orphan folder left and the lock released. Usage: tools/safety/kill-test.sh [N=10] [STEPS=60]
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

# Fine-tuning's finish: config.json, model.safetensors, vocab.txt, tokenizer_config.json, special_tokens_map.json, then
# finetune_results.json -- six file operations, a kill before each.
data="$work/labelled.jsonl"
for k in $(seq 1 40); do
  if [ $((k % 2)) -eq 0 ]; then echo "{\"text\": \"a wonderful film, i loved the acting number $k.\", \"label\": \"pos\"}"
  else echo "{\"text\": \"a boring film, i hated the plot number $k.\", \"label\": \"neg\"}"; fi
done >"$data"
ft=(finetune "$work/reference" --data "$data" --epochs 2 --batch-size 8 --max-length 32 --log-every 0 --threads 1)
dotnet "$cli" "${ft[@]}" --out "$work/ft-reference" >"$work/ft-reference.out" 2>&1 || { echo "reference fine-tuning failed"; tail -5 "$work/ft-reference.out"; exit 1; }
strip() { /usr/bin/python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o.pop("seconds",None); o.pop("best_checkpoint",None); o.pop("best_checkpoint",None); [h.pop(k,None) for h in o["history"] for k in ("train_seconds","eval_seconds")]; print(json.dumps(o,sort_keys=True))' "$1"; }
for k in 1 2 3 4 5 6; do
  out="$work/ft$k"
  BERTSHARP_TEST_PAUSE_FINISH=$k dotnet "$cli" "${ft[@]}" --out "$out" >"$work/ft$k.out" 2>&1 &
  job=$!
  for _ in $(seq 1 600); do grep -q "paused at finish operation $k" "$work/ft$k.out" && break; kill -0 $job 2>/dev/null || break; sleep 0.1; done
  ok=1
  grep -q "paused at finish operation $k" "$work/ft$k.out" || { echo "finish $k: never paused"; tail -3 "$work/ft$k.out"; ok=0; }
  kill -KILL $job 2>/dev/null; { wait $job; } 2>/dev/null
  dotnet "$cli" "${ft[@]}" --out "$out" --resume >"$work/ft$k.resume" 2>&1 || { echo "finish $k: resume failed"; tail -3 "$work/ft$k.resume"; ok=0; }
  for f in config.json model.safetensors vocab.txt tokenizer_config.json special_tokens_map.json; do
    [ $ok -eq 1 ] || break
    cmp -s "$work/ft-reference/$f" "$out/$f" || { echo "finish $k: $f differs from the uninterrupted fine-tuning"; ok=0; }
  done
  last=$(ls "$work/ft-reference/checkpoints" | sort -t- -k2 -n | tail -1)
  for f in model.safetensors optimizer.safetensors; do
    [ $ok -eq 1 ] || break
    cmp -s "$work/ft-reference/checkpoints/$last/$f" "$out/checkpoints/$last/$f" || { echo "finish $k: checkpoints/$last/$f differs"; ok=0; }
  done
  [ $ok -eq 0 ] || [ "$(strip "$work/ft-reference/checkpoints/$last/finetune_history.json")" = "$(strip "$out/checkpoints/$last/finetune_history.json")" ] \
    || { echo "finish $k: checkpoints/$last/finetune_history.json differs"; ok=0; }
  [ $ok -eq 0 ] || [ "$(strip "$work/ft-reference/finetune_results.json")" = "$(strip "$out/finetune_results.json")" ] \
    || { echo "finish $k: finetune_results.json differs"; ok=0; }
  # A second resume of the finished run is a no-op.
  [ $ok -eq 0 ] || dotnet "$cli" "${ft[@]}" --out "$out" --resume 2>&1 | grep -q "already finished" || { echo "finish $k: a second resume is not a no-op"; ok=0; }
  leftovers=$(find "$work" -maxdepth 1 -name "ft$k.checkpoints-*" -o -maxdepth 1 -name ".ft$k.tmp*"; find "$out" -name '*.tmp*' -o -name '.bertsharp.lock' | head -3)
  [ -z "$leftovers" ] || { echo "finish $k: left behind: $leftovers"; ok=0; }
  if [ $ok -eq 1 ]; then echo "finish $k: kill -9 there, resumed: equal to the uninterrupted fine-tuning"; else fail=1; fi
done

[ $fail -eq 0 ] && echo "kill test: $n of $n bit-exact, fine-tuning's finish 6 of 6" || echo "kill test: FAILED"
exit $fail
