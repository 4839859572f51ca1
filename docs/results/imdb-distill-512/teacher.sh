#!/usr/bin/env bash
# Issue 22's second measurement, the stronger teacher: the mini model of ../imdb-distill/teacher.sh (phase 1, then phase 2
# at 128 tokens in bf16, 3,500 updates; that run had stopped after update 1,231 and resumes here from its checkpoint, bit
# for bit), then phase 3' of the 89.4 % recipe (../imdb-mini-p3-512: 1,800 updates at 512 tokens, positions 128-511 start
# as copies of 0-127, dropout 0.1), in bf16; fine-tuned on all 25,000 training reviews at 512 tokens, two epochs, bf16.
# Phase 4 of that recipe (+0.5 point there) is left out for time.
# Usage: teacher.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: teacher.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
P="--corpus imdb --imdb-archive $A --dropout 0"
date -u +"start %FT%TZ"
[ -f runs/distill-mini-p1/model.safetensors ] || t phase1 $B pretrain $P --preset mini --vocab-size 8192 --seq-length 32 \
    --batch-size 128 --steps 800 --lr 1e-3 --warmup 100 --schedule constant --eval-every 200 --checkpoint-every 800 --name distill-mini-p1
[ -f runs/distill-mini-p2/model.safetensors ] || t phase2 $B pretrain $P --init-from runs/distill-mini-p1 --seq-length 128 \
    --batch-size 32 --steps 3500 --lr 1e-3 --warmup 100 --eval-every 500 --checkpoint-every 1000 --precision bf16 --name distill-mini-p2
date -u +"phase2 done %FT%TZ"
[ -f runs/distill-mini-p3-512/model.safetensors ] || t phase3-512 $B pretrain --corpus imdb --imdb-archive $A \
    --init-from runs/distill-mini-p2 --copy-positions 128 --dropout 0.1 --seq-length 512 --batch-size 8 --steps 1800 --lr 5e-4 \
    --warmup 100 --eval-every 300 --eval-batches 100 --checkpoint-every 900 --precision bf16 --name distill-mini-p3-512
date -u +"phase3-512 done %FT%TZ"
t teacher $B finetune runs/distill-mini-p3-512 --out runs/distill-teacher-512 --imdb-archive $A --max-length 512 --epochs 2 \
    --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --group-by-length --precision bf16
date -u +"done %FT%TZ"
