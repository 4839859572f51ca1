#!/usr/bin/env bash
# The documented IMDB mini pretraining (three phases, <= 60 min in all), then fine-tuning (a) and (b) side by side,
# one thread each (docs/RESULTS.md). Build first: dotnet build -c Release src/BertSharp.Cli. Console output: console.log.
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
P="--corpus imdb --imdb-archive $A --dropout 0"
date -u +"start %FT%TZ"
t phase1 $B pretrain $P --preset mini --vocab-size 8192 --seq-length 32 --batch-size 128 --steps 800 --lr 1e-3 --warmup 100 --schedule constant --eval-every 200 --checkpoint-every 800 --name imdb-mini-p1
date -u +"phase1 done %FT%TZ"
t phase2 $B pretrain $P --init-from runs/imdb-mini-p1 --seq-length 128 --batch-size 32 --steps 7000 --lr 1e-3 --warmup 100 --eval-every 500 --checkpoint-every 1000 --name imdb-mini-p2
date -u +"phase2 done %FT%TZ"
t phase3 $B pretrain $P --init-from runs/imdb-mini-p2 --seq-length 256 --batch-size 16 --steps 1200 --lr 5e-4 --warmup 100 --eval-every 300 --checkpoint-every 600 --name imdb-mini-p3
date -u +"phase3 done %FT%TZ"
FT="--imdb-archive $A --max-length 256 --epochs 1 --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --threads 1"
t finetune-a $B finetune --model runs/imdb-mini-p3 --out runs/imdb-mini-cls $FT > runs/finetune-a.log 2>&1 &
t finetune-b $B finetune --model runs/imdb-mini-p3 --random-init --out runs/imdb-mini-scratch $FT > runs/finetune-b.log 2>&1 &
wait
date -u +"finetune done %FT%TZ"
