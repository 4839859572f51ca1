#!/usr/bin/env bash
# Phase 4: 2,400 more updates at length 512 from phase 3′'s weights (docs/results/imdb-mini-p3-512), another data
# seed so that it does not repeat phase 3′'s sequences, then fine-tuning (a″) from it exactly as (a′) of
# docs/results/imdb-mini-p3-512/run.sh (2 epochs, 512 tokens, 2 threads; the same budget as (b)), with seed 42 and 7.
# Usage: run.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: console.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
date -u +"start %FT%TZ"
t phase4-512 $B pretrain --corpus imdb --imdb-archive $A --init-from runs/imdb-mini-p3-512 --dropout 0.1 --seed 2 \
    --seq-length 512 --batch-size 8 --steps 2400 --lr 5e-4 --warmup 100 --eval-every 600 --eval-batches 100 --checkpoint-every 1200 \
    --name imdb-mini-p4-512
date -u +"phase4-512 done %FT%TZ"
t finetune-a512-p4 $B finetune --model runs/imdb-mini-p4-512 --out runs/imdb-512-a-p4-512 --imdb-archive $A --max-length 512 --epochs 2 \
    --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --group-by-length --threads 2 > runs/imdb-512-a-p4-512.log 2>&1
date -u +"finetune done %FT%TZ"
t finetune-a512-p4-seed7 $B finetune --model runs/imdb-mini-p4-512 --out runs/imdb-512-a-p4-512-s7 --imdb-archive $A --max-length 512 \
    --epochs 2 --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 7 --group-by-length --threads 2 > runs/imdb-512-a-p4-512-s7.log 2>&1
date -u +"finetune (second seed) done %FT%TZ"
