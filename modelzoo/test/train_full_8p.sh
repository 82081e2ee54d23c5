#!/usr/bin/env bash
# ModelZoo-style: the full CIFAR-10 training (configs/cifar10.json),
# on every NPU of the server (RANK_TABLE_FILE; RANK_SIZE, default 8).
#   bash test/train_full_8p.sh --data_path=../dataset [train.py options ...]   (see common.sh)
MODE=full RANKS=8
source "$(dirname "$0")/common.sh"
