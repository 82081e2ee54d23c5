#!/usr/bin/env bash
# ModelZoo-style: a performance run (PERFORMANCE_ITERATIONS iterations, default 500),
# on one NPU (ASCEND_DEVICE_ID, default 0).
#   bash test/train_performance_1p.sh --data_path=../dataset [train.py options ...]   (see common.sh)
MODE=performance RANKS=1
source "$(dirname "$0")/common.sh"
