#!/usr/bin/env bash
# The speed table on an accelerator, in under 4 minutes.
#
#   benchmarks/gpu_bench.sh OUT_DIR
#
# Run from anywhere; needs python3 with jax (CUDA), numpy, dm-haiku (and its
# dependencies absl-py and tabulate) and jmp importable (PYTHONPATH may
# already point at extra site-packages; this checkout is prepended). Spyx
# (with flax) is used when importable, otherwise its rows are reported as
# skipped. GPU_BENCH_TRAIN needs the training stack as well (optax,
# ml_collections, orbax-checkpoint, tensorboardX, ...: requirements.txt).
#
# Writes to OUT_DIR:
#   device.txt          nvidia-smi -L and the device JAX sees
#   results_gpu.json    benchmarks.run at full sizes (each case's programs
#                       compiled in 8 threads, to fit): the roofline (the
#                       device's bandwidth from jitted copy/triad, host
#                       NumPy figures beside it), every row with medians,
#                       spreads, byte model and fraction of the bound. It
#                       is rewritten after every case, so a timeout leaves
#                       the cases done so far ("complete": false).
#   roofline.json       the roofline part of it, on its own
#   table.md            the printed table
#   run.log             stderr of the run (progress, notes)
# and prints the table.
#
# Environment:
#   GPU_BENCH_LIMIT_S   seconds for the table (default 200; the whole script
#                       stays under 4 minutes with the start-up)
#   GPU_BENCH_ARGS      extra arguments for benchmarks.run (e.g. --only=S5)
#   GPU_BENCH_TRAIN=1   afterwards, the S5 and SpikingSSM ListOps train
#                       steps (benchmarks.train_bench, 3 steps) in the time
#                       left; off by default (two large compilations)
#   GPU_BENCH_SWEEPS=1  afterwards, the tuning sweeps (benchmarks.sweeps:
#                       LIF unroll, Mamba chunk length) into sweeps.md, in
#                       the time left
#   GPU_BENCH_SMOKE=1   tiny shapes (checks the script itself, e.g. on CPU)
set -u -o pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}
start=$(date +%s)
limit=${GPU_BENCH_LIMIT_S:-200}
smoke=()
if [ "${GPU_BENCH_SMOKE:-0}" = 1 ]; then
  smoke=(--smoke)
fi

{
  (nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available")
  "$py" -c 'import jax; d = jax.devices()[0]; print("jax", jax.__version__, jax.default_backend(), d.device_kind, len(jax.devices()), "device(s)")'
  # What benchmarks.run imports (haiku needs absl-py and tabulate), and the
  # peer (spyx needs flax). A missing one is named here, before the run.
  "$py" - <<'EOF'
import importlib
for name in ("numpy", "haiku", "jmp", "absl", "tabulate", "ml_collections",
             "flax", "spyx"):
  try:
    module = importlib.import_module(name)
    print(f"{name}: {getattr(module, '__version__', 'ok')}")
  except Exception as e:  # pylint: disable=broad-except
    print(f"{name}: MISSING ({type(e).__name__}: {e})")
EOF
} | tee "$out/device.txt"

# The table. `timeout` leaves the JSON of the cases already done.
# shellcheck disable=SC2086
timeout --signal=INT --kill-after=10 "$limit" \
  "$py" -m benchmarks.run --budget=1 --repeats=10 --compile_threads=8 \
  "${smoke[@]}" \
  --json="$out/results_gpu.json" ${GPU_BENCH_ARGS:-} \
  > "$out/table.md" 2> "$out/run.log"
rc=$?
if [ $rc -ne 0 ]; then
  echo "benchmarks.run exited with $rc (124/130: stopped at ${limit}s); the" \
    "table below has the cases finished before that." | tee -a "$out/table.md"
  tail -5 "$out/run.log"
fi

# Print the table from the JSON (complete or not) and split the roofline out.
"$py" - "$out" <<'EOF'
import json, os, sys
from benchmarks import run
out = sys.argv[1]
path = os.path.join(out, "results_gpu.json")
if not os.path.exists(path):
  sys.exit("no results_gpu.json: the run stopped before its first case")
with open(path, encoding="utf-8") as f:
  payload = json.load(f)
with open(os.path.join(out, "roofline.json"), "w", encoding="utf-8") as f:
  json.dump(payload.get("roofline"), f, indent=1)
for line in run.header_lines(payload["machine"], payload.get("roofline")):
  print(line)
print(run.format_table(payload["results"]))
if not payload.get("complete", True):
  print("INCOMPLETE: stopped after", len(payload["results"]), "rows")
EOF

if [ "${GPU_BENCH_TRAIN:-0}" = 1 ]; then
  left=$((230 - ($(date +%s) - start)))
  if [ $left -gt 30 ]; then
    configs=s5_lra,spiking_ssm_lra
    [ ${#smoke[@]} -gt 0 ] && configs=s5_lra:smoke,spiking_ssm_lra:smoke
    timeout --signal=INT "$left" "$py" -m benchmarks.train_bench \
      --only=throughput --configs="$configs" --steps=3 \
      --json="$out/train_gpu.json" 2>> "$out/run.log" | tee "$out/train.md"
  else
    echo "train steps skipped: ${left}s left" | tee "$out/train.md"
  fi
fi
if [ "${GPU_BENCH_SWEEPS:-0}" = 1 ]; then
  left=$((230 - ($(date +%s) - start)))
  if [ $left -gt 30 ]; then
    timeout --signal=INT "$left" "$py" -m benchmarks.sweeps "${smoke[@]}" \
      2>> "$out/run.log" | tee "$out/sweeps.md"
  else
    echo "sweeps skipped: ${left}s left" | tee "$out/sweeps.md"
  fi
fi
echo "wall $(( $(date +%s) - start )) s; files in $out"
