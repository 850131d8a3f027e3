r"""Associative-recall accuracy of RavenRSM against S5 at a matched state size.

  python -m benchmarks.raven_mqar                     # the committed table
  python -m benchmarks.raven_mqar --steps=20 --n_pairs=2 --seeds=0

Every model is the same `models.SequenceModel` (linear encoder, `--layers`
prenorm residual blocks of LayerNorm -> sequence layer -> half-GLU, the output
at the last (query) position, linear head over the values), built through the
zoo ("raven" / "s5"), so only the sequence layer differs. Training
data are fresh `experimental.make_recall_batch` batches every step (no
repeats); accuracy is measured on one held-out batch of `--eval_size`
sequences from another key. One optimiser for all (Adam at `--lr` on every
parameter, global-norm clip 1), no tuning per model beyond the variants in
`MODELS`.

State budget rule: the recurrent state carried per sequence and layer, in
real numbers. S5 with `state_size=P` and conjugate symmetry carries P/2
complex states = P reals; RavenRSM carries `num_slots * slot_dim` reals. The
default matches both at 64 (S5 P=64 vs 8 slots x 8).

Prints a table and writes JSON (default `benchmarks/raven_mqar.json`).
"""

import argparse
import functools
import json
import os
import platform
import sys
import time

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from spike_ssm.experimental import raven
from spike_ssm import zoo
from spike_ssm.models import backbone


# Model name -> registered layer. `raven_top2` writes at most 2 slots per
# step (straight-through top-k); `s5` keeps S5's default (LRA) step range
# [1e-3, 1e-1]; `s5_fast` uses [1e-2, 1], faster modes for short sequences.
MODELS = {"raven": "raven", "raven_top2": "raven", "s5": "s5",
          "s5_fast": "s5"}


def layer_config(model: str, args) -> dict:
  """Layer kwargs at the matched state budget (module docstring)."""
  if MODELS.get(model) == "raven":
    slot_dim = args.state // args.slots
    if slot_dim * args.slots != args.state:
      raise ValueError(
          f"--slots={args.slots} must divide --state={args.state}.")
    kwargs = dict(num_slots=args.slots, slot_dim=slot_dim)
    if model == "raven_top2":
      kwargs["hard_top_k"] = 2
    return kwargs
  if MODELS.get(model) == "s5":
    # conj_sym (the default): P/2 complex states = P reals.
    dt = (1e-3, 1e-1) if model == "s5" else (1e-2, 1.0)
    return dict(state_size=args.state, dt_min=dt[0], dt_max=dt[1])
  raise ValueError(f"unknown model {model!r}; known: {sorted(MODELS)}")


