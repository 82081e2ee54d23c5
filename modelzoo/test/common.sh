# Shared by the ModelZoo-style scripts beside it (sourced, not run): the arguments as Huawei's ModelZoo
# cards pass them, the run, and the summary those cards compare. Each script sets MODE (full or
# performance) and RANKS (1 or 8) first.
#
#   bash test/train_full_1p.sh --data_path=../dataset [card arguments] [train.py options ...]
#
# --data_path: the CIFAR-10 folder (cifar-10-batches-py, or the folder or archive holding it).
# The cards' arguments, each --name=value: --batch_size, --precision_mode, --over_dump, --data_dump_flag,
# --data_dump_step, --profiling, --use_mixlist with --mixlist_file, --fusion_off_flag with --fusion_off_file
# (True/False switches, as the cards write them), and --auto_tune/--autotune and --bind_core, which this
# TF2 port has no use for (said once, then ignored); -h/--help. Anything else goes to train.py unchanged (a
# later flag wins: --iterations 200, --precision mixed, ...).
# Output, as the cards lay it out: test/output/<id>/ (or $OUTPUT_DIR/<id>/), emptied before each run (the
# run dir is inside), with train_<id>.log (each rank's, for the 8p scripts), train_<CaseName>_loss.txt (the
# critic's cost at each progress line) and <CaseName>.log: Network, RankSize, BatchSize, DeviceType,
# CaseName (${Network}_bs${BatchSize}_${RankSize}p_{perf,acc}), ActualFPS (images per second),
# TrainingTime (seconds per iteration), TrainAccuracy (full runs: the first metric of the last
# evaluation, with --eval-every; else None), ActualLoss (the last cost) and E2ETrainingTime (seconds).
set -uo pipefail
test_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$test_dir/../.." && pwd)"
Network="ClassSplittingGAN_for_TensorFlow2"
PERFORMANCE_ITERATIONS=${PERFORMANCE_ITERATIONS:-500}
batch_size=64  # configs/cifar10.json: the critic's batch, the original's

usage() {
    echo "usage: bash test/$(basename "$0") --data_path=DIR [--batch_size=N] [--precision_mode=MODE]"
    echo "       [--over_dump=True|False] [--data_dump_flag=True|False] [--data_dump_step=STEPS] [--profiling=True|False]"
    echo "       [--use_mixlist=True|False --mixlist_file=FILE] [--fusion_off_flag=True|False --fusion_off_file=FILE]"
    echo "       [train.py options ...]"
}

switch() {  # $1: the argument as given. Prints 1 for True, nothing for False; else fails.
    case ${1#*=} in
        True | true | 1) echo 1 ;;
        False | false | 0) ;;
        *) echo "error: ${1%%=*} takes True or False, got '${1#*=}'" >&2; return 2 ;;
    esac
}

data_path="" use_mixlist="" mixlist_file="" fusion_off_flag="" fusion_off_file="" card=() passed=()
arguments=("$@")
for ((i = 0; i < ${#arguments[@]}; i++)); do
    argument=${arguments[i]}
    case $argument in
        -h | --help) usage; exit 1 ;;
        --data_path=*) data_path=${argument#*=} ;;
        --batch_size=*) batch_size=${argument#*=}; card+=(--batch-size "$batch_size") ;;
        --precision_mode=*) card+=(--npu-precision-mode "${argument#*=}") ;;
        --over_dump=*) on=$(switch "$argument") || exit 2; [[ -n $on ]] && card+=(--overflow-dump) ;;
        --over_dump_path=*) card+=(--dump-path "${argument#*=}") ;;
        --data_dump_flag=*) on=$(switch "$argument") || exit 2; [[ -n $on ]] && card+=(--data-dump) ;;
        --data_dump_step=*) card+=(--data-dump-step "${argument#*=}") ;;
        --data_dump_path=*) card+=(--dump-path "${argument#*=}") ;;
        --profiling=*) on=$(switch "$argument") || exit 2; [[ -n $on ]] && card+=(--profiling) ;;
        --profiling_dump_path=*) card+=(--profiling-dir "${argument#*=}") ;;
        --use_mixlist=*) use_mixlist=$(switch "$argument") || exit 2 ;;
        --mixlist_file=*) mixlist_file=${argument#*=} ;;
        --fusion_off_flag=*) fusion_off_flag=$(switch "$argument") || exit 2 ;;
        --fusion_off_file=*) fusion_off_file=${argument#*=} ;;
        --auto_tune=* | --autotune=* | --bind_core=*)
            on=$(switch "$argument") || exit 2
            [[ -n $on ]] && echo "note: ${argument%%=*} is ignored: the TF2 adapter has no auto tune option (removed in" \
                "r1.11; AOE is separate), and train.py sizes its own threads (--threads)" ;;
        --batch-size=*) batch_size=${argument#*=}; passed+=("$argument") ;;  # train.py's own flag
        --batch-size) batch_size=${arguments[i + 1]:-}; passed+=("$argument") ;;
        *) passed+=("$argument") ;;
    esac
