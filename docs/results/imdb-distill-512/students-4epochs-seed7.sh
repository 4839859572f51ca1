#!/usr/bin/env bash
# students-4epochs.sh's labels-only student and the distilled one with the default loss (alpha 0.5, T 2) again with
# another seed (7: the tiny start, the classifier, data order and dropout), to see whether the gain is the seed's.
# Usage: students-4epochs-seed7.sh [BIN]. Console output: students-4epochs-seed7.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
T=runs/distill-teacher-512
S="--imdb-archive $A --max-length 512 --epochs 4 --batch-size 32 --lr 1e-3 --dropout 0.1 --seed 7 --group-by-length --precision bf16 --threads 1"
date -u +"start %FT%TZ"
mkdir -p runs/distill512-tiny-kd4-s7 && cp runs/distill512-tiny-kd/teacher_logits.safetensors runs/distill512-tiny-kd4-s7/
t labels4-s7 $B finetune --preset tiny --vocab $T/vocab.txt --out runs/distill512-tiny-labels4-s7 $S > runs/distill512-tiny-labels4-s7.log 2>&1 &
t kd4-s7 $B distill $T --student tiny --out runs/distill512-tiny-kd4-s7 --force --temperature 2 --alpha 0.5 $S > runs/distill512-tiny-kd4-s7.log 2>&1 &
wait
date -u +"done %FT%TZ"
