#!/usr/bin/env bash
# Trains on one Ascend server with several NPUs, as Huawei's ModelZoo scripts do: one train.py
# process per device, each with RANK_ID and ASCEND_DEVICE_ID, HCCL through npu_device. Rank 0
# writes the run dir; every rank logs to $LOG_DIR/rank_<id>.log.
#
#   RANK_TABLE_FILE=/path/hccl_8p.json bash scripts/train_npu_8p.sh --run-dir runs/cifar8p --dataset cifar10 ...
#
# Environment: RANK_TABLE_FILE (required: the server's rank table), RANK_SIZE (default 8),
# FIRST_DEVICE (device id of rank 0, default 0), PYTHON (default python3), LOG_DIR (default
# npu_logs). The CANN and TF-plugin environments must be sourced first (README: Ascend NPU).
# The job's exit status is the first failing rank's (the others are then stopped), else 0;
# SIGTERM/SIGINT reach every rank, which checkpoint and exit 3 (continue with --resume).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${RANK_TABLE_FILE:?set RANK_TABLE_FILE to the rank table of this server, e.g. /user/config/hccl_8p.json}"
if [[ ! -f "$RANK_TABLE_FILE" ]]; then
    echo "error: RANK_TABLE_FILE $RANK_TABLE_FILE does not exist" >&2
    exit 2
fi
export RANK_TABLE_FILE
export RANK_SIZE=${RANK_SIZE:-8}
export JOB_ID=${JOB_ID:-10087}
FIRST_DEVICE=${FIRST_DEVICE:-0}
PYTHON=${PYTHON:-python3}
LOG_DIR=${LOG_DIR:-npu_logs}
mkdir -p "$LOG_DIR"

pids=()
stop_ranks() {  # forwards a signal to every rank still running
    kill "-$1" "${pids[@]}" 2>/dev/null
}
trap 'stop_ranks TERM' TERM
trap 'stop_ranks INT' INT

for ((rank = 0; rank < RANK_SIZE; rank++)); do
    RANK_ID=$rank ASCEND_DEVICE_ID=$((FIRST_DEVICE + rank)) \
        "$PYTHON" train.py --device npu "$@" > "$LOG_DIR/rank_$rank.log" 2>&1 &
    pids+=("$!")
done
echo "started $RANK_SIZE ranks (devices $FIRST_DEVICE..$((FIRST_DEVICE + RANK_SIZE - 1))); logs in $LOG_DIR/rank_<id>.log"

status=0
for ((left = RANK_SIZE; left > 0; left--)); do
    wait -n  # the next rank to end (the ranks are the only children)
    finished=$?
    if ((finished != 0 && status == 0)); then
        status=$finished
        if ((finished != 3)); then  # 3: stopped by a signal, after a checkpoint; the others stop by themselves
            echo "a rank failed with status $finished; stopping the others (see $LOG_DIR/)" >&2
            stop_ranks KILL
        fi
    fi
done
exit "$status"
