#!/usr/bin/env bash
# NSP probe for issue 7 (after the hour): phase 2 again, 7,000 more updates at length 128 from phase 2's weights, to
# measure how NSP moves with twice phase 2's training instead of extrapolating. Another data seed (3), so it does not
# repeat phase 2's sequences; its validation items are another share of test/, scored at update 0 too.
# Usage: run.sh [BIN] (default src/BertSharp.Cli/bin/Release/net10.0). Console output: console.log beside it.
BIN=${1:-${BIN:-}}
source "$(dirname "$0")/../common.sh"   # strict mode, repository root, B, A, t
date -u +"start %FT%TZ"
t phase2b $B pretrain --corpus imdb --imdb-archive $A --init-from runs/imdb-mini-p2 --dropout 0 --seed 3 \
    --seq-length 128 --batch-size 32 --steps 7000 --lr 5e-4 --warmup 100 --eval-every 500 --checkpoint-every 3500 \
    --name imdb-mini-p2b
date -u +"phase2b done %FT%TZ"
