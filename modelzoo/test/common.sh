# Shared by the ModelZoo-style scripts beside it (sourced, not run): the arguments as Huawei's ModelZoo
# cards pass them, the run, and the summary those cards compare. Each script sets MODE (full or
# performance) and RANKS (1 or 8) first.
#
#   bash test/train_full_1p.sh --data_path=../dataset [train.py options ...]
#
# --data_path: the CIFAR-10 folder (cifar-10-batches-py, or the folder or archive holding it).
# Everything else goes to train.py unchanged (a later flag wins: --iterations 200, --precision mixed, ...).
# Output: test/output/<ASCEND_DEVICE_ID>/ (or $OUTPUT_DIR/<ASCEND_DEVICE_ID>/) holds the run dir, the training log(s) and <CaseName>.log with
# ActualFPS (images per second), TrainingTime (seconds per iteration), ActualLoss (the critic's cost
# at the end) and E2ETrainingTime (seconds from start to end).
set -uo pipefail
test_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$test_dir/../.." && pwd)"
Network="ClassSplittingGAN_for_TensorFlow2"
PERFORMANCE_ITERATIONS=${PERFORMANCE_ITERATIONS:-500}

data_path=""
passed=()
for argument in "$@"; do
    case $argument in
        --data_path=*) data_path=${argument#*=} ;;
        *) passed+=("$argument") ;;
    esac
done
if [[ -z $data_path ]]; then
    echo "error: --data_path=DIR is required: the CIFAR-10 folder (cifar-10-batches-py or the folder holding it)" >&2
    exit 2
fi
data_path=$(realpath -m -- "$data_path")  # the run starts in the project's root, not here
export ASCEND_DEVICE_ID=${ASCEND_DEVICE_ID:-0}
output="${OUTPUT_DIR:-$test_dir/output}/$ASCEND_DEVICE_ID"
mkdir -p "$output"
settings=(--config "$root/configs/cifar10.json" --dataset cifar10 --data-dir "$data_path" --device npu
          --run-dir "$output/run_${MODE}_${RANKS}p")
if [[ $MODE == performance ]]; then
    settings+=(--iterations "$PERFORMANCE_ITERATIONS" --checkpoint-every 0 --sample-every 0)
fi
CaseName="${Network}_${RANKS}p_$([[ $MODE == performance ]] && echo perf || echo acc)"

start_time=$(date +%s)
if ((RANKS == 1)); then
    log="$output/train_$ASCEND_DEVICE_ID.log"
    (cd "$root" && "${PYTHON:-python3}" train.py "${settings[@]}" "${passed[@]}") > "$log" 2>&1
    status=$?
else
    # scripts/train_npu_8p.sh: one process per device, RANK_TABLE_FILE required; rank 0's log has the figures.
    export RANK_SIZE=${RANK_SIZE:-$RANKS} LOG_DIR="$output/ranks"
    bash "$root/scripts/train_npu_8p.sh" "${settings[@]}" "${passed[@]}" > "$output/launcher.log" 2>&1
    status=$?
    log="$LOG_DIR/rank_0.log"
fi
e2e_time=$(($(date +%s) - start_time))
if ((status != 0)); then
    echo "error: training failed with status $status; see $log" >&2
    tail -n 5 "$log" >&2
    exit "$status"
fi

# The progress lines: "iteration I/N  X it/s  Y img/s  ETA ...  d/cost Z ...". The first interval includes
# compiling the graphs, so it is left out where there are others.
figures=$(grep -E '^iteration [0-9]+/[0-9]+ ' "$log" | awk '
    { for (i = 1; i <= NF; i++) { if ($i == "it/s") it[NR] = $(i - 1); if ($i == "img/s") img[NR] = $(i - 1);
                                  if ($i == "d/cost") loss = $(i + 1) } }
    END { first = (NR > 1) ? 2 : 1; n = 0
          for (r = first; r <= NR; r++) { s_it += it[r]; s_img += img[r]; n++ }
          if (n == 0 || s_it == 0) { print "0 0 0"; exit }
          printf "%.2f %.4f %s\n", s_img / n, n / s_it, loss }')
read -r ActualFPS TrainingTime ActualLoss <<< "$figures"
{
    echo "Network = $Network"
    echo "RankSize = $RANKS"
    echo "DeviceType = $(uname -m)"
    echo "CaseName = $CaseName"
    echo "ActualFPS = $ActualFPS"
    echo "TrainingTime = $TrainingTime"
    echo "ActualLoss = $ActualLoss"
    echo "E2ETrainingTime = $e2e_time"
} > "$output/$CaseName.log"
echo "------------------ Final result ------------------"
echo "Final Performance images/sec : $ActualFPS"
echo "Final Training Duration sec : $e2e_time"
cat "$output/$CaseName.log"
