r"""Training-system benchmarks: train-step throughput and the digits task.

  python -m benchmarks.train_bench                      # both
  python -m benchmarks.train_bench --only=throughput --steps=5
  python -m benchmarks.train_bench --only=digits

throughput  the jitted train step of `configs/s5_lra.py` (task=listops, S5's
            published model: 8 bidirectional S5 layers, width 128, batch 50,
            T=2000) on random ListOps-shaped batches: compile seconds, then
            sequences/s and tokens/s over timed steps (median step time).
            `--config_arg=demo` times the demo preset instead.
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
import jax.numpy as jnp
import numpy as np

from benchmarks import timing
from experiments import train
from spike_ssm import data as data_lib
from spike_ssm.training import optim
from spike_ssm.training import precision
from spike_ssm.training import sharding
from spike_ssm.training import step as step_lib

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


def throughput(config_arg: str | None, steps: int) -> dict:
  """Times the train step of s5_lra (listops) at its configured shapes."""
  config = load_config("s5_lra", config_arg)
  opts = {k: v for k, v in config.data.options.to_dict().items()
          if v is not None}
  max_length = opts.get("max_length", 2000)
  spec = data_lib.TaskSpec(name="listops", kind="tokens", vocab_size=16,
                           seq_len=opts.get("seq_len") or max_length,
                           num_classes=10)
  batch_size = config.data.global_batch_size
  with precision.installed(config.precision):
    model = train.build_model(config, spec)
    mesh = sharding.make_mesh()
    rng = np.random.default_rng(0)
    batch = sharding.global_batch(_random_batch(spec, batch_size, rng), mesh)
    params, state = jax.jit(lambda r, b: model.init(r, b, is_training=True))(
        jax.random.PRNGKey(0), batch)
    _, owners = optim.param_owners(model.init, jax.random.PRNGKey(0), batch,
                                   is_training=True)
    labels = optim.label_params(
        params, owners, groups=optim.config_groups(config.optim))
    # The schedule does not change the step's cost; S5's ListOps epoch.
    tx = optim.make_optimizer(
        config.optim, 10_000, labels,
        steps_per_epoch=96_000 // config.data.global_batch_size)
    ts = step_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=params, state=state,
        opt_state=tx.init(params),
        loss_scale=precision.loss_scale(config.precision.loss_scale),
        rng=jax.random.PRNGKey(1), nonfinite_in_a_row=jnp.zeros((), jnp.int32),
        skipped=jnp.zeros((), jnp.int32))
    fn = jax.jit(step_lib.make_train_step(model.apply, tx,
                                          target_kind="class"),
                 donate_argnums=0)
    t0 = time.perf_counter()
    compiled = fn.lower(ts, batch).compile()
    compile_s = time.perf_counter() - t0
    ts, m = compiled(ts, batch)  # warm-up
    jax.block_until_ready(m)
    times = []
    for _ in range(steps):
      t0 = time.perf_counter()
      ts, m = compiled(ts, batch)
      jax.block_until_ready(m)
      times.append(time.perf_counter() - t0)
  step_s = statistics.median(times)
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
  return {
      "case": "s5_lra listops train step" + (f" ({config_arg})"
                                              if config_arg else ""),
      "batch": batch_size, "seq_len": spec.seq_len,
      "layers": config.model.num_layers, "width": config.model.width,
      "params": n_params, "compile_s": compile_s, "step_s": step_s,
      "sequences_per_s": batch_size / step_s,
      "tokens_per_s": batch_size * spec.seq_len / step_s,
      "timed_steps": steps,
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


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default="throughput,digits")
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--config_arg", default=None,
                      help="s5_lra argument for the throughput case")
  parser.add_argument("--json", default=None)
  args = parser.parse_args(argv)
  wanted = {w.strip() for w in args.only.split(",") if w.strip()}
  unknown = wanted - {"throughput", "digits"}
  if unknown:
    parser.error(f"--only: unknown cases {sorted(unknown)}")
  results = {"machine": timing.machine_info(), "rows": []}
  if "throughput" in wanted:
    r = throughput(args.config_arg, args.steps)
    results["rows"].append(r)
    print(f"| {r['case']} | B={r['batch']} T={r['seq_len']} "
          f"{r['layers']}x{r['width']} ({r['params']:,} params) | compile "
          f"{r['compile_s']:.1f} s | step {r['step_s'] * 1e3:.0f} ms | "
          f"{r['sequences_per_s']:.1f} seq/s | {r['tokens_per_s']:,.0f} tok/s |",
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
