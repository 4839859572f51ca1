#!/usr/bin/env bash
# finetune at 512 tokens with and without --group-by-length (100 updates of 32, 2 threads); docs/PERFORMANCE.md.
# BIN= the built CLI folder (default src/BertSharp.Cli/bin/Release/net10.0); runs/imdb-mini-p3-512 from docs/results/imdb-mini-p3-512/run.sh.
cd "$(dirname "$0")/../../.."
B="dotnet ${BIN:-src/BertSharp.Cli/bin/Release/net10.0}/BertSharp.Cli.dll"
C="--model runs/imdb-mini-p3-512 --imdb-archive ../shared/data/aclImdb_v1.tar.gz --max-length 512 --epochs 1 --max-train 3200 --max-eval 640 --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --threads 2 --log-every 0 --force"
for g in "--group-by-length" ""; do
  /usr/bin/time -f "wall %e s" $B finetune $C $g --out /tmp/gbl-out 2>&1 | grep -E "epoch 1:|wall"
done
