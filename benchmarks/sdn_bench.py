r"""SpikingSSM training step: the SDN soma vs BPTT through the iterative LIF.

  python -m benchmarks.sdn_bench                       # T = 1024, 4096
  python -m benchmarks.sdn_bench --lengths=1024 --repeats=5

For every sequence length T, two cases are timed, each in both soma modes:

layer  one `SpikingSSM` layer (S4D core, threshold, soma, GLU mixer;
       unidirectional, no dropout) on `(B, T, D)`: the layer's share of a
       training step.
soma   the soma alone on `(B, T, D)` currents: `sdn_spikes` (the frozen
       SDN, parallel over time) vs `lif_hard_reset` (`lax.scan`), which is
       the only part the two modes do differently.

Each program is `jax.grad` of `sum(out ** 2)` with respect to the
parameters and the input, i.e. forward + backward, jitted and compiled
ahead of time (`benchmarks.timing`); the two modes of a case are called in
interleaved rounds and each median is reported, with the speed-up
`iterative / sdn`. Prints a table and writes JSON
(`benchmarks/sdn_<backend>.json`, or `--json`).
"""

import argparse
import json
import pathlib
import sys

import haiku as hk
import jax
import jax.numpy as jnp

from benchmarks import timing
from spike_ssm.neurons import sdn as sdn_lib
from spike_ssm.ssm import spiking_ssm

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODES = ("sdn", "iterative")


def layer_workload(mode: str, batch: int, length: int, width: int,
                   state_size: int) -> timing.Workload:
  """One SpikingSSM layer trained with soma `mode` (training path)."""

  def forward(x):
    layer = spiking_ssm.SpikingSSM(state_size, mode=mode, eval_mode=mode)
    return layer(x, is_training=True)

  model = hk.without_apply_rng(hk.transform(forward))
  x = jax.random.normal(jax.random.key(0), (batch, length, width),
                        jnp.float32)
  params = model.init(jax.random.key(1), x)
  return timing.Workload(lambda p, xs: model.apply(p, xs), params, x)


def soma_workload(mode: str, batch: int, length: int,
                  width: int) -> timing.Workload:
  """The soma alone on random currents (mean 0.5, so it fires)."""
  x = 0.5 + jax.random.normal(jax.random.key(2), (batch, length, width),
                              jnp.float32)
  if mode == "sdn":
    weights = sdn_lib.load_pretrained_sdn()
    fn = lambda p, i: sdn_lib.sdn_spikes(weights, i)
  else:
    fn = lambda p, i: sdn_lib.lif_hard_reset(i).spikes
  return timing.Workload(fn, {}, x)


def run(lengths, batch: int, width: int, state_size: int,
        repeats: int, budget_s: float) -> list[dict]:
  rows = []
  for length in lengths:
    for case in ("layer", "soma"):
      compiled = {}
      for mode in MODES:
        if case == "layer":
          w = layer_workload(mode, batch, length, width, state_size)
        else:
          w = soma_workload(mode, batch, length, width)
        compiled[mode] = timing.compile_workload(w, backward=True)
      times = timing.interleaved_times(
          [compiled[m].grad for m in MODES], max_rounds=repeats,
          budget_s=budget_s)
      ms = {m: timing.median(t) for m, t in zip(MODES, times)}
      row = dict(case=case, T=length, B=batch, D=width,
                 N=state_size if case == "layer" else None,
                 sdn_ms=ms["sdn"], iterative_ms=ms["iterative"],
                 speedup=ms["iterative"] / ms["sdn"],
                 rounds=len(times[0]),
                 compile_s={m: compiled[m].compile_grad_s for m in MODES},
                 all_ms={m: t for m, t in zip(MODES, times)})
      rows.append(row)
      print(f"{case:5s}  T={length:5d}  sdn {ms['sdn']:9.2f} ms  iterative "
            f"{ms['iterative']:9.2f} ms  speed-up {row['speedup']:6.2f}x",
            flush=True)
  return rows


def table(rows) -> str:
  lines = ["| case | T | B x D | SDN (ms) | iterative BPTT (ms) | speed-up |",
           "|---|---:|---|---:|---:|---:|"]
  for r in rows:
    lines.append(f"| {r['case']} | {r['T']} | {r['B']} x {r['D']} | "
                 f"{r['sdn_ms']:.2f} | {r['iterative_ms']:.2f} | "
                 f"{r['speedup']:.2f}x |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lengths", default="1024,4096")
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--width", type=int, default=64)
  parser.add_argument("--state_size", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--budget_s", type=float, default=5.0)
  parser.add_argument("--json", default=None)
  args = parser.parse_args(argv)
  lengths = [int(t) for t in args.lengths.split(",") if t]
  info = timing.machine_info()
  print(f"{info['cpu_model']} ({info['cpu_usable']} usable cores), "
        f"{info['backend']}, jax {info['versions']['jax']}", flush=True)
  rows = run(lengths, args.batch, args.width, args.state_size, args.repeats,
             args.budget_s)
  print()
  print(table(rows))
  out = pathlib.Path(args.json or ROOT / "benchmarks" /
                     f"sdn_{jax.default_backend()}.json")
  tmp = out.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(dict(machine=info, args=vars(args), rows=rows),
                            indent=1))
  tmp.replace(out)
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
