#!/usr/bin/env bash
# Issue 22's measurement: the tiny student distilled from the fine-tuned mini teacher (teacher.sh) against the same tiny
# student fine-tuned on the labels alone: same data (all 25,000 training reviews, 256 tokens), same steps, same starting
# weights (random tiny weights of seed 42 with the teacher's vocabulary, classifier of seed 43), bf16, side by side on
# one core each; then both evaluated on all 25,000 test reviews (each run does that after every epoch), and the
# teacher's and student's speed (reviews/s at 128 and 512 tokens) measured in one run.
# Usage: students.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: students.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
S="--imdb-archive $A --max-length 256 --epochs 2 --batch-size 32 --lr 1e-3 --dropout 0.1 --seed 42 --group-by-length --precision bf16 --threads 1"
date -u +"start %FT%TZ"
t labels $B finetune --preset tiny --vocab runs/distill-teacher/vocab.txt --out runs/distill-tiny-labels $S > runs/distill-tiny-labels.log 2>&1 &
t distilled $B distill runs/distill-teacher --student tiny --out runs/distill-tiny-kd --temperature 2 --alpha 0.5 $S > runs/distill-tiny-kd.log 2>&1 &
wait
date -u +"students done %FT%TZ"
