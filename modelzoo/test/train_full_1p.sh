#!/usr/bin/env bash
# ModelZoo-style: the full CIFAR-10 training (configs/cifar10.json),
# on one NPU (ASCEND_DEVICE_ID, default 0).
#   bash test/train_full_1p.sh --data_path=../dataset [train.py options ...]   (see common.sh)
MODE=full RANKS=1
source "$(dirname "$0")/common.sh"
