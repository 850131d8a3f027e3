r"""Per-backend tuning sweeps: the measurements behind two backend tables.

  python -m benchmarks.sweeps [--only=lif_unroll,mamba_chunk] [--smoke]
                              [--repeats=N] [--budget=S]

  lif_unroll   `neurons.LIF` through `hk.dynamic_unroll(..., unroll=k)` for
               k in 1, 2, 4, 8, 16, 32, against Spyx's LIF: the evidence for
               `neurons/run.py` `UNROLL`.
  mamba_chunk  `ssm.Mamba` and `ssm.MambaBlock` in the parallel mode with
               chunk lengths ~sqrt(T), 128, 256 and T, against Spyx's: the
               evidence for `ops/selective_scan.py` `PARALLEL_CHUNK_BYTES`.

Each sweep compiles every variant ahead of time, checks that the variants
agree (outputs and gradients against the first), and times them in
interleaved rounds in one process (`benchmarks.timing`), printing one row
per variant: median and fastest call, spread, compile seconds. Sizes are
the speed table's (`benchmarks.run.FULL`); `--smoke` shrinks them and the
variant lists so that a test can run the whole script.
"""

import argparse
import sys
from typing import Any, Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import ours
from benchmarks import run
from benchmarks import spyx_peer
from benchmarks import timing

SWEEPS = ("lif_unroll", "mamba_chunk")


def _lif_unrolled(x: jax.Array, unroll: int) -> timing.Workload:
  features = x.shape[-1]
  neurons = ours.spike_ssm.neurons
  kwargs = ours._decay_kwargs(neurons.LIF)  # pylint: disable=protected-access

  def forward(xs):
    core = neurons.LIF(features, beta=0.9, **kwargs)
    out, _ = hk.dynamic_unroll(core, xs, core.initial_state(xs.shape[1]),
                               unroll=unroll)
    return out

  return ours._haiku_workload(forward, x)  # pylint: disable=protected-access


def _variants(name: str, smoke: bool) -> list[tuple[str, Callable[[], Any]]]:
  """(label, build) pairs of one sweep; build() returns a Workload."""
  if name == "lif_unroll":
    t, b, d = run.SMOKE.lif if smoke else run.FULL.lif
    x = jax.random.normal(jax.random.key(0), (t, b, d), jnp.float32)
    factors = (1, 4) if smoke else (1, 2, 4, 8, 16, 32)
    rows = [(f"LIF unroll={k}", lambda k=k: _lif_unrolled(x, k))
            for k in factors]
    rows.append(("LIF spyx", lambda: spyx_peer.lif(x)))
    return rows
  t, b, d, n = run.SMOKE.mamba if smoke else run.FULL.mamba
  x = jax.random.normal(jax.random.key(4), (t, b, d), jnp.float32)
  chunks = (None, t) if smoke else (None, 128, 256, t)
  rows = []
  for layer, extra, peer in (
      ("Mamba", {}, spyx_peer.mamba),
      ("MambaBlock", dict(expand=2, conv_size=4), spyx_peer.mamba_block)):
    for c in chunks:
      kwargs = dict(extra) if c is None else dict(extra, chunk_size=c)
      rows.append((f"{layer} parallel C={c or 'sqrt(T)'}",
                   lambda layer=layer, kwargs=kwargs: ours._ssm_layer(  # pylint: disable=protected-access
                       layer, x, n, "parallel", **kwargs)))
    rows.append((f"{layer} spyx", lambda peer=peer: peer(x, n)))
  return rows


def _max_abs(a: Any, b: Any) -> float:
  return max((float(jnp.max(jnp.abs(u - v)))
              for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))),
             default=0.0)


