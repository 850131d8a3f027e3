r"""The model zoo side by side: selective copying and generated ListOps.

  python -m benchmarks.zoo_compare                      # both parts
  python -m benchmarks.zoo_compare --part=copy --models=mamba,s4d,s5
  python -m benchmarks.zoo_compare --part=listops --steps=1000

Part `copy` trains each model of `--models` (default mamba, s4d, s5) on
selective copying (configs/synthetic.py:task=selective_copy,layer=<model>)
with the same data, depth, width, steps and learning rates for all, and
reports the masked per-token test accuracy at the best validation step.
This is the experiment of Gu & Dao 2023 (Sec. 4.1.1) at CPU size: a
time-invariant (LTI) layer such as S4D or S5 convolves its input with a
fixed kernel, so it cannot pick out tokens at input-dependent positions,
while Mamba's input-dependent step and projections can.

Part `listops` trains the `demo` preset of each model's LRA config,
`configs/<model>_lra.py:demo` (the shared generated ListOps, 2000 steps),
and reports parameters, test accuracy at the best validation step, the
majority-class baseline, steps and wall time. A model whose config file does
not exist is skipped with a note (so the table can be re-run once it lands).

Every run goes through `experiments.train.run` in its own work directory
(`--workdir`, default a temporary directory); the figures are read from the
run's `summary.json`. Results merge into `--json` (one entry per part and
model, so parts can be re-run separately) and the whole of `--out`
(markdown) is re-rendered from it.
"""

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]

LISTOPS_MODELS = ("s5", "lru", "s4d", "s4", "mamba", "transformer", "lstm",
                  "gru", "spiking_ssm", "loongspike")
# `name@W` runs layer `name` at width W instead of the config's 64: the LTI
# layers at width 128 have more parameters than Mamba at 64, a control for
# capacity.
COPY_MODELS = ("mamba", "s4d", "s5", "s4", "lru", "s4d@128", "s5@128")
LTI = {"s4d", "s4", "s5", "lru"}


