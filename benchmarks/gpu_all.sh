#!/usr/bin/env bash
# Everything this project measures on a lent GPU, in one call of < 9.5 min.
#
#   benchmarks/gpu_all.sh OUT_DIR
#
# 1. The speed table alone on the device (benchmarks/gpu_bench.sh, with the
#    ListOps train steps), at most ~4 minutes.
# 2. Then, side by side (accuracy, not speed, is measured here):
#    - benchmarks.fidelity: every model's released vs earlier recipe on the
#      ListOps demo budget, 2 seeds (`FIDELITY_JOBS` runs at a time);
#    - S5 and SpikingSSM, their full released ListOps recipes on the full
#      generated ListOps (96k / 2k / 2k), evaluated every 500 steps and
#      stopped by SIGTERM after `FULL_S` seconds (a clean, resumable stop).
# GPU_ALL_SMOKE=1 runs every part at tiny sizes (checks the script on CPU).
# Everything lands in OUT_DIR/all.tgz (the device tool returns at most 8
# files) plus OUT_DIR/summary.txt.
set -u -o pipefail

out=$(mkdir -p "$1" && cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
py=${PYTHON:-python3}
work=$(mktemp -d)
full_s=${FULL_S:-270}
jobs=${FIDELITY_JOBS:-12}
start=$(date +%s)
smoke=${GPU_ALL_SMOKE:-0}
arg=""; fid_args=(--seeds=0,1)
if [ "$smoke" = 1 ]; then
  export GPU_BENCH_SMOKE=1
  arg=":smoke"; fid_args=(--seeds=0 --models=s5,spiking_ssm --steps=2)
fi

GPU_BENCH_TRAIN=1 GPU_BENCH_LIMIT_S=${BENCH_LIMIT_S:-150} \
  benchmarks/gpu_bench.sh "$work/bench" > "$work/bench.out" 2>&1
echo "bench done at $(( $(date +%s) - start )) s" | tee "$out/summary.txt"

full() {  # config name, extra flags...
  local name=$1; shift
  timeout --signal=TERM --kill-after=30 "$full_s" \
    "$py" -m experiments.launch --config="configs/$name.py$arg" \
    --workdir="$work/full_$name" --config.train.progress_bar=False \
    --config.train.plot=False --config.train.eval_every=500 \
    --config.train.log_every=100 --config.train.ckpt_every=100000 "$@" \
    > "$work/full_$name.log" 2>&1
}
full s5_lra &
full spiking_ssm_lra &
timeout --signal=INT $(( full_s + 30 )) "$py" -m benchmarks.fidelity \
  --jobs="$jobs" "${fid_args[@]}" --workdir="$work/fidelity_runs" \
  --json="$work/fidelity.json" --out="$work/FIDELITY.md" \
  > "$work/fidelity.out" 2>&1
wait

{
  echo "total $(( $(date +%s) - start )) s"
  tail -25 "$work/bench.out"
  for name in s5_lra spiking_ssm_lra; do
    echo "== full $name"; grep -E "eval @|Stopped|Done|rror" \
      "$work/full_$name.log" | tail -15
  done
  echo "== fidelity"; tail -40 "$work/fidelity.out"
} >> "$out/summary.txt"
rm -rf "$work"/fidelity_runs/*/checkpoints "$work"/full_*/checkpoints
tar czf "$out/all.tgz" -C "$work" .
cat "$out/summary.txt"