done
if [[ -z $data_path ]]; then
    echo "[Error] para \"data_path\" must be config" >&2
    exit 1
fi
if [[ -n $use_mixlist ]]; then
    card+=(--mixlist-file "${mixlist_file:?--use_mixlist=True needs --mixlist_file=FILE}")
fi
if [[ -n $fusion_off_flag ]]; then
    card+=(--fusion-off-file "${fusion_off_file:?--fusion_off_flag=True needs --fusion_off_file=FILE}")
fi
data_path=$(realpath -m -- "$data_path")  # the run starts in the project's root, not here
export ASCEND_DEVICE_ID=${ASCEND_DEVICE_ID:-0}
RankSize=$((RANKS == 1 ? 1 : ${RANK_SIZE:-$RANKS}))
outputs="${OUTPUT_DIR:-$test_dir/output}"
first=$((RANKS == 1 ? ASCEND_DEVICE_ID : 0))  # 8p: one folder per rank, rank 0's with the summary
for ((id = first; id < first + RankSize; id++)); do  # as the cards: each output starts empty
    rm -rf "${outputs:?}/$id"
    mkdir -p "$outputs/$id"
done
output="$outputs/$first"
settings=(--config "$root/configs/cifar10.json" --dataset cifar10 --data-dir "$data_path" --device npu
          --run-dir "$output/run_${MODE}_${RankSize}p")
if [[ $MODE == performance ]]; then
    settings+=(--iterations "$PERFORMANCE_ITERATIONS" --checkpoint-every 0 --sample-every 0)
fi
CaseName="${Network}_bs${batch_size}_${RankSize}p_$([[ $MODE == performance ]] && echo perf || echo acc)"
log="$output/train_$first.log"

start_time=$(date +%s)
if ((RANKS == 1)); then
    (cd "$root" && "${PYTHON:-python3}" train.py "${settings[@]}" "${card[@]}" "${passed[@]}") > "$log" 2>&1
    status=$?
else
    # scripts/train_npu_8p.sh: one process per device, RANK_TABLE_FILE required; rank r logs to output/<r>/.
    export RANK_SIZE=$RankSize LOG_DIR="$outputs" RANK_LOG="%d/train_%d.log"
    bash "$root/scripts/train_npu_8p.sh" "${settings[@]}" "${card[@]}" "${passed[@]}" > "$output/launcher.log" 2>&1
    status=$?
fi
e2e_time=$(($(date +%s) - start_time))
if ((status != 0)); then
    echo "error: training failed with status $status; see $log" >&2
    tail -n 5 "$log" >&2
    exit "$status"
fi

# The progress lines: "iteration I/N  X it/s  Y img/s  ETA ...  d/cost Z ...". The first interval includes
# compiling the graphs, so it is left out where there are others.
progress() { grep -E '^iteration [0-9]+/[0-9]+ ' "$log"; }
progress | awk '{ for (i = 1; i <= NF; i++) if ($i == "d/cost") print $(i + 1) }' > "$output/train_${CaseName}_loss.txt"
figures=$(progress | awk '
    { for (i = 1; i <= NF; i++) { if ($i == "it/s") it[NR] = $(i - 1); if ($i == "img/s") img[NR] = $(i - 1) } }
    END { first = (NR > 1) ? 2 : 1; n = 0
          for (r = first; r <= NR; r++) { s_it += it[r]; s_img += img[r]; n++ }
          if (n == 0 || s_it == 0) { print "0 0"; exit }
          printf "%.2f %.4f\n", s_img / n, n / s_it }')
read -r ActualFPS TrainingTime <<< "$figures"
ActualLoss=$(awk 'END { print $1 }' "$output/train_${CaseName}_loss.txt")
# "evaluation after iteration N: is50k 8.21 +- 0.10, ...": the first figure of the last one
TrainAccuracy=$(grep -E '^evaluation after iteration [0-9]+: ' "$log" | awk -F': ' 'END { split($2, f, " "); print f[2] }')
{
    echo "Network = $Network"
    echo "RankSize = $RankSize"
    echo "BatchSize = $batch_size"
    echo "DeviceType = $(uname -m)"
    echo "CaseName = $CaseName"
    echo "ActualFPS = $ActualFPS"
    echo "TrainingTime = $TrainingTime"
    if [[ $MODE == full ]]; then
        echo "TrainAccuracy = ${TrainAccuracy:-None}"
    fi
    echo "ActualLoss = ${ActualLoss:-None}"
    echo "E2ETrainingTime = $e2e_time"
} > "$output/$CaseName.log"
echo "------------------ Final result ------------------"
echo "Final Performance images/sec : $ActualFPS"
echo "Final Training Duration sec : $e2e_time"
cat "$output/$CaseName.log"