def load_config(path: pathlib.Path, arg: str):
  spec = importlib.util.spec_from_file_location(f"zoo_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _schedule(config, steps: int | None) -> None:
  """Quiet runs; `steps` (if given) replaces the step budget."""
  with config.unlocked():
    config.train.update(progress_bar=False, plot=False)
    if steps is not None:
      config.train.num_epochs = None
      config.train.num_steps = steps
      every = max(1, steps // 4)
      config.train.update(eval_every=every, ckpt_every=every,
                          log_every=min(config.train.log_every, every))
      config.optim.warmup_steps = min(config.optim.warmup_steps, steps // 10)


def _train(config, workdir: pathlib.Path) -> dict:
  from experiments import train  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  summary = train.run(config, str(workdir))
  wall = time.perf_counter() - start
  saved = json.loads((workdir / "summary.json").read_text())
  assert saved["steps"] == summary["steps"]
  best = saved["test_at_best"] or {}
  final = (saved["final"] or {}).get("test") or {}
  return {
      "params": saved["num_params"],
      "test_accuracy": best.get("accuracy"),
      "final_test_accuracy": final.get("accuracy"),
      "best_step": saved["best_step"],
      "majority_baseline": saved["majority_baseline"],
      "steps": saved["steps"],
      "train_seconds": saved["seconds"],
      "wall_seconds": wall,
      "skipped_steps": saved["skipped_steps"],
  }


def run_copy(models, args, workroot: pathlib.Path) -> dict:
  results = {}
  for name in models:
    layer, _, width = name.partition("@")
    arg = f"task=selective_copy,layer={layer}" + (",smoke" if args.smoke
                                                  else "")
    print(f"[copy] {name}: configs/synthetic.py:{arg}", flush=True)
    try:
      config = load_config(ROOT / "configs" / "synthetic.py", arg)
      with config.unlocked():
        if width:
          config.model.width = int(width)
        if not args.smoke:
          config.data.options.update(seq_len=args.copy_seq_len,
                                     num_tokens=args.copy_tokens,
                                     num_symbols=args.copy_symbols)
          config.optim.lr = args.copy_lr
      _schedule(config, None if args.smoke else args.copy_steps)
      row = _train(config, workroot / f"copy_{name}")
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      results[name] = {"error": f"{type(e).__name__}: {e}"}
      continue
    row["data"] = config.data.options.to_dict()
    row["lr"] = config.optim.lr
    row["ssm_lr"] = config.optim.ssm_lr
    row["num_layers"] = config.model.num_layers
    row["width"] = config.model.width
    print(f"[copy] {name}: {row}", flush=True)
    results[name] = row
  return results


def run_listops(models, args, workroot: pathlib.Path) -> dict:
  results = {}
  for name in models:
    path = ROOT / "configs" / f"{name}_lra.py"
    if not path.exists():
      print(f"[listops] {name}: skipped, {path.relative_to(ROOT)} does not "
            "exist (re-run once it lands).", flush=True)
      continue
    config = load_config(path, "smoke" if args.smoke else "demo")
    _schedule(config, args.steps)
    print(f"[listops] {name}: {path.name}:demo", flush=True)
    try:
      row = _train(config, workroot / f"listops_{name}")
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      row = {"error": f"{type(e).__name__}: {e}"}
    print(f"[listops] {name}: {row}", flush=True)
    results[name] = row
  return results


def machine() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                            cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
  except OSError:
    commit = ""
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  return {"cpu": cpu, "cores": os.cpu_count(),
          "python": platform.python_version(), "jax": jax.__version__,
          "backend": jax.default_backend(), "commit": commit,
          "load_average": os.getloadavg()}


def _pct(x):
  return "-" if x is None else f"{100 * x:.1f}%"


def _time(row):
  return "-" if "wall_seconds" not in row else f"{row['wall_seconds']:.0f} s"


def render(db: dict) -> str:
  """The markdown report of everything in `db` (the JSON)."""
  out = ["# Model zoo comparison", "",
         "Produced by `python -m benchmarks.zoo_compare` "
         "(benchmarks/zoo_compare.py); raw figures in `zoo_compare.json`. "
         "Accuracies are on the test split at the best validation step "
         "('final': at the last step).", ""]
  for part, title in (("copy", "Selective copying"),
                      ("listops", "Generated ListOps (the `demo` presets)")):
    entry = db.get(part)
    if not entry:
      continue
    m = entry["machine"]
    out += [f"## {title}", "",
            "Command(s): " + "; ".join(f"`{c}`" for c in entry["commands"]),
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['backend']} "
            f"backend, jax {m['jax']}, Python {m['python']}, spike_ssm at "
            f"{m['commit']}, run {entry['date']}. **The machine was shared "
            "with other jobs** (load average at the start "
            f"{m['load_average'][0]:.1f} on {m['cores']} cores), so wall "
            "times are inflated and only roughly comparable.", ""]
    rows = entry["results"]
    if part == "copy":
      any_row = next((r for n, r in rows.items()
                      if "data" in r and "@" not in n), {})
      d = any_row.get("data", {})
      out += [f"Task: {d.get('num_tokens')} data tokens of "
              f"{d.get('num_symbols')} symbols at random positions of the "
              f"first {d.get('seq_len', 0) - d.get('num_tokens', 0)} (blanks "
              "elsewhere), then "
              f"{d.get('num_tokens')} markers at which the model emits them "
              f"in order (T = {d.get('seq_len')}); {d.get('num_train')} "
              "training sequences. Every model: "
              f"{any_row.get('num_layers')} causal blocks of width "
              f"{any_row.get('width')} (`name@W`: width W), lr "
              f"{any_row.get('lr')} (SSM dynamics {any_row.get('ssm_lr')}), "
              "the same steps and batch. Chance is "
              f"{_pct(1 / d['num_symbols']) if d.get('num_symbols') else '-'}"
              " per token.", "",
              "| model | kind | params | per-token test accuracy (best val) "
              "| final | steps | wall time |",
              "|---|---|---:|---:|---:|---:|---:|"]
      for name, r in rows.items():
        base = name.partition("@")[0]
        kind = "LTI" if base in LTI else ("selective" if "mamba" in base
                                          else "-")
        if "error" in r:
          out.append(f"| {name} | {kind} | - | error: {r['error']} | - | - "
                     "| - |")
          continue
        out.append(f"| {name} | {kind} | {r['params']:,} | "
                   f"{_pct(r['test_accuracy'])} | "
                   f"{_pct(r['final_test_accuracy'])} | {r['steps']} | "
                   f"{_time(r)} |")
    else:
      out += ["| model | params | test accuracy (best val) | final | "
              "majority baseline | steps | wall time |",
              "|---|---:|---:|---:|---:|---:|---:|"]
      for name, r in rows.items():
        if "error" in r:
          out.append(f"| {name} | - | error: {r['error']} | - | - | - "
                     "| - |")
          continue
        out.append(f"| {name} | {r['params']:,} | {_pct(r['test_accuracy'])}"
                   f" | {_pct(r['final_test_accuracy'])} | "
                   f"{_pct(r['majority_baseline'])} | {r['steps']} | "
                   f"{_time(r)} |")
      if entry.get("skipped"):
        out += ["", "Skipped (config file not present when this ran): " +
                ", ".join(entry["skipped"]) + "."]
    if entry.get("note"):
      out += ["", entry["note"]]
    out.append("")
  return "\n".join(out)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--part", default="all", choices=("copy", "listops", "all"))
  p.add_argument("--models", default=None,
                 help="comma-separated models (default: the part's list)")
  p.add_argument("--steps", type=int, default=None,
                 help="ListOps steps for every model (default: the demo's)")
  p.add_argument("--copy_steps", type=int, default=1500)
  p.add_argument("--copy_seq_len", type=int, default=64)
  p.add_argument("--copy_tokens", type=int, default=4)
  p.add_argument("--copy_symbols", type=int, default=8)
  p.add_argument("--copy_lr", type=float, default=3e-3)
  p.add_argument("--smoke", action="store_true",
                 help="smoke-sized configs (tests of this script)")
  p.add_argument("--workdir", default=None)
  p.add_argument("--json", default=str(ROOT / "benchmarks" /
                                       "zoo_compare.json"))
  p.add_argument("--out", default=str(ROOT / "benchmarks" / "ZOO.md"))
  p.add_argument("--note", default="", help="a line added under the table")
  p.add_argument("--render_only", action="store_true",
                 help="re-render --out from --json (setting --note on "
                      "--part) without training")
  args = p.parse_args(argv)
  if args.render_only:
    json_path = pathlib.Path(args.json)
    db = json.loads(json_path.read_text())
    if args.note:
      for part in (("copy", "listops") if args.part == "all" else
                   (args.part,)):
        db[part]["note"] = args.note
      json_path.write_text(json.dumps(db, indent=1) + "\n")
    pathlib.Path(args.out).write_text(render(db))
    return 0

  workroot = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="zoo_"))
  workroot.mkdir(parents=True, exist_ok=True)
  json_path = pathlib.Path(args.json)
  db = json.loads(json_path.read_text()) if json_path.exists() else {}
  command = "python -m benchmarks.zoo_compare " + " ".join(
      a for a in (argv if argv is not None else sys.argv[1:])
      if not a.startswith(("--workdir", "--json", "--out")))
  parts = ("copy", "listops") if args.part == "all" else (args.part,)
  for part in parts:
    default = COPY_MODELS if part == "copy" else LISTOPS_MODELS
    models = args.models.split(",") if args.models else list(default)
    info = machine()
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    if part == "copy":
      results = run_copy(models, args, workroot)
      skipped = []
    else:
      results = run_listops(models, args, workroot)
      skipped = [m for m in models if m not in results]
    commands = [command.strip()]
    if args.models and part in db:  # Merge a partial re-run into the table.
      results = {**db[part]["results"], **results}
      commands = db[part]["commands"] + commands
      skipped = sorted(set(db[part]["skipped"]) - set(results))
    db[part] = {"commands": commands, "date": date, "machine": info,
                "results": results, "skipped": skipped,
                "note": args.note or db.get(part, {}).get("note", "")}
  json_path.write_text(json.dumps(db, indent=1) + "\n")
  pathlib.Path(args.out).write_text(render(db))
  print(render(db))
  return 0


if __name__ == "__main__":
  sys.exit(main())
