#!/usr/bin/env bash
# Source-generator sweep for one GPU (issue #16): several train_source runs share the GPU at once,
# each in timed stages (a later stage resumes the previous stage's checkpoint with a lower learning
# rate or the structure term switched on). Small models leave a GPU mostly idle, so running them
# side by side costs little more than one.
#
#   DATA=.gpu_data RUNS=runs/gpu bash scripts/train_sources_gpu.sh [minutes-scale]
#
# DATA holds 300w_helen_trainset/ (.pts files) and mpii_dataset.csv. The optional argument scales
# every stage's minutes (default 1). Each run logs to $RUNS/<name>.log; stages are $RUNS/<name>-s<k>.
set -u
DATA=${DATA:-.gpu_data}
RUNS=${RUNS:-runs/gpu}
SCALE=${1:-1}
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd) OMP_NUM_THREADS=2 TQDM_MININTERVAL=20 PYTHONUNBUFFERED=1
mkdir -p "$RUNS"

minutes() { python3 -c "print(round($1 * $SCALE, 3))"; }

latest() { ls -d "$1"/checkpoints/checkpoint-* 2>/dev/null | sort -V | tail -1; }

# run NAME "COMMON FLAGS" "STAGE1 MINUTES|STAGE1 FLAGS" "STAGE2 MINUTES|STAGE2 FLAGS" ...
run() {
    local name=$1 common=$2; shift 2
    local k=0 prev="" spec mins flags resume
    for spec in "$@"; do
        k=$((k + 1))
        mins=$(minutes "${spec%%|*}"); flags=${spec#*|}
        resume=""
        if [ -n "$prev" ]; then
            resume="--resume_from_checkpoint $(latest "$prev")"
        fi
        echo "== $name stage $k: $mins min, $flags" >> "$RUNS/$name.log"
        # shellcheck disable=SC2086
        python3 examples/train_source.py $common $flags $resume --output_dir "$RUNS/$name-s$k" \
            --max_steps 1000000 --max_train_minutes "$mins" --checkpointing_steps 2000 \
            --checkpoints_total_limit 1 --eval_steps 2000 --report_to none >> "$RUNS/$name.log" 2>&1 \
            || { echo "== $name stage $k failed" >> "$RUNS/$name.log"; return 1; }
        prev="$RUNS/$name-s$k"
    done
}

FACE="--data $DATA/300w_helen_trainset --held_out 170 --image_d_every 8"
BODY="--data $DATA/mpii_dataset.csv --held_out 1000 --image_d_every 4"

run face32-b256 "$FACE --batch_size 256" "4.5|--learning_rate 2e-3" "1.5|--learning_rate 5e-4" &
run face32-b512 "$FACE --batch_size 512" "4.5|--learning_rate 2e-3" "1.5|--learning_rate 5e-4" &
run face32-sigma01 "$FACE --batch_size 256 --recon_sigma 0.01" "4.5|--learning_rate 2e-3" "1.5|--learning_rate 5e-4" &
run face64-b256 "$FACE --batch_size 256 --resolution 64 --channels 64,64,32,16" \
    "4.5|--learning_rate 2e-3" "1.5|--learning_rate 5e-4" &
run body32-b256 "$BODY --batch_size 256" "3|--learning_rate 2e-3" "2|--learning_rate 2e-3 --structure_weight 20" \
    "1|--learning_rate 5e-4 --structure_weight 20" &
run body32-b512 "$BODY --batch_size 512" "3|--learning_rate 2e-3" "2|--learning_rate 2e-3 --structure_weight 20" \
    "1|--learning_rate 5e-4 --structure_weight 20" &
wait

for log in "$RUNS"/*.log; do
    echo "### $log"; grep -E "== |step [0-9]+: |reached|Error|error" "$log" | cut -c1-400 | tail -12
done
