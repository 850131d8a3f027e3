r"""Memory of BPTT with and without bit-packed spike residuals.

  python -m benchmarks.packed_bptt                      # B=32 T=1000 D=256
  python -m benchmarks.packed_bptt --smoke              # tiny shapes
  python -m benchmarks.packed_bptt --dtype=bfloat16 --verbose

The network is `Linear -> [LIF -> Linear] x L` (time-major, `neurons.run`
over `neurons.LIF`), trained with `jax.value_and_grad` of a mean-square loss.
The first Linear sees dense float inputs; every later Linear sees spikes and
is either `hk.Linear` ("dense") or `compress.PackedSpikeLinear` ("packed").

Two measurements, neither of which runs the training step:

* Saved residuals: the arrays `jax.vjp` keeps for the backward pass (the
  leaves of the pullback, via `jax.eval_shape`), grouped into packed spikes
  (uint8), float activations of shape (T, B, D) and everything else.
* XLA's buffer assignment for the compiled `value_and_grad` step:
  `jax.jit(step).lower(...).compile().memory_analysis()` temp / argument /
  output sizes. Temp is the peak scratch the step needs, which is where the
  residuals live between the forward and the backward pass.

Each LIF layer also keeps its own float residual: the surrogate gradient
needs the membrane distance to threshold `v_t - theta` at every step (the
scan saves it; it does not save its float spikes). That residual is the same
size as a float spike tensor and packing does not touch it, so the whole
step's memory falls by less than the spike residual does.

Measured numbers and what XLA:CPU's scheduler does with them (its default
hides the saving; set XLA_FLAGS as shown there): benchmarks/PACKED_BPTT.md.
"""

import argparse
import json
import os
import sys

import haiku as hk
import jax
from jax import ad_checkpoint
import jax.numpy as jnp
import numpy as np

from spike_ssm import neurons
from spike_ssm.experimental import compress

MB = 1e6


def make_loss(width: int, num_layers: int, num_out: int, packed: bool):
  """A Haiku `loss(params, x)` for the Linear -> LIF stack."""

  def net(x):
    h = hk.Linear(width, name="linear_0")(x)  # dense float input
    for i in range(num_layers):
      s, _ = neurons.run(neurons.LIF(width, 0.9, threshold=1.0), h,
                         time_major=True)  # [T, B, D] spikes
      out = width if i < num_layers - 1 else num_out
      linear = compress.PackedSpikeLinear if packed else hk.Linear
      h = linear(out, name=f"linear_{i + 1}")(s)
    return jnp.mean(jnp.square(h.astype(jnp.float32)))

  return hk.without_apply_rng(hk.transform(net))


def residual_bytes(loss_fn, params, x, spike_shape) -> dict[str, float]:
  """Bytes of the pullback's residuals, by kind (no FLOPs: eval_shape)."""
  leaves = jax.eval_shape(
      lambda p: jax.tree.leaves(jax.vjp(lambda q: loss_fn(q, x), p)[1]),
      params)
  out = {"packed_spikes": 0, "float_TBD": 0, "other": 0, "count": 0}
  for leaf in leaves:
    nbytes = int(np.prod(leaf.shape)) * jnp.dtype(leaf.dtype).itemsize
    out["count"] += 1
    if leaf.dtype == jnp.uint8:
      out["packed_spikes"] += nbytes
    elif tuple(leaf.shape) == spike_shape:
      out["float_TBD"] += nbytes
    else:
      out["other"] += nbytes
  out["total"] = out["packed_spikes"] + out["float_TBD"] + out["other"]
  return out


def xla_memory(loss_fn, params, x) -> dict[str, float]:
  step = jax.jit(jax.value_and_grad(loss_fn))
  stats = step.lower(params, x).compile().memory_analysis()
  if stats is None:
    return {}
  return {k: float(getattr(stats, f"{k}_size_in_bytes"))
          for k in ("temp", "argument", "output")}


