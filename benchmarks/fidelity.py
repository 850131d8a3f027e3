r"""Released recipes against our earlier ones, on the ListOps demo budget.

  python -m benchmarks.fidelity                            # every model
  python -m benchmarks.fidelity --models=s5,spiking_ssm --seeds=0,1 --jobs=8
  python -m benchmarks.fidelity --render_only

For each model, two recipes train `configs/<model>_lra.py:demo` (6000
generated ListOps expressions of 20-100 tokens, 2000 steps; see
`config_lib.lra_demo`) through `experiments.train.run`, one process per
run (`python -m benchmarks.fidelity --run_one=...`), `--jobs` at a time:

  released   the `:demo` preset as it is: the released recipe's choices
             (token encoder, pooling, dropout tying, batch-norm momentum,
             optimiser grouping, B clip ...) at the demo's sizes;
  earlier    the same preset with those choices set back to what the
             configs did before issue 9 (`EARLIER`, listed per model in the
             report), so the effect of the recipe shows on its own.

The figure is the test accuracy at the best validation step (mean and
sample standard deviation over `--seeds`), with the validation accuracy at
that step and the final training loss. Results merge into `--json` (one
entry per model and recipe) and `--out` is rendered from it, with the
machine and the command that produced each entry.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = ("s5", "lru", "s4", "s4d", "mamba", "spiking_ssm", "loongspike")
RECIPES = ("released", "earlier")

# What each `:demo` preset did before issue 9 made it follow the released
# recipe: config overrides (dotted keys) that restore it. Keys a config
# does not have are not sent.
_COMMON_EARLIER = {
    "model.token_encoder": "embed",
    "model.onehot_dim": None,
    "model.pooling": "mean",
    "model.dropout_tied": False,
    "model.bn_momentum": 0.9,
}
EARLIER = {
    "s5": dict(_COMMON_EARLIER, **{"optim.grouping": "standard",
                                   "optim.dt_global": False}),
    "lru": dict(_COMMON_EARLIER, **{"optim.grouping": "standard"}),
    "s4": dict(_COMMON_EARLIER, **{"optim.grouping": "standard"}),
    "s4d": dict(_COMMON_EARLIER, **{"optim.grouping": "standard"}),
    "mamba": dict(_COMMON_EARLIER),
    "spiking_ssm": dict(_COMMON_EARLIER, **{"optim.grouping": "standard"}),
    "loongspike": dict(_COMMON_EARLIER, **{"optim.grouping": "standard"}),
}


def _load_config(model: str):
  """`configs/<model>_lra.py:demo`."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = ROOT / "configs" / f"{model}_lra.py"
  spec = importlib.util.spec_from_file_location(f"{model}_lra", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config("demo")


def _has_key(config, dotted: str) -> bool:
  node = config
  for part in dotted.split("."):
    if not hasattr(node, "keys") or part not in node:
      return False
    node = node[part]
  return True


def build_config(model: str, recipe: str, seed: int, steps: int | None):
  """The config of one run: the `:demo` preset, its recipe and seed."""
  config = _load_config(model)
  with config.unlocked():
    config.seed = seed
    config.train.update(progress_bar=False, plot=False)
    if recipe == "earlier":
      for key, value in EARLIER[model].items():
        if _has_key(config, key):
          section, _, name = key.rpartition(".")
          config[section][name] = value
    if steps is not None:
      every = max(1, steps // 4)
      config.train.update(num_steps=steps, eval_every=every,
                          ckpt_every=every, log_every=min(100, every))
  return config


def command(model: str, recipe: str, seed: int, workdir: str,
            steps: int | None) -> list[str]:
  """The command of one run (this module, in a process of its own)."""
  job = dict(model=model, recipe=recipe, seed=seed, workdir=workdir,
             steps=steps)
  return [sys.executable, "-m", "benchmarks.fidelity",
          f"--run_one={json.dumps(job)}"]


def _run_one(job: dict) -> int:
  from experiments import train  # pylint: disable=g-import-not-at-top
  config = build_config(job["model"], job["recipe"], job["seed"],
                        job["steps"])
  train.run(config, job["workdir"])
  return 0


def _final_train_loss(workdir: pathlib.Path) -> float | None:
  """Mean of the last three logged training losses (metrics.jsonl)."""
  path = workdir / "metrics.jsonl"
  if not path.exists():
    return None
  losses = []
  for line in path.read_text().splitlines():
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue
    if "train/loss" in record:
      losses.append(record["train/loss"])
  return statistics.fmean(losses[-3:]) if losses else None


def run_one(model, recipe, seed, root, steps, env) -> dict:
  workdir = pathlib.Path(root) / f"{model}-{recipe}-{seed}"
  cmd = command(model, recipe, seed, str(workdir), steps)
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                        text=True, check=False)
  row = {"model": model, "recipe": recipe, "seed": seed,
         "seconds": time.perf_counter() - t0,
         "command": " ".join(cmd[1:]), "returncode": proc.returncode}
  summary = workdir / "summary.json"
  if proc.returncode != 0 or not summary.exists():
    row["error"] = (proc.stderr or proc.stdout)[-2000:]
    return row
  s = json.loads(summary.read_text())
  row.update(test=(s.get("test_at_best") or {}).get("accuracy"),
             validation=(s.get("validation_at_best") or {}).get("accuracy"),
             best_step=s.get("best_step"),
             train_loss=_final_train_loss(workdir))
  return row


def _mean_sd(values):
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  sd = statistics.stdev(values) if len(values) > 1 else 0.0
  return statistics.fmean(values), sd


def render(payload: dict) -> str:
  lines = [
      "# Released recipes vs earlier ones: generated ListOps, demo budget",
      "",
      "Written by `python -m benchmarks.fidelity` (benchmarks/fidelity.py:"
      " what each recipe is, how runs are made). Test accuracy at the best"
      " validation step, mean ± sample standard deviation over seeds;"
      " `earlier` is the `:demo` preset with the choices issue 9 changed"
      " set back (listed under the table). Majority class: about 11.5%.",
      "",
      "| model | recipe | seeds | test acc | val acc | final train loss |"
      " s / run | machine |",
      "|---|---|---:|---:|---:|---:|---:|---|",
  ]
  for model in MODELS:
    for recipe in RECIPES:
      rows = [r for r in payload["runs"]
              if r["model"] == model and r["recipe"] == recipe]
      if not rows:
        continue
      ok = [r for r in rows if "error" not in r]
      test, test_sd = _mean_sd([r.get("test") for r in ok])
      val, _ = _mean_sd([r.get("validation") for r in ok])
      loss, _ = _mean_sd([r.get("train_loss") for r in ok])
      secs, _ = _mean_sd([r["seconds"] for r in rows])
      fmt = lambda v: "—" if v is None else f"{100 * v:.1f}%"
      cell = ("failed" if test is None else
              f"{100 * test:.1f} ± {100 * test_sd:.1f}%")
      machine = rows[0].get("machine", "")
      lines.append(
          f"| {model} | {recipe} | {len(ok)}/{len(rows)} | {cell} | "
          f"{fmt(val)} | {'—' if loss is None else f'{loss:.3f}'} | "
          f"{secs:.0f} | {machine} |")
  lines += ["", "What `earlier` sets back, per model:", ""]
  for model in MODELS:
    if any(r["model"] == model for r in payload["runs"]):
      items = ", ".join(f"`{k}={v}`" for k, v in EARLIER[model].items())
      lines.append(f"* {model}: {items} (keys its config lacks are skipped)")
  errors = [r for r in payload["runs"] if "error" in r]
  if errors:
    lines += ["", "Failed runs (last lines of their output):", ""]
    for r in errors:
      tail = r["error"].strip().splitlines()[-1:] or [""]
      lines.append(f"* {r['model']} {r['recipe']} seed {r['seed']}: "
                   f"`{tail[0][:200]}`")
  if payload.get("note"):
    lines += ["", payload["note"]]
  return "\n".join(lines) + "\n"


def _machine() -> str:
  try:
    import jax  # pylint: disable=g-import-not-at-top
    device = jax.devices()[0].device_kind
  except Exception:  # pylint: disable=broad-except
    device = "?"
  return f"{device}, {os.cpu_count()} CPUs ({platform.machine()})"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--recipes", default=",".join(RECIPES))
  parser.add_argument("--seeds", default="0,1")
  parser.add_argument("--jobs", type=int, default=1)
  parser.add_argument("--steps", type=int, default=None,
                      help="override the demo's 2000 steps (tests)")
  parser.add_argument("--json", default=str(ROOT / "benchmarks" /
                                            "fidelity.json"))
  parser.add_argument("--out", default=str(ROOT / "benchmarks" /
                                           "FIDELITY.md"))
  parser.add_argument("--workdir", default=None)
  parser.add_argument("--render_only", action="store_true")
  parser.add_argument("--note", default=None)
  parser.add_argument("--run_one", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.run_one:
    return _run_one(json.loads(args.run_one))

  models = [m for m in args.models.split(",") if m]
  recipes = [r for r in args.recipes.split(",") if r]
  for m in models:
    if m not in MODELS:
      parser.error(f"--models: unknown model {m!r}; expected {MODELS}")
  for r in recipes:
    if r not in RECIPES:
      parser.error(f"--recipes: unknown recipe {r!r}; expected {RECIPES}")
  try:
    seeds = [int(s) for s in args.seeds.split(",") if s]
  except ValueError:
    parser.error(f"--seeds: expected comma-separated integers, got "
                 f"{args.seeds!r}")
  if args.jobs < 1:
    parser.error(f"--jobs: expected >= 1, got {args.jobs}")

  json_path = pathlib.Path(args.json)
  payload = {"runs": []}
  if json_path.exists():
    payload = json.loads(json_path.read_text())
  if args.note is not None:
    payload["note"] = args.note
  if not args.render_only:
    root = args.workdir or tempfile.mkdtemp(prefix="fidelity_")
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    machine = _machine()
    todo = [(m, r, s) for m in models for r in recipes for s in seeds]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
      futures = [pool.submit(run_one, m, r, s, root, args.steps, env)
                 for m, r, s in todo]
      for future in concurrent.futures.as_completed(futures):
        row = future.result()
        row["machine"] = machine
        row["date"] = datetime.date.today().isoformat()
        payload["runs"] = [
            x for x in payload["runs"]
            if (x["model"], x["recipe"], x["seed"]) !=
            (row["model"], row["recipe"], row["seed"])] + [row]
        status = ("error" if "error" in row else
                  f"test {row['test']:.3f} val {row['validation']:.3f}")
        print(f"{row['model']:12s} {row['recipe']:8s} seed {row['seed']}: "
              f"{status} ({row['seconds']:.0f} s)", flush=True)
        json_path.write_text(json.dumps(payload, indent=1))
  pathlib.Path(args.out).write_text(render(payload))
  print(render(payload))
  return 0


if __name__ == "__main__":
  sys.exit(main())
