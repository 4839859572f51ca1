#!/usr/bin/env bash
# The teacher of issue 22's distillation experiment: a mini model pretrained on IMDB (phases 1, 2 and 3' of
# docs/results/imdb-mini-3phase and imdb-mini-p3-512; phases 2 and 3' in bf16 to save time), then fine-tuned on all
# 25,000 training reviews at 512 tokens for two epochs (the recipe of docs/results/imdb-finetune-512, in bf16).
# Usage: teacher.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: teacher.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
P="--corpus imdb --imdb-archive $A"
date -u +"start %FT%TZ"
t phase1 $B pretrain $P --dropout 0 --preset mini --vocab-size 8192 --seq-length 32 --batch-size 128 --steps 800 --lr 1e-3 \
    --warmup 100 --schedule constant --eval-every 200 --checkpoint-every 800 --name distill-mini-p1
t phase2 $B pretrain $P --dropout 0 --init-from runs/distill-mini-p1 --seq-length 128 --batch-size 32 --steps 7000 --lr 1e-3 \
    --warmup 100 --eval-every 500 --checkpoint-every 1000 --precision bf16 --name distill-mini-p2
t phase3-512 $B pretrain $P --init-from runs/distill-mini-p2 --copy-positions 128 --dropout 0.1 --seq-length 512 --batch-size 8 \
    --steps 1800 --lr 5e-4 --warmup 100 --eval-every 300 --eval-batches 100 --checkpoint-every 900 --precision bf16 \
    --name distill-mini-p3-512
t teacher $B finetune runs/distill-mini-p3-512 --out runs/distill-teacher --imdb-archive $A --max-length 512 --epochs 2 \
    --batch-size 32 --lr 2e-4 --dropout 0.1 --seed 42 --group-by-length --precision bf16
date -u +"done %FT%TZ"
