#!/usr/bin/env bash
# IMDB fine-tuning at 512 tokens (head+tail), 2 epochs, length-grouped batches: (a) from the 60-minute IMDB
# pretraining (docs/results/imdb-mini-3phase, phase 3) and (b) the same architecture and vocabulary from random
# weights, side by side on one core each (docs/RESULTS.md). Usage: run.sh [PRETRAINED] [BIN] (defaults below).
M=${1:-runs/imdb-mini-p3}
BIN=${2:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
FT="--imdb-archive $A --max-length 512 --epochs 2 --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --group-by-length --threads 1"
date -u +"start %FT%TZ"
t finetune-a $B finetune --model "$M" --out runs/imdb-512-a $FT > runs/imdb-512-a.log 2>&1 &
t finetune-b $B finetune --model "$M" --random-init --out runs/imdb-512-b $FT > runs/imdb-512-b.log 2>&1 &
wait
date -u +"finetune done %FT%TZ"
