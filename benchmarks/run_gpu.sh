#!/usr/bin/env bash
# The GPU benchmarks in one device call: the PyTorch peers and our Keras sides, one after
# another on the same machine, RESULT (and MFU, SHARE, MEMORY) lines to $OUT/results.txt (a
# "# command" line above each side's lines), full output to $OUT/log.txt. See
# ../shared/gpu/README.md and benchmarks/RESULTS.md.
#
# Groups (arguments; default: all, in this order):
#   text    transformer_step.py, both sides (the Transformer step, SDPA and MHA)
#   text-extra  the peer attention_transformer.py (both columns) and charlm_train_step.py
#   vision  vision_throughput.py (kerasseq Swin-T, Swin V2-T, ViT-B/16; keras-hub's Swin-T)
#           against timm (recurrent_conv_swin.py torch swin)
#   detection  detr_step.py: a DETR training step, kerasseq on JAX against transformers'
#           DetrForObjectDetection (timm backbone at random init, nothing downloaded), and
#           the share of the Hungarian matching (SHARE lines); not in the default run:
#           its sides' limits add up to 570 s (the Keras sides compile the step six times
#           in all), so run it alone with a larger BUDGET (below)
#   nowcast convlstm_step.py: Shi et al.'s ConvLSTM encoder-forecaster training step,
#           kerasseq on JAX against the same network in PyTorch (eager and torch.compile), at
#           filters (32,16,16) and (128,64,64), with peak memory (MEMORY lines), after the
#           one-layer ConvLSTM peer (recurrent_conv_swin.py convlstm, both columns); one
#           process per side and size (JAX's peak memory cannot be reset), each Keras size
#           with keras.layers.ConvLSTM2D and with kerasseq's ConvLSTM (--layer kerasseq); its
#           sides' limits add up to 530 s; not in the default run
#   forecast   patchtst_step.py: a PatchTST training step, kerasseq on JAX against Hugging Face
#           transformers' PatchTSTForPrediction (eager and torch.compile) at the ETTh1 and
#           Weather sizes, with peak memory; one Keras process per size; limits add up to 220 s
#   attention  transformer_step.py's attention-core cases alone, both sides, 100 timed calls:
#           softmax(QKᵀ/√d)V with its weights (sdpa) and without (fused: keras.ops.
#           dot_product_attention, flash attention in bf16) against PyTorch's SDPA
#   nowcast-kerasseq  convlstm_step.py with kerasseq's ConvLSTM at both sizes, and PyTorch
#           eager at both sizes as the same-call anchor (torch.compile not re-run: 170 s)
#   train-gpu  concurrent training runs on the one GPU, each stopped by --max_minutes
#           (TRAIN_MINUTES; default: what the budget leaves after 130 s for start-up and
#           evaluation) and evaluated there: Moving MNIST with the default and the paper-size
#           ConvLSTM (kerasseq layer, the ConvLSTM alone scored on the 10,000 test sequences:
#           the baselines are deterministic on that fixed set and scored on a CPU, optical
#           flow needing pysteps, which has no wheel for the GPU machine's Python) and DETR on the
#           digit canvases (needs the pycocotools wheel in .whl/); run folders come back as
#           $OUT/<name>.tgz (split into 15 MB parts when larger). Needs .whl/data/mnist
#   forecast-h96  the forecasters at horizon 96 on the large sets (FORECAST_DATASETS, default
#           ETTm1 ETTm2 weather; FORECAST_MODELS, default patchtst transformer: the classic
#           models, tdnn lstm gru narx, are measured on these sets on a CPU, see README), the
#           README's protocol (the recipes; tdnn/lstm/gru/narx with RevIN and closed-loop
#           training), all at once, training stopped after what the budget leaves
#           less 210 s for start-up and the every-window test; run folders come back as
#           $OUT/forecast_h96.tgz. Needs those files under .whl/data/ett (below)
#   forecast-train  PatchTST's full recipe (100 epochs, early stopping at patience 10) on
#           ETTh1 and ETTh2 at horizons 96-720: `kerasseq train forecast` on JAX without
#           MLflow, the 8 runs at once (one process each, sharing the GPU), at most 240 s; the
#           run folders (metrics, history, forecast_scores.json, plots; no weights) come back
#           as $OUT/forecast_runs.tgz. Needs the ETT files under .whl/data/ett (below)
#
# Prepare once, in the checkout (../shared does not travel to the GPU machine; keras-hub is
# not installed there, and its pure-Python wheel needs no TensorFlow on JAX):
#   mkdir -p .whl && cp ../shared/gpu/wheels/*.whl ../shared/gpu/peers/*.py .whl/
#   python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 -d .whl keras-hub==0.32.0
#   grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
#   mkdir -p .whl/data/ett && cp ../shared/data/ett/ETTh[12].csv .whl/data/ett/   # forecast-train
#   cp ../shared/data/ett/ETTm[12].csv.gz ../shared/data/ett/weather.csv.gz .whl/data/ett/  # forecast-h96
#   mkdir -p .whl/data/mnist && cp ../shared/data/mnist/* .whl/data/mnist/          # train-gpu
#   python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_17_x86_64 -d .whl pycocotools==2.0.10
# then one device call:
#   run(command="bash benchmarks/run_gpu.sh", carry=[".whl"], timeout_s=480)
#   run(command="bash benchmarks/run_gpu.sh vision", carry=[".whl"], timeout_s=480)
#   run(command="BUDGET=560 bash benchmarks/run_gpu.sh detection", carry=[".whl"], timeout_s=600)
#   run(command="bash benchmarks/run_gpu.sh nowcast", carry=[".whl"], timeout_s=480)
#   run(command="BUDGET=570 bash benchmarks/run_gpu.sh text forecast forecast-train nowcast",
#       carry=[".whl"], timeout_s=600)
#   run(command="BUDGET=575 bash benchmarks/run_gpu.sh attention nowcast-kerasseq train-gpu",
#       carry=[".whl"], timeout_s=600)
#   run(command="BUDGET=575 bash benchmarks/run_gpu.sh forecast-h96", carry=[".whl"], timeout_s=600)
# On a GPU machine of your own (CUDA, JAX, PyTorch, timm, transformers installed): every group
# and the ratio table in one command, `python -m benchmarks all` (benchmarks/__main__.py).
#
# Each side gets a time limit, and all together stop by BUDGET seconds (default 420) so that
# whatever finished comes back; the sides that no longer fit are skipped (each says so), so
# put the group you need first or alone.
set -u
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the folder for the results (the device run sets it)}"
BUDGET=${BUDGET:-420}
results=$OUT/results.txt
log=$OUT/log.txt
groups=("$@")
((${#groups[@]})) || groups=(text vision text-extra)
for group in "${groups[@]}"; do
  case $group in
    text | text-extra | vision | detection | nowcast | forecast | forecast-train | forecast-h96 | attention \
      | nowcast-kerasseq | train-gpu) ;;
    *) echo "unknown group $group (text, text-extra, vision, detection, nowcast, forecast," \
         "forecast-train, forecast-h96, attention, nowcast-kerasseq, train-gpu)"; exit 2 ;;
  esac
done

if [[ -n ${SMOKE:-} ]] || ! compgen -G ".whl/*.whl" > /dev/null; then
  # SMOKE=1 (a CPU check of train-gpu's plumbing), or a machine of your own: the python3 on
  # PATH with its packages; .whl/ holds the wheels the lent GPU machine lacks.
  export PYTHONPATH=$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
else
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 || exit 1
fi

{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  python3 -c "import jax, keras, torch; print('# jax', jax.__version__, 'keras', keras.__version__, 'torch', torch.__version__)"
} 2>&1 | tee -a "$results" "$log"

bench() {  # bench LIMIT_S COMMAND...: run one side, keep its RESULT, MFU, SHARE and MEMORY lines
  local limit=$1 left=$((BUDGET - SECONDS))
  shift
  ((left < limit)) && limit=$left
  if ((limit < 30)); then
    echo "# skipped, out of time: $*" | tee -a "$results" "$log"
    return
  fi
  echo "# $*" | tee -a "$results" "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log" | grep --line-buffered -E '^(RESULT|MFU|SHARE|MEMORY) ' | tee -a "$results"
  local rc=${PIPESTATUS[0]}
  if ((rc == 124)); then
    echo "# stopped at its limit of ${limit} s" | tee -a "$results" "$log"
  elif ((rc != 0)); then
    echo "# exit status $rc (see log.txt)" | tee -a "$results" "$log"
  fi
}

text() {
  # Both sides of transformer_step.py (which also times the peer's attention cases).
  bench 90 python3 benchmarks/transformer_step.py torch
  bench 200 python3 benchmarks/transformer_step.py keras
}

text_extra() {
  # The peer's own run (its figures in this session, against ../shared/gpu/README.md) and the
  # character LM's step on both sides.
  bench 90 python3 .whl/attention_transformer.py torch
  bench 60 python3 benchmarks/charlm_train_step.py torch
  bench 120 python3 benchmarks/charlm_train_step.py keras
  # The peer's own Keras column (MHA jitted with its weights as constants).
  bench 90 python3 .whl/attention_transformer.py keras
}

vision() {
  { python3 -c "import timm, keras_hub; print('# timm', timm.__version__, 'keras-hub', keras_hub.__version__)" 2>/dev/null \
    || echo "# timm or keras_hub does not import"; } | tee -a "$results" "$log"
  # The peer first (timm, bf16 autocast, batch 128), then one process per Keras model, so a
  # slow compile costs only its own model; Swin-T, the one keras-hub also has, first.
  local script=benchmarks/vision_throughput.py
  bench 120 python3 .whl/recurrent_conv_swin.py torch swin
  bench 120 python3 $script keras --models swin_tiny_patch4_window7_224
  bench 120 python3 $script kerashub
  bench 100 python3 $script keras --models vit_base_patch16_224
  bench 120 python3 $script keras --models swinv2_tiny_window8_256
}

detection() {
  { python3 -c "import transformers, timm, scipy; print('# transformers', transformers.__version__, 'timm', timm.__version__, 'scipy', scipy.__version__)" 2>/dev/null \
    || echo "# transformers, timm or scipy does not import"; } | tee -a "$results" "$log"
  # PyTorch first (eager: no compile, about a minute for all cases), then one Keras process
  # per configuration, each compiling its step three times (as is, fixed-host, fixed-device),
  # the paper's ResNet-50 configuration first.
  local script=benchmarks/detr_step.py
  bench 150 python3 $script torch
  bench 270 python3 $script keras --cases paper,matching-paper
  bench 150 python3 $script keras --cases digits,matching-digits
}

nowcast() {
  # The peer first (one ConvLSTM layer, 64 filters 3x3 on 64x64x1, B16 T10: PyTorch eager and
  # compiled with TF32 off, then Keras' ConvLSTM2D on JAX), then one process per side and
  # size (torch: eager, then torch.compile), our default size first.
  local script=benchmarks/convlstm_step.py
  bench 60 python3 .whl/recurrent_conv_swin.py torch convlstm
  bench 40 python3 .whl/recurrent_conv_swin.py keras convlstm
  bench 85 python3 $script torch --sizes small  # torch.compile of 60 unrolled cells
  bench 65 python3 $script keras --sizes small
  bench 65 python3 $script keras --sizes small --layer kerasseq
  bench 85 python3 $script torch --sizes paper
  bench 65 python3 $script keras --sizes paper
  bench 65 python3 $script keras --sizes paper --layer kerasseq
}

forecast() {
  { python3 -c "import transformers; print('# transformers', transformers.__version__)" 2>/dev/null \
    || echo "# transformers does not import"; } | tee -a "$results" "$log"
  local script=benchmarks/patchtst_step.py
  bench 100 python3 $script torch
  bench 60 python3 $script keras --sizes etth1
  bench 60 python3 $script keras --sizes weather
}

forecast_train() {
  # Eight single-horizon runs at once: each is launch-bound (a small model), so they share
  # the GPU well; JAX must not preallocate 75 % of its memory per process.
  local limit=240 left=$((BUDGET - SECONDS)) runs=/tmp/forecast_runs pids=()
  ((left < limit)) && limit=$left
  if ((limit < 60)); then
    echo "# skipped, out of time: forecast-train" | tee -a "$results" "$log"
    return
  fi
  echo "# forecast-train: PatchTST on ETTh1, ETTh2 x 96-720, at most ${limit} s" | tee -a "$results" "$log"
  mkdir -p $runs
  for dataset in ETTh1 ETTh2; do
    for horizon in 96 192 336 720; do
      XLA_PYTHON_CLIENT_PREALLOCATE=false KERASSEQ_DATA_DIR=$PWD/.whl/data timeout "$limit" \
        python3 -m kerasseq.cli train forecast --dataset $dataset --model patchtst \
        --horizon $horizon --no_tracking --run_dir $runs/${dataset}_patchtst_$horizon \
        > $runs/${dataset}_$horizon.log 2>&1 &
      pids+=($!)
    done
  done
  wait "${pids[@]}"
  for f in $runs/*.log; do
    { echo "## $f"; grep -E "^(Epoch [0-9]+/|Final metrics|error:|Traceback|[A-Za-z]+Error)" "$f" | tail -3; } \
      | tee -a "$results"
    cat "$f" >> "$log"
  done
  # Metrics, histories (checkpoint/state.json), per-step scores and plots; no weights: with
  # the optimizer state, eight checkpoints passed the 16 MB a returned file may hold.
  tar -czf "$OUT/forecast_runs.tgz" -C $runs --exclude='*.keras' . 2>&1 | tail -2
}

forecast_h96() {
  # One process per dataset x model, all at once (each is launch-bound), each stopping its
  # training by --max_minutes so that start-up (6 processes by default, 18 with every model,
  # compiling on 16 cores) and the every-window test still fit in the budget: 210 s are left.
  local runs=/tmp/forecast_h96 pids=() left=$((BUDGET - SECONDS - 15)) names=()
  local minutes
  minutes=${TRAIN_MINUTES:-$(python3 -c "print(round(($left - 210) / 60, 2))")}
  if ((left < 270)); then
    echo "# skipped, out of time: forecast-h96" | tee -a "$results" "$log"
    return
  fi
  echo "# forecast-h96: at most ${left} s, training stopped after ${minutes} min" | tee -a "$results" "$log"
  mkdir -p $runs
  local extra=()
  [[ -n ${SMOKE:-} ]] && extra=(--epochs 1 --max_train_windows 64 --max_test_windows 32 --plots 1)
  for dataset in ${FORECAST_DATASETS:-ETTm1 ETTm2 weather}; do
    for model in ${FORECAST_MODELS:-patchtst transformer}; do
      local name=${dataset}_${model}_96 options=()
      case $model in tdnn | lstm | gru | narx) options=(--revin true --teacher_forcing false) ;; esac
      XLA_PYTHON_CLIENT_PREALLOCATE=false KERASSEQ_DATA_DIR=$PWD/.whl/data timeout "$left" \
        python3 -m kerasseq.cli train forecast --dataset "$dataset" --model "$model" --horizon 96 \
        "${options[@]}" --no_tracking --max_minutes "$minutes" "${extra[@]}" --run_dir "$runs/$name" \
        > "$runs/$name.log" 2>&1 &
      pids+=($!) names+=("$name")
    done
  done
  wait "${pids[@]}"
  for name in "${names[@]}"; do
    { echo "## $name"
      grep -aE "^(Epoch [0-9]+/|Stopping after|Final metrics|error:|Traceback|[A-Za-z]+Error)" \
        "$runs/$name.log" | tail -3; } | tee -a "$results"
    cat "$runs/$name.log" >> "$log"
  done
  # Metrics, histories, per-step scores and plots; no weights (see forecast-train).
  tar -czf "$OUT/forecast_h96.tgz" -C $runs --exclude='*.keras' . 2>&1 | tail -2
}

attention() {
  local cases=sdpa-fp32,sdpa-bf16,fused-fp32,fused-bf16
  bench 60 python3 benchmarks/transformer_step.py torch --cases $cases --steps 100
  bench 90 python3 benchmarks/transformer_step.py keras --cases $cases --steps 100
}

nowcast_kerasseq() {
  local script=benchmarks/convlstm_step.py
  bench 45 python3 $script torch --sizes small,paper --variants eager
  bench 65 python3 $script keras --sizes small --layer kerasseq
  bench 65 python3 $script keras --sizes paper --layer kerasseq
}

train_gpu() {
  # One process per run, all at once (each is launch-bound: they share the GPU well); JAX must
  # not preallocate 75 % of the memory per process. Each stops training after TRAIN_MINUTES,
  # then evaluates on its test set there; `timeout` bounds the whole run by the budget.
  local runs=/tmp/gpu_runs pids=() left=$((BUDGET - SECONDS - 15))
  local minutes=${TRAIN_MINUTES:-$(python3 -c "print(round(($left - 130) / 60, 2))")}
  if ((left < 190)); then
    echo "# skipped, out of time: train-gpu" | tee -a "$results" "$log"
    return
  fi
  echo "# train-gpu: at most ${left} s, training stopped after ${minutes} min" | tee -a "$results" "$log"
  mkdir -p $runs
  local common=(--no_tracking --max_minutes "$minutes")
  local nowcast=(train nowcast --recurrent_layer kerasseq --baselines none --steps_per_epoch 500)
  declare -A args=(
    [mmnist_small]="${nowcast[*]} --epochs 25"
    [mmnist_paper]="${nowcast[*]} --epochs 16 --filters 128,64,64"
    [detr]="train detection --epochs 40 --eval_every 5"
  )
  if [[ -n ${SMOKE:-} ]]; then  # a CPU check of this group's plumbing: tiny runs, no result
    local tiny="--epochs 2 --steps_per_epoch 2 --batch_size 2 --test_sequences 8 --validation_sequences 4"
    args[mmnist_small]+=" $tiny --filters 4,4"
    args[mmnist_paper]+=" $tiny --filters 8,4"
    args[detr]+=" --epochs 2 --train_canvases 32 --batch_size 16 --validation_canvases 16 --test_canvases 16 --d_model 32 --num_heads 2 --encoder_layers 1 --intermediate_dim 32 --eval_every 1"
  fi
  for name in "${!args[@]}"; do
    # shellcheck disable=SC2086
    XLA_PYTHON_CLIENT_PREALLOCATE=false KERASSEQ_DATA_DIR=$PWD/.whl/data timeout "$left" \
      python3 -m kerasseq.cli ${args[$name]} "${common[@]}" --run_dir $runs/$name \
      > $runs/$name.log 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  for name in "${!args[@]}"; do
    { echo "## $name: ${args[$name]}"
      grep -aE "^(Stopping after|Final metrics|error:|Traceback|[A-Za-z]+Error)|validation AP" \
        $runs/$name.log | tail -6; } | tee -a "$results"
    cat $runs/$name.log >> "$log"
    mv $runs/$name.log $runs/$name/ 2>/dev/null
    # Evaluated: the checkpoint (model + optimizer state) stays behind, and so does any model
    # file over 15 MB (the paper-size forecaster's export is 91 MB): what comes back from a
    # device call is at most 64 MB in all.
    local skip=()
    [[ -f $runs/$name/metrics.json ]] && skip=(--exclude="$name/checkpoint/*.keras")
    while IFS= read -r big; do
      skip+=(--exclude="${big#"$runs"/}")
    done < <(find "$runs/$name" -name '*.keras' -size +15M)
    tar -czf "$OUT/$name.tgz" "${skip[@]}" -C $runs "$name" 2>&1 | tail -2
    if (($(stat -c %s "$OUT/$name.tgz") > 15000000)); then
      split -b 15000000 "$OUT/$name.tgz" "$OUT/$name.tgz.part-" && rm "$OUT/$name.tgz"
    fi
  done
}

for group in "${groups[@]}"; do
  "${group//-/_}"
done
echo "# done in ${SECONDS} s" | tee -a "$results" "$log"
