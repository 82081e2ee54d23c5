#!/usr/bin/env bash
# ModelZoo-style: a performance run (PERFORMANCE_ITERATIONS iterations, default 500),
# on every NPU of the server (RANK_TABLE_FILE; RANK_SIZE, default 8).
#   bash test/train_performance_8p.sh --data_path=../dataset [train.py options ...]   (see common.sh)
MODE=performance RANKS=8
source "$(dirname "$0")/common.sh"
