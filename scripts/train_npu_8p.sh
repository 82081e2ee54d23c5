#!/usr/bin/env bash
# Trains on one Ascend server with several NPUs, as Huawei's ModelZoo scripts do: one train.py
# process per device, each with RANK_ID and ASCEND_DEVICE_ID, HCCL through npu_device. Rank 0
# writes the run dir; every rank logs to $LOG_DIR/rank_<id>.log.
#
#   RANK_TABLE_FILE=/path/hccl_8p.json bash scripts/train_npu_8p.sh --run-dir runs/cifar8p --dataset cifar10 ...
#
# Environment: RANK_TABLE_FILE (required: the server's rank table), RANK_SIZE (default 8),
# FIRST_DEVICE (device id of rank 0, default 0), PYTHON (default python3), LOG_DIR (default
# npu_logs) and RANK_LOG (each rank's log in it, default rank_%d.log), and HCCL's own timeouts, which tf.distribute's collective timeout does not reach
# (Huawei's CANN environment variables): HCCL_CONNECT_TIMEOUT, how long the ranks wait for each
# other to connect at start-up (120..7200 s; default here 600, since every rank first imports
# TensorFlow and compiles its graphs), and HCCL_EXEC_TIMEOUT, how long a rank waits in a collective
# for the others (Atlas training: up to 17340 s, counted in whole steps of 68; Atlas A2: up to
# 2147483647, 0 never; default here 1836, 27 steps, above Huawei's 1800: between two collectives the
# chief alone writes checkpoints and sample grids). Each rank checks both as CANN reads them
# (launch.hccl_timeout_notes) and says where a chip would round or refuse them.
# A rank that hangs thus ends the others' collectives with an error after HCCL_EXEC_TIMEOUT. The
# CANN and TF-plugin environments must be sourced first (docs/devices.md: Ascend NPU).
# The job's exit status is the first failing rank's, else 0. A rank that fails stops the others;
# SIGTERM, SIGINT or SIGHUP to this script is forwarded to every rank. Either way the ranks get
# SIGTERM (a background process of a script starts with SIGINT ignored), checkpoint and exit 3
# (continue with --resume); a
# rank still running STOP_GRACE seconds later (default 300) is killed with its children. Each rank
# runs in its own session, so a Ctrl-C reaches it once, through this script, and not twice.
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
RANK_LOG=${RANK_LOG:-rank_%d.log}  # each rank's log under LOG_DIR; %d: the rank (ModelZoo: %d/train_%d.log)
STOP_GRACE=${STOP_GRACE:-300}
export HCCL_CONNECT_TIMEOUT=${HCCL_CONNECT_TIMEOUT:-600}
export HCCL_EXEC_TIMEOUT=${HCCL_EXEC_TIMEOUT:-1836}
for name in RANK_SIZE FIRST_DEVICE STOP_GRACE HCCL_CONNECT_TIMEOUT HCCL_EXEC_TIMEOUT; do
    if [[ ! ${!name} =~ ^[0-9]+$ ]] || ((10#${!name} > 4096 * 1024)); then
        echo "error: $name must be a whole number, got '${!name}'" >&2
        exit 2
    fi
done
if ((RANK_SIZE < 1)); then
    echo "error: RANK_SIZE must be at least 1" >&2
    exit 2
fi
mkdir -p "$LOG_DIR"

pids=()
declare -A rank_of
stopping=""  # set once the ranks have been asked to stop
escalation=""  # the process that kills the ranks still running after the grace period

stop_ranks() {  # $1: why. Sends SIGTERM to every rank still running; kills them after STOP_GRACE s.
    if [[ -n $stopping ]]; then
        return
    fi
    stopping=$1
    kill -TERM "${pids[@]}" 2>/dev/null
    (
        trap - INT HUP
        sleeper=""
        trap '[[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null; exit 0' TERM  # all ranks ended in time
        # Not on the launcher's output: a sleep that outlived this subshell (SIGTERM between the
        # fork and `sleeper=$!`) must not hold the pipe of whoever reads the launcher.
        sleep "$STOP_GRACE" > /dev/null 2>&1 &
        sleeper=$!
        wait "$sleeper"
        echo "ranks still running ${STOP_GRACE}s after SIGTERM ($1; STOP_GRACE); killing them" >&2
        for pid in "${pids[@]}"; do
            kill -KILL -- "-$pid" 2>/dev/null  # the rank's whole process group (setsid made it its leader)
        done
    ) &
    escalation=$!
}
trap 'stop_ranks "the launcher got SIGTERM"' TERM
trap 'stop_ranks "the launcher got SIGHUP"' HUP
trap 'stop_ranks "the launcher got SIGINT"' INT

rank_log() {  # $1: the rank. Its log under LOG_DIR: RANK_LOG with each %d replaced by the rank.
    echo "$LOG_DIR/${RANK_LOG//%d/$1}"
}
for ((rank = 0; rank < RANK_SIZE; rank++)); do
    mkdir -p "$(dirname "$(rank_log $rank)")"
    RANK_ID=$rank ASCEND_DEVICE_ID=$((FIRST_DEVICE + rank)) \
        setsid "$PYTHON" train.py --device npu "$@" > "$(rank_log $rank)" 2>&1 &
    pids+=("$!")
    rank_of[$!]=$rank
done
echo "started $RANK_SIZE ranks (devices $FIRST_DEVICE..$((FIRST_DEVICE + RANK_SIZE - 1))); logs in $(rank_log 0) and so on"

status=0
running=("${pids[@]}")
while ((${#running[@]} > 0)); do
    wait -n  # returns when a child ends, or when a trapped signal arrives
    none_left=$(($? == 127))
    still=()
    for pid in "${running[@]}"; do
        if ((!none_left)) && kill -0 "$pid" 2>/dev/null; then  # running, or ended and reaped next round
            still+=("$pid")
            continue
        fi
        wait "$pid"  # the status of a rank that has ended (bash keeps it after wait -n)
        finished=$?
        if ((finished != 0 && status == 0)); then
            status=$finished
        fi
        # 3: stopped by a signal after a checkpoint; the other ranks agree on that stop themselves.
        if ((finished != 0 && finished != 3)) && [[ -z $stopping ]]; then
            echo "a rank failed with status $finished; stopping the others with SIGTERM (rank ${rank_of[$pid]}:" \
                 "see $(rank_log "${rank_of[$pid]}"))" >&2
            stop_ranks "rank ${rank_of[$pid]} failed"
        fi
    done
    running=("${still[@]+"${still[@]}"}")
done
if [[ -n $escalation ]]; then
    kill "$escalation" 2>/dev/null
fi
exit "$status"
