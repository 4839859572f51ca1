#!/usr/bin/env bash
# The second distillation setting of docs/RESULTS.md (alpha 0.9, T 4), rerun in the students' --out with --force: the
# teacher's logits come from the cache there. Run from anywhere; BIN as in ../../common.sh.
source "$(dirname "$0")/../../common.sh"
S="--imdb-archive $A --max-length 256 --epochs 2 --batch-size 32 --lr 1e-3 --dropout 0.1 --seed 42 --group-by-length --precision bf16"
t distilled-a09-t4 $B distill runs/distill-teacher --student tiny --out runs/distill-tiny-kd --force --temperature 4 --alpha 0.9 $S > runs/distill-tiny-kd-a09-t4.log 2>&1
