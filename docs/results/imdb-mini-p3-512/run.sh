#!/usr/bin/env bash
# Phase 3 at length 512 (instead of the 256 one of docs/results/imdb-mini-3phase): from phase 2's weights, positions
# 128-511 started as copies of positions 0-127 (--copy-positions 128), dropout 0.1 (what fine-tuning uses), then
# fine-tuning (a) from it exactly as docs/results/imdb-finetune-512/run.sh, with 2 threads (the machine to itself).
# Usage: run.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: console.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
date -u +"start %FT%TZ"
t phase3-512 $B pretrain --corpus imdb --imdb-archive $A --init-from runs/imdb-mini-p2 --copy-positions 128 --dropout 0.1 \
    --seq-length 512 --batch-size 8 --steps 1800 --lr 5e-4 --warmup 100 --eval-every 300 --eval-batches 100 --checkpoint-every 900 \
    --name imdb-mini-p3-512
date -u +"phase3-512 done %FT%TZ"
t finetune-a512 $B finetune --model runs/imdb-mini-p3-512 --out runs/imdb-512-a-p3-512 --imdb-archive $A --max-length 512 --epochs 2 \
    --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --group-by-length --threads 2 > runs/imdb-512-a-p3-512.log 2>&1
date -u +"finetune done %FT%TZ"
