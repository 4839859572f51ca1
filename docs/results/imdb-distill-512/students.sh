#!/usr/bin/env bash
# Issue 22's measurement with the stronger teacher (teacher.sh): the tiny student distilled from it against the same tiny
# student fine-tuned on the labels alone: same data (all 25,000 training reviews, 512 tokens, the teacher's length), same
# steps, same starting weights (random tiny weights of seed 42 with the teacher's vocabulary, classifier of seed 43), bf16,
# side by side on one core each; each run evaluates on all 25,000 test reviews after every epoch. Then the second
# distilled student (alpha 0.9, T 4: the better one of ../imdb-distill) starts when the labels-only one is done, on its
# core, reusing the first one's cached teacher logits (same teacher, data and tokenization; kept across --force).
# Usage: students.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: students.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
T=runs/distill-teacher-512
S="--imdb-archive $A --max-length 512 --epochs 2 --batch-size 32 --lr 1e-3 --dropout 0.1 --seed 42 --group-by-length --precision bf16 --threads 1"
date -u +"start %FT%TZ"
t labels $B finetune --preset tiny --vocab $T/vocab.txt --out runs/distill512-tiny-labels $S > runs/distill512-tiny-labels.log 2>&1 &
L=$!
t distilled $B distill $T --student tiny --out runs/distill512-tiny-kd --temperature 2 --alpha 0.5 $S > runs/distill512-tiny-kd.log 2>&1 &
K=$!
wait $L
date -u +"labels done %FT%TZ"
# The second distilled student takes the core the first one's labels-only twin leaves, once the teacher's logits are cached.
until [ -f runs/distill512-tiny-kd/teacher_logits.safetensors ]; do sleep 10; done
mkdir -p runs/distill512-tiny-kd-a09-t4 && cp runs/distill512-tiny-kd/teacher_logits.safetensors runs/distill512-tiny-kd-a09-t4/
t distilled-a09-t4 $B distill $T --student tiny --out runs/distill512-tiny-kd-a09-t4 --force --temperature 4 --alpha 0.9 $S \
    > runs/distill512-tiny-kd-a09-t4.log 2>&1 &
wait $K
date -u +"first distilled done %FT%TZ"
wait
date -u +"second distilled done %FT%TZ"
