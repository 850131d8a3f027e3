r"""Training-system benchmarks: train-step throughput and the digits task.

  python -m benchmarks.train_bench                      # both
  python -m benchmarks.train_bench --only=throughput --steps=5
  python -m benchmarks.train_bench --only=throughput --configs=s5_lra:demo
  python -m benchmarks.train_bench --only=digits

throughput  the jitted train step of each config in `--configs` (default
            `configs/s5_lra.py` and `configs/spiking_ssm_lra.py`, both on
            listops: 8 layers, width 128, batch 50, T=2000), built as
            `experiments.train.run` builds it, on random full-length
            ListOps batches: compile seconds, the first step on its own,
            then the steady state (median of `--steps` steps, with their
            spread), sequences/s and tokens/s. `--configs=s5_lra:demo`
            times a config's demo preset.
digits      `configs/digits.py` run to completion through
            `experiments.train.run`: wall seconds (compile included) and test
            accuracy at the best validation step.

Prints a table and writes JSON (`benchmarks/train_<backend>.json`).
"""

import argparse
import importlib.util
import json
import pathlib
import statistics
import sys
import tempfile
import time

import jax
import numpy as np

from benchmarks import timing
from experiments import train
from spike_ssm import data as data_lib
from spike_ssm.training import precision
from spike_ssm.training import sharding

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_config(name: str, arg: str | None):
  spec = importlib.util.spec_from_file_location(
      f"cfg_{name}", ROOT / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _random_batch(spec, batch_size: int, rng: np.random.Generator):
  """A full-length ListOps-shaped batch (every position valid)."""
  t = spec.seq_len
  return {
      "inputs": rng.integers(1, spec.vocab_size, size=(batch_size, t),
                             dtype=np.int32),
      "lengths": np.full((batch_size,), t, np.int32),
      "targets": rng.integers(0, spec.num_classes, size=(batch_size,),
                              dtype=np.int32),
      "weights": np.ones((batch_size,), np.float32),
  }


# Configs whose training step `--configs` may time: generated ListOps needs
# no data files.
STEP_CONFIGS = ("s5_lra", "spiking_ssm_lra")


def parse_configs(text: str) -> list[tuple[str, str | None]]:
  """`"s5_lra,spiking_ssm_lra:demo"` -> [(name, arg or None), ...].

  Raises:
    ValueError: naming `--configs`, on an empty list or a config not in
      `STEP_CONFIGS`.
  """
  out = []
  for item in (w.strip() for w in text.split(",")):
    if not item:
      continue
    name, _, arg = item.partition(":")
    if name not in STEP_CONFIGS:
      raise ValueError(f"--configs: unknown config {name!r}; expected "
                       f"names from {list(STEP_CONFIGS)}, each optionally "
                       "with :ARG (e.g. s5_lra:demo).")
    out.append((name, arg or None))
  if not out:
    raise ValueError("--configs: expected at least one config.")
  return out


def prepare_step(name: str, arg: str | None, config=None):
  """The jitted training step of a config, its state and a random batch.

  Built as `experiments.train.run` builds it (`train.build_steps`, the same
  shardings and buffer donation), so what is timed is the training loop's
  own step, on a full-length random ListOps batch.

  Returns:
    `(step, train_state, batch, meta)`: `step` is the `jax.jit` object
    (lower and compile it), `meta` describes the case. Call it under
    `precision.installed(config.precision)`, as the training loop does.

  Raises:
    ValueError: naming `--configs`, for a config whose task is not listops.
  """
  if config is None:
    config = load_config(name, arg)
  if config.data.task != "listops":
    raise ValueError(f"--configs: {name}:{arg} trains on "
                     f"{config.data.task!r}; only generated listops needs "
                     "no data files.")
  opts = {k: v for k, v in config.data.options.to_dict().items()
          if v is not None}
  seq_len = opts.get("seq_len") or opts.get("max_length", 2000)
  spec = data_lib.listops.spec(seq_len)
  batch_size = config.data.global_batch_size
  mesh = sharding.make_mesh()
  rng = np.random.default_rng(0)
  batch = sharding.global_batch(_random_batch(spec, batch_size, rng), mesh)
  # The schedule does not change the step's cost; ListOps' epoch as S5's.
  steps = train.build_steps(
      config, spec, batch, total_steps=10_000,
      train_rng=jax.random.PRNGKey(1),
      steps_per_epoch=96_000 // batch_size)
  repl = sharding.replicated(mesh)
  ts = jax.jit(steps.init_state, out_shardings=repl)(jax.random.PRNGKey(0),
                                                     batch)
  step = jax.jit(steps.train_step,
                 in_shardings=(repl, sharding.batch_sharding(mesh)),
                 out_shardings=(repl, repl), donate_argnums=0)
  meta = {
      "case": f"{name}{':' + arg if arg else ''} listops train step",
      "config": name, "config_arg": arg, "layer": config.model.layer,
      "batch": batch_size, "seq_len": spec.seq_len,
      "layers": config.model.num_layers, "width": config.model.width,
      "params": sum(int(np.prod(x.shape))
                    for x in jax.tree.leaves(ts.params)),
  }
  return step, ts, batch, meta


def step_timing(name: str, arg: str | None, steps: int,
                trace_dir: str | None = None) -> dict:
  """Compile seconds, first step, then the steady state of `steps` steps.

  The first call after compilation is timed on its own (allocation and
  first-touch effects); the steady state is the median of the next
  `steps` calls, each blocked on, with their spread ((max - min) / median).
  With `trace_dir`, two more steps run under `jax.profiler.trace` into
  `trace_dir/<config>` (view with TensorBoard's profile plugin or Perfetto);
  they are not timed.
  """
  load_before = timing.loadavg()
  config = load_config(name, arg)
  with precision.installed(config.precision):
    step, ts, batch, meta = prepare_step(name, arg, config)
    t0 = time.perf_counter()
    compiled = step.lower(ts, batch).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ts, m = compiled(ts, batch)
    jax.block_until_ready((ts, m))
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(steps):
      t0 = time.perf_counter()
      ts, m = compiled(ts, batch)
      jax.block_until_ready((ts, m))
      times.append(time.perf_counter() - t0)
    if trace_dir:
      with jax.profiler.trace(str(pathlib.Path(trace_dir) / name)):
        for _ in range(2):
          ts, m = compiled(ts, batch)
        jax.block_until_ready((ts, m))
  step_s = statistics.median(times)
  return {
      **meta, "compile_s": compile_s, "first_step_s": first_s,
      "step_s": step_s, "step_times_s": times,
      "step_spread": timing.spread(times),
      "noisy": timing.spread(times) > timing.NOISY_SPREAD,
      "sequences_per_s": meta["batch"] / step_s,
      "tokens_per_s": meta["batch"] * meta["seq_len"] / step_s,
      "timed_steps": steps, "loadavg_before": load_before,
      "loadavg_after": timing.loadavg(),
  }


def digits() -> dict:
  """Runs configs/digits.py to completion; wall time and test accuracy."""
  config = load_config("digits", None)
  with tempfile.TemporaryDirectory() as workdir:
    t0 = time.perf_counter()
    summary = train.run(config, workdir)
    wall = time.perf_counter() - t0
  return {"case": "digits (configs/digits.py) to completion",
          "steps": summary["steps"], "wall_s": wall,
          "test_accuracy": summary["test_at_best"]["accuracy"],
          "best_step": summary["best_step"],
          "majority_baseline": summary["majority_baseline"]}


def _load(load) -> str:
  return "n/a" if load is None else f"{load[0]:.2f}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default="throughput,digits")
  parser.add_argument("--configs", default=",".join(STEP_CONFIGS),
                      help="configs whose train step `throughput` times, "
                      "comma-separated, each NAME or NAME:ARG, from " +
                      ", ".join(STEP_CONFIGS) + " (default: all)")
  parser.add_argument("--steps", type=int, default=5,
                      help="timed steady-state steps per config")
  parser.add_argument("--trace_dir", default=None,
                      help="also write a jax.profiler trace of two steps "
                      "per config here")
  parser.add_argument("--json", default=None)
  args = parser.parse_args(argv)
  wanted = {w.strip() for w in args.only.split(",") if w.strip()}
  unknown = wanted - {"throughput", "digits"}
  if unknown:
    parser.error(f"--only: unknown cases {sorted(unknown)}")
  if args.steps < 1:
    parser.error(f"--steps: expected >= 1, got {args.steps}")
  try:
    configs = parse_configs(args.configs)
  except ValueError as e:
    parser.error(str(e))
  results = {"machine": timing.machine_info(), "rows": []}
  if "throughput" in wanted:
    for name, arg in configs:
      r = step_timing(name, arg, args.steps, args.trace_dir)
      results["rows"].append(r)
      print(f"| {r['case']} | B={r['batch']} T={r['seq_len']} "
            f"{r['layers']}x{r['width']} ({r['params']:,} params) | compile "
            f"{r['compile_s']:.1f} s | first step {r['first_step_s']:.2f} s "
            f"| step {r['step_s'] * 1e3:.0f} ms (spread "
            f"{r['step_spread']:.0%}{', NOISY' if r['noisy'] else ''}) | "
            f"{r['sequences_per_s']:.1f} seq/s | "
            f"{r['tokens_per_s']:,.0f} tok/s | load "
            f"{_load(r['loadavg_before'])} -> {_load(r['loadavg_after'])} |",
            flush=True)
  if "digits" in wanted:
    r = digits()
    results["rows"].append(r)
    print(f"| {r['case']} | {r['steps']} steps | {r['wall_s']:.1f} s wall | "
          f"test accuracy {r['test_accuracy']:.4f} (baseline "
          f"{r['majority_baseline']:.4f}) |", flush=True)
  out = pathlib.Path(args.json or ROOT / "benchmarks" /
                     f"train_{jax.default_backend()}.json")
  tmp = out.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(results, indent=1))
  tmp.replace(out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
