#!/usr/bin/env bash
# The GPU benchmarks in one device call: the PyTorch peer and our Keras side of
# transformer_step.py and charlm_train_step.py, one after another on the same machine, RESULT
# lines to $OUT/results.txt (a "# command" line above each side's lines), full output to
# $OUT/log.txt. See ../shared/gpu/README.md and benchmarks/RESULTS.md.
#
# Prepare once, in the checkout (../shared does not travel to the GPU machine):
#   mkdir -p .whl && cp ../shared/gpu/wheels/*.whl ../shared/gpu/peers/*.py .whl/
#   grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
# then one device call:
#   run(command="bash benchmarks/run_gpu.sh", carry=[".whl"], timeout_s=480)
#
# Each side gets a time limit, and all together stop by BUDGET seconds (default 420) so that
# whatever finished comes back; the optional last side is skipped when time runs short.
set -u
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the folder for the results (the device run sets it)}"
BUDGET=${BUDGET:-420}
results=$OUT/results.txt
log=$OUT/log.txt

python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 || exit 1

{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  python3 -c "import jax, keras, torch; print('# jax', jax.__version__, 'keras', keras.__version__, 'torch', torch.__version__)"
} 2>&1 | tee -a "$results" "$log"

bench() {  # bench LIMIT_S COMMAND...: run one side, keep its RESULT lines
  local limit=$1 left=$((BUDGET - SECONDS))
  shift
  ((left < limit)) && limit=$left
  if ((limit < 30)); then
    echo "# skipped, out of time: $*" | tee -a "$results" "$log"
    return
  fi
  echo "# $*" | tee -a "$results" "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log" | grep --line-buffered '^RESULT' | tee -a "$results"
  local rc=${PIPESTATUS[0]}
  if ((rc == 124)); then
    echo "# stopped at its limit of ${limit} s" | tee -a "$results" "$log"
  elif ((rc != 0)); then
    echo "# exit status $rc (see log.txt)" | tee -a "$results" "$log"
  fi
}

# The peer first: its figures in this session, against the table in ../shared/gpu/README.md.
bench 90 python3 .whl/attention_transformer.py torch
bench 90 python3 benchmarks/transformer_step.py torch
bench 200 python3 benchmarks/transformer_step.py keras
bench 60 python3 benchmarks/charlm_train_step.py torch
bench 120 python3 benchmarks/charlm_train_step.py keras
# The peer's own Keras column (MHA jitted with its weights as constants), as a cross-check.
bench 90 python3 .whl/attention_transformer.py keras
echo "# done in ${SECONDS} s" | tee -a "$results" "$log"
