#!/usr/bin/env bash
# The students of students.sh again, with four epochs instead of two (tried after seeing students.sh's results: the
# labels-only student's test loss rose in its second epoch while the distilled ones' fell): the same three runs, side by
# side on the two cores, the distilled ones reading the teacher's logits from students.sh's cache (same teacher, data
# and tokenization; the cache is kept across --force).
# Usage: students-4epochs.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: students-4epochs.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
T=runs/distill-teacher-512
S="--imdb-archive $A --max-length 512 --epochs 4 --batch-size 32 --lr 1e-3 --dropout 0.1 --seed 42 --group-by-length --precision bf16 --threads 1"
date -u +"start %FT%TZ"
for k in kd4-a05-t2 kd4-a09-t4; do
    mkdir -p runs/distill512-tiny-$k && cp runs/distill512-tiny-kd/teacher_logits.safetensors runs/distill512-tiny-$k/
done
t labels4 $B finetune --preset tiny --vocab $T/vocab.txt --out runs/distill512-tiny-labels4 $S > runs/distill512-tiny-labels4.log 2>&1 &
t kd4-a05-t2 $B distill $T --student tiny --out runs/distill512-tiny-kd4-a05-t2 --force --temperature 2 --alpha 0.5 $S \
    > runs/distill512-tiny-kd4-a05-t2.log 2>&1 &
t kd4-a09-t4 $B distill $T --student tiny --out runs/distill512-tiny-kd4-a09-t4 --force --temperature 4 --alpha 0.9 $S \
    > runs/distill512-tiny-kd4-a09-t4.log 2>&1 &
wait
date -u +"done %FT%TZ"
