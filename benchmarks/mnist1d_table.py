r"""The model zoo on MNIST-1D, next to the data set's published baselines.

  python -m benchmarks.mnist1d_table                          # everything
  python -m benchmarks.mnist1d_table --models=s5,gru --seeds=0,1,2
  python -m benchmarks.mnist1d_table --render_only --note="Reading: ..."

Every model trains `configs/mnist1d.py:layer=<model>` (one recipe for all:
2 blocks of width 64, the same data, batch, steps, schedule and
regularisation; only the layer and its sizes differ) through
`experiments.train.run`, in its own work directory.

Tuning budget, the same for every model: the learning rate alone is tuned,
over `--lrs` (default 1e-3 and 4e-3, both with the SSM dynamics at half
the rate, the config's ratio), each trial one run with seed 0; the rate
with the best validation accuracy is then trained with the other seeds of
`--seeds` (the seed-0 trial is reused). Nothing else is tuned. The figure
reported is the test accuracy at the best validation step, mean and spread
(sample standard deviation) over the seeds; spiking models also report
their somas' mean firing rate on the test set at that step. Wall time is
per run, on whatever machine ran it (recorded in the report).

Results merge into `--json` (one entry per model, so models can be re-run
separately) and `--out` (markdown) is re-rendered from it, with the
published baselines of greydanus/mnist1d README.md @
7878d96082abd200c546a07a4101fa90b30fdf7e (logistic regression 32%, MLP
68%, CNN 94%, GRU 91%, human expert 96%).
"""

import argparse
import datetime
import importlib.util
import json
import pathlib
import statistics
import sys
import tempfile
import time
import traceback

from benchmarks import zoo_compare

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mnist1d.py"
MODELS = ("s5", "lru", "s4d", "s4", "mamba", "spiking_ssm", "loongspike",
          "lstm", "gru", "transformer")
SPIKING = ("spiking_ssm", "loongspike")
# greydanus/mnist1d README.md @ 7878d96082abd200c546a07a4101fa90b30fdf7e,
# the "MNIST-1D" row of its results table (test accuracy).
PUBLISHED = (("logistic regression", 0.32), ("MLP", 0.68), ("CNN", 0.94),
             ("GRU", 0.91), ("human expert", 0.96))
GRU_BASELINE = 0.91
SOURCE = ("greydanus/mnist1d README.md @ "
          "7878d96082abd200c546a07a4101fa90b30fdf7e")