def state_reals(model: str, kwargs: dict) -> int:
  if MODELS[model] == "raven":
    return kwargs["num_slots"] * kwargs["slot_dim"]
  return 2 * (kwargs["state_size"] // 2)


def build(model: str, args, n_values: int):
  kwargs = layer_config(model, args)

  def forward(u):
    net = backbone.SequenceModel(
        num_classes=n_values, input_kind="continuous", target_kind="class",
        pooling="last",
        backbone=dict(layer=zoo.layer_factory(MODELS[model], **kwargs),
                      num_layers=args.layers, width=args.width, norm="layer",
                      prenorm=True, glu="half_glu1", dropout=0.0))
    return net({"inputs": u}, is_training=True)

  return hk.without_apply_rng(hk.transform_with_state(forward)), kwargs


def run_one(model: str, n_pairs: int, seed: int, args) -> dict:
  """Trains one model on one difficulty from one seed; returns its row."""
  fn, kwargs = build(model, args, args.n_values)
  data = functools.partial(raven.make_recall_batch, n_pairs=n_pairs,
                           n_keys=args.n_keys, n_values=args.n_values)
  key = jax.random.PRNGKey(seed)
  init_key, data_key, eval_key = jax.random.split(key, 3)
  u0, _ = data(data_key, batch=2)
  params, state = jax.jit(fn.init)(init_key, u0)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(args.lr))
  opt_state = tx.init(params)

  def loss_fn(params, state, u, target):
    logits, state = fn.apply(params, state, u)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, target)
    return loss.mean(), state

  def train_step(carry, step):
    params, state, opt_state = carry
    u, target = data(jax.random.fold_in(data_key, step), batch=args.batch)
    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, state, u, target)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), state, opt_state), loss

  # A block of steps per dispatch keeps Python overhead out of the CPU time.
  @jax.jit
  def train_block(carry, start):
    return jax.lax.scan(train_step, carry,
                        start + jnp.arange(args.block, dtype=jnp.int32))

  @jax.jit
  def accuracy(params, state):
    u, target = data(eval_key, batch=args.eval_size)
    logits, _ = fn.apply(params, state, u)
    return jnp.mean(jnp.argmax(logits, -1) == target)

  carry = (params, state, opt_state)
  t0, cpu0 = time.perf_counter(), time.process_time()
  losses = []
  for start in range(0, args.steps, args.block):
    carry, loss = train_block(carry, jnp.int32(start))
    losses.append(np.asarray(loss))
  acc = float(accuracy(carry[0], carry[1]))
  seconds = time.perf_counter() - t0
  cpu_seconds = time.process_time() - cpu0
  losses = np.concatenate(losses)
  tail = losses[-max(1, len(losses) // 10):]
  n_params = sum(x.size for x in jax.tree.leaves(params))
  return dict(model=model, layer=MODELS[model], n_pairs=n_pairs, seed=seed,
              seq_len=2 * n_pairs + 1,
              layer_kwargs=kwargs, state_reals=state_reals(model, kwargs),
              params=int(n_params), steps=args.steps,
              final_train_loss=float(tail.mean()), test_accuracy=acc,
              chance=1.0 / args.n_values, seconds=seconds,
              cpu_seconds=cpu_seconds)


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--models", default="raven,raven_top2,s5,s5_fast",
                 help=f"comma-separated, from {sorted(MODELS)}")
  p.add_argument("--n_pairs", default="2,4,8", help="comma-separated")
  p.add_argument("--n_keys", type=int, default=8)
  p.add_argument("--n_values", type=int, default=8)
  p.add_argument("--width", type=int, default=64)
  p.add_argument("--layers", type=int, default=2)
  p.add_argument("--state", type=int, default=64,
                 help="state budget in reals per layer")
  p.add_argument("--slots", type=int, default=8)
  p.add_argument("--steps", type=int, default=3000)
  p.add_argument("--block", type=int, default=100)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--lr", type=float, default=3e-3)
  p.add_argument("--eval_size", type=int, default=2048)
  p.add_argument("--seeds", default="0,1", help="comma-separated")
  p.add_argument("--json", default=os.path.join(os.path.dirname(__file__),
                                                "raven_mqar.json"))
  args = p.parse_args(argv)
  args.block = min(args.block, args.steps)
  if args.steps % args.block:
    p.error("--steps must be a multiple of --block")
  seeds = [int(x) for x in args.seeds.split(",")]
  rows = []
  for n_pairs in [int(x) for x in args.n_pairs.split(",")]:
    for model in args.models.split(","):
      for seed in seeds:
        row = run_one(model, n_pairs, seed, args)
        rows.append(row)
        print(f"{model:10s} n_pairs={n_pairs:2d} seed={seed} "
              f"acc={row['test_accuracy']:.3f} "
              f"loss={row['final_train_loss']:.3f} "
              f"({row['seconds']:.0f} s wall, {row['cpu_seconds']:.0f} s "
              f"CPU)", flush=True)
  payload = dict(
      command="python -m benchmarks.raven_mqar " + " ".join(
          sys.argv[1:] if argv is None else argv),
      args=vars(args), rows=rows,
      total_cpu_seconds=sum(r["cpu_seconds"] for r in rows),
      machine=dict(backend=jax.default_backend(), cpu_count=os.cpu_count(),
                   python=platform.python_version(), jax=jax.__version__,
                   load_avg=os.getloadavg()))
  with open(args.json, "w", encoding="utf-8") as f:
    json.dump(payload, f, indent=1)
  print(table(rows, args.n_values))
  print(f"total CPU: {payload['total_cpu_seconds']:.0f} s")
  return payload


def table(rows, n_values) -> str:
  """Markdown table: one line per (model, n_pairs), accuracy per seed."""
  lines = ["| model | n_pairs | T | state (reals) | params | test acc per "
           "seed | mean test acc | chance | final train loss (mean) |",
           "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
  groups = {}
  for r in rows:
    groups.setdefault((r["model"], r["n_pairs"]), []).append(r)
  for (model, n_pairs), rs in groups.items():
    accs = [r["test_accuracy"] for r in rs]
    lines.append(
        f"| {model} | {n_pairs} | {rs[0]['seq_len']} | "
        f"{rs[0]['state_reals']} | {rs[0]['params']} | "
        f"{', '.join(f'{a:.3f}' for a in accs)} | {np.mean(accs):.3f} | "
        f"{1.0 / n_values:.3f} | "
        f"{np.mean([r['final_train_loss'] for r in rs]):.3f} |")
  return "\n".join(lines)


if __name__ == "__main__":
  main()