def sweep(name: str, *, smoke: bool, repeats: int,
          budget_s: float) -> list[dict[str, Any]]:
  """Runs one sweep; returns one record per variant (see module doc).

  Variants of spike_ssm are checked against the sweep's first variant of
  the same layer: `max_abs_forward` and `max_abs_grad` are the largest
  absolute differences of the outputs and of the gradients.
  """
  built, records = [], []
  for label, build in _variants(name, smoke):
    try:
      workload = build()
    except timing.Unavailable as e:
      records.append(dict(sweep=name, variant=label, status="skipped",
                          note=str(e)))
      continue
    compiled = timing.compile_workload(workload)
    rec = dict(sweep=name, variant=label, status="ok", note=None,
               compile_forward_s=compiled.compile_forward_s,
               compile_forward_backward_s=compiled.compile_grad_s)
    if "spyx" not in label:
      layer = label.split()[0]
      first = next((c for lab, c in built if lab.split()[0] == layer), None)
      if first is not None:
        rec["max_abs_forward"] = _max_abs(compiled.forward(), first.forward())
        rec["max_abs_grad"] = _max_abs(compiled.grad(), first.grad())
    records.append(rec)
    built.append((label, compiled))
  measured = [r for r in records if r["status"] == "ok"]
  for kind, attr in (("forward", "forward"), ("forward_backward", "grad")):
    times = timing.interleaved_times([getattr(c, attr) for _, c in built],
                                     max_rounds=repeats, budget_s=budget_s)
    for rec, ts in zip(measured, times):
      rec[f"{kind}_ms"] = timing.median(ts)
      rec[f"{kind}_min_ms"] = min(ts)
      rec[f"{kind}_spread"] = timing.spread(ts)
  return records


def format_rows(records: Sequence[dict[str, Any]]) -> str:
  lines = ["| variant | fwd ms (min) | fwd+bwd ms (min) | spread f / f+b | "
           "compile s f / f+b | max abs diff y / grad |",
           "|---|---:|---:|---:|---:|---:|"]
  for r in records:
    if r["status"] != "ok":
      lines.append(f"| {r['variant']} | {r['status']}: {r['note']} |")
      continue
    diff = ("-" if "max_abs_grad" not in r else
            f"{r['max_abs_forward']:.1e} / {r['max_abs_grad']:.1e}")
    lines.append(
        f"| {r['variant']} | {r['forward_ms']:.3f} ({r['forward_min_ms']:.3f})"
        f" | {r['forward_backward_ms']:.3f} "
        f"({r['forward_backward_min_ms']:.3f}) | "
        f"{r['forward_spread']:.0%} / {r['forward_backward_spread']:.0%} | "
        f"{r['compile_forward_s']:.2f} / "
        f"{r['compile_forward_backward_s']:.2f} | {diff} |")
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, list]:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.sweeps")
  parser.add_argument("--only", default=",".join(SWEEPS),
                      help="comma-separated sweeps: " + ", ".join(SWEEPS))
  parser.add_argument("--smoke", action="store_true",
                      help="tiny sizes and variant lists")
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--budget", type=float, default=3.0)
  args = parser.parse_args(argv)
  names = [s.strip() for s in args.only.split(",") if s.strip()]
  bad = [s for s in names if s not in SWEEPS]
  if bad or not names:
    raise ValueError(f"--only: unknown or no sweep(s) {bad}; expected a "
                     f"comma-separated subset of {list(SWEEPS)}.")
  if args.repeats < 1:
    raise ValueError(f"--repeats: expected an integer >= 1, got "
                     f"{args.repeats}.")
  if not args.budget >= 0:
    raise ValueError(f"--budget: expected seconds >= 0, got {args.budget}.")
  machine = timing.machine_info()
  print(f"backend {machine['backend']} ({machine['device_kind']}), jax "
        f"{machine['versions']['jax']}, spike_ssm "
        f"{machine['spike_ssm_commit']}")
  out = {}
  for name in names:
    out[name] = sweep(name, smoke=args.smoke, repeats=args.repeats,
                      budget_s=args.budget)
    print(f"\n{name}\n\n{format_rows(out[name])}")
  return out


if __name__ == "__main__":
  try:
    main()
  except ValueError as e:
    sys.exit(f"error: {e}")