def load_config(arg: str):
  spec = importlib.util.spec_from_file_location("mnist1d_cfg", CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _run(model: str, seed: int, lr_scale: float, args,
         workdir: pathlib.Path) -> dict:
  """One training run; the row of figures read from its summary.json."""
  from experiments import train  # pylint: disable=g-import-not-at-top
  arg = f"layer={model},seed={seed}" + (",smoke" if args.smoke else "")
  config = load_config(arg)
  with config.unlocked():
    config.optim.lr *= lr_scale
    config.optim.ssm_lr *= lr_scale
    config.train.update(progress_bar=False, plot=False)
    if args.cache_dir:
      config.data.cache_dir = args.cache_dir
    if args.steps is not None:
      config.train.num_steps = args.steps
      every = max(1, args.steps // 10)
      config.train.update(eval_every=every, ckpt_every=every,
                          log_every=min(config.train.log_every, every))
      config.optim.warmup_steps = min(config.optim.warmup_steps,
                                      args.steps // 10)
  start = time.perf_counter()
  train.run(config, str(workdir))
  wall = time.perf_counter() - start
  saved = json.loads((workdir / "summary.json").read_text())
  best_test = saved["test_at_best"] or {}
  best_val = saved["validation_at_best"] or {}
  return {"seed": seed, "lr": config.optim.lr, "ssm_lr": config.optim.ssm_lr,
          "params": saved["num_params"], "steps": saved["steps"],
          "best_step": saved["best_step"],
          "validation_accuracy": best_val.get("accuracy"),
          "test_accuracy": best_test.get("accuracy"),
          "spike_rate": best_test.get("spike_rate"),
          "wall_seconds": wall}


def run_model(model: str, args, workroot: pathlib.Path) -> dict:
  """Tunes the learning rate on seed 0, then trains the other seeds."""
  base = load_config(f"layer={model}" + (",smoke" if args.smoke else ""))
  lrs = [float(v) for v in args.lrs.split(",")]
  seeds = [int(v) for v in args.seeds.split(",")]
  trials = []
  for lr in lrs:
    scale = lr / base.optim.lr
    print(f"[mnist1d] {model}: tuning lr={lr:g} (seed {seeds[0]})",
          flush=True)
    row = _run(model, seeds[0], scale, args,
               workroot / f"{model}_lr{lr:g}_seed{seeds[0]}")
    print(f"[mnist1d] {model}: {row}", flush=True)
    trials.append(row)
  best = max(trials, key=lambda r: r["validation_accuracy"] or -1.0)
  runs = [best]
  for seed in seeds[1:]:
    scale = best["lr"] / base.optim.lr
    print(f"[mnist1d] {model}: seed {seed} at lr={best['lr']:g}", flush=True)
    row = _run(model, seed, scale, args,
               workroot / f"{model}_lr{best['lr']:g}_seed{seed}")
    print(f"[mnist1d] {model}: {row}", flush=True)
    runs.append(row)
  return {"trials": trials, "runs": runs, "lr": best["lr"],
          "ssm_lr": best["ssm_lr"], "config": f"configs/mnist1d.py:layer="
                                               f"{model}"}


def _mean_sd(values):
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  mean = statistics.fmean(values)
  sd = statistics.stdev(values) if len(values) > 1 else 0.0
  return mean, sd


def _pct(x):
  return "-" if x is None else f"{100 * x:.1f}%"


def render(db: dict) -> str:
  """The markdown report of everything in `db` (the JSON)."""
  out = ["# MNIST-1D: the model zoo next to the published baselines", "",
         "Produced by `python -m benchmarks.mnist1d_table` "
         "(benchmarks/mnist1d_table.py); raw figures in `mnist1d.json`. "
         "Data: MNIST-1D as the pinned `mnist1d` package generates it "
         "(4000 / 1000 train / test signals of 40 steps; the last 500 "
         "training signals are the validation set, so models train on "
         "3500).", ""]
  meta = db.get("meta")
  if meta:
    m = meta["machine"]
    out += ["Command(s): " + "; ".join(f"`{c}`" for c in meta["commands"]),
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['backend']} "
            f"backend, jax {m['jax']}, Python {m['python']}, spike_ssm at "
            f"{m['commit']}, run {meta['date']} (load average at the start "
            f"{m['load_average'][0]:.1f}; wall times on a shared machine are "
            "only roughly comparable).", "",
            "Tuning budget, the same for every model: the learning rate "
            f"over {{{meta['lrs']}}} (SSM dynamics at half the rate), one "
            "seed-0 run each, chosen by validation accuracy; then seeds "
            f"{meta['seeds']} at that rate. Everything else is "
            "`configs/mnist1d.py` as written.", ""]
  out += ["| model | params | lr | test accuracy (best val), mean ± sd | "
          "per seed | firing rate | wall time / run |",
          "|---|---:|---:|---:|---|---:|---:|"]
  below = []
  for name, entry in db.get("results", {}).items():
    if "error" in entry:
      out.append(f"| {name} | - | - | error: {entry['error']} | - | - | - |")
      continue
    runs = entry["runs"]
    mean, sd = _mean_sd([r["test_accuracy"] for r in runs])
    rate, _ = _mean_sd([r["spike_rate"] for r in runs])
    wall, _ = _mean_sd([r["wall_seconds"] for r in runs])
    seeds = ", ".join(f"{_pct(r['test_accuracy'])} (s{r['seed']})"
                      for r in runs)
    acc = "-" if mean is None else f"{100 * mean:.1f}% ± {100 * sd:.1f}"
    out.append(f"| {name} | {runs[0]['params']:,} | {entry['lr']:g} | "
               f"{acc} | {seeds} | "
               f"{'-' if rate is None else f'{rate:.3f}'} | "
               f"{'-' if wall is None else f'{wall:.0f} s'} |")
    if mean is not None and mean < GRU_BASELINE:
      below.append(f"{name} ({100 * mean:.1f}%)")
  out += ["", f"Published baselines ({SOURCE}; test accuracy, their own "
          "models and training):", "",
          "| model | test accuracy |", "|---|---:|"]
  out += [f"| {name} | {_pct(acc)} |" for name, acc in PUBLISHED]
  out += ["", "Below the published GRU (91%): " +
          (", ".join(below) if below else "none") + "."]
  if db.get("note"):
    out += ["", db["note"]]
  out.append("")
  return "\n".join(out)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default=",".join(MODELS),
                 help="comma-separated registered layers")
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--lrs", default="1e-3,4e-3",
                 help="the learning rates tried for every model (seed 0)")
  p.add_argument("--steps", type=int, default=None,
                 help="replace the config's 3000 steps (every model)")
  p.add_argument("--smoke", action="store_true",
                 help="smoke-sized configs (tests of this script)")
  p.add_argument("--cache_dir", default=None,
                 help="where the generated data set is cached")
  p.add_argument("--workdir", default=None)
  p.add_argument("--json", default=str(ROOT / "benchmarks" /
                                       "mnist1d.json"))
  p.add_argument("--out", default=str(ROOT / "benchmarks" / "MNIST1D.md"))
  p.add_argument("--note", default="", help="a paragraph under the table")
  p.add_argument("--render_only", action="store_true",
                 help="re-render --out from --json (with --note) without "
                      "training")
  args = p.parse_args(argv)
  json_path = pathlib.Path(args.json)
  db = json.loads(json_path.read_text()) if json_path.exists() else {}
  if args.note:
    db["note"] = args.note
  if not args.render_only:
    workroot = pathlib.Path(args.workdir or tempfile.mkdtemp(
        prefix="mnist1d_"))
    workroot.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.mnist1d_table " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:])
        if not a.startswith(("--workdir", "--json", "--out", "--note")))
    meta = db.get("meta", {})
    db["meta"] = {
        "commands": meta.get("commands", []) + [command.strip()],
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": zoo_compare.machine(), "lrs": args.lrs,
        "seeds": args.seeds}
    results = db.setdefault("results", {})
    for model in args.models.split(","):
      try:
        results[model] = run_model(model, args, workroot)
      except Exception as e:  # pylint: disable=broad-except
        traceback.print_exc()
        results[model] = {"error": f"{type(e).__name__}: {e}"}
      # Saved after every model: a long run that stops keeps its results.
      json_path.write_text(json.dumps(db, indent=1) + "\n")
  json_path.write_text(json.dumps(db, indent=1) + "\n")
  pathlib.Path(args.out).write_text(render(db))
  print(render(db))
  return 0


if __name__ == "__main__":
  sys.exit(main())