def measure(batch: int, length: int, in_features: int, width: int,
            num_layers: int, num_out: int, dtype,
            verbose: bool) -> list[dict]:
  x = jax.ShapeDtypeStruct((length, batch, in_features), dtype)
  rows = []
  for packed in (False, True):
    model = make_loss(width, num_layers, num_out, packed)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
    params = jax.tree.map(lambda p: jnp.zeros(p.shape, p.dtype), params)
    # Concrete zeros of x's shape only for the residual trace; compile sees
    # abstract shapes.
    x_val = jnp.zeros(x.shape, x.dtype)
    if verbose:
      print(f"--- saved residuals ({'packed' if packed else 'dense'})")
      ad_checkpoint.print_saved_residuals(model.apply, params, x_val)
    res = residual_bytes(model.apply, params, x_val, (length, batch, width))
    mem = xla_memory(model.apply, params, x)
    rows.append(dict(variant="packed" if packed else "dense",
                     residuals=res, xla=mem))
  return rows


def spike_residual_bytes(row: dict, membranes: int) -> float:
  """Bytes of the spike residuals alone (uint8, or float minus membranes)."""
  res = row["residuals"]
  if row["variant"] == "packed":
    return res["packed_spikes"]
  return res["float_TBD"] - membranes


def table(rows: list[dict], batch, length, width, num_layers, dtype) -> str:
  itemsize = jnp.dtype(dtype).itemsize
  # One (T, B, D) membrane residual per LIF layer, in both variants.
  membranes = num_layers * length * batch * width * max(itemsize, 4)
  lines = [
      f"B={batch} T={length} D={width} layers={num_layers} "
      f"dtype={jnp.dtype(dtype).name} backend={jax.default_backend()} "
      f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}",
      "",
      "| variant | spike residuals MB | LIF membrane residuals MB | "
      "all residuals MB | XLA temp MB | XLA args MB | XLA outputs MB |",
      "|---|---:|---:|---:|---:|---:|---:|",
  ]
  for row in rows:
    xla = row["xla"]
    lines.append(
        f"| {row['variant']} | {spike_residual_bytes(row, membranes) / MB:.2f}"
        f" | {membranes / MB:.2f} | {row['residuals']['total'] / MB:.2f} | "
        f"{xla.get('temp', float('nan')) / MB:.2f} | "
        f"{xla.get('argument', float('nan')) / MB:.2f} | "
        f"{xla.get('output', float('nan')) / MB:.2f} |")
  dense, packed = rows
  temp_packed = packed["xla"].get("temp", np.nan)
  ratio = (spike_residual_bytes(dense, membranes) /
           max(spike_residual_bytes(packed, membranes), 1))
  lines += [
      "",
      f"spike residual: {ratio:.1f}x smaller; all residuals: "
      f"{dense['residuals']['total'] / packed['residuals']['total']:.2f}x; "
      f"XLA temp: {dense['xla'].get('temp', np.nan) / temp_packed:.2f}x",
  ]
  return "\n".join(lines)


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--length", type=int, default=1000)
  parser.add_argument("--width", type=int, default=256)
  parser.add_argument("--layers", type=int, default=3)
  parser.add_argument("--in_features", type=int, default=64)
  parser.add_argument("--out", type=int, default=10)
  parser.add_argument("--dtype", default="float32",
                      choices=("float32", "bfloat16"))
  parser.add_argument("--smoke", action="store_true",
                      help="tiny shapes (B=2 T=16 C=8 D=16)")
  parser.add_argument("--verbose", action="store_true",
                      help="print every saved residual with its source")
  parser.add_argument("--json", default=None, help="write results here")
  args = parser.parse_args(argv)
  if args.smoke:
    args.batch, args.length, args.in_features, args.width = 2, 16, 8, 16
  dtype = jnp.dtype(args.dtype)
  rows = measure(args.batch, args.length, args.in_features, args.width,
                 args.layers, args.out, dtype, args.verbose)
  print(table(rows, args.batch, args.length, args.width, args.layers, dtype))
  payload = dict(shape=dict(batch=args.batch, length=args.length,
                            in_features=args.in_features, width=args.width,
                            layers=args.layers, dtype=dtype.name),
                 backend=jax.default_backend(), jax=jax.__version__,
                 xla_flags=os.environ.get("XLA_FLAGS", ""),
                 rows=rows)
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(payload, f, indent=1)
  return payload


if __name__ == "__main__":
  main(sys.argv[1:])
